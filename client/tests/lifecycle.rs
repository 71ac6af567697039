//! A message's life after a failed try, through a real broker on loopback: `Later` from a
//! concurrent listener (retry topic, then the dead-letter queue), `Later` from an orderly
//! listener (its queue suspended, the others going on), delayed and timed sends, and the
//! pull consumer's long polling and tag expressions. The broker runs with short delay
//! levels (`messageDelayLevel`), so retries come within a second.

mod common;

use common::{assign_when_routed, push_config, wait_until};

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use shardmq::{
    Admin, ConsumeResult, Listener, Message, Producer, ProducerConfig, PullConsumer,
    PullConsumerConfig, PushConsumer, QueueSelector, ReceivedMessage, RetryBacklog,
};
use shardmq_broker::Broker;

/// Short delay levels: a first retry (level 3) waits 300 ms, a second (level 4) 400 ms.
const LEVELS: &str = "messageDelayLevel=100ms 200ms 300ms 400ms 500ms 600ms 700ms 800ms\n";

/// A standalone broker with 2 shards and [`LEVELS`]; returns it and its name server.
fn broker(dir: &std::path::Path) -> (Broker, SocketAddr) {
    let b = shardmq_broker::loopback::start_with_conf(&dir.join("data"), 2, LEVELS)
        .expect("start a broker on loopback");
    (b.broker, b.namesrv)
}

/// One delivery as a listener saw it.
#[derive(Debug, Clone)]
struct Delivery {
    body: String,
    topic: String,
    reconsume_times: i32,
    msg_id: Option<String>,
    at: Instant,
}

type Deliveries = Arc<Mutex<Vec<Delivery>>>;

fn delivery(m: &ReceivedMessage) -> Delivery {
    Delivery {
        body: String::from_utf8(m.body().to_vec()).unwrap(),
        topic: m.topic().to_owned(),
        reconsume_times: m.reconsume_times(),
        msg_id: m.msg_id().map(str::to_owned),
        at: Instant::now(),
    }
}

/// Each body's deliveries, in the order they came.
fn by_body(seen: &Deliveries) -> BTreeMap<String, Vec<Delivery>> {
    let mut out: BTreeMap<String, Vec<Delivery>> = BTreeMap::new();
    for d in seen.lock().unwrap().iter() {
        out.entry(d.body.clone()).or_default().push(d.clone());
    }
    out
}

/// The group's committed lag on `topic` and its retry and dead-letter depths, once the lag
/// is 0 (or what they are after `limit`).
fn settled(admin: &Admin, group: &str, topic: &str, limit: Duration) -> (i64, RetryBacklog) {
    let read = || {
        let lag: i64 = admin
            .consumer_progress(group, topic)
            .unwrap()
            .iter()
            .map(|q| q.lag)
            .sum();
        (lag, admin.retry_backlog(group).unwrap())
    };
    let mut last = read();
    wait_until(limit, || {
        last = read();
        last.0 == 0 && last.1.retry_depth == 0
    });
    last
}

