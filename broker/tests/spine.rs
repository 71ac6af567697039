//! The shard spine through the real broker: names refused at the door leave no trace, a
//! state copy survives a peer whose inbox is full, a forward to a shard that never answers
//! ends in SYSTEM_BUSY, and the connection cap refuses politely.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{start_broker, Conn, Ports};
use serde_json::Value;
use shardmq_broker::routing::shard_of;
use shardmq_broker::Broker;
use shardmq_protocol::codes::{request_code, response_code};
use shardmq_protocol::command::Command;
use shardmq_protocol::header::*;
use shardmq_testkit::{pull_header, send_header};

/// Starts a broker whose `broker.conf` holds `conf` (ShardMQ's own keys among them).
fn broker_with_conf(dir: &Path, shards: u16, ports: &mut Ports, conf: &str) -> Broker {
    let conf_path = dir.join("broker.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let conf_arg = conf_path.display().to_string();
    start_broker(&dir.join("data"), shards, ports, &["--config", &conf_arg])
}

fn create_topic(conn: &mut Conn, topic: &str, queues: i32) -> Command {
    let header = CreateTopicRequestHeader {
        topic: topic.into(),
        default_topic: "TBW102".into(),
        read_queue_nums: queues,
        write_queue_nums: queues,
        perm: PERM_READ | PERM_WRITE,
        topic_filter_type: "SINGLE_TAG".into(),
        topic_sys_flag: Some(0),
        order: false,
        attributes: None,
        force: None,
    };
    conn.call(request_code::UPDATE_AND_CREATE_TOPIC, &header, Bytes::new())
}

/// The topic names the shard behind `conn` holds in its copy of the table.
fn topics_seen_by(conn: &mut Conn) -> Vec<String> {
    let reply = conn.call(
        request_code::GET_ALL_TOPIC_CONFIG,
        &EmptyHeader,
        Bytes::new(),
    );
    assert_eq!(reply.head.code, response_code::SUCCESS);
    let body: Value = serde_json::from_slice(&reply.body).unwrap();
    body["topicConfigTable"]
        .as_object()
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

fn send_v2(conn: &mut Conn, topic: &str, queue_id: i32) -> Command {
    conn.call(
        request_code::SEND_MESSAGE_V2,
        &SendMessageRequestHeaderV2::from(send_header(topic, queue_id, "")),
        Bytes::from_static(b"body"),
    )
}

fn pull(conn: &mut Conn, group: &str, topic: &str, queue_id: i32) -> Command {
    let header = pull_header(group, topic, queue_id, 0, 0, 0, "*");
    conn.call(request_code::PULL_MESSAGE, &header, Bytes::new())
}

/// Polls `check` every 20 ms until it holds or `limit` passes; returns whether it held.
fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn bad_topic_and_group_names_are_refused_with_the_field_named_and_leave_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let mut ports = Ports::new(2);
    let data = dir.path().join("data");
    let broker = start_broker(&data, 2, &mut ports, &[]);
    let mut c = Conn::port(ports.listen);
    let long = "t".repeat(128);
    for bad in ["bad topic", "a/../b", "dot.ted", long.as_str()] {
        let reply = send_v2(&mut c, bad, 0);
        assert_eq!(reply.head.code, response_code::SYSTEM_ERROR, "send {bad}");
        let remark = reply.head.remark.clone().unwrap_or_default();
        assert!(remark.contains("specified topic"), "send {bad}: {remark}");
        assert!(
            remark.contains("[%|a-zA-Z0-9_-]") || remark.contains("limit of 127"),
            "{remark}"
        );

        let reply = create_topic(&mut c, bad, 4);
        assert_eq!(reply.head.code, response_code::SYSTEM_ERROR, "create {bad}");
        assert!(reply.head.remark.unwrap().contains("specified topic"));

        let reply = pull(&mut c, "CG", bad, 0);
        assert_eq!(reply.head.code, response_code::SYSTEM_ERROR, "pull {bad}");
        assert!(reply.head.remark.unwrap().contains("specified topic"));
    }
    let reply = pull(&mut c, "bad group", "Good", 0);
    assert_eq!(reply.head.code, response_code::SYSTEM_ERROR);
    assert!(reply
        .head
        .remark
        .unwrap()
        .contains("consumerGroup `bad group`"));
    let reply = send_v2(&mut c, "Good", -1);
    assert_eq!(reply.head.code, response_code::SYSTEM_ERROR);
    assert!(reply.head.remark.unwrap().contains("queueId `-1`"));
    // The broker's own topics: no sends to the scheduled/transactional ones, no creating any.
    let reply = send_v2(&mut c, "SCHEDULE_TOPIC_XXXX", 0);
    assert_eq!(reply.head.code, response_code::NO_PERMISSION);
    let reply = create_topic(&mut c, "RMQ_SYS_TRANS_HALF_TOPIC", 1);
    assert_eq!(reply.head.code, response_code::SYSTEM_ERROR);
    assert!(reply.head.remark.unwrap().contains("system topic"));
    // A good name still works, on both shards.
    assert_eq!(send_v2(&mut c, "Good", 0).head.code, response_code::SUCCESS);
    assert_eq!(send_v2(&mut c, "Good", 1).head.code, response_code::SUCCESS);

    // No trace: not in any shard's topic table, not in the route, not on disk.
    for k in 0..2 {
        let seen = topics_seen_by(&mut Conn::port(ports.shard_base + k));
        assert!(seen.contains(&"Good".to_string()), "shard {k}: {seen:?}");
        assert!(
            seen.iter().all(|t| !t.contains(' ')
                && !t.contains('/')
                && !t.contains('.')
                && t.len() <= 127),
            "shard {k} holds a refused name: {seen:?}"
        );
    }
    let mut ns = Conn::port(ports.namesrv);
    let header = GetRouteInfoRequestHeader {
        topic: "bad topic".into(),
        accept_standard_json_only: None,
    };
    let reply = ns.call(request_code::GET_ROUTEINFO_BY_TOPIC, &header, Bytes::new());
    assert_eq!(reply.head.code, response_code::TOPIC_NOT_EXIST);
    broker.stop();
    let topics_json = std::fs::read_to_string(data.join("topics.json")).unwrap();
    assert!(topics_json.contains("\"Good\""));
    for bad in ["bad topic", "a/../b", "dot.ted"] {
        assert!(!topics_json.contains(bad), "topics.json holds {bad}");
    }
    for k in 0..2 {
        let cq = data.join(format!("shard-{k}")).join("consumequeue");
        if let Ok(entries) = std::fs::read_dir(&cq) {
            for entry in entries {
                let name = entry.unwrap().file_name().into_string().unwrap();
                assert!(name == "Good", "shard {k} has a consume queue for {name:?}");
            }
        }
    }
}

#[test]
fn a_topic_changed_while_a_peers_inbox_is_full_still_reaches_every_shard() {
    let dir = tempfile::tempdir().unwrap();
    let mut ports = Ports::new(2);
    let broker = start_broker(&dir.path().join("data"), 2, &mut ports, &[]);
    let mut shard0 = Conn::port(ports.shard_base);
    let mut shard1 = Conn::port(ports.shard_base + 1);
    broker.pause_inbox(1, true);
    // More changes than a mesh channel (1024) and the inbox's control lane (256) hold: with
    // the inbox paused, both fill and the rest must wait in shard 0's control pump, not be
    // dropped.
    let count = shardmq_broker::runtime::MESH_CHANNEL_DEPTH
        + shardmq_broker::shard::inbox::LANE_DEPTH
        + 200;
    for i in 0..count {
        let reply = create_topic(&mut shard0, &format!("Copy{i:05}"), 2);
        assert_eq!(reply.head.code, response_code::SUCCESS, "create {i}");
    }
    // Changes after creation, made while the copies wait: the newest revision must win.
    let gone = "Copy00007";
    let reply = shard0.call(
        request_code::DELETE_TOPIC_IN_BROKER,
        &DeleteTopicRequestHeader { topic: gone.into() },
        Bytes::new(),
    );
    assert_eq!(reply.head.code, response_code::SUCCESS);
    assert_eq!(create_topic(&mut shard0, "Copy00008", 5).head.code, 0);
    let expected: Vec<String> = (0..count)
        .map(|i| format!("Copy{i:05}"))
        .filter(|t| t != gone)
        .collect();
    let copies = |seen: Vec<String>| expected.iter().filter(|t| seen.contains(t)).count();
    assert_eq!(
        copies(topics_seen_by(&mut shard1)),
        0,
        "shard 1 applies nothing while paused"
    );
    broker.pause_inbox(1, false);
    let complete = eventually(Duration::from_secs(20), || {
        copies(topics_seen_by(&mut shard1)) == expected.len()
    });
    let seen = topics_seen_by(&mut shard1);
    assert!(
        complete,
        "shard 1 has {} of {} topics",
        copies(seen.clone()),
        expected.len()
    );
    assert!(
        !seen.contains(&gone.to_string()),
        "the deletion came after the creation"
    );
    let reply = shard1.call(
        request_code::GET_ALL_TOPIC_CONFIG,
        &EmptyHeader,
        Bytes::new(),
    );
    let table: Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(table["topicConfigTable"]["Copy00008"]["writeQueueNums"], 5);
    broker.stop();
}

#[test]
fn a_forward_to_a_shard_that_never_answers_ends_in_system_busy_at_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let mut ports = Ports::new(2);
    let broker = broker_with_conf(dir.path(), 2, &mut ports, "forwardTimeoutMillis = 300\n");
    let mut shard0 = Conn::port(ports.shard_base);
    assert_eq!(create_topic(&mut shard0, "Fwd", 4).head.code, 0);
    let queue = (0..4).find(|q| shard_of("Fwd", *q, 2) == 1).unwrap();
    let max_offset = GetMaxOffsetRequestHeader {
        topic: "Fwd".into(),
        queue_id: queue,
        committed: None,
    };
    broker.pause_inbox(1, true);
    let started = Instant::now();
    let reply = shard0.call(request_code::GET_MAX_OFFSET, &max_offset, Bytes::new());
    let waited = started.elapsed();
    assert_eq!(reply.head.code, response_code::SYSTEM_BUSY);
    let remark = reply.head.remark.unwrap();
    assert!(
        remark.contains("shard 1 did not answer within 300 ms"),
        "{remark}"
    );
    // The configured deadline applied, not the 10 s default (and it was waited for).
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(waited < Duration::from_secs(9), "{waited:?}");
    // A send for that queue through shard 0 is refused the same way, not lost in a hang.
    let reply = send_v2(&mut shard0, "Fwd", queue);
    assert_eq!(reply.head.code, response_code::SYSTEM_BUSY);
    broker.pause_inbox(1, false);
    // Once shard 1 reads its inbox again (and drops the late replies' requests' answers),
    // the same requests succeed.
    assert_eq!(
        send_v2(&mut shard0, "Fwd", queue).head.code,
        response_code::SUCCESS
    );
    let reply = shard0.call(request_code::GET_MAX_OFFSET, &max_offset, Bytes::new());
    assert_eq!(reply.head.code, response_code::SUCCESS);
    broker.stop();
}

