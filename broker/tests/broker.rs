//! The broker through its real interface: real brokers on 127.0.0.1 ports, real frames in
//! both header encodings, real files in temp dirs.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::{start_broker, Conn, Ports};
use shardmq_broker::routing::shard_of;
use shardmq_protocol::body::{JsonBody, TopicRouteData};
use shardmq_protocol::codes::{request_code, response_code, SerializeType};
use shardmq_protocol::command::Command;
use shardmq_protocol::header::*;
use shardmq_protocol::message::{encode_batch, BatchEntry, MessageId, StoredMessage};

use shardmq_testkit::send_header;

/// Sends with the given request code; returns the reply.
fn send(
    conn: &mut Conn,
    code: i32,
    topic: &str,
    queue_id: i32,
    bodies: &[&str],
    tags: &str,
) -> Command {
    let props = format!("TAGS\u{1}{tags}\u{2}KEYS\u{1}k1\u{2}");
    let mut header = send_header(topic, queue_id, &props);
    match code {
        request_code::SEND_MESSAGE => {
            conn.call(code, &header, Bytes::copy_from_slice(bodies[0].as_bytes()))
        }
        request_code::SEND_MESSAGE_V2 => conn.call(
            code,
            &SendMessageRequestHeaderV2::from(header),
            Bytes::copy_from_slice(bodies[0].as_bytes()),
        ),
        _ => {
            header.batch = Some(true);
            let entries: Vec<BatchEntry> = bodies
                .iter()
                .map(|b| BatchEntry {
                    flag: 0,
                    body: Bytes::copy_from_slice(b.as_bytes()),
                    properties: props.as_str().into(),
                })
                .collect();
            let mut body = BytesMut::new();
            encode_batch(&entries, &mut body).unwrap();
            conn.call(
                code,
                &SendMessageRequestHeaderV2::from(header),
                body.freeze(),
            )
        }
    }
}

fn pull_header(
    topic: &str,
    queue_id: i32,
    offset: i64,
    sys_flag: i32,
    suspend_ms: i64,
    subscription: &str,
) -> PullMessageRequestHeader {
    shardmq_testkit::pull_header(
        "CG",
        topic,
        queue_id,
        offset,
        sys_flag,
        suspend_ms,
        subscription,
    )
}

fn pull(conn: &mut Conn, topic: &str, queue_id: i32, offset: i64) -> (Command, Vec<StoredMessage>) {
    let reply = conn.call(
        request_code::PULL_MESSAGE,
        &pull_header(topic, queue_id, offset, 0, 0, "*"),
        Bytes::new(),
    );
    let messages = StoredMessage::iter(&reply.body, true)
        .collect::<Result<Vec<_>, _>>()
        .expect("stored messages");
    (reply, messages)
}

#[test]
fn send_then_pull_round_trips_for_every_send_code_and_both_header_encodings() {
    let dir = tempfile::tempdir().unwrap();
    let mut ports = Ports::new(2);
    let broker = start_broker(dir.path(), 2, &mut ports, &[]);
    for ser in [SerializeType::Json, SerializeType::RocketMq] {
        for code in [
            request_code::SEND_MESSAGE,
            request_code::SEND_MESSAGE_V2,
            request_code::SEND_BATCH_MESSAGE,
        ] {
            let topic = format!("T{code}{}", ser.code());
            let mut c = Conn::port(ports.listen);
            c.serialize_type = ser;
            let bodies = ["first", "second", "third"];
            let sent = if code == request_code::SEND_BATCH_MESSAGE {
                vec![send(&mut c, code, &topic, 1, &bodies, "TagA")]
            } else {
                bodies
                    .iter()
                    .map(|b| send(&mut c, code, &topic, 1, &[b], "TagA"))
                    .collect()
            };
            let mut ids = Vec::new();
            for reply in &sent {
                assert_eq!(
                    reply.head.code,
                    response_code::SUCCESS,
                    "{topic}: {:?}",
                    reply.head.remark
                );
                assert_eq!(reply.serialize_type, ser, "reply in the request's encoding");
                let h: SendMessageResponseHeader = reply.header().unwrap();
                assert_eq!(h.queue_id, 1);
                ids.extend(h.msg_id.split(',').map(str::to_owned));
            }
            let (reply, messages) = pull(&mut c, &topic, 1, 0);
            assert_eq!(reply.head.code, response_code::SUCCESS);
            let h: PullMessageResponseHeader = reply.header().unwrap();
            assert_eq!((h.next_begin_offset, h.min_offset, h.max_offset), (3, 0, 3));
            let got: Vec<_> = messages
                .iter()
                .map(|m| String::from_utf8(m.body.to_vec()).unwrap())
                .collect();
            assert_eq!(got, bodies);
            for (m, id) in messages.iter().zip(&ids) {
                assert_eq!(&*m.topic, topic);
                assert!(m.properties.contains("TAGS\u{1}TagA\u{2}"));
                let computed = MessageId {
                    store_host: m.store_host,
                    commit_log_offset: m.physical_offset,
                };
                assert_eq!(
                    &computed.to_string(),
                    id,
                    "the send reply's msgId names the stored message"
                );
                let view = c.call(
                    request_code::VIEW_MESSAGE_BY_ID,
                    &ViewMessageRequestHeader {
                        topic: None,
                        offset: m.physical_offset,
                    },
                    Bytes::new(),
                );
                assert_eq!(view.head.code, response_code::SUCCESS);
                let (viewed, _) = StoredMessage::decode(&view.body, 0, true).unwrap();
                assert_eq!(viewed.body, m.body);
            }
        }
    }
    broker.stop();
}

