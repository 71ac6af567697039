//! The message lifecycle through the real broker: delay levels honoured (never early),
//! timed messages delivered and refused past the limit, a consumer's send-back retried at
//! its level and dead-lettered past `maxReconsumeTimes`, retry topics made by heartbeats,
//! GET_ALL_DELAY_OFFSET, and timed and delayed messages that survive `kill -9` (both flush
//! modes).

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{start_broker, Conn, Ports};
use shardmq_protocol::body::{
    ConsumerData, DelayOffsetTable, HeartbeatData, JsonBody, SubscriptionData,
};
use shardmq_protocol::codes::{request_code, response_code};
use shardmq_protocol::command::Command;
use shardmq_protocol::header::*;
use shardmq_protocol::message::properties::{self, Properties};
use shardmq_protocol::message::StoredMessage;
use shardmq_testkit::{pull_header, send_header};

/// Short delay levels so the tests run in seconds: level 1 = 300 ms, 2 = 600 ms, 3 = 900 ms,
/// 4 = 1.2 s.
const LEVELS: &str =
    "messageDelayLevel=300ms 600ms 900ms 1200ms 1500ms\nmappedFileSizeCommitLog=67108864\n";

fn broker_conf(dir: &Path, conf: &str) -> String {
    let path = dir.join("broker.conf");
    std::fs::write(&path, conf).unwrap();
    path.display().to_string()
}

/// A 2-shard broker with [`LEVELS`], and a connection to it.
fn broker_with_levels(dir: &Path) -> (shardmq_broker::Broker, Conn) {
    let mut ports = Ports::new(2);
    let conf = broker_conf(dir, LEVELS);
    let broker = start_broker(&dir.join("data"), 2, &mut ports, &["--config", &conf]);
    let conn = Conn::port(ports.listen);
    (broker, conn)
}

fn props(pairs: &[(&str, &str)]) -> String {
    let mut p = Properties::new();
    for (k, v) in pairs {
        p.set(k, v).unwrap();
    }
    p.encode()
}

fn send(conn: &mut Conn, topic: &str, queue_id: i32, properties: &str) -> Command {
    conn.call(
        request_code::SEND_MESSAGE_V2,
        &SendMessageRequestHeaderV2::from(send_header(topic, queue_id, properties)),
        Bytes::from_static(b"lifecycle body"),
    )
}

/// Messages of `topic`:`queue_id` from `offset` (none when nothing is there yet).
fn pull_from(conn: &mut Conn, topic: &str, queue_id: i32, offset: i64) -> Vec<StoredMessage> {
    let header = pull_header("G", topic, queue_id, offset, 0, 0, "*");
    let reply = conn.call(request_code::PULL_MESSAGE, &header, Bytes::new());
    if reply.head.code != response_code::SUCCESS {
        return Vec::new();
    }
    StoredMessage::iter(&reply.body, false)
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

/// Polls every 20 ms until `topic`:`queue_id` has a message at `offset` or `limit` passes.
fn wait_for(
    conn: &mut Conn,
    topic: &str,
    queue_id: i32,
    offset: i64,
    limit: Duration,
) -> Option<StoredMessage> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(m) = pull_from(conn, topic, queue_id, offset).into_iter().next() {
            return Some(m);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn prop<'a>(m: &'a StoredMessage, name: &str) -> Option<&'a str> {
    properties::find(&m.properties, name)
}

