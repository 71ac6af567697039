//! What the client's integration tests share: a loopback broker, a push consumer config
//! that rebalances and commits quickly, polling until something holds, and assigning a
//! topic once the name server routes it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use shardmq::{PullConsumer, PushConsumerConfig};
use shardmq_broker::Broker;

/// A standalone broker with 2 shards; returns it and its name server address.
pub fn broker(dir: &std::path::Path) -> (Broker, SocketAddr) {
    let b = shardmq_broker::loopback::start(dir, 2).expect("start a broker on loopback");
    (b.broker, b.namesrv)
}

/// A push consumer config for tests: rebalance every 500 ms, commit every 200 ms, hold
/// pulls 500 ms.
pub fn push_config(ns: SocketAddr, group: &str) -> PushConsumerConfig {
    let mut c = PushConsumerConfig::new(vec![ns], group);
    c.rebalance_every = Duration::from_millis(500);
    c.commit_every = Duration::from_millis(200);
    c.suspend = Duration::from_millis(500);
    c
}

/// Polls `f` every 50 ms until it holds or `limit` passes; whether it held.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// A topic created by a first send reaches the name server a moment later (the broker
/// re-registers when its topic table changes): retry until it is routed.
pub fn assign_when_routed(consumer: &PullConsumer, topic: &str) {
    for _ in 0..100 {
        match consumer.assign(topic) {
            Ok(()) => return,
            Err(shardmq::ClientError::NoRoute { .. }) => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => panic!("assign {topic}: {e}"),
        }
    }
    panic!("{topic} never got a route");
}
