//! Push consumers against a real broker: clustering with a member leaving midway, orderly
//! listeners, broadcasting.

mod common;

use common::{broker, push_config, wait_until};

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shardmq::{
    ConsumeResult, Listener, Message, MessageModel, Producer, ProducerConfig, PushConsumer,
    PushConsumerConfig, QueueSelector, ReceivedMessage,
};

type Seen = Arc<Mutex<Vec<String>>>;

fn recorder(seen: &Seen) -> Arc<dyn Fn(&ReceivedMessage) -> ConsumeResult + Send + Sync> {
    let seen = seen.clone();
    Arc::new(move |m: &ReceivedMessage| {
        seen.lock()
            .unwrap()
            .push(String::from_utf8(m.body().to_vec()).unwrap());
        ConsumeResult::Success
    })
}

fn config(ns: SocketAddr, group: &str, id: &str) -> PushConsumerConfig {
    let mut c = push_config(ns, group);
    c.client_id = id.into();
    c
}

/// The queues of topic `Split` a member holds (not its group's retry queue).
fn split_queues(c: &PushConsumer) -> Vec<(String, i32)> {
    c.assigned()
        .into_iter()
        .filter(|(topic, _)| topic == "Split")
        .collect()
}

#[test]
fn three_members_split_the_queues_and_lose_nothing_when_one_leaves_midway() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, ns) = broker(dir.path());
    let producer = Producer::new(ProducerConfig::new(vec![ns], "PG")).unwrap();
    producer.send(Message::new("Split", "create")).unwrap();
    let seen: Seen = Arc::default();
    let subs = vec![("Split".to_string(), "*".to_string())];
    let mut consumers: Vec<PushConsumer> = ["c1", "c2", "c3"]
        .iter()
        .map(|id| {
            PushConsumer::start(
                config(ns, "SplitGroup", id),
                subs.clone(),
                Listener::Concurrent(recorder(&seen)),
            )
            .unwrap()
        })
        .collect();
    assert!(
        wait_until(Duration::from_secs(10), || {
            let sizes: Vec<usize> = consumers.iter().map(|c| split_queues(c).len()).collect();
            sizes.iter().sum::<usize>() == 8 && sizes.iter().all(|n| *n > 0)
        }),
        "the three members never split the 8 queues"
    );
    let assigned: Vec<Vec<(String, i32)>> = consumers.iter().map(split_queues).collect();
    let all: HashSet<_> = assigned.iter().flatten().cloned().collect();
    assert_eq!(all.len(), 8, "no queue held by two members: {assigned:?}");
    for i in 0..150 {
        producer
            .send(Message::new("Split", format!("m{i}")))
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    consumers.pop().unwrap().shutdown();
    for i in 150..300 {
        producer
            .send(Message::new("Split", format!("m{i}")))
            .unwrap();
    }
    let want: HashSet<String> = (0..300).map(|i| format!("m{i}")).collect();
    assert!(
        wait_until(Duration::from_secs(20), || {
            let got: HashSet<String> = seen.lock().unwrap().iter().cloned().collect();
            want.is_subset(&got)
        }),
        "lost messages"
    );
    let total = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|b| b.starts_with('m'))
        .count();
    eprintln!(
        "clustering: 300 sent, {total} deliveries, {} duplicates",
        total - 300
    );
    for c in consumers {
        c.shutdown();
    }
    producer.shutdown();
    broker.stop();
}

#[test]
fn an_orderly_listener_sees_each_keys_messages_in_the_order_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, ns) = broker(dir.path());
    let producer = Producer::new(ProducerConfig::new(vec![ns], "PG")).unwrap();
    for i in 0..40 {
        for key in ["a", "b", "c"] {
            producer
                .send_to(
                    Message::new("Orderly", format!("{key}:{i}")),
                    &QueueSelector::ByKey(key.into()),
                )
                .unwrap();
        }
    }
    let seen: Seen = Arc::default();
    let consumer = PushConsumer::start(
        config(ns, "OrderlyGroup", "o1"),
        vec![("Orderly".into(), "*".into())],
        Listener::Orderly(recorder(&seen)),
    )
    .unwrap();
    assert!(wait_until(Duration::from_secs(15), || seen
        .lock()
        .unwrap()
        .len()
        >= 120));
    consumer.shutdown();
    let mut by_key: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for body in seen.lock().unwrap().iter() {
        let (k, n) = body.split_once(':').unwrap();
        by_key.entry(k.into()).or_default().push(n.parse().unwrap());
    }
    for (k, seq) in by_key {
        assert_eq!(seq, (0..40).collect::<Vec<_>>(), "key {k}");
    }
    producer.shutdown();
    broker.stop();
}

