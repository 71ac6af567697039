//! The consuming side: a push consumer whose listener counts each message and its end-to-end
//! latency, from the born timestamp the producer stamped (millisecond resolution, the
//! protocol's) to its arrival here.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use shardmq::{
    ConsumeResult, Listener, PushConsumer, PushConsumerConfig, ReceivedMessage, StartFrom,
};

use crate::args::parse_namesrv;
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
    let template = Arc::new(Mutex::new(collector.recorder()));
    let listener = Listener::Concurrent(Arc::new(move |m: &ReceivedMessage| {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let latency =
            Duration::from_millis(now_ms.saturating_sub(m.stored.born_timestamp).max(0) as u64);
        RECORDER.with(|r| {
            let mut r = r.borrow_mut();
            let rec = r.get_or_insert_with(|| {
                template
                    .lock()
                    .map(|t| t.fork())
                    .unwrap_or_else(|p| p.into_inner().fork())
            });
            rec.ok(latency);
        });
        ConsumeResult::Success
    }));
    PushConsumer::start(config, vec![(topic.to_owned(), "*".to_owned())], listener)
        .map_err(|e| e.to_string())
}
