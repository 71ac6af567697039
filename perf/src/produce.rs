//! The sending side: producers spread over pinned threads, each keeping its window of sends
//! in flight (async), one at a time (sync) or firing and forgetting (oneway); at a fixed
//! rate, latency counts from each message's scheduled time, so stalls are not hidden
//! (coordinated-omission correction).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use bytes::Bytes;
use shardmq::{InFlight, Message, Producer, ProducerConfig};

use crate::args::{parse_namesrv, Mode, ProduceArgs};
use crate::stamp::{stamped, Stamper, DUE_STAMP_LEN};
use crate::stats::{Collector, Recorder};

/// How long one send may wait for its acknowledgement.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// The shortest sleep of a paced (`--rate`) worker: the messages that fall due meanwhile go
/// out together when it wakes, each still timed from its own slot, so a fixed rate costs a
/// wake-up (and a socket write per producer) per tick instead of per message. Adds at most
/// this much to a paced run's latencies.
const PACE_TICK: Duration = Duration::from_micros(100);
/// Timer slack asked for paced workers, so their sleeps end close to the tick (Linux's
/// default slack is 50 µs).
const PACE_TIMER_SLACK_NS: libc::c_ulong = 1_000;

/// The fixed-rate schedule of one worker (or none: as fast as the window allows).
struct Pacer {
    started: Instant,
    interval: Option<Duration>,
    last_wake: Instant,
}

impl Pacer {
    fn new(rate: Option<f64>) -> Pacer {
        let interval = rate.map(|r| Duration::from_secs_f64(1.0 / r));
        if interval.is_some() {
            // SAFETY: PR_SET_TIMERSLACK takes one integer argument and affects only the
            // calling thread; a failure only leaves the default slack.
            unsafe {
                libc::prctl(libc::PR_SET_TIMERSLACK, PACE_TIMER_SLACK_NS);
            }
        }
        let now = Instant::now();
        Pacer {
            started: now,
            interval,
            last_wake: now,
        }
    }

    fn paced(&self) -> bool {
        self.interval.is_some()
    }

    /// The time message `n` should go: now, or its slot in the schedule, after sleeping
    /// until then (and at least [`PACE_TICK`] since the last sleep ended). One clock read
    /// serves as the scheduled time and the body's stamp.
    fn slot(&mut self, n: u64) -> Instant {
        let Some(interval) = self.interval else {
            return Instant::now();
        };
        let at = self.started + interval.mul_f64(n as f64);
        let now = Instant::now();
        if at > now {
            let until = at.max(self.last_wake + PACE_TICK);
            std::thread::sleep(until - now);
            self.last_wake = Instant::now();
        }
        at
    }
}

fn error_kind(e: &shardmq::ClientError) -> String {
    match e {
        shardmq::ClientError::Server { code, .. } => format!("code {code}"),
        shardmq::ClientError::Timeout { .. } => "timeout".into(),
        shardmq::ClientError::Io { .. } | shardmq::ClientError::Closed { .. } => {
            "connection".into()
        }
        other => other.to_string(),
    }
}

/// Sends one message so that the topic exists (auto-created through TBW102) before the
/// clock starts.
pub fn ensure_topic(producer: &Producer, args: &ProduceArgs) -> Result<(), String> {
    producer
        .send(Message::new(args.common.topic.as_str(), stamped(args.size)))
        .map(|_| ())
        .map_err(|e| format!("first send to {}: {e}", args.common.topic))
}

/// Creates the topic with a producer of its own, for a consumer that must see it first.
pub fn create_topic(args: &ProduceArgs) -> Result<(), String> {
    let namesrv = parse_namesrv(&args.common.namesrv)?;
    let producer =
        Producer::new(ProducerConfig::new(namesrv, "mqperf-probe")).map_err(|e| e.to_string())?;
    let result = ensure_topic(&producer, args);
    producer.shutdown();
    result
}

