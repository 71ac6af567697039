//! The client against a real broker (standalone, embedded name server) on 127.0.0.1.

mod common;

use common::{assign_when_routed, broker};

use std::net::SocketAddr;
use std::time::Duration;

use shardmq::{
    Message, Producer, ProducerConfig, PullConsumer, PullConsumerConfig, QueueSelector, StartFrom,
};
use shardmq_testkit::free_port;

/// [`assign_when_routed`] for a group subscription.
fn subscribe_when_routed(consumer: &PullConsumer, topic: &str) {
    for _ in 0..60 {
        match consumer.subscribe(topic, "*") {
            Ok(()) => return,
            Err(shardmq::ClientError::NoRoute { .. }) => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => panic!("subscribe {topic}: {e}"),
        }
    }
    panic!("{topic} never got a route");
}

fn drain(consumer: &PullConsumer, want: usize) -> Vec<shardmq::ReceivedMessage> {
    let mut all = Vec::new();
    for _ in 0..200 {
        all.extend(consumer.poll().unwrap());
        if all.len() >= want {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    all
}

#[test]
fn every_send_mode_reaches_a_pull_consumer_with_its_tags_keys_and_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, ns) = broker(dir.path());
    let producer = Producer::new(ProducerConfig::new(vec![ns], "PG")).unwrap();
    let mut ids = Vec::new();
    for i in 0..20 {
        let m = Message::new("ClientTopic", format!("sync-{i}"))
            .with_tags("TagA")
            .with_keys(["k1", "k2"]);
        let r = producer.send(m).unwrap();
        assert_eq!(r.msg_id.len(), 32);
        ids.push(r.msg_id);
    }
    for i in 0..20 {
        let r = futures_lite::future::block_on(
            producer.send_async(Message::new("ClientTopic", format!("async-{i}"))),
        )
        .unwrap();
        ids.push(r.msg_id);
    }
    let batch: Vec<Message> = (0..10)
        .map(|i| Message::new("ClientTopic", format!("batch-{i}")))
        .collect();
    let r = producer.send_batch(batch).unwrap();
    assert_eq!(r.msg_id.split(',').count(), 10);
    ids.extend(r.msg_id.split(',').map(str::to_owned));
    for i in 0..5 {
        producer
            .send_oneway(Message::new("ClientTopic", format!("oneway-{i}")))
            .unwrap();
    }
    let consumer = PullConsumer::new(PullConsumerConfig::new(vec![ns], "CG")).unwrap();
    assign_when_routed(&consumer, "ClientTopic");
    let got = drain(&consumer, 55);
    assert_eq!(got.len(), 55, "every message, once");
    let mut got_ids: Vec<String> = got
        .iter()
        .filter_map(|m| m.msg_id().map(str::to_owned))
        .collect();
    got_ids.sort();
    let mut want_ids = ids.clone();
    want_ids.sort();
    got_ids.retain(|id| want_ids.binary_search(id).is_ok());
    assert_eq!(got_ids, want_ids, "acknowledged ids all arrive");
    let sync0 = got.iter().find(|m| &m.body()[..] == b"sync-0").unwrap();
    assert_eq!(sync0.tags(), Some("TagA"));
    assert_eq!(sync0.property("KEYS"), Some("k1 k2"));
    producer.shutdown();
    broker.stop();
}