/// Behaviour, not speed: a held pull (60 s suspend) is answered by the message's arrival.
/// How fast the wake-up is lives in `examples/long_poll_latency.rs`.
#[test]
fn a_held_pull_is_answered_by_the_arrival_not_by_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let mut ports = Ports::new(1);
    let broker = start_broker(dir.path(), 1, &mut ports, &[]);
    let mut producer = Conn::port(ports.listen);
    send(
        &mut producer,
        request_code::SEND_MESSAGE_V2,
        "LP",
        0,
        &["warm-up"],
        "A",
    );
    let listen = ports.listen;
    let waiter = std::thread::spawn(move || {
        let mut c = Conn::port(listen);
        let started = Instant::now();
        let reply = c.call(
            request_code::PULL_MESSAGE,
            &pull_header("LP", 0, 1, PULL_FLAG_SUSPEND, 60_000, "*"),
            Bytes::new(),
        );
        (reply, started, Instant::now())
    });
    std::thread::sleep(Duration::from_millis(300));
    let sent_at = Instant::now();
    send(
        &mut producer,
        request_code::SEND_MESSAGE_V2,
        "LP",
        0,
        &["wake"],
        "A",
    );
    let (reply, started, woke) = waiter.join().unwrap();
    assert_eq!(reply.head.code, response_code::SUCCESS);
    assert!(
        sent_at.duration_since(started) >= Duration::from_millis(250),
        "the pull was held"
    );
    let latency = woke.saturating_duration_since(sent_at);
    assert!(
        latency < Duration::from_secs(30),
        "woke {latency:?} after the send: by the timeout, not the arrival"
    );
    let messages: Vec<_> = StoredMessage::iter(&reply.body, true)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(&messages[0].body[..], b"wake");
    // With nothing arriving, the pull answers PULL_NOT_FOUND after its timeout.
    let mut c = Conn::port(ports.listen);
    let t = Instant::now();
    let reply = c.call(
        request_code::PULL_MESSAGE,
        &pull_header("LP", 0, 2, PULL_FLAG_SUSPEND, 300, "*"),
        Bytes::new(),
    );
    assert_eq!(reply.head.code, response_code::PULL_NOT_FOUND);
    assert!(t.elapsed() >= Duration::from_millis(280));
    broker.stop();
}

#[test]
fn a_queue_owned_by_shard_1_is_served_through_shard_0s_port() {
    let dir = tempfile::tempdir().unwrap();
    let mut ports = Ports::new(2);
    let broker = start_broker(dir.path(), 2, &mut ports, &[]);
    let topic = "Cross";
    let q = (0..8).find(|q| shard_of(topic, *q, 2) == 1).unwrap();
    let mut on_shard0 = Conn::port(ports.shard_base);
    let reply = send(
        &mut on_shard0,
        request_code::SEND_MESSAGE_V2,
        topic,
        q,
        &["via shard 0"],
        "A",
    );
    assert_eq!(
        reply.head.code,
        response_code::SUCCESS,
        "{:?}",
        reply.head.remark
    );
    let (reply, messages) = pull(&mut on_shard0, topic, q, 0);
    assert_eq!(reply.head.code, response_code::SUCCESS);
    let position = shardmq_broker::store::Position::from_raw(messages[0].physical_offset as u64);
    assert_eq!(position.shard(), 1, "the bytes live in shard 1's log");
    let (_, direct) = pull(&mut Conn::port(ports.shard_base + 1), topic, q, 0);
    assert_eq!(direct[0].body, messages[0].body);
    broker.stop();
}

#[test]
fn restart_keeps_every_acknowledged_message_and_committed_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut ports = Ports::new(2);
    {
        let broker = start_broker(dir.path(), 2, &mut ports, &[]);
        let mut c = Conn::port(ports.listen);
        for i in 0..50 {
            let r = send(
                &mut c,
                request_code::SEND_MESSAGE_V2,
                "Keep",
                i % 4,
                &[&format!("m{i}")],
                "A",
            );
            assert_eq!(r.head.code, response_code::SUCCESS);
        }
        let update = UpdateConsumerOffsetRequestHeader {
            consumer_group: "CG".into(),
            topic: "Keep".into(),
            queue_id: 2,
            commit_offset: 7,
        };
        assert_eq!(
            c.call(request_code::UPDATE_CONSUMER_OFFSET, &update, Bytes::new())
                .head
                .code,
            0
        );
        broker.stop();
    }
    let broker = start_broker(dir.path(), 2, &mut ports, &[]);
    let mut c = Conn::port(ports.listen);
    let mut all = Vec::new();
    for q in 0..4 {
        let (_, messages) = pull(&mut c, "Keep", q, 0);
        all.extend(
            messages
                .iter()
                .map(|m| String::from_utf8(m.body.to_vec()).unwrap()),
        );
    }
    all.sort();
    let mut want: Vec<_> = (0..50).map(|i| format!("m{i}")).collect();
    want.sort();
    assert_eq!(all, want);
    let query = QueryConsumerOffsetRequestHeader {
        consumer_group: "CG".into(),
        topic: "Keep".into(),
        queue_id: 2,
        set_zero_if_not_found: None,
    };
    let reply = c.call(request_code::QUERY_CONSUMER_OFFSET, &query, Bytes::new());
    assert_eq!(reply.header::<OffsetResponseHeader>().unwrap().offset, 7);
    broker.stop();
}