#[test]
fn a_concurrent_listener_that_says_later_twice_sees_each_message_three_times_then_consumes_it() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, ns) = broker(dir.path());
    let producer = Producer::new(ProducerConfig::new(vec![ns], "PG")).unwrap();
    let mut ids = BTreeMap::new();
    for i in 0..10 {
        let r = producer
            .send(Message::new("LaterTwice", format!("m{i}")).with_tags("t"))
            .unwrap();
        ids.insert(format!("m{i}"), r.msg_id);
    }
    let seen: Deliveries = Arc::default();
    let record = seen.clone();
    let consumer = PushConsumer::start(
        push_config(ns, "LaterGroup"),
        vec![("LaterTwice".into(), "*".into())],
        Listener::Concurrent(Arc::new(move |m: &ReceivedMessage| {
            record.lock().unwrap().push(delivery(m));
            if m.reconsume_times() < 2 {
                ConsumeResult::Later
            } else {
                ConsumeResult::Success
            }
        })),
    )
    .unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || {
            let b = by_body(&seen);
            b.len() == 10 && b.values().all(|d| d.len() >= 3)
        }),
        "not every message came three times: {:?}",
        by_body(&seen)
    );
    // A little longer: a fourth delivery would show here.
    std::thread::sleep(Duration::from_millis(1500));
    let admin = Admin::new(vec![ns], Duration::from_secs(3)).unwrap();
    let (lag, backlog) = settled(&admin, "LaterGroup", "LaterTwice", Duration::from_secs(5));
    consumer.shutdown();
    for (body, deliveries) in by_body(&seen) {
        let times: Vec<i32> = deliveries.iter().map(|d| d.reconsume_times).collect();
        assert_eq!(times, vec![0, 1, 2], "{body}: {deliveries:?}");
        for d in &deliveries {
            assert_eq!(
                d.topic, "LaterTwice",
                "{body}: the retry topic is not shown"
            );
            assert_eq!(d.msg_id.as_ref(), ids.get(&body), "{body}: the id changed");
        }
        // The broker waited level 3 (300 ms), then level 4 (400 ms); never less.
        let waits: Vec<Duration> = deliveries.windows(2).map(|w| w[1].at - w[0].at).collect();
        assert!(
            waits[0] >= Duration::from_millis(300) && waits[1] >= Duration::from_millis(400),
            "{body}: retried early: {waits:?}"
        );
    }
    // Given back counts as consumed on the topic; the retries were consumed; nothing died.
    assert_eq!(lag, 0, "the original topic's offsets were not committed");
    assert_eq!(
        backlog,
        RetryBacklog {
            retry_depth: 0,
            dlq_depth: 0
        }
    );
    producer.shutdown();
    broker.stop();
}