#[test]
fn messages_with_one_key_keep_their_order_and_commits_resume_a_group() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, ns) = broker(dir.path());
    let producer = Producer::new(ProducerConfig::new(vec![ns], "PG")).unwrap();
    for i in 0..30 {
        for key in ["order-a", "order-b"] {
            let r = producer
                .send_to(
                    Message::new("Ordered", format!("{key}:{i}")),
                    &QueueSelector::ByKey(key.into()),
                )
                .unwrap();
            let first = producer
                .send_to(
                    Message::new("Probe", "x"),
                    &QueueSelector::ByKey(key.into()),
                )
                .unwrap();
            assert_eq!(r.queue.queue_id, first.queue.queue_id, "one key, one queue");
        }
    }
    let consumer = PullConsumer::new(PullConsumerConfig::new(vec![ns], "OG")).unwrap();
    assign_when_routed(&consumer, "Ordered");
    let got = drain(&consumer, 60);
    for key in ["order-a", "order-b"] {
        let seq: Vec<u32> = got
            .iter()
            .map(|m| String::from_utf8(m.body().to_vec()).unwrap())
            .filter_map(|b| {
                b.strip_prefix(&format!("{key}:"))
                    .map(|n| n.parse().unwrap())
            })
            .collect();
        assert_eq!(seq, (0..30).collect::<Vec<_>>(), "{key}");
    }
    consumer.commit().unwrap();
    // The same group resumes after what it committed; a new group starting at the end sees nothing.
    for i in 0..3 {
        producer
            .send(Message::new("Ordered", format!("late-{i}")))
            .unwrap();
    }
    let again = PullConsumer::new(PullConsumerConfig::new(vec![ns], "OG")).unwrap();
    assign_when_routed(&again, "Ordered");
    let late = drain(&again, 3);
    assert_eq!(late.len(), 3);
    assert!(late.iter().all(|m| m.body().starts_with(b"late-")));
    let mut tail_config = PullConsumerConfig::new(vec![ns], "TailGroup");
    tail_config.start_from = StartFrom::Last;
    let tail = PullConsumer::new(tail_config).unwrap();
    assign_when_routed(&tail, "Ordered");
    assert!(tail.poll().unwrap().is_empty());
    producer.shutdown();
    broker.stop();
}

#[test]
fn errors_name_what_failed() {
    let producer = Producer::new(ProducerConfig::new(
        vec![SocketAddr::from(([127, 0, 0, 1], free_port()))],
        "PG",
    ))
    .unwrap();
    let err = producer
        .send(Message::new("T", "x"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("connection to 127.0.0.1:"), "{err}");
    assert!(Producer::new(ProducerConfig::new(vec![], "PG")).is_err());
    assert!(Message::new("T", "x")
        .with_property("bad\u{1}name", "v")
        .is_err());
}

#[test]
fn a_group_can_start_from_a_point_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, ns) = broker(dir.path());
    let producer = Producer::new(ProducerConfig::new(vec![ns], "PG")).unwrap();
    for i in 0..5 {
        producer
            .send_to(
                Message::new("Timed", format!("old-{i}")),
                &QueueSelector::ByKey("k".into()),
            )
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(50));
    let from = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for i in 0..5 {
        producer
            .send_to(
                Message::new("Timed", format!("new-{i}")),
                &QueueSelector::ByKey("k".into()),
            )
            .unwrap();
    }
    let mut config = PullConsumerConfig::new(vec![ns], "TimedGroup");
    config.start_from = StartFrom::Timestamp(from);
    let consumer = PullConsumer::new(config).unwrap();
    assign_when_routed(&consumer, "Timed");
    let got: Vec<String> = drain(&consumer, 5)
        .iter()
        .map(|m| String::from_utf8(m.body().to_vec()).unwrap())
        .collect();
    assert_eq!(got, (0..5).map(|i| format!("new-{i}")).collect::<Vec<_>>());
    producer.shutdown();
    broker.stop();
}

#[test]
fn subscribed_pull_consumers_split_the_group_and_auto_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, ns) = broker(dir.path());
    let producer = Producer::new(ProducerConfig::new(vec![ns], "PG")).unwrap();
    for i in 0..40 {
        producer
            .send(Message::new("Shared", format!("s{i}")))
            .unwrap();
    }
    let make = |id: &str| {
        let mut c = PullConsumerConfig::new(vec![ns], "SharedGroup");
        c.client_id = id.into();
        c.auto_commit = true;
        PullConsumer::new(c).unwrap()
    };
    let (a, b) = (make("a"), make("b"));
    // The topic was created by the first send: it reaches the name server a moment later.
    subscribe_when_routed(&a, "Shared");
    b.subscribe("Shared", "*").unwrap();
    // `a` subscribed alone first: subscribing again re-checks the group, which now has `b`.
    a.subscribe("Shared", "*").unwrap();
    let mut seen = Vec::new();
    for _ in 0..20 {
        for c in [&a, &b] {
            seen.extend(
                c.poll_timeout(Duration::from_millis(20))
                    .unwrap()
                    .into_iter()
                    .map(|m| String::from_utf8(m.body().to_vec()).unwrap()),
            );
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 40, "the two members together read everything");
    // Everything was committed: a fresh member of the group finds nothing new.
    let c = make("c");
    assign_when_routed(&c, "Shared");
    assert!(c
        .poll_timeout(Duration::from_millis(100))
        .unwrap()
        .is_empty());
    producer.shutdown();
    broker.stop();
}