#[test]
fn a_delayed_message_arrives_after_its_level_never_early_with_its_properties() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, mut conn) = broker_with_levels(dir.path());
    let sent_at = Instant::now();
    let original = props(&[
        ("DELAY", "2"),
        ("TAGS", "tagA"),
        ("KEYS", "k1 k2"),
        ("UNIQ_KEY", "UNIQ-DELAYED-1"),
        ("color", "blue"),
    ]);
    let reply = send(&mut conn, "DelayedT", 1, &original);
    assert_eq!(
        reply.head.code,
        response_code::SUCCESS,
        "{:?}",
        reply.head.remark
    );
    // Not there at once.
    assert!(pull_from(&mut conn, "DelayedT", 1, 0).is_empty());
    let m = wait_for(&mut conn, "DelayedT", 1, 0, Duration::from_secs(5))
        .expect("the delayed message arrives");
    let waited = sent_at.elapsed();
    assert!(waited >= Duration::from_millis(600), "early: {waited:?}");
    assert!(waited < Duration::from_millis(2500), "late: {waited:?}");
    assert_eq!(&*m.topic, "DelayedT");
    assert_eq!(m.queue_id, 1);
    assert_eq!(prop(&m, "DELAY"), None, "DELAY is cleared at delivery");
    assert_eq!(prop(&m, "TAGS"), Some("tagA"));
    assert_eq!(prop(&m, "KEYS"), Some("k1 k2"));
    assert_eq!(prop(&m, "UNIQ_KEY"), Some("UNIQ-DELAYED-1"));
    assert_eq!(prop(&m, "color"), Some("blue"));
    assert_eq!(prop(&m, "REAL_TOPIC"), Some("DelayedT"));
    assert_eq!(&m.body[..], b"lifecycle body");
    // A level above the highest is clamped to it (1.5 s here), not refused.
    let reply = send(&mut conn, "DelayedT", 2, &props(&[("DELAY", "40")]));
    assert_eq!(reply.head.code, response_code::SUCCESS);
    let clamped_at = Instant::now();
    assert!(wait_for(&mut conn, "DelayedT", 2, 0, Duration::from_secs(5)).is_some());
    assert!(clamped_at.elapsed() >= Duration::from_millis(1400));
    // GET_ALL_DELAY_OFFSET: levels 2 and 5 each delivered one message, summed over shards.
    let reply = conn.call(
        request_code::GET_ALL_DELAY_OFFSET,
        &EmptyHeader,
        Bytes::new(),
    );
    assert_eq!(reply.head.code, response_code::SUCCESS);
    let table = DelayOffsetTable::decode(&reply.body).unwrap();
    assert_eq!(table.offset_table.get(&2), Some(&1), "{table:?}");
    assert_eq!(table.offset_table.get(&5), Some(&1), "{table:?}");
    assert_eq!(table.offset_table.get(&1), Some(&0), "{table:?}");
    broker.stop();
}

#[test]
fn timed_messages_arrive_when_due_and_past_the_limit_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut ports = Ports::new(2);
    let conf = broker_conf(dir.path(), "timerMaxDelaySec=60\n");
    let broker = start_broker(
        &dir.path().join("data"),
        2,
        &mut ports,
        &["--config", &conf],
    );
    let mut conn = Conn::port(ports.listen);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let sent_at = Instant::now();
    for (queue, pairs) in [
        (0, vec![("TIMER_DELAY_MS", "700")]),
        (1, vec![("TIMER_DELAY_SEC", "1")]),
        (2, vec![("TIMER_DELIVER_MS", "0")]), // a time in the past: at once
    ] {
        let reply = send(&mut conn, "TimedT", queue, &props(&pairs));
        assert_eq!(
            reply.head.code,
            response_code::SUCCESS,
            "{:?}",
            reply.head.remark
        );
    }
    let at_once = wait_for(&mut conn, "TimedT", 2, 0, Duration::from_secs(2)).expect("past due");
    assert_eq!(
        prop(&at_once, "TIMER_DELIVER_MS"),
        Some("0"),
        "stored as sent, not timed"
    );
    let m0 = wait_for(&mut conn, "TimedT", 0, 0, Duration::from_secs(5)).expect("700 ms timer");
    let t0 = sent_at.elapsed();
    let m1 = wait_for(&mut conn, "TimedT", 1, 0, Duration::from_secs(5)).expect("1 s timer");
    let t1 = sent_at.elapsed();
    assert!(t0 >= Duration::from_millis(700), "early: {t0:?}");
    assert!(t1 >= Duration::from_millis(1000), "early: {t1:?}");
    assert!(t1 < Duration::from_millis(3000), "late: {t1:?}");
    for m in [&m0, &m1] {
        assert_eq!(prop(m, "TIMER_DELAY_MS"), None);
        assert_eq!(prop(m, "TIMER_DELAY_SEC"), None);
        let due: i64 = prop(m, "TIMER_OUT_MS").unwrap().parse().unwrap();
        assert!(due >= now_ms + 700, "due {due}");
    }
    // 61 s is past timerMaxDelaySec = 60: refused, the setting named; nothing stored.
    let reply = send(&mut conn, "TimedT", 3, &props(&[("TIMER_DELAY_SEC", "61")]));
    assert_eq!(reply.head.code, response_code::MESSAGE_ILLEGAL);
    assert!(
        reply
            .head
            .remark
            .as_deref()
            .unwrap_or("")
            .contains("timerMaxDelaySec"),
        "{:?}",
        reply.head.remark
    );
    broker.stop();
}