/// 60,000 forwards each way: an inbox loop that registered a waker per idle channel on every
/// turn overflowed its task's reference count (32,767) and killed the shard.
#[test]
fn a_shards_inbox_keeps_serving_after_more_messages_than_a_waker_can_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut ports = Ports::new(2);
    let broker = start_broker(&dir.path().join("data"), 2, &mut ports, &[]);
    let mut shard0 = Conn::port(ports.shard_base);
    assert_eq!(create_topic(&mut shard0, "Many", 4).head.code, 0);
    let queue = (0..4).find(|q| shard_of("Many", *q, 2) == 1).unwrap();
    let header = GetMaxOffsetRequestHeader {
        topic: "Many".into(),
        queue_id: queue,
        committed: None,
    };
    let (batches, batch) = (60, 1000);
    for b in 0..batches {
        for _ in 0..batch {
            shard0.send(request_code::GET_MAX_OFFSET, &header, Bytes::new());
        }
        for i in 0..batch {
            let reply = shard0.read().expect("a reply");
            assert_eq!(
                reply.head.code,
                response_code::SUCCESS,
                "batch {b} reply {i}"
            );
        }
    }
    assert_eq!(
        send_v2(&mut shard0, "Many", queue).head.code,
        response_code::SUCCESS
    );
    broker.stop();
}

