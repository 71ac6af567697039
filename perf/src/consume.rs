//! The consuming side: a push consumer whose listener counts each message and its end-to-end
//! latency, from the send time mqperf stamps in each body (microseconds; see `stamp`) or
//! else the message's millisecond born timestamp, to its arrival here.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use shardmq::{
    ConsumeResult, Listener, PushConsumer, PushConsumerConfig, ReceivedMessage, StartFrom,
};

use crate::args::parse_namesrv;
use crate::stamp;
use crate::stats::{Collector, Recorder};

thread_local! {
    /// Each listener thread's own recorder, flushed when the thread ends.
    static RECORDER: RefCell<Option<Recorder>> = const { RefCell::new(None) };
}

/// Starts a consumer on `topic`; returns it to be shut down when the run ends.
pub fn start(
    namesrv: &str,
    topic: &str,
    group: &str,
    collector: &Collector,
) -> Result<PushConsumer, String> {
    let namesrv = parse_namesrv(namesrv)?;
    let mut config = PushConsumerConfig::new(namesrv, group);
    config.start_from = StartFrom::Last;
    config.consume_threads = 2;
    config.max_cached_per_queue = 10_000;
    // A load test's consumer keeps up with fewer, larger pulls than RocketMQ's default 32.
    config.pull_batch = 256;
    // Find a topic's queues soon after it is created, not at the default 20 s.
    config.rebalance_every = Duration::from_secs(1);
    let template = collector.recorder();
    let listener = Listener::Concurrent(Arc::new(move |m: &ReceivedMessage| {
        let now_us = stamp::now_us();
        let sent_us = stamp::sent_us(m.body())
            .unwrap_or_else(|| (m.stored.born_timestamp.max(0) as u64).saturating_mul(1000));
        let latency = Duration::from_micros(now_us.saturating_sub(sent_us));
        RECORDER.with(|r| {
            let mut r = r.borrow_mut();
            let rec = r.get_or_insert_with(|| template.fork());
            rec.ok(latency);
        });
        ConsumeResult::Success
    }));
    PushConsumer::start(config, vec![(topic.to_owned(), "*".to_owned())], listener)
        .map_err(|e| e.to_string())
}
