//! `Admin` and `mqadmin` against a real broker (standalone, embedded name server) on 127.0.0.1.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use shardmq::admin::QueueProgress;
use shardmq::{
    Admin, ClientError, Message, Producer, ProducerConfig, PullConsumer, PullConsumerConfig,
};
use shardmq_broker::Broker;
use shardmq_testkit::free_port;

const TIMEOUT: Duration = Duration::from_secs(3);

/// A standalone broker with 2 shards; returns it, its name server and its own address.
fn broker(dir: &std::path::Path) -> (Broker, SocketAddr, SocketAddr) {
    let b = shardmq_broker::loopback::start(dir, 2).expect("start a broker on loopback");
    (b.broker, b.namesrv, b.addr)
}

/// Retries `f` until it returns `Some` (the broker re-registers its topics within ~100 ms of
/// a change); panics with `what` after 5 s.
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An address on 127.0.0.1 where nothing listens.
fn dead_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

fn total_lag(progress: &[QueueProgress]) -> i64 {
    progress.iter().map(|q| q.lag).sum()
}

fn mqadmin(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mqadmin"))
        .args(args)
        .env_remove("NAMESRV_ADDR")
        .output()
        .unwrap()
}

#[test]
fn created_topic_is_routed_listed_and_in_cluster_info_and_deleted_topic_has_no_route() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, ns, broker_addr) = broker(dir.path());
    let admin = Admin::new(vec![ns], TIMEOUT).unwrap();

    let info = admin.cluster_info().unwrap();
    assert_eq!(
        info.cluster_addr_table["DefaultCluster"],
        ["broker-a".to_owned()].into()
    );
    assert_eq!(
        info.broker_addr_table["broker-a"].master_addr(),
        Some(broker_addr.to_string().as_str())
    );

    let created = admin
        .create_topic("DefaultCluster", "AdminTopic", 8, 8)
        .unwrap();
    assert_eq!(created, vec![broker_addr]);
    let route = eventually("the created topic's route", || {
        admin.topic_route("AdminTopic").ok()
    });
    assert_eq!(route.queue_datas.len(), 1);
    let queues = &route.queue_datas[0];
    assert_eq!(queues.broker_name, "broker-a");
    assert_eq!((queues.read_queue_nums, queues.write_queue_nums), (8, 8));
    assert_eq!(
        route.broker_datas[0].master_addr(),
        Some(broker_addr.to_string().as_str())
    );
    assert!(admin.topic_list().unwrap().contains("AdminTopic"));

    admin.delete_topic("DefaultCluster", "AdminTopic").unwrap();
    let gone = eventually("the deleted topic's route to go", || {
        match admin.topic_route("AdminTopic") {
            Err(e @ ClientError::NoRoute { .. }) => Some(e),
            _ => None,
        }
    });
    assert!(gone.to_string().contains("AdminTopic"), "{gone}");
    assert!(!admin.topic_list().unwrap().contains("AdminTopic"));
    broker.stop();
}

#[test]
fn create_topic_refuses_an_unknown_cluster_naming_the_known_ones_and_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, ns, _) = broker(dir.path());
    let admin = Admin::new(vec![ns], TIMEOUT).unwrap();

    let e = admin.create_topic("NoSuchCluster", "T", 8, 8).unwrap_err();
    assert!(matches!(e, ClientError::Invalid(_)), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("NoSuchCluster") && text.contains("DefaultCluster") && text.contains("-c"),
        "{text}"
    );
    for (topic, read, write) in [("T", 0, 8), ("T", 8, 1025), ("", 8, 8), ("a b", 8, 8)] {
        let e = admin
            .create_topic("DefaultCluster", topic, read, write)
            .unwrap_err();
        assert!(
            matches!(e, ClientError::Invalid(_)),
            "{topic:?} {read} {write}: {e:?}"
        );
    }
    assert!(matches!(
        admin.topic_route("NeverCreated"),
        Err(ClientError::NoRoute { .. })
    ));
    broker.stop();
}