#[test]
fn a_message_given_back_past_max_reconsume_times_lands_in_the_dlq_that_mqadmin_counts() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, ns) = broker(dir.path());
    let producer = Producer::new(ProducerConfig::new(vec![ns], "PG")).unwrap();
    producer.send(Message::new("Doomed", "never")).unwrap();
    producer.send(Message::new("Doomed", "fine")).unwrap();
    let seen: Deliveries = Arc::default();
    let record = seen.clone();
    let mut config = push_config(ns, "DoomedGroup");
    config.max_reconsume_times = 1;
    let consumer = PushConsumer::start(
        config,
        vec![("Doomed".into(), "*".into())],
        Listener::Concurrent(Arc::new(move |m: &ReceivedMessage| {
            record.lock().unwrap().push(delivery(m));
            if m.body().as_ref() == b"never" {
                ConsumeResult::Later
            } else {
                ConsumeResult::Success
            }
        })),
    )
    .unwrap();
    let admin = Admin::new(vec![ns], Duration::from_secs(3)).unwrap();
    assert!(
        wait_until(Duration::from_secs(15), || admin
            .retry_backlog("DoomedGroup")
            .unwrap()
            .dlq_depth
            == 1),
        "nothing reached %DLQ%DoomedGroup: {:?}",
        by_body(&seen)
    );
    std::thread::sleep(Duration::from_millis(1000));
    let (lag, backlog) = settled(&admin, "DoomedGroup", "Doomed", Duration::from_secs(5));
    consumer.shutdown();
    let deliveries = by_body(&seen);
    let never: Vec<i32> = deliveries["never"]
        .iter()
        .map(|d| d.reconsume_times)
        .collect();
    // max_reconsume_times = 1: the first try and one retry, then the dead-letter queue.
    assert_eq!(never, vec![0, 1], "{deliveries:?}");
    assert_eq!(deliveries["fine"].len(), 1);
    assert_eq!((lag, backlog.retry_depth, backlog.dlq_depth), (0, 0, 1));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mqadmin"))
        .args(["consumerProgress", "-n", &ns.to_string()])
        .args(["-g", "DoomedGroup", "-t", "Doomed"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(text.contains("\nDLQ Depth: 1 (%DLQ%DoomedGroup"), "{text}");
    assert!(
        text.contains("\nRetry Depth: 0 (%RETRY%DoomedGroup"),
        "{text}"
    );
    producer.shutdown();
    broker.stop();
}

/// Two keys whose messages go to different queues of `topic` (with 8 write queues).
fn keys_on_two_queues(producer: &Producer, topic: &str) -> (String, String) {
    let queue_of = |key: &str| {
        producer
            .send_to(
                Message::new(topic, "probe"),
                &QueueSelector::ByKey(key.into()),
            )
            .unwrap()
            .queue
            .queue_id
    };
    let first = "k0".to_string();
    let q0 = queue_of(&first);
    let other = (1..64)
        .map(|i| format!("k{i}"))
        .find(|k| queue_of(k) != q0)
        .expect("some key lands on another queue");
    (first, other)
}

/// Sends `stuck:0..n` and `free:0..n` by their keys, then an orderly consumer whose listener
/// says `Later` to `stuck:0` as long as `later(reconsume_times)` says so.
fn orderly_run(
    dir: &std::path::Path,
    group: &str,
    max_reconsume_times: i32,
    later: fn(i32) -> bool,
) -> (Broker, SocketAddr, Deliveries, PushConsumer) {
    let (broker, ns) = broker(dir);
    let producer = Producer::new(ProducerConfig::new(vec![ns], "PG")).unwrap();
    let (stuck_key, free_key) = keys_on_two_queues(&producer, group);
    for i in 0..5 {
        for (name, key) in [("stuck", &stuck_key), ("free", &free_key)] {
            producer
                .send_to(
                    Message::new(group, format!("{name}:{i}")),
                    &QueueSelector::ByKey(key.clone()),
                )
                .unwrap();
        }
    }
    producer.shutdown();
    let seen: Deliveries = Arc::default();
    let record = seen.clone();
    let mut config = push_config(ns, group);
    config.suspend_current_queue_time = Duration::from_millis(700);
    config.max_reconsume_times = max_reconsume_times;
    let consumer = PushConsumer::start(
        config,
        vec![(group.into(), "*".into())],
        Listener::Orderly(Arc::new(move |m: &ReceivedMessage| {
            let d = delivery(m);
            let say_later = d.body == "stuck:0" && later(d.reconsume_times);
            record.lock().unwrap().push(d);
            if say_later {
                ConsumeResult::Later
            } else {
                ConsumeResult::Success
            }
        })),
    )
    .unwrap();
    (broker, ns, seen, consumer)
}

/// The bodies starting with `prefix`, in delivery order (probes left out).
fn bodies(seen: &Deliveries, prefix: &str) -> Vec<String> {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|d| d.body.starts_with(prefix))
        .map(|d| d.body.clone())
        .collect()
}

#[test]
fn an_orderly_listeners_later_suspends_only_its_own_queue_and_keeps_that_queues_order() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, _ns, seen, consumer) = orderly_run(dir.path(), "OrderlyLater", 16, |n| n < 2);
    assert!(
        wait_until(Duration::from_secs(20), || bodies(&seen, "stuck").len()
            >= 7),
        "the suspended queue never finished: {:?}",
        bodies(&seen, "")
    );
    consumer.shutdown();
    // stuck:0 three times (two suspensions), then the rest of its queue in order.
    assert_eq!(
        bodies(&seen, "stuck"),
        ["stuck:0", "stuck:0", "stuck:0", "stuck:1", "stuck:2", "stuck:3", "stuck:4"]
    );
    assert_eq!(
        bodies(&seen, "free"),
        ["free:0", "free:1", "free:2", "free:3", "free:4"]
    );
    let deliveries = seen.lock().unwrap().clone();
    let stuck: Vec<&Delivery> = deliveries.iter().filter(|d| d.body == "stuck:0").collect();
    let times: Vec<i32> = stuck.iter().map(|d| d.reconsume_times).collect();
    assert_eq!(times, vec![0, 1, 2], "the listener sees each try counted");
    for pair in stuck.windows(2) {
        assert!(
            pair[1].at - pair[0].at >= Duration::from_millis(700),
            "tried again before the queue's suspension ended"
        );
    }
    // The other queue did not wait for the suspended one.
    let free_done = deliveries
        .iter()
        .filter(|d| d.body.starts_with("free"))
        .map(|d| d.at)
        .max()
        .unwrap();
    assert!(
        free_done < stuck[2].at,
        "the free queue finished only after the stuck queue's suspensions"
    );
    broker.stop();
}