#[test]
fn two_shards_under_concurrent_load_lose_and_duplicate_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut ports = Ports::new(2);
    let broker = start_broker(dir.path(), 2, &mut ports, &[]);
    let threads = 8;
    let per_thread = 150;
    let listen = ports.listen;
    let acked: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut c = Conn::port(listen);
                    let mut ids = Vec::new();
                    for i in 0..per_thread {
                        let r = send(
                            &mut c,
                            request_code::SEND_MESSAGE_V2,
                            "Load",
                            (t + i) % 8,
                            &[&format!("{t}-{i}")],
                            "A",
                        );
                        assert_eq!(r.head.code, response_code::SUCCESS);
                        ids.push(
                            r.header::<SendMessageResponseHeader>()
                                .unwrap()
                                .msg_id
                                .to_string(),
                        );
                    }
                    ids
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(
        acked.iter().collect::<HashSet<_>>().len(),
        threads as usize * per_thread as usize,
        "msgIds are unique"
    );
    let mut c = Conn::port(ports.listen);
    let mut seen = HashSet::new();
    for q in 0..8 {
        let mut offset = 0;
        loop {
            let (reply, messages) = pull(&mut c, "Load", q, offset);
            if messages.is_empty() {
                break;
            }
            for m in &messages {
                let id = MessageId {
                    store_host: m.store_host,
                    commit_log_offset: m.physical_offset,
                }
                .to_string();
                assert!(seen.insert(id), "duplicate message");
            }
            offset = reply
                .header::<PullMessageResponseHeader>()
                .unwrap()
                .next_begin_offset;
        }
    }
    let acked: HashSet<_> = acked.into_iter().collect();
    assert_eq!(seen, acked, "every acknowledged message, and nothing else");
    broker.stop();
}

#[test]
fn standalone_broker_registers_its_topics_with_shard_ports_in_the_embedded_name_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut ports = Ports::new(2);
    let broker = start_broker(dir.path(), 2, &mut ports, &[]);
    let mut c = Conn::port(ports.listen);
    send(
        &mut c,
        request_code::SEND_MESSAGE_V2,
        "Routed",
        0,
        &["x"],
        "A",
    );
    let mut ns = Conn::port(ports.namesrv);
    let deadline = Instant::now() + Duration::from_secs(5);
    let route = loop {
        let r = ns.call(
            request_code::GET_ROUTEINFO_BY_TOPIC,
            &GetRouteInfoRequestHeader {
                topic: "Routed".into(),
                accept_standard_json_only: Some(true),
            },
            Bytes::new(),
        );
        if r.head.code == response_code::SUCCESS {
            break TopicRouteData::decode(&r.body).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the topic never reached the name server"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        route.broker_datas[0].master_addr(),
        Some(format!("127.0.0.1:{}", ports.listen).as_str())
    );
    let shard_ports = route.queue_datas[0].shard_ports.clone().unwrap();
    for (q, port) in shard_ports.iter().enumerate() {
        assert_eq!(
            *port,
            ports.shard_base + shard_of("Routed", q as i32, 2) as u16
        );
    }
    let tbw = ns.call(
        request_code::GET_ROUTEINFO_BY_TOPIC,
        &GetRouteInfoRequestHeader {
            topic: "TBW102".into(),
            accept_standard_json_only: Some(true),
        },
        Bytes::new(),
    );
    assert_eq!(
        tbw.head.code,
        response_code::SUCCESS,
        "auto-creation is advertised through TBW102"
    );
    broker.stop();
}