/// A topic created by its first send is sent through TBW102's queues only for a moment:
/// then the producer takes the topic's own route, whose shard ports (on a 2-shard broker)
/// send each queue straight to the shard that owns it, not through another shard.
#[test]
fn a_new_topics_sends_move_from_tbw102s_route_to_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, ns) = broker(dir.path());
    let producer = Producer::new(ProducerConfig::new(vec![ns], "PG")).unwrap();
    let tbw102 = producer.queues("TBW102").unwrap();
    // Names whose queues hash to other shards than TBW102's do, on a 2-shard broker.
    let topic = (0..100)
        .map(|i| format!("Fresh{i}"))
        .find(|t| {
            (0..8).any(|q| {
                shardmq_broker::routing::shard_of(t, q, 2)
                    != shardmq_broker::routing::shard_of("TBW102", q, 2)
            })
        })
        .unwrap();
    producer
        .send(Message::new(topic.as_str(), "first"))
        .unwrap();
    assert_eq!(
        producer.queues(&topic).unwrap(),
        tbw102,
        "before the topic has a route, its sends go through TBW102's queues"
    );
    let own = (0..60)
        .find_map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            let queues = producer.queues(&topic).unwrap();
            (queues != tbw102).then_some(queues)
        })
        .expect("the producer takes the topic's own route within a few seconds");
    let consumer = PullConsumer::new(PullConsumerConfig::new(vec![ns], "CG")).unwrap();
    assign_when_routed(&consumer, &topic);
    let ports: Vec<u16> = own.iter().map(|q| q.addr.port()).collect();
    let fresh = Producer::new(ProducerConfig::new(vec![ns], "PG2")).unwrap();
    let want: Vec<u16> = fresh
        .queues(&topic)
        .unwrap()
        .iter()
        .map(|q| q.addr.port())
        .collect();
    assert_eq!(ports, want, "the topic's own shard ports");
    broker.stop();
}

#[test]
fn a_producer_that_ignores_shard_ports_sends_to_the_main_address_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let loopback = shardmq_broker::loopback::start(dir.path(), 2).expect("broker");
    let ns = loopback.namesrv;
    let mut config = ProducerConfig::new(vec![ns], "PlainPG");
    config.shard_ports = false;
    let producer = Producer::new(config).unwrap();
    let mut queues = std::collections::BTreeSet::new();
    for i in 0..40 {
        let r = producer
            .send(Message::new("PlainPorts", format!("plain-{i}")))
            .unwrap();
        // Every queue, whichever shard owns it, is reached through the main address.
        assert_eq!(r.queue.addr, loopback.addr, "queue {}", r.queue.queue_id);
        queues.insert(r.queue.queue_id);
    }
    assert!(
        queues.len() > 1,
        "round robin over the topic's queues: {queues:?}"
    );
    let consumer = PullConsumer::new(PullConsumerConfig::new(vec![ns], "PlainCG")).unwrap();
    assign_when_routed(&consumer, "PlainPorts");
    let got = drain(&consumer, 40);
    let mut bodies: Vec<String> = got
        .iter()
        .map(|m| String::from_utf8_lossy(m.body()).into_owned())
        .collect();
    bodies.sort();
    let mut want: Vec<String> = (0..40).map(|i| format!("plain-{i}")).collect();
    want.sort();
    assert_eq!(
        bodies, want,
        "every message once, through the shards' forwards"
    );
    producer.shutdown();
    loopback.broker.stop();
}