fn heartbeat(conn: &mut Conn, group: &str) {
    let hb = HeartbeatData {
        client_id: "lifecycle-client".into(),
        consumer_data_set: vec![ConsumerData {
            group_name: group.into(),
            subscription_data_set: vec![SubscriptionData {
                topic: "RetryT".into(),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let opaque = conn.send(request_code::HEART_BEAT, &EmptyHeader, hb.encode());
    loop {
        let frame = conn.read().expect("frame");
        if frame.head.is_response() && frame.head.opaque == opaque {
            assert_eq!(frame.head.code, response_code::SUCCESS);
            return;
        }
    }
}

fn send_back(conn: &mut Conn, m: &StoredMessage, group: &str, level: i32, max: i32) -> Command {
    let header = ConsumerSendMsgBackRequestHeader {
        offset: m.physical_offset,
        group: group.into(),
        delay_level: level,
        origin_msg_id: None,
        origin_topic: Some(m.topic.clone()),
        unit_mode: Some(false),
        max_reconsume_times: Some(max),
    };
    conn.call(request_code::CONSUMER_SEND_MSG_BACK, &header, Bytes::new())
}

#[test]
fn a_message_sent_back_is_retried_at_its_level_and_dead_lettered_past_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, mut conn) = broker_with_levels(dir.path());
    // A group's heartbeat creates its retry topic (one queue, read and write).
    heartbeat(&mut conn, "GR");
    let retry = topic_config(&mut conn, "%RETRY%GR");
    assert_eq!(retry["readQueueNums"], 1, "{retry}");
    assert_eq!(retry["perm"], 6);

    let reply = send(
        &mut conn,
        "RetryT",
        0,
        &props(&[("UNIQ_KEY", "U-RETRY"), ("TAGS", "x")]),
    );
    assert_eq!(reply.head.code, response_code::SUCCESS);
    let original = pull_from(&mut conn, "RetryT", 0, 0).remove(0);
    // Failed once (level 0 → 3 + 0 = level 3, 900 ms here).
    let sent_back_at = Instant::now();
    let reply = send_back(&mut conn, &original, "GR", 0, 2);
    assert_eq!(
        reply.head.code,
        response_code::SUCCESS,
        "{:?}",
        reply.head.remark
    );
    let first = wait_for(&mut conn, "%RETRY%GR", 0, 0, Duration::from_secs(5)).expect("retry 1");
    assert!(
        sent_back_at.elapsed() >= Duration::from_millis(900),
        "early"
    );
    assert_eq!(first.reconsume_times, 1);
    assert_eq!(prop(&first, "RETRY_TOPIC"), Some("RetryT"));
    assert_eq!(prop(&first, "UNIQ_KEY"), Some("U-RETRY"));
    assert_eq!(prop(&first, "TAGS"), Some("x"));
    let origin_id = prop(&first, "ORIGIN_MESSAGE_ID")
        .expect("origin id")
        .to_owned();
    // Failed again, from the retry topic, with an explicit level 1 (300 ms).
    let reply = send_back(&mut conn, &first, "GR", 1, 2);
    assert_eq!(reply.head.code, response_code::SUCCESS);
    let second = wait_for(&mut conn, "%RETRY%GR", 0, 1, Duration::from_secs(5)).expect("retry 2");
    assert_eq!(second.reconsume_times, 2);
    assert_eq!(
        prop(&second, "RETRY_TOPIC"),
        Some("RetryT"),
        "the first topic stays"
    );
    assert_eq!(prop(&second, "ORIGIN_MESSAGE_ID"), Some(origin_id.as_str()));
    // A third failure reaches maxReconsumeTimes = 2: the dead-letter queue, at once. The DLQ
    // is write-only (perm 2), as RocketMQ makes it; an operator opens it to read it.
    let reply = send_back(&mut conn, &second, "GR", 0, 2);
    assert_eq!(reply.head.code, response_code::SUCCESS);
    assert_eq!(topic_perm(&mut conn, "%DLQ%GR"), Some(PERM_WRITE));
    assert!(
        pull_from(&mut conn, "%DLQ%GR", 0, 0).is_empty(),
        "not readable"
    );
    open_for_reading(&mut conn, "%DLQ%GR");
    let dead = wait_for(&mut conn, "%DLQ%GR", 0, 0, Duration::from_secs(2)).expect("dead letter");
    assert_eq!(dead.reconsume_times, 3);
    assert_eq!(prop(&dead, "UNIQ_KEY"), Some("U-RETRY"));
    assert_eq!(prop(&dead, "RETRY_TOPIC"), Some("RetryT"));
    // Nothing more reached the retry topic.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(pull_from(&mut conn, "%RETRY%GR", 0, 2).is_empty());
    // A negative level sends a message straight to the dead-letter queue (now readable).
    let reply = send(&mut conn, "RetryT", 0, &props(&[("UNIQ_KEY", "U-DLQ-NOW")]));
    assert_eq!(reply.head.code, response_code::SUCCESS);
    let fresh = pull_from(&mut conn, "RetryT", 0, 1).remove(0);
    assert_eq!(
        send_back(&mut conn, &fresh, "GR", -1, 16).head.code,
        response_code::SUCCESS
    );
    let dead = wait_for(&mut conn, "%DLQ%GR", 0, 1, Duration::from_secs(2)).expect("dlq");
    assert_eq!(prop(&dead, "UNIQ_KEY"), Some("U-DLQ-NOW"));
    // A position that holds no message is refused, naming the offset.
    let mut bogus = fresh.clone();
    bogus.physical_offset = 7;
    let reply = send_back(&mut conn, &bogus, "GR", 0, 16);
    assert_eq!(reply.head.code, response_code::SYSTEM_ERROR);
    assert!(reply
        .head
        .remark
        .as_deref()
        .unwrap_or("")
        .contains("offset 7"));
    broker.stop();
}

/// `topic`'s config as the shard behind `conn` holds it. The shard that made the topic
/// (the group's home, the message's shard) copies it to its peers a moment later: wait up
/// to 2 s for it to arrive.
fn topic_config(conn: &mut Conn, topic: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let reply = conn.call(
            request_code::GET_ALL_TOPIC_CONFIG,
            &EmptyHeader,
            Bytes::new(),
        );
        let table: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        let config = &table["topicConfigTable"][topic];
        if !config.is_null() || Instant::now() > deadline {
            return config.clone();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn topic_perm(conn: &mut Conn, topic: &str) -> Option<i32> {
    topic_config(conn, topic)["perm"].as_i64().map(|p| p as i32)
}

/// What an operator does to reprocess dead letters: `updateTopic` with perm 6.
fn open_for_reading(conn: &mut Conn, topic: &str) {
    let header = CreateTopicRequestHeader {
        topic: topic.into(),
        default_topic: "TBW102".into(),
        read_queue_nums: 1,
        write_queue_nums: 1,
        perm: PERM_READ | PERM_WRITE,
        topic_filter_type: "SINGLE_TAG".into(),
        topic_sys_flag: Some(0),
        order: false,
        attributes: None,
        force: None,
    };
    let reply = conn.call(request_code::UPDATE_AND_CREATE_TOPIC, &header, Bytes::new());
    assert_eq!(
        reply.head.code,
        response_code::SUCCESS,
        "{:?}",
        reply.head.remark
    );
}

#[test]
fn a_clients_own_retry_copy_past_its_limit_is_stored_as_a_dead_letter() {
    // A client whose send-back failed sends the retry copy itself; RocketMQ's broker turns
    // one that used up its retries into a dead letter (and ignores its delay).
    let dir = tempfile::tempdir().unwrap();
    let mut ports = Ports::new(1);
    let broker = start_broker(&dir.path().join("data"), 1, &mut ports, &[]);
    let mut conn = Conn::port(ports.listen);
    heartbeat(&mut conn, "GC");
    let mut header = send_header(
        "%RETRY%GC",
        0,
        &props(&[("UNIQ_KEY", "U-OWN"), ("DELAY", "5")]),
    );
    header.reconsume_times = Some(3);
    header.max_reconsume_times = Some(3);
    let reply = conn.call(
        request_code::SEND_MESSAGE_V2,
        &SendMessageRequestHeaderV2::from(header.clone()),
        Bytes::from_static(b"own retry"),
    );
    assert_eq!(
        reply.head.code,
        response_code::SUCCESS,
        "{:?}",
        reply.head.remark
    );
    assert_eq!(topic_perm(&mut conn, "%DLQ%GC"), Some(PERM_WRITE));
    open_for_reading(&mut conn, "%DLQ%GC");
    let dead = wait_for(&mut conn, "%DLQ%GC", 0, 0, Duration::from_secs(2)).expect("dead letter");
    assert_eq!(prop(&dead, "UNIQ_KEY"), Some("U-OWN"));
    assert_eq!(prop(&dead, "DELAY"), None);
    // One retry left: it stays a retry, delayed by its level.
    header.reconsume_times = Some(2);
    header.properties = Some(props(&[("UNIQ_KEY", "U-OWN-2"), ("DELAY", "1")]).into());
    let reply = conn.call(
        request_code::SEND_MESSAGE_V2,
        &SendMessageRequestHeaderV2::from(header),
        Bytes::from_static(b"own retry"),
    );
    assert_eq!(reply.head.code, response_code::SUCCESS);
    let retried = wait_for(&mut conn, "%RETRY%GC", 0, 0, Duration::from_secs(4)).expect("retry");
    assert_eq!(prop(&retried, "UNIQ_KEY"), Some("U-OWN-2"));
    assert!(pull_from(&mut conn, "%DLQ%GC", 0, 1).is_empty());
    broker.stop();
}

/// `mqbroker` as a child process on the given ports, data and flush mode.
fn spawn_broker(dir: &Path, ports: &Ports, flush: &str) -> Child {
    let conf = broker_conf(dir, LEVELS);
    let child = Process::new(env!("CARGO_BIN_EXE_mqbroker"))
        .args([
            "--listen",
            &format!("127.0.0.1:{}", ports.listen),
            "--shard-port-base",
            &ports.shard_base.to_string(),
            "--namesrv-listen",
            &format!("127.0.0.1:{}", ports.namesrv),
            "--data",
            &dir.join("data").display().to_string(),
            "--shards",
            "2",
            "--flush",
            flush,
            "--config",
            &conf,
        ])
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("broker.log"))
                .unwrap(),
        )
        .spawn()
        .expect("mqbroker starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", ports.listen)).is_err() {
        assert!(Instant::now() < deadline, "mqbroker did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

#[test]
fn timed_and_delayed_messages_survive_kill_9_in_both_flush_modes() {
    for flush in ["async", "sync"] {
        let dir = tempfile::tempdir().unwrap();
        let ports = Ports::new(2);
        let mut child = spawn_broker(dir.path(), &ports, flush);
        let mut conn = Conn::port(ports.listen);
        let mut acked = HashSet::new();
        let first_sent = Instant::now();
        for i in 0..60 {
            let key = format!("{flush}-{i}");
            let wait = if i % 2 == 0 {
                ("TIMER_DELAY_MS", "1500")
            } else {
                ("DELAY", "4") // 1.2 s
            };
            let reply = send(
                &mut conn,
                "CrashT",
                i % 4,
                &props(&[wait, ("UNIQ_KEY", &key)]),
            );
            assert_eq!(
                reply.head.code,
                response_code::SUCCESS,
                "{:?}",
                reply.head.remark
            );
            acked.insert(key);
        }
        // Killed before anything fell due (else this would prove nothing).
        child.kill().unwrap();
        assert!(
            first_sent.elapsed() < Duration::from_millis(1200),
            "sends were too slow"
        );
        child.wait().unwrap();
        drop(conn);
        // A killed process's sockets outlive it briefly (io_uring tears down asynchronously):
        // wait until its ports can be bound again.
        let deadline = Instant::now() + Duration::from_secs(20);
        while [
            ports.listen,
            ports.shard_base,
            ports.shard_base + 1,
            ports.namesrv,
        ]
        .iter()
        .any(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_err())
        {
            assert!(
                Instant::now() < deadline,
                "the killed broker's ports stay taken"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut child = spawn_broker(dir.path(), &ports, flush);
        let mut conn = Conn::port(ports.listen);
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = HashSet::new();
        let mut next = [0i64; 4];
        while seen.len() < acked.len() && Instant::now() < deadline {
            for queue in 0..4 {
                for m in pull_from(&mut conn, "CrashT", queue, next[queue as usize]) {
                    next[queue as usize] = m.queue_offset + 1;
                    seen.insert(prop(&m, "UNIQ_KEY").unwrap().to_owned());
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let missing: Vec<_> = acked.difference(&seen).collect();
        if !missing.is_empty() {
            eprintln!(
                "{}",
                std::fs::read_to_string(dir.path().join("broker.log")).unwrap()
            );
        }
        assert!(
            missing.is_empty(),
            "{flush}: lost after kill -9: {missing:?}"
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

#[test]
fn a_timed_message_whose_queue_moved_is_delivered_through_the_new_owner() {
    // The timer waits on the shard that owned the queue when it was sent; when it falls due
    // the queue belongs to the other shard, so the delivery travels the spine's forward path.
    let dir = tempfile::tempdir().unwrap();
    let mut ports = Ports::new(2);
    let broker = start_broker(&dir.path().join("data"), 2, &mut ports, &[]);
    let mut conn = Conn::port(ports.listen);
    let reply = send(
        &mut conn,
        "MovedT",
        0,
        &props(&[("TIMER_DELAY_MS", "1200"), ("UNIQ_KEY", "U-MOVED")]),
    );
    assert_eq!(
        reply.head.code,
        response_code::SUCCESS,
        "{:?}",
        reply.head.remark
    );
    let owner = shardmq_broker::routing::shard_of("MovedT", 0, 2);
    let mv = MoveQueueRequestHeader {
        topic: "MovedT".into(),
        queue_id: 0,
        to_shard: (1 - owner) as i32,
    };
    let reply = conn.call(request_code::SHARDMQ_MOVE_QUEUE, &mv, Bytes::new());
    assert_eq!(
        reply.head.code,
        response_code::SUCCESS,
        "{:?}",
        reply.head.remark
    );
    let m = wait_for(&mut conn, "MovedT", 0, 0, Duration::from_secs(5)).expect("delivered");
    assert_eq!(prop(&m, "UNIQ_KEY"), Some("U-MOVED"));
    // Stored by the new owner: its log, not the one the timer waited in.
    let stored_on = shardmq_broker::store::Position::from_raw(m.physical_offset as u64).shard();
    assert_eq!(stored_on as usize, 1 - owner, "stored on the new owner");
    broker.stop();
}

#[test]
fn a_batch_holding_a_delayed_message_is_refused_whole_and_stores_nothing() {
    use shardmq_protocol::message::{encode_batch, BatchEntry};
    let dir = tempfile::tempdir().unwrap();
    let mut ports = Ports::new(1);
    let broker = start_broker(&dir.path().join("data"), 1, &mut ports, &[]);
    let mut conn = Conn::port(ports.listen);
    let entry = |body: &'static str, pairs: &[(&str, &str)]| BatchEntry {
        flag: 0,
        body: Bytes::from_static(body.as_bytes()),
        properties: props(pairs).into(),
    };
    let entries = [
        entry("plain", &[("UNIQ_KEY", "B1")]),
        entry("delayed", &[("UNIQ_KEY", "B2"), ("DELAY", "2")]),
    ];
    let mut body = bytes::BytesMut::new();
    encode_batch(&entries, &mut body).unwrap();
    let mut header = send_header("BatchT", 0, "");
    header.batch = Some(true);
    let reply = conn.call(
        request_code::SEND_BATCH_MESSAGE,
        &SendMessageRequestHeaderV2::from(header),
        body.freeze(),
    );
    assert_eq!(reply.head.code, response_code::MESSAGE_ILLEGAL);
    assert!(reply.head.remark.as_deref().unwrap_or("").contains("batch"));
    // Not even the plain entry before it was stored.
    let header = GetMaxOffsetRequestHeader {
        topic: "BatchT".into(),
        queue_id: 0,
        committed: None,
    };
    let reply = conn.call(request_code::GET_MAX_OFFSET, &header, Bytes::new());
    let max = reply
        .header::<OffsetResponseHeader>()
        .map_or(0, |h| h.offset);
    assert_eq!(max, 0);
    broker.stop();
}