#[test]
fn offsets_and_errors_follow_rocketmq_codes() {
    let dir = tempfile::tempdir().unwrap();
    let mut ports = Ports::new(1);
    let broker = start_broker(dir.path(), 1, &mut ports, &[]);
    let mut c = Conn::port(ports.listen);
    for i in 0..5 {
        send(
            &mut c,
            request_code::SEND_MESSAGE_V2,
            "Off",
            0,
            &[&format!("m{i}")],
            if i % 2 == 0 { "TagA" } else { "TagB" },
        );
    }
    let max = c.call(
        request_code::GET_MAX_OFFSET,
        &GetMaxOffsetRequestHeader {
            topic: "Off".into(),
            queue_id: 0,
            committed: None,
        },
        Bytes::new(),
    );
    assert_eq!(max.header::<OffsetResponseHeader>().unwrap().offset, 5);
    let min = c.call(
        request_code::GET_MIN_OFFSET,
        &GetMinOffsetRequestHeader {
            topic: "Off".into(),
            queue_id: 0,
        },
        Bytes::new(),
    );
    assert_eq!(min.header::<OffsetResponseHeader>().unwrap().offset, 0);
    let by_time = c.call(
        request_code::SEARCH_OFFSET_BY_TIMESTAMP,
        &SearchOffsetRequestHeader {
            topic: "Off".into(),
            queue_id: 0,
            timestamp: 0,
            boundary_type: None,
        },
        Bytes::new(),
    );
    assert_eq!(by_time.header::<OffsetResponseHeader>().unwrap().offset, 0);
    let earliest = c.call(
        request_code::GET_EARLIEST_MSG_STORETIME,
        &GetEarliestMsgStoretimeRequestHeader {
            topic: "Off".into(),
            queue_id: 0,
        },
        Bytes::new(),
    );
    assert!(
        earliest
            .header::<GetEarliestMsgStoretimeResponseHeader>()
            .unwrap()
            .timestamp
            > 0
    );
    // A new group starts at 0 while the queue still starts there.
    let query = QueryConsumerOffsetRequestHeader {
        consumer_group: "New".into(),
        topic: "Off".into(),
        queue_id: 0,
        set_zero_if_not_found: None,
    };
    assert_eq!(
        c.call(request_code::QUERY_CONSUMER_OFFSET, &query, Bytes::new())
            .header::<OffsetResponseHeader>()
            .unwrap()
            .offset,
        0
    );
    // Tag filtering and pull codes.
    let reply = c.call(
        request_code::PULL_MESSAGE,
        &pull_header("Off", 0, 0, 0, 0, "TagB"),
        Bytes::new(),
    );
    let bodies: Vec<_> = StoredMessage::iter(&reply.body, true)
        .map(|m| String::from_utf8(m.unwrap().body.to_vec()).unwrap())
        .collect();
    assert_eq!(bodies, ["m1", "m3"]);
    let reply = c.call(
        request_code::PULL_MESSAGE,
        &pull_header("Off", 0, 5, 0, 0, "*"),
        Bytes::new(),
    );
    assert_eq!(reply.head.code, response_code::PULL_NOT_FOUND);
    let reply = c.call(
        request_code::PULL_MESSAGE,
        &pull_header("Off", 0, 99, 0, 0, "*"),
        Bytes::new(),
    );
    assert_eq!(reply.head.code, response_code::PULL_OFFSET_MOVED);
    assert_eq!(
        reply
            .header::<PullMessageResponseHeader>()
            .unwrap()
            .next_begin_offset,
        5
    );
    // Oversize body, unknown code, bad header.
    let big = vec![b'x'; 4 * 1024 * 1024 + 1];
    let reply = c.call(
        request_code::SEND_MESSAGE_V2,
        &SendMessageRequestHeaderV2::from(send_header("Off", 0, "")),
        Bytes::from(big),
    );
    assert_eq!(reply.head.code, response_code::MESSAGE_ILLEGAL);
    assert_eq!(
        c.call(9999, &EmptyHeader, Bytes::new()).head.code,
        response_code::REQUEST_CODE_NOT_SUPPORTED
    );
    let reply = c.call(request_code::PULL_MESSAGE, &EmptyHeader, Bytes::new());
    assert_eq!(reply.head.code, response_code::SYSTEM_ERROR);
    assert!(reply.head.remark.unwrap().contains("consumerGroup"));
    // Unframeable input closes that connection only.
    let mut bad = Conn::port(ports.listen);
    bad.send_raw(&[0, 0, 0, 8, 9, 0, 0, 0, 1, 2, 3, 4]);
    assert!(bad.closed_by_server());
    assert_eq!(
        c.call(
            request_code::GET_MAX_OFFSET,
            &GetMaxOffsetRequestHeader {
                topic: "Off".into(),
                queue_id: 0,
                committed: None
            },
            Bytes::new()
        )
        .head
        .code,
        0
    );
    broker.stop();
}

#[test]
fn auto_create_off_refuses_unknown_topics_with_topic_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("broker.conf");
    std::fs::write(&conf, "autoCreateTopicEnable=false\n").unwrap();
    let mut ports = Ports::new(1);
    let broker = start_broker(
        &dir.path().join("data"),
        1,
        &mut ports,
        &["--config", conf.to_str().unwrap()],
    );
    let mut c = Conn::port(ports.listen);
    let reply = send(
        &mut c,
        request_code::SEND_MESSAGE_V2,
        "Nope",
        0,
        &["x"],
        "A",
    );
    assert_eq!(reply.head.code, response_code::TOPIC_NOT_EXIST);
    let create = CreateTopicRequestHeader {
        topic: "Made".into(),
        default_topic: "TBW102".into(),
        read_queue_nums: 4,
        write_queue_nums: 4,
        perm: PERM_READ | PERM_WRITE,
        topic_filter_type: "SINGLE_TAG".into(),
        topic_sys_flag: None,
        order: false,
        attributes: None,
        force: None,
    };
    assert_eq!(
        c.call(request_code::UPDATE_AND_CREATE_TOPIC, &create, Bytes::new())
            .head
            .code,
        0
    );
    let reply = send(
        &mut c,
        request_code::SEND_MESSAGE_V2,
        "Made",
        3,
        &["y"],
        "A",
    );
    assert_eq!(
        reply.head.code,
        response_code::SUCCESS,
        "{:?}",
        reply.head.remark
    );
    broker.stop();
}

