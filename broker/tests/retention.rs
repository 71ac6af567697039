//! Storage that runs for months, through the real broker: retention on its schedule
//! (`fileReservedTime`, `deleteWhen`, `cleanResourceInterval`) with small segments
//! (`mappedFileSizeCommitLog`), and a consumer below the new start moved up.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{start_broker, Conn, Ports};
use shardmq_protocol::codes::{request_code, response_code};
use shardmq_protocol::header::*;
use shardmq_testkit::{pull_header, send_header};

fn min_offset(conn: &mut Conn, topic: &str) -> i64 {
    let header = GetMinOffsetRequestHeader {
        topic: topic.into(),
        queue_id: 0,
    };
    let reply = conn.call(request_code::GET_MIN_OFFSET, &header, Bytes::new());
    assert_eq!(reply.head.code, response_code::SUCCESS);
    reply.header::<OffsetResponseHeader>().unwrap().offset
}

fn segment_files(data: &std::path::Path) -> usize {
    std::fs::read_dir(data.join("shard-0").join("commitlog"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn a_running_broker_deletes_expired_segments_at_its_hours_and_moves_consumers_up() {
    let dir = tempfile::tempdir().unwrap();
    let every_hour: Vec<String> = (0..24).map(|h| format!("{h:02}")).collect();
    let conf = format!(
        "mappedFileSizeCommitLog=1048576\nmaxMessageSize=65536\nfileReservedTime=0\n\
         deleteWhen={}\ncleanResourceInterval=200\n",
        every_hour.join(";")
    );
    let conf_path = dir.path().join("broker.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let data = dir.path().join("data");
    let mut ports = Ports::new(1);
    let conf_arg = conf_path.display().to_string();
    let broker = start_broker(&data, 1, &mut ports, &["--config", &conf_arg]);
    let mut conn = Conn::port(ports.listen);
    // 3 MiB in 10 KiB messages: three 1 MiB segments and a fourth being written.
    let body = Bytes::from(vec![b'r'; 10 * 1024]);
    for _ in 0..300 {
        let reply = conn.call(
            request_code::SEND_MESSAGE_V2,
            &SendMessageRequestHeaderV2::from(send_header("Aged", 0, "")),
            body.clone(),
        );
        assert_eq!(
            reply.head.code,
            response_code::SUCCESS,
            "{:?}",
            reply.head.remark
        );
    }
    // fileReservedTime = 0: every segment but the one being written expires at once, and
    // every hour is a deletion hour; the cleanup runs every 200 ms.
    let deadline = Instant::now() + Duration::from_secs(10);
    while (min_offset(&mut conn, "Aged") == 0 || segment_files(&data) > 1)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let min = min_offset(&mut conn, "Aged");
    assert!(
        min > 200,
        "min offset {min}: the old segments' messages are gone"
    );
    assert_eq!(
        segment_files(&data),
        1,
        "only the segment being written is left"
    );
    // A consumer still at offset 0 is told where the queue now starts.
    let header = pull_header("G", "Aged", 0, 0, 0, 0, "*");
    let reply = conn.call(request_code::PULL_MESSAGE, &header, Bytes::new());
    assert_eq!(reply.head.code, response_code::PULL_OFFSET_MOVED);
    let moved = reply.header::<PullMessageResponseHeader>().unwrap();
    assert_eq!(moved.next_begin_offset, min);
    // And from there it reads, while sends go on.
    let header = pull_header("G", "Aged", 0, min, 0, 0, "*");
    let reply = conn.call(request_code::PULL_MESSAGE, &header, Bytes::new());
    assert_eq!(reply.head.code, response_code::SUCCESS);
    let reply = conn.call(
        request_code::SEND_MESSAGE_V2,
        &SendMessageRequestHeaderV2::from(send_header("Aged", 0, "")),
        body,
    );
    assert_eq!(reply.head.code, response_code::SUCCESS);
    broker.stop();
}

#[test]
fn a_segment_smaller_than_the_largest_message_is_refused_at_start_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("broker.conf");
    std::fs::write(
        &conf,
        "mappedFileSizeCommitLog=1048576\nmaxMessageSize=4194304\n",
    )
    .unwrap();
    let args = <shardmq_broker::config::Args as clap::Parser>::try_parse_from([
        "mqbroker".to_string(),
        "--config".into(),
        conf.display().to_string(),
    ])
    .unwrap();
    let e = shardmq_broker::config::BrokerConfig::resolve(&args, 1).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("mappedFileSizeCommitLog") && text.contains("maxMessageSize"),
        "{text}"
    );
}

fn commit(conn: &mut Conn, topic: &str, queue_id: i32, offset: i64) {
    let header = UpdateConsumerOffsetRequestHeader {
        consumer_group: "G".into(),
        topic: topic.into(),
        queue_id,
        commit_offset: offset,
    };
    let reply = conn.call(request_code::UPDATE_CONSUMER_OFFSET, &header, Bytes::new());
    assert_eq!(
        reply.head.code,
        response_code::SUCCESS,
        "{:?}",
        reply.head.remark
    );
}

fn committed(conn: &mut Conn, topic: &str, queue_id: i32) -> Option<i64> {
    let header = QueryConsumerOffsetRequestHeader {
        consumer_group: "G".into(),
        topic: topic.into(),
        queue_id,
        set_zero_if_not_found: Some(false),
    };
    let reply = conn.call(request_code::QUERY_CONSUMER_OFFSET, &header, Bytes::new());
    (reply.head.code == response_code::SUCCESS)
        .then(|| reply.header::<OffsetResponseHeader>().unwrap().offset)
}

#[test]
fn deleting_a_topic_forgets_its_consumer_offsets_on_every_shard_and_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut ports = Ports::new(2);
    let broker = start_broker(&data, 2, &mut ports, &[]);
    let mut conn = Conn::port(ports.listen);
    for queue in 0..4 {
        for topic in ["Gone", "Kept"] {
            let reply = conn.call(
                request_code::SEND_MESSAGE_V2,
                &SendMessageRequestHeaderV2::from(send_header(topic, queue, "")),
                Bytes::from_static(b"m"),
            );
            assert_eq!(reply.head.code, response_code::SUCCESS);
            commit(&mut conn, topic, queue, 1);
        }
    }
    assert_eq!(committed(&mut conn, "Gone", 3), Some(1));
    let header = DeleteTopicRequestHeader {
        topic: "Gone".into(),
    };
    let reply = conn.call(request_code::DELETE_TOPIC_IN_BROKER, &header, Bytes::new());
    assert_eq!(reply.head.code, response_code::SUCCESS);
    // Every queue's offsets went, on both shards (the deletion reaches the peer shortly).
    let deadline = Instant::now() + Duration::from_secs(5);
    while (0..4).any(|q| committed(&mut conn, "Gone", q).is_some()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    for queue in 0..4 {
        assert_eq!(committed(&mut conn, "Gone", queue), None, "queue {queue}");
        assert_eq!(
            committed(&mut conn, "Kept", queue),
            Some(1),
            "queue {queue}"
        );
    }
    broker.stop();
    for shard in 0..2 {
        let saved = std::fs::read_to_string(
            data.join(format!("shard-{shard}"))
                .join("consumerOffset.json"),
        )
        .unwrap_or_default();
        assert!(!saved.contains("Gone@G"), "shard {shard}: {saved}");
    }
}