#[test]
fn an_orderly_message_past_max_reconsume_times_goes_to_the_dlq_and_its_queue_moves_on() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, ns, seen, consumer) = orderly_run(dir.path(), "OrderlyDead", 2, |_| true);
    assert!(
        wait_until(Duration::from_secs(20), || bodies(&seen, "stuck").len()
            >= 7),
        "the queue never moved on: {:?}",
        bodies(&seen, "")
    );
    // tries 0, 1, 2 (max 2), then the dead-letter queue and on with stuck:1.
    assert_eq!(
        bodies(&seen, "stuck"),
        ["stuck:0", "stuck:0", "stuck:0", "stuck:1", "stuck:2", "stuck:3", "stuck:4"]
    );
    let admin = Admin::new(vec![ns], Duration::from_secs(3)).unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || admin
            .retry_backlog("OrderlyDead")
            .unwrap()
            .dlq_depth
            == 1),
        "{:?}",
        admin.retry_backlog("OrderlyDead")
    );
    let (lag, _) = settled(&admin, "OrderlyDead", "OrderlyDead", Duration::from_secs(5));
    assert_eq!(
        lag, 0,
        "the dead-lettered message's offset was not committed"
    );
    consumer.shutdown();
    broker.stop();
}

/// Drains a pull consumer assigned to `topic` until `want` messages came (or 10 s passed);
/// each with when it arrived.
fn pull_arrivals(
    consumer: &PullConsumer,
    want: usize,
) -> Vec<(ReceivedMessage, Instant, SystemTime)> {
    let mut got = Vec::new();
    let end = Instant::now() + Duration::from_secs(10);
    while got.len() < want && Instant::now() < end {
        for m in consumer.poll_timeout(Duration::from_secs(1)).unwrap() {
            got.push((m, Instant::now(), SystemTime::now()));
        }
    }
    got
}

#[test]
fn delayed_and_timed_sends_are_never_delivered_before_they_are_due() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, ns) = broker(dir.path());
    let producer = Producer::new(ProducerConfig::new(vec![ns], "PG")).unwrap();
    // The topic exists, and its first message is consumed, before the clock starts.
    producer.send(Message::new("Later", "create")).unwrap();
    let mut config = PullConsumerConfig::new(vec![ns], "DelayGroup");
    config.start_from = shardmq::StartFrom::Last;
    let consumer = PullConsumer::new(config).unwrap();
    assign_when_routed(&consumer, "Later");
    let sent_at = Instant::now();
    let deliver_at = SystemTime::now() + Duration::from_millis(1200);
    producer
        .send(Message::new("Later", "delay").with_delay(Duration::from_millis(800)))
        .unwrap();
    producer
        .send(Message::new("Later", "deliver-at").with_deliver_at(deliver_at))
        .unwrap();
    // Level 5 is 500 ms here.
    producer
        .send(Message::new("Later", "level").with_delay_level(5))
        .unwrap();
    producer.send(Message::new("Later", "now")).unwrap();
    let arrivals = pull_arrivals(&consumer, 4);
    let bodies: Vec<&[u8]> = arrivals.iter().map(|(m, _, _)| m.body().as_ref()).collect();
    assert_eq!(
        bodies,
        [&b"now"[..], b"level", b"delay", b"deliver-at"],
        "arrived out of due order"
    );
    for (m, at, wall) in &arrivals {
        let waited = *at - sent_at;
        match m.body().as_ref() {
            b"delay" => assert!(waited >= Duration::from_millis(800), "{waited:?}"),
            b"level" => assert!(waited >= Duration::from_millis(500), "{waited:?}"),
            b"deliver-at" => assert!(*wall >= deliver_at, "delivered before its time"),
            _ => {}
        }
    }
    producer.shutdown();
    broker.stop();
}