fn heartbeat(conn: &mut Conn, client_id: &str, group: &str) -> Vec<Command> {
    use shardmq_protocol::body::{ConsumerData, HeartbeatData, SubscriptionData};
    let hb = HeartbeatData {
        client_id: client_id.into(),
        consumer_data_set: vec![ConsumerData {
            group_name: group.into(),
            subscription_data_set: vec![SubscriptionData {
                topic: "T".into(),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let opaque = conn.send(request_code::HEART_BEAT, &EmptyHeader, hb.encode());
    // Frames until the heartbeat's reply; notifications may come first.
    let mut others = Vec::new();
    loop {
        let frame = conn.read().expect("frame");
        if frame.head.is_response() && frame.head.opaque == opaque {
            assert_eq!(frame.head.code, response_code::SUCCESS);
            return others;
        }
        others.push(frame);
    }
}

fn is_notify(c: &Command, group: &str) -> bool {
    c.head.code == request_code::NOTIFY_CONSUMER_IDS_CHANGED
        && c.head.is_oneway()
        && c.header::<NotifyConsumerIdsChangedRequestHeader>()
            .is_ok_and(|h| &*h.consumer_group == group)
}

#[test]
fn group_members_are_told_when_membership_changes_across_shards() {
    let dir = tempfile::tempdir().unwrap();
    let mut ports = Ports::new(2);
    let broker = start_broker(dir.path(), 2, &mut ports, &[]);
    // Two consumers of one group on connections held by different shards.
    let mut a = Conn::port(ports.shard_base);
    let mut b = Conn::port(ports.shard_base + 1);
    heartbeat(&mut a, "client-a", "G1");
    // client-b is told of its own joining too; notifications travel apart from replies, so
    // that one may come before or after the heartbeat's reply.
    let mut seen_by_b = heartbeat(&mut b, "client-b", "G1");
    if seen_by_b.is_empty() {
        seen_by_b.push(b.read().expect("client-b is notified"));
    }
    assert_eq!(seen_by_b.len(), 1);
    assert!(is_notify(&seen_by_b[0], "G1"), "{:?}", seen_by_b[0].head);
    let notify = a.read().expect("client-a is notified");
    assert!(is_notify(&notify, "G1"), "{:?}", notify.head);
    let list = a.call(
        request_code::GET_CONSUMER_LIST_BY_GROUP,
        &GetConsumerListByGroupRequestHeader {
            consumer_group: "G1".into(),
        },
        Bytes::new(),
    );
    let ids = shardmq_protocol::body::ConsumerIdList::decode(&list.body)
        .unwrap()
        .consumer_id_list;
    assert_eq!(ids, ["client-a", "client-b"]);
    // A repeated heartbeat changes nothing and notifies nobody.
    assert!(heartbeat(&mut b, "client-b", "G1").is_empty());
    // client-b's connection closes: client-a is told, and the list shrinks.
    drop(b);
    let notify = a.read().expect("client-a is notified again");
    assert!(is_notify(&notify, "G1"));
    let list = a.call(
        request_code::GET_CONSUMER_LIST_BY_GROUP,
        &GetConsumerListByGroupRequestHeader {
            consumer_group: "G1".into(),
        },
        Bytes::new(),
    );
    let ids = shardmq_protocol::body::ConsumerIdList::decode(&list.body)
        .unwrap()
        .consumer_id_list;
    assert_eq!(ids, ["client-a"]);
    broker.stop();
}

fn pull_all(c: &mut Conn, topic: &str, q: i32, mut offset: i64) -> (Vec<StoredMessage>, i64) {
    let mut all = Vec::new();
    loop {
        let (reply, messages) = pull(c, topic, q, offset);
        if messages.is_empty() {
            return (all, offset);
        }
        offset = reply
            .header::<PullMessageResponseHeader>()
            .unwrap()
            .next_begin_offset;
        all.extend(messages);
    }
}

fn send_retrying(c: &mut Conn, topic: &str, q: i32, body: &str) -> Command {
    // A send racing a move may be refused with SYSTEM_BUSY: clients retry.
    for _ in 0..20 {
        let r = send(c, request_code::SEND_MESSAGE_V2, topic, q, &[body], "A");
        if r.head.code != response_code::SYSTEM_BUSY {
            return r;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("still busy");
}

#[test]
fn a_queue_moved_between_shards_keeps_its_whole_history_readable() {
    let dir = tempfile::tempdir().unwrap();
    let mut ports = Ports::new(2);
    let topic = "Moving";
    let q = 2;
    let from = shard_of(topic, q, 2);
    let to = 1 - from;
    {
        let broker = start_broker(dir.path(), 2, &mut ports, &[]);
        let mut c = Conn::port(ports.listen);
        for i in 0..10 {
            assert_eq!(
                send_retrying(&mut c, topic, q, &format!("before-{i}"))
                    .head
                    .code,
                0
            );
        }
        let update = UpdateConsumerOffsetRequestHeader {
            consumer_group: "CG".into(),
            topic: topic.into(),
            queue_id: q,
            commit_offset: 4,
        };
        assert_eq!(
            c.call(request_code::UPDATE_CONSUMER_OFFSET, &update, Bytes::new())
                .head
                .code,
            0
        );
        let mv = MoveQueueRequestHeader {
            topic: topic.into(),
            queue_id: q,
            to_shard: to as i32,
        };
        let reply = c.call(request_code::SHARDMQ_MOVE_QUEUE, &mv, Bytes::new());
        assert_eq!(
            reply.head.code,
            response_code::SUCCESS,
            "{:?}",
            reply.head.remark
        );
        for i in 0..10 {
            let r = send_retrying(&mut c, topic, q, &format!("after-{i}"));
            assert_eq!(r.head.code, 0, "{:?}", r.head.remark);
            assert_eq!(
                r.header::<SendMessageResponseHeader>()
                    .unwrap()
                    .queue_offset,
                10 + i as i64,
                "numbering continues"
            );
        }
        check_moved_queue(&mut c, topic, q, from, to);
        broker.stop();
    }
    // The move survives a restart.
    let broker = start_broker(dir.path(), 2, &mut ports, &[]);
    let mut c = Conn::port(ports.listen);
    check_moved_queue(&mut c, topic, q, from, to);
    let r = send_retrying(&mut c, topic, q, "after-restart");
    assert_eq!(
        r.header::<SendMessageResponseHeader>()
            .unwrap()
            .queue_offset,
        20
    );
    broker.stop();
}

fn check_moved_queue(c: &mut Conn, topic: &str, q: i32, from: usize, to: usize) {
    let (messages, next) = pull_all(c, topic, q, 0);
    let bodies: Vec<_> = messages
        .iter()
        .map(|m| String::from_utf8(m.body.to_vec()).unwrap())
        .collect();
    let want: Vec<_> = (0..10)
        .map(|i| format!("before-{i}"))
        .chain((0..10).map(|i| format!("after-{i}")))
        .collect();
    assert_eq!(
        &bodies[..20],
        &want[..],
        "history then new messages, in order"
    );
    assert!(next >= 20);
    for (i, m) in messages.iter().take(20).enumerate() {
        let shard =
            shardmq_broker::store::Position::from_raw(m.physical_offset as u64).shard() as usize;
        assert_eq!(
            shard,
            if i < 10 { from } else { to },
            "message {i} stays where it was written"
        );
        assert_eq!(m.queue_offset, i as i64);
    }
    let min = c.call(
        request_code::GET_MIN_OFFSET,
        &GetMinOffsetRequestHeader {
            topic: topic.into(),
            queue_id: q,
        },
        Bytes::new(),
    );
    assert_eq!(min.header::<OffsetResponseHeader>().unwrap().offset, 0);
    let max = c.call(
        request_code::GET_MAX_OFFSET,
        &GetMaxOffsetRequestHeader {
            topic: topic.into(),
            queue_id: q,
            committed: None,
        },
        Bytes::new(),
    );
    assert!(max.header::<OffsetResponseHeader>().unwrap().offset >= 20);
    let query = QueryConsumerOffsetRequestHeader {
        consumer_group: "CG".into(),
        topic: topic.into(),
        queue_id: q,
        set_zero_if_not_found: None,
    };
    let offset = c.call(request_code::QUERY_CONSUMER_OFFSET, &query, Bytes::new());
    assert_eq!(
        offset.header::<OffsetResponseHeader>().unwrap().offset,
        4,
        "the committed offset moved with the queue"
    );
}

#[test]
fn topic_stats_report_every_queues_offsets_across_shards_and_heartbeats_reach_every_group_home() {
    use shardmq_protocol::body::{ConsumerData, HeartbeatData, TopicStatsTable};
    let dir = tempfile::tempdir().unwrap();
    let mut ports = Ports::new(2);
    let broker = start_broker(dir.path(), 2, &mut ports, &[]);
    let mut c = Conn::port(ports.listen);
    for q in 0..8 {
        for _ in 0..=q {
            send(
                &mut c,
                request_code::SEND_MESSAGE_V2,
                "Stats",
                q,
                &["x"],
                "A",
            );
        }
    }
    let reply = c.call(
        request_code::GET_TOPIC_STATS_INFO,
        &GetTopicStatsInfoRequestHeader {
            topic: "Stats".into(),
        },
        Bytes::new(),
    );
    assert_eq!(reply.head.code, response_code::SUCCESS);
    let stats = TopicStatsTable::decode(&reply.body).unwrap();
    assert_eq!(stats.offset_table.len(), 8);
    for (mq, offsets) in &stats.offset_table {
        assert_eq!(
            (offsets.min_offset, offsets.max_offset),
            (0, i64::from(mq.queue_id) + 1),
            "queue {}",
            mq.queue_id
        );
    }
    // One heartbeat naming two groups whose homes differ: each home knows its group.
    let (g1, g2) = (0..100)
        .map(|i| format!("G{i}"))
        .map(|g| (shardmq_broker::routing::group_home(&g, 2), g))
        .fold((None, None), |(a, b), (home, g)| match home {
            0 if a.is_none() => (Some(g), b),
            1 if b.is_none() => (a, Some(g)),
            _ => (a, b),
        });
    let (g1, g2) = (g1.unwrap(), g2.unwrap());
    let hb = HeartbeatData {
        client_id: "multi".into(),
        consumer_data_set: vec![
            ConsumerData {
                group_name: g1.clone(),
                ..Default::default()
            },
            ConsumerData {
                group_name: g2.clone(),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let opaque = c.send(request_code::HEART_BEAT, &EmptyHeader, hb.encode());
    loop {
        let f = c.read().unwrap();
        if f.head.is_response() && f.head.opaque == opaque {
            break;
        }
    }
    for g in [g1, g2] {
        let list = c.call(
            request_code::GET_CONSUMER_LIST_BY_GROUP,
            &GetConsumerListByGroupRequestHeader {
                consumer_group: g.as_str().into(),
            },
            Bytes::new(),
        );
        assert_eq!(
            list.head.code,
            response_code::SUCCESS,
            "group {g}: {:?}",
            list.head.remark
        );
        let ids = shardmq_protocol::body::ConsumerIdList::decode(&list.body)
            .unwrap()
            .consumer_id_list;
        assert_eq!(ids, ["multi"]);
    }
    broker.stop();
}

#[test]
fn restarting_with_more_shards_keeps_every_queue_where_its_data_is_and_fewer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut ports = Ports::new(3);
    {
        let broker = start_broker(dir.path(), 2, &mut ports, &[]);
        let mut c = Conn::port(ports.listen);
        for q in 0..8 {
            assert_eq!(
                send(
                    &mut c,
                    request_code::SEND_MESSAGE_V2,
                    "Spread",
                    q,
                    &[&format!("q{q}")],
                    "A"
                )
                .head
                .code,
                0
            );
        }
        broker.stop();
    }
    {
        let broker = start_broker(dir.path(), 3, &mut ports, &[]);
        let mut c = Conn::port(ports.listen);
        for q in 0..8 {
            let (_, messages) = pull(&mut c, "Spread", q, 0);
            assert_eq!(
                messages.len(),
                1,
                "queue {q} found after growing to 3 shards"
            );
            assert_eq!(&messages[0].body[..], format!("q{q}").as_bytes());
            let r = send(
                &mut c,
                request_code::SEND_MESSAGE_V2,
                "Spread",
                q,
                &["more"],
                "A",
            );
            assert_eq!(
                r.header::<SendMessageResponseHeader>()
                    .unwrap()
                    .queue_offset,
                1,
                "queue {q} continues"
            );
        }
        broker.stop();
    }
    let args = vec![
        "mqbroker".to_string(),
        "--listen".into(),
        format!("127.0.0.1:{}", common::free_port()),
        "--shard-port-base".into(),
        common::free_ports(1).to_string(),
        "--namesrv-listen".into(),
        format!("127.0.0.1:{}", common::free_port()),
        "--data".into(),
        dir.path().display().to_string(),
        "--shards".into(),
        "1".into(),
    ];
    use clap::Parser;
    let args = shardmq_broker::config::Args::try_parse_from(args).unwrap();
    let (config, _) = shardmq_broker::config::BrokerConfig::resolve(&args, 1).unwrap();
    let err = shardmq_broker::Broker::start(config)
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("start with --shards 2 or more"), "{err}");
}

#[test]
fn pulls_of_a_queue_beyond_the_write_count_reach_the_shard_holding_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut ports = Ports::new(3);
    let broker = start_broker(dir.path(), 3, &mut ports, &[]);
    let mut c = Conn::port(ports.listen);
    let topic = "Shrunk";
    let create = |writes: i32| CreateTopicRequestHeader {
        topic: topic.into(),
        default_topic: "TBW102".into(),
        read_queue_nums: 8,
        write_queue_nums: writes,
        perm: PERM_READ | PERM_WRITE,
        topic_filter_type: "SINGLE_TAG".into(),
        topic_sys_flag: None,
        order: false,
        attributes: None,
        force: None,
    };
    let code = |c: &mut Conn, h: &CreateTopicRequestHeader| {
        c.call(request_code::UPDATE_AND_CREATE_TOPIC, h, Bytes::new())
            .head
            .code
    };
    assert_eq!(code(&mut c, &create(8)), response_code::SUCCESS);
    // A queue >= 4 whose shard differs from that of its id modulo 4.
    let q = (4..8)
        .find(|q| shard_of(topic, *q, 3) != shard_of(topic, q % 4, 3))
        .expect("such a queue");
    let reply = send(
        &mut c,
        request_code::SEND_MESSAGE_V2,
        topic,
        q,
        &["kept"],
        "A",
    );
    assert_eq!(reply.head.code, response_code::SUCCESS);
    // Writes shrink to 4; the 8 read queues, and queue q's message, remain readable.
    assert_eq!(code(&mut c, &create(4)), response_code::SUCCESS);
    let (reply, messages) = pull(&mut c, topic, q, 0);
    assert_eq!(
        reply.head.code,
        response_code::SUCCESS,
        "{:?}",
        reply.head.remark
    );
    assert_eq!(messages.len(), 1, "queue {q}'s message was not found");
    assert_eq!(&messages[0].body[..], b"kept");
    broker.stop();
}

/// The hot path (a send stored by the receiving shard, acknowledged from the connection's
/// outbox once durable): a thousand sends written back to back on one connection, in both
/// header encodings and with oneway sends among them, each get exactly one reply, with its
/// own opaque and encoding, queue offsets in the order sent, and a msgId that reads back
/// its own body.
#[test]
fn pipelined_sends_on_one_connection_each_get_their_own_acknowledgement() {
    let dir = tempfile::tempdir().unwrap();
    let mut ports = Ports::new(1);
    let broker = start_broker(dir.path(), 1, &mut ports, &[]);
    let mut c = Conn::port(ports.listen);
    // The first send creates the topic (the routed path); the rest take the inline path.
    let first = send(
        &mut c,
        request_code::SEND_MESSAGE_V2,
        "Pipe",
        0,
        &["b-first"],
        "A",
    );
    assert_eq!(first.head.code, response_code::SUCCESS);
    let count = 1000;
    let mut sent = Vec::new(); // (opaque, body, encoding)
    let mut oneway_bodies = Vec::new();
    for i in 0..count {
        let body = format!("b-{i}");
        let header = SendMessageRequestHeaderV2::from(send_header("Pipe", 0, "TAGS\u{1}A\u{2}"));
        c.serialize_type = if i % 3 == 0 {
            SerializeType::Json
        } else {
            SerializeType::RocketMq
        };
        if i % 100 == 50 {
            let mut head =
                shardmq_protocol::command::Head::request(request_code::SEND_MESSAGE_V2, -i);
            head.flag = shardmq_protocol::codes::FLAG_ONEWAY;
            let cmd = Command::new(head, c.serialize_type, &header, Bytes::from(body.clone()));
            c.send_raw(&cmd.to_bytes());
            oneway_bodies.push(body);
            continue;
        }
        let opaque = c.send(
            request_code::SEND_MESSAGE_V2,
            &header,
            Bytes::from(body.clone()),
        );
        sent.push((opaque, body, c.serialize_type));
    }
    let mut replies = std::collections::HashMap::new();
    for _ in 0..sent.len() {
        let reply = c.read().expect("one reply per request");
        assert!(reply.head.is_response());
        assert!(
            replies.insert(reply.head.opaque, reply).is_none(),
            "one reply per opaque"
        );
    }
    c.serialize_type = SerializeType::RocketMq;
    let mut last_offset = 0;
    for (opaque, body, encoding) in &sent {
        let reply = replies.get(opaque).expect("a reply for every opaque");
        assert_eq!(
            reply.head.code,
            response_code::SUCCESS,
            "{:?}",
            reply.head.remark
        );
        assert_eq!(
            reply.serialize_type, *encoding,
            "the reply uses the request's encoding"
        );
        let h: SendMessageResponseHeader = reply.header().unwrap();
        assert_eq!(h.queue_id, 0);
        assert!(
            h.queue_offset > last_offset,
            "offsets follow the order sent"
        );
        last_offset = h.queue_offset;
        let id: MessageId = h.msg_id.parse().unwrap();
        let viewed = c.call(
            request_code::VIEW_MESSAGE_BY_ID,
            &ViewMessageRequestHeader {
                topic: None,
                offset: id.commit_log_offset,
            },
            Bytes::new(),
        );
        assert_eq!(viewed.head.code, response_code::SUCCESS);
        let stored = StoredMessage::iter(&viewed.body, true)
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(&stored.body[..], body.as_bytes());
        assert_eq!(stored.queue_offset, h.queue_offset);
    }
    // Oneway sends were stored too (and answered nothing): the queue holds all of them.
    let max = c.call(
        request_code::GET_MAX_OFFSET,
        &GetMaxOffsetRequestHeader {
            topic: "Pipe".into(),
            queue_id: 0,
            committed: None,
        },
        Bytes::new(),
    );
    let max: OffsetResponseHeader = max.header().unwrap();
    assert_eq!(max.offset, 1 + count as i64);
    assert_eq!(oneway_bodies.len(), 10);
    broker.stop();
}

/// A client that sends oneway requests (handled as tasks: the first send of a new topic,
/// a batch) and closes its side at once gets its connection closed by the broker as soon as
/// they finish, not left open with a writer waiting for nothing.
#[test]
fn a_connection_closed_with_oneway_requests_in_flight_is_closed_by_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let mut ports = Ports::new(1);
    let broker = start_broker(dir.path(), 1, &mut ports, &[]);
    for round in 0..5 {
        let mut c = Conn::port(ports.listen);
        let header = SendMessageRequestHeaderV2::from(send_header(
            &format!("OnewayClose{round}"),
            0,
            "TAGS\u{1}A\u{2}",
        ));
        let mut head = shardmq_protocol::command::Head::request(request_code::SEND_MESSAGE_V2, 1);
        head.flag = shardmq_protocol::codes::FLAG_ONEWAY;
        let cmd = Command::new(head, c.serialize_type, &header, Bytes::from_static(b"x"));
        c.send_raw(&cmd.to_bytes());
        c.shutdown_write();
        let started = Instant::now();
        assert!(
            c.closed_by_server(),
            "round {round}: the broker closes its side"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "round {round}: closed when the request finished, not at a timeout"
        );
    }
    broker.stop();
}