#[test]
fn topic_stats_count_sent_messages_and_consumer_lag_drops_to_zero_after_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, ns, _) = broker(dir.path());
    let admin = Admin::new(vec![ns], TIMEOUT).unwrap();
    admin
        .create_topic("DefaultCluster", "StatsTopic", 8, 8)
        .unwrap();
    eventually("the created topic's route", || {
        admin.topic_route("StatsTopic").ok()
    });

    let empty = admin.topic_stats("StatsTopic").unwrap();
    assert_eq!(empty.len(), 8);
    assert!(empty.iter().all(|q| q.min_offset == 0 && q.max_offset == 0));

    const SENT: i64 = 20;
    let producer = Producer::new(ProducerConfig::new(vec![ns], "AdminPG")).unwrap();
    for i in 0..SENT {
        producer
            .send(Message::new("StatsTopic", format!("m-{i}")))
            .unwrap();
    }
    producer.shutdown();

    let stats = eventually("max offsets to count every message", || {
        let stats = admin.topic_stats("StatsTopic").unwrap();
        (stats.iter().map(|q| q.max_offset).sum::<i64>() == SENT).then_some(stats)
    });
    assert_eq!(
        stats.iter().map(|q| q.queue_id).collect::<Vec<_>>(),
        (0..8).collect::<Vec<_>>()
    );
    assert!(stats
        .iter()
        .all(|q| q.broker_name == "broker-a" && q.min_offset == 0));
    assert!(
        stats.iter().filter(|q| q.max_offset > 0).count() > 1,
        "round robin spreads messages: {stats:?}"
    );

    let before = admin.consumer_progress("AdminCG", "StatsTopic").unwrap();
    assert_eq!(before.len(), 8);
    assert!(
        before.iter().all(|q| q.consumer_offset.is_none()),
        "{before:?}"
    );
    assert_eq!(total_lag(&before), SENT);
    for (progress, stat) in before.iter().zip(&stats) {
        assert_eq!(
            (progress.queue_id, progress.broker_offset, progress.lag),
            (stat.queue_id, stat.max_offset, stat.max_offset)
        );
    }

    let consumer = PullConsumer::new(PullConsumerConfig::new(vec![ns], "AdminCG")).unwrap();
    consumer.assign("StatsTopic").unwrap();
    let mut got = 0;
    for _ in 0..200 {
        got += consumer.poll().unwrap().len() as i64;
        if got >= SENT {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(got, SENT);
    assert_eq!(
        total_lag(&admin.consumer_progress("AdminCG", "StatsTopic").unwrap()),
        SENT,
        "polled but not committed is still lag"
    );
    consumer.commit().unwrap();

    let after = admin.consumer_progress("AdminCG", "StatsTopic").unwrap();
    assert_eq!(total_lag(&after), 0, "{after:?}");
    for q in after.iter().filter(|q| q.broker_offset > 0) {
        assert_eq!(q.consumer_offset, Some(q.broker_offset), "{q:?}");
    }
    broker.stop();
}

#[test]
fn mqadmin_prints_the_cluster_list_and_topic_status_tables() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, ns, broker_addr) = broker(dir.path());
    let ns_arg = format!("{};{}", ns, ns);

    let out = mqadmin(&["clusterList", "-n", &ns_arg]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("#Cluster Name"), "{text}");
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        row,
        ["DefaultCluster", "broker-a", "0", &broker_addr.to_string()]
    );

    let out = mqadmin(&[
        "updateTopic",
        "-n",
        &ns_arg,
        "-c",
        "DefaultCluster",
        "-t",
        "CliTopic",
        "-r",
        "4",
        "-w",
        "4",
    ]);
    assert!(out.status.success(), "{out:?}");
    let admin = Admin::new(vec![ns], TIMEOUT).unwrap();
    eventually("the created topic's route", || {
        admin.topic_route("CliTopic").ok()
    });
    let producer = Producer::new(ProducerConfig::new(vec![ns], "CliPG")).unwrap();
    for i in 0..4 {
        producer
            .send(Message::new("CliTopic", format!("m-{i}")))
            .unwrap();
    }
    producer.shutdown();

    let text = eventually("topicStatus to count every message", || {
        let out = mqadmin(&["topicStatus", "-n", &ns_arg, "-t", "CliTopic"]);
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        let max_sum: i64 = text
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().nth(3).unwrap().parse::<i64>().unwrap())
            .sum();
        (max_sum == 4).then_some(text)
    });
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0]
            .split("  ")
            .filter(|c| !c.is_empty())
            .collect::<Vec<_>>(),
        ["#Broker Name", "#QID", "#Min Offset", "#Max Offset"]
    );
    assert_eq!(lines.len(), 1 + 4, "{text}");
    for (queue_id, line) in lines[1..].iter().enumerate() {
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            cells[..3],
            ["broker-a", &queue_id.to_string(), "0"],
            "{text}"
        );
    }

    let out = mqadmin(&[
        "consumerProgress",
        "-n",
        &ns_arg,
        "-g",
        "NoOne",
        "-t",
        "CliTopic",
    ]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("\nDiff Total: 4\n"), "{text}");
    // The group has no retry or dead-letter topic: both depths are 0, not an error.
    assert!(
        text.trim_end()
            .ends_with("Retry Depth: 0 (%RETRY%NoOne, not yet consumed)\nDLQ Depth: 0 (%DLQ%NoOne, given up on)"),
        "{text}"
    );
    broker.stop();
}

#[test]
fn mqadmin_reports_an_unreachable_name_server_in_one_line_with_exit_status_1() {
    let dead = dead_addr();
    let out = mqadmin(&[
        "clusterList",
        "-n",
        &dead.to_string(),
        "--timeoutMillis",
        "500",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&dead.to_string()) && err.contains("running"),
        "names the address and what to check: {err}"
    );

    let out = mqadmin(&["topicList", "-n", "not-an-address"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("not-an-address"), "{err}");
}

#[test]
fn admin_needs_a_name_server_and_names_the_unreachable_one() {
    assert!(matches!(
        Admin::new(Vec::new(), TIMEOUT),
        Err(ClientError::Invalid(_))
    ));
    let dead = dead_addr();
    let admin = Admin::new(vec![dead], Duration::from_millis(500)).unwrap();
    match admin.topic_list() {
        Err(e @ ClientError::Io { .. }) => assert!(e.to_string().contains(&dead.to_string())),
        other => panic!("expected an I/O error naming {dead}, got {other:?}"),
    }
}