#[test]
fn broadcasting_delivers_every_message_to_every_member() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, ns) = broker(dir.path());
    let producer = Producer::new(ProducerConfig::new(vec![ns], "PG")).unwrap();
    for i in 0..50 {
        producer
            .send(Message::new("Cast", format!("b{i}")))
            .unwrap();
    }
    let members: Vec<(Seen, PushConsumer)> = ["x", "y"]
        .iter()
        .map(|id| {
            let seen: Seen = Arc::default();
            let mut c = config(ns, "CastGroup", id);
            c.model = MessageModel::Broadcasting;
            c.offset_file = Some(dir.path().join(format!("offsets-{id}.json")));
            let consumer = PushConsumer::start(
                c,
                vec![("Cast".into(), "*".into())],
                Listener::Concurrent(recorder(&seen)),
            )
            .unwrap();
            (seen, consumer)
        })
        .collect();
    for (seen, _) in &members {
        assert!(wait_until(Duration::from_secs(15), || seen
            .lock()
            .unwrap()
            .len()
            >= 50));
        let got: HashSet<String> = seen.lock().unwrap().iter().cloned().collect();
        assert_eq!(
            got,
            (0..50).map(|i| format!("b{i}")).collect::<HashSet<_>>()
        );
    }
    for (_, c) in members {
        c.shutdown();
    }
    assert!(
        dir.path().join("offsets-x.json").exists(),
        "broadcasting offsets are kept locally"
    );
    producer.shutdown();
    broker.stop();
}

/// Per queue: which member is inside its listener with that queue's messages, and how many.
type Active = Arc<Mutex<BTreeMap<i32, (&'static str, usize)>>>;

/// A slow listener that counts, per queue, a message entering while another member is
/// still inside the listener with the same queue.
fn exclusive_recorder(
    member: &'static str,
    active: &Active,
    overlaps: &Arc<Mutex<Vec<String>>>,
    seen: &Seen,
) -> Arc<dyn Fn(&ReceivedMessage) -> ConsumeResult + Send + Sync> {
    let (active, overlaps, seen) = (active.clone(), overlaps.clone(), seen.clone());
    Arc::new(move |m: &ReceivedMessage| {
        let queue = m.stored.queue_id;
        let counted = {
            let mut a = active.lock().unwrap();
            let entry = a.entry(queue).or_insert((member, 0));
            if entry.1 > 0 && entry.0 != member {
                overlaps
                    .lock()
                    .unwrap()
                    .push(format!("queue {queue}: {member} while {} inside", entry.0));
            }
            if entry.1 == 0 {
                entry.0 = member;
            }
            let counted = entry.0 == member;
            if counted {
                entry.1 += 1;
            }
            counted
        };
        std::thread::sleep(Duration::from_millis(3));
        seen.lock()
            .unwrap()
            .push(String::from_utf8(m.body().to_vec()).unwrap());
        if counted {
            if let Some(entry) = active.lock().unwrap().get_mut(&queue) {
                entry.1 -= 1;
            }
        }
        ConsumeResult::Success
    })
}

#[test]
fn a_queue_handed_to_a_joining_member_is_never_in_two_listeners_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, ns) = broker(dir.path());
    let producer = Producer::new(ProducerConfig::new(vec![ns], "PG")).unwrap();
    for i in 0..400 {
        producer
            .send(Message::new("Handover", format!("h{i}")))
            .unwrap();
    }
    let (active, overlaps, seen): (Active, Arc<Mutex<Vec<String>>>, Seen) =
        (Arc::default(), Arc::default(), Arc::default());
    let subs = vec![("Handover".to_string(), "*".to_string())];
    let start = |id: &'static str| {
        let mut c = config(ns, "HandoverGroup", id);
        c.start_from = shardmq::StartFrom::First;
        PushConsumer::start(
            c,
            subs.clone(),
            Listener::Concurrent(exclusive_recorder(id, &active, &overlaps, &seen)),
        )
        .unwrap()
    };
    // The first member takes every queue and a backlog it needs ~600 ms to get through;
    // the second joins in the middle and takes half the queues over.
    let first = start("first");
    assert!(
        wait_until(Duration::from_secs(10), || seen.lock().unwrap().len() >= 40),
        "the first member consumed nothing"
    );
    let second = start("second");
    let want: HashSet<String> = (0..400).map(|i| format!("h{i}")).collect();
    assert!(
        wait_until(Duration::from_secs(30), || {
            let got: HashSet<String> = seen.lock().unwrap().iter().cloned().collect();
            want.is_subset(&got)
        }),
        "lost messages"
    );
    assert!(
        !second.assigned().is_empty(),
        "the second member never got a queue"
    );
    let overlaps = overlaps.lock().unwrap().clone();
    assert!(
        overlaps.is_empty(),
        "consumed by two members at once: {overlaps:?}"
    );
    let total = seen.lock().unwrap().len();
    eprintln!(
        "handover: 400 sent, {total} deliveries, {} duplicates",
        total - 400
    );
    first.shutdown();
    second.shutdown();
    producer.shutdown();
    broker.stop();
}
