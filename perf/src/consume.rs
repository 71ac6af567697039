//! The consuming side: a push consumer whose listener counts each message and its end-to-end
//! latency, from the send time mqperf stamps in each body (microseconds; see `stamp`) or
//! else the message's millisecond born timestamp, to its arrival here. A scheduled message
//! (its stamp has a due time) also counts its delivery lateness, arrival minus due time, in
//! a collector of its own; one that came before it was due counts there as an error
//! (`delivered early`). Producer, broker and consumer clocks are taken to agree (one host).

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
    /// Each listener thread's own recorders (latency, lateness), flushed when it ends.
    static RECORDER: RefCell<Option<(Recorder, Recorder)>> = const { RefCell::new(None) };
}

/// The error kind of a message delivered before its due time.
pub const DELIVERED_EARLY: &str = "delivered early";

/// Starts a consumer on `topic` recording latency into `collector` and scheduled messages'
/// lateness into `lateness`; returns it to be shut down when the run ends.
pub fn start(
    namesrv: &str,
    topic: &str,
    group: &str,
    collector: &Collector,
    lateness: &Collector,
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
    let template = (collector.recorder(), lateness.recorder());
    let listener = Listener::Concurrent(Arc::new(move |m: &ReceivedMessage| {
        let now_us = stamp::now_us();
        let sent_us = stamp::sent_us(m.body())
            .unwrap_or_else(|| (m.stored.born_timestamp.max(0) as u64).saturating_mul(1000));
        let latency = Duration::from_micros(now_us.saturating_sub(sent_us));
        let due_us = stamp::due_us(m.body());
        RECORDER.with(|r| {
            let mut r = r.borrow_mut();
            let (latency_rec, lateness_rec) =
                r.get_or_insert_with(|| (template.0.fork(), template.1.fork()));
            latency_rec.ok(latency);
            match due_us {
                Some(due) if now_us >= due => {
                    lateness_rec.ok(Duration::from_micros(now_us - due));
                }
                Some(_) => lateness_rec.error(DELIVERED_EARLY),
                None => {}
            }
        });
        ConsumeResult::Success
    }));
    PushConsumer::start(config, vec![(topic.to_owned(), "*".to_owned())], listener)
        .map_err(|e| e.to_string())
}