#[test]
fn connections_past_the_cap_are_closed_and_a_freed_slot_is_reused() {
    let dir = tempfile::tempdir().unwrap();
    let mut ports = Ports::new(1);
    let broker = broker_with_conf(dir.path(), 1, &mut ports, "maxConnectionsPerShard = 2\n");
    let mut first = Conn::port(ports.listen);
    let mut second = Conn::port(ports.shard_base);
    // (topics_seen_by asserts a SUCCESS reply.)
    topics_seen_by(&mut first);
    topics_seen_by(&mut second);
    let mut third = Conn::port(ports.listen);
    third.send(
        request_code::GET_ALL_TOPIC_CONFIG,
        &EmptyHeader,
        Bytes::new(),
    );
    assert!(third.closed_by_server(), "the third connection is refused");
    // The first two still work.
    topics_seen_by(&mut first);
    topics_seen_by(&mut second);
    drop(first);
    let reused = eventually(Duration::from_secs(5), || {
        let mut again = Conn::port(ports.listen);
        again.send(
            request_code::GET_ALL_TOPIC_CONFIG,
            &EmptyHeader,
            Bytes::new(),
        );
        again
            .read()
            .is_ok_and(|r| r.head.code == response_code::SUCCESS)
    });
    assert!(reused, "a closed connection frees its slot");
    broker.stop();
}