/// Runs the producers until `deadline` or `stop`, recording into `collector`.
pub fn run(
    args: &ProduceArgs,
    collector: &Collector,
    deadline: Instant,
    stop: &Arc<AtomicBool>,
    cpus: &[usize],
) -> Result<(), String> {
    let namesrv = parse_namesrv(&args.common.namesrv)?;
    if args.due().is_some() && args.size < DUE_STAMP_LEN {
        return Err(format!(
            "--size {} is too small for a scheduled message's stamp: at least {DUE_STAMP_LEN} \
             bytes carry its send and due times",
            args.size
        ));
    }
    let producers: Vec<Producer> = (0..args.producers.max(1))
        .map(|i| {
            let mut config = ProducerConfig::new(namesrv.clone(), format!("mqperf-{i}"));
            config.shard_ports = !args.no_shard_ports;
            Producer::new(config).map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    ensure_topic(&producers[0], args)?;
    let threads = args.threads.max(1);
    let per_thread_rate = args.rate.map(|r| (r as f64 / threads as f64).max(1.0));
    std::thread::scope(|s| {
        for t in 0..threads {
            let mine: Vec<Producer> = producers.iter().skip(t).step_by(threads).cloned().collect();
            if mine.is_empty() {
                continue;
            }
            let mut recorder = collector.recorder();
            let cpu = (!cpus.is_empty()).then(|| cpus[t % cpus.len()]);
            let stop = stop.clone();
            s.spawn(move || {
                if let Some(cpu) = cpu {
                    core_affinity::set_for_current(core_affinity::CoreId { id: cpu });
                }
                worker(args, &mine, &mut recorder, deadline, &stop, per_thread_rate);
            });
        }
    });
    for p in &producers {
        p.shutdown();
    }
    Ok(())
}

fn worker(
    args: &ProduceArgs,
    producers: &[Producer],
    rec: &mut Recorder,
    deadline: Instant,
    stop: &AtomicBool,
    rate: Option<f64>,
) {
    let topic = args.common.topic.as_str();
    let mut pacer = Pacer::new(rate);
    let mut sent: u64 = 0;
    let mut bodies = Stamper::new(args.size, args.due());
    let mut windows: Vec<VecDeque<(InFlight, Instant)>> =
        producers.iter().map(|_| VecDeque::new()).collect();
    let window = if args.mode == Mode::Async {
        args.inflight.max(1)
    } else {
        1
    };
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        for (p, inflight) in producers.iter().zip(windows.iter_mut()) {
            match args.mode {
                Mode::Oneway => {
                    let scheduled = pacer.slot(sent);
                    sent += 1;
                    match p.send_oneway(message(args, topic, bodies.body(scheduled))) {
                        Ok(()) => rec.ok(scheduled.elapsed()),
                        Err(e) => rec.error(&error_kind(&e)),
                    }
                }
                Mode::Sync | Mode::Async => {
                    // This producer's window is full: wait for its oldest (in sync mode, its
                    // only) send, while the thread's other producers keep theirs in flight.
                    // Then count every reply that has come (not only when the window is full,
                    // so a paced run does not charge the window's depth to every message).
                    complete(inflight, rec, inflight.len() >= window);
                    // Refill the window in one burst (the connection's writer then finds
                    // many requests per wake-up); a paced run sends one per producer in turn.
                    while inflight.len() < window {
                        let scheduled = pacer.slot(sent);
                        sent += 1;
                        match p.start_send(message(args, topic, bodies.body(scheduled))) {
                            Ok(f) => inflight.push_back((f, scheduled)),
                            Err(e) => {
                                // Counted; the outer loop re-checks the deadline and Ctrl-C
                                // before trying again (a dead broker is not a busy loop here).
                                rec.error(&error_kind(&e));
                                break;
                            }
                        }
                        if pacer.paced() {
                            break;
                        }
                    }
                }
            }
        }
    }
    for inflight in &mut windows {
        while !inflight.is_empty() {
            complete(inflight, rec, true);
        }
    }
}

/// A message of `body`, scheduled as the flags ask: at its delay level, or at the time its
/// stamp says it is due (a `--deliver-after` timer, `TIMER_DELIVER_MS`).
fn message(args: &ProduceArgs, topic: &str, (body, due_us): (Bytes, Option<u64>)) -> Message {
    let m = Message::new(topic, body);
    match (args.delay_level, due_us) {
        (Some(level), _) => m.with_delay_level(level),
        (None, Some(due_us)) => m.with_deliver_at(UNIX_EPOCH + Duration::from_micros(due_us)),
        (None, None) => m,
    }
}

/// Counts the sends at the front of the window that are done, after waiting for the oldest
/// when `block`. Each latency ends when the client's reader received the acknowledgement,
/// not when this worker got round to looking (a paced worker looks once per slot).
fn complete(inflight: &mut VecDeque<(InFlight, Instant)>, rec: &mut Recorder, block: bool) {
    let mut waited = false;
    while let Some((f, _)) = inflight.front() {
        // Blocking: the first one is waited for; then only those already done.
        if !(f.is_done() || block && !waited) {
            break;
        }
        waited = true;
        let Some((f, scheduled)) = inflight.pop_front() else {
            break;
        };
        match f.wait_ack(SEND_TIMEOUT) {
            Ok(acked) => rec.ok_at(
                acked.received.saturating_duration_since(scheduled),
                acked.received,
            ),
            Err(e) => rec.error(&error_kind(&e)),
        }
    }
}