#[test]
fn a_long_poll_waits_its_timeout_when_idle_and_returns_as_soon_as_a_message_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, ns) = broker(dir.path());
    let producer = Producer::new(ProducerConfig::new(vec![ns], "PG")).unwrap();
    producer.send(Message::new("Poll", "create")).unwrap();
    let mut config = PullConsumerConfig::new(vec![ns], "PollGroup");
    config.start_from = shardmq::StartFrom::Last;
    let consumer = PullConsumer::new(config).unwrap();
    assign_when_routed(&consumer, "Poll");
    // Nothing to read: the call waits about its timeout (the brokers hold the pulls).
    let started = Instant::now();
    let idle = consumer.poll_timeout(Duration::from_millis(1500)).unwrap();
    let waited = started.elapsed();
    assert!(idle.is_empty());
    assert!(
        waited >= Duration::from_millis(1400) && waited < Duration::from_secs(5),
        "an idle poll of 1.5 s took {waited:?}"
    );
    // A message sent while a long poll waits ends the wait well before its timeout.
    let sender = {
        let producer = producer.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            producer.send(Message::new("Poll", "wake")).unwrap();
        })
    };
    let started = Instant::now();
    let mut got = consumer.poll_timeout(Duration::from_secs(20)).unwrap();
    let waited = started.elapsed();
    sender.join().unwrap();
    assert!(
        waited >= Duration::from_millis(450) && waited < Duration::from_secs(10),
        "a 20 s long poll returned after {waited:?} for a message sent at 0.5 s"
    );
    if got.is_empty() {
        got = consumer.poll_timeout(Duration::from_secs(2)).unwrap();
    }
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body().as_ref(), b"wake");
    producer.shutdown();
    broker.stop();
}

#[test]
fn a_subscribed_pull_consumer_gets_only_the_tags_its_expression_names() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, ns) = broker(dir.path());
    let producer = Producer::new(ProducerConfig::new(vec![ns], "PG")).unwrap();
    for (i, tag) in ["a", "b", "c", "a", "b", "c"].iter().enumerate() {
        producer
            .send(Message::new("Tagged", format!("{tag}{i}")).with_tags(tag))
            .unwrap();
    }
    producer.send(Message::new("Tagged", "untagged")).unwrap();
    let consumer = PullConsumer::new(PullConsumerConfig::new(vec![ns], "TagGroup")).unwrap();
    for _ in 0..100 {
        match consumer.subscribe("Tagged", "a || c") {
            Ok(()) => break,
            Err(shardmq::ClientError::NoRoute { .. }) => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => panic!("subscribe: {e}"),
        }
    }
    let mut got: Vec<String> = pull_arrivals(&consumer, 4)
        .into_iter()
        .map(|(m, _, _)| String::from_utf8(m.body().to_vec()).unwrap())
        .collect();
    // Anything else would have come by now.
    got.extend(
        consumer
            .poll_timeout(Duration::from_millis(500))
            .unwrap()
            .iter()
            .map(|m| String::from_utf8(m.body().to_vec()).unwrap()),
    );
    got.sort();
    assert_eq!(got, ["a0", "a3", "c2", "c5"]);
    producer.shutdown();
    broker.stop();
}
