//! Counting: each worker thread records into its own histogram and hands it to a collector
//! every 50 ms; the collector prints one line per second (rate, that second's p99, errors)
//! and keeps the totals, the per-second rates and the whole run's histogram.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latencies are recorded in microseconds, up to 60 s.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// How often a worker hands its counters to the collector.
const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// What a worker hands over.
struct Flush {
    hist: Histogram<u64>,
    ok: u64,
    errors: BTreeMap<String, u64>,
}

/// A worker's local counters.
pub struct Recorder {
    tx: flume::Sender<Flush>,
    hist: Histogram<u64>,
    ok: u64,
    errors: BTreeMap<String, u64>,
    last_flush: Instant,
}

impl Recorder {
    /// Records one success with its latency.
    pub fn ok(&mut self, latency: Duration) {
        self.ok_at(latency, Instant::now());
    }

    /// Records one success with its latency, which ended at `now` (a clock reading the caller
    /// already has: no clock read here).
    pub fn ok_at(&mut self, latency: Duration, now: Instant) {
        self.hist
            .saturating_record(latency.as_micros().max(1) as u64);
        self.ok += 1;
        if now.saturating_duration_since(self.last_flush) >= FLUSH_EVERY {
            self.flush();
        }
    }

    /// Records one failure, by kind.
    pub fn error(&mut self, kind: &str) {
        *self.errors.entry(kind.to_owned()).or_default() += 1;
        self.maybe_flush();
    }

    fn maybe_flush(&mut self) {
        if self.last_flush.elapsed() >= FLUSH_EVERY {
            self.flush();
        }
    }

    fn new(tx: flume::Sender<Flush>) -> Recorder {
        Recorder {
            tx,
            hist: histogram(),
            ok: 0,
            errors: BTreeMap::new(),
            last_flush: Instant::now(),
        }
    }

    /// A new, empty recorder feeding the same collector (for another thread).
    pub fn fork(&self) -> Recorder {
        Recorder::new(self.tx.clone())
    }

    /// Hands everything counted so far to the collector.
    fn flush(&mut self) {
        let flush = Flush {
            hist: std::mem::replace(&mut self.hist, histogram()),
            ok: std::mem::take(&mut self.ok),
            errors: std::mem::take(&mut self.errors),
        };
        let _ = self.tx.send(flush);
        self.last_flush = Instant::now();
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub p9999: u64,
    pub max: u64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        let q = |p| h.value_at_quantile(p);
        Percentiles {
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p999: q(0.999),
            p9999: q(0.9999),
            max: h.max(),
        }
    }
}

/// What a collector ends with.
pub struct Totals {
    pub messages: u64,
    pub errors: BTreeMap<String, u64>,
    pub duration: Duration,
    pub hist: Histogram<u64>,
    /// Messages per second, second by second.
    pub rates: Vec<u64>,
}

/// Collects one stream of samples (sends, or end-to-end deliveries).
pub struct Collector {
    tx: flume::Sender<Flush>,
    handle: JoinHandle<Totals>,
}

impl Collector {
    /// Starts collecting: samples before `warmup` passes are dropped; lines are printed as
    /// `[  Ns] <label> ...` until `stop` is set.
    pub fn start(label: &'static str, warmup: Duration, stop: Arc<AtomicBool>) -> Collector {
        Collector::start_with(label, warmup, stop, true)
    }

    /// [`Collector::start`], printing the per-second lines only when `lines`.
    pub fn start_with(
        label: &'static str,
        warmup: Duration,
        stop: Arc<AtomicBool>,
        lines: bool,
    ) -> Collector {
        let (tx, rx) = flume::unbounded::<Flush>();
        let handle = std::thread::spawn(move || {
            let started = Instant::now();
            let measure_from = started + warmup;
            let mut totals = Totals {
                messages: 0,
                errors: BTreeMap::new(),
                duration: Duration::ZERO,
                hist: histogram(),
                rates: Vec::new(),
            };
            let mut second = histogram();
            let (mut second_ok, mut second_errors) = (0u64, 0u64);
            let mut next_line = measure_from + Duration::from_secs(1);
            loop {
                let done = stop.load(Ordering::Acquire);
                match rx.recv_timeout(Duration::from_millis(20)) {
                    Ok(f) if Instant::now() >= measure_from => {
                        let _ = second.add(&f.hist);
                        let _ = totals.hist.add(&f.hist);
                        second_ok += f.ok;
                        totals.messages += f.ok;
                        for (k, v) in f.errors {
                            second_errors += v;
                            *totals.errors.entry(k).or_default() += v;
                        }
                    }
                    Ok(_) => {}
                    Err(flume::RecvTimeoutError::Disconnected) => break,
                    Err(flume::RecvTimeoutError::Timeout) if done => break,
                    Err(flume::RecvTimeoutError::Timeout) => {}
                }
                if Instant::now() >= next_line {
                    let n = totals.rates.len() + 1;
                    if lines {
                        println!(
                        "[{n:>4}s] {label}: {second_ok:>9}/s  p99 {:>7} us  errors {second_errors}",
                        if second.is_empty() { 0 } else { second.value_at_quantile(0.99) }
                    );
                    }
                    totals.rates.push(second_ok);
                    second = histogram();
                    second_ok = 0;
                    second_errors = 0;
                    next_line += Duration::from_secs(1);
                }
            }
            totals.duration = Instant::now().saturating_duration_since(measure_from);
            totals
        });
        Collector { tx, handle }
    }

    /// A recorder for one worker thread.
    pub fn recorder(&self) -> Recorder {
        Recorder::new(self.tx.clone())
    }

    /// Waits for the collector to finish (after `stop` was set and recorders dropped).
    pub fn finish(self) -> Totals {
        drop(self.tx);
        self.handle.join().expect("collector thread")
    }
}

/// The run's summary, as printed and as `--json` writes it.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub command: String,
    pub messages: u64,
    pub errors: BTreeMap<String, u64>,
    pub duration_s: f64,
    pub rate_per_s: f64,
    /// The fixed rate asked for with `--rate` (messages/s); absent when unpaced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_asked_per_s: Option<u64>,
    pub latency_us: Percentiles,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e2e_latency_us: Option<Percentiles>,
    /// Scheduled messages (`--delay-level`, `--deliver-after`): arrival minus due time, of
    /// those that came on time or late. Absent when no scheduled message came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_lateness_us: Option<Percentiles>,
    /// Scheduled messages that came on time or late (the lateness histogram's count).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_delivered: Option<u64>,
    /// Scheduled messages that came before they were due (a broker fault, or clocks apart).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_early: Option<u64>,
}

impl Summary {
    pub fn new(command: &str, t: &Totals, e2e: Option<&Totals>) -> Summary {
        let secs = t.duration.as_secs_f64().max(1e-9);
        Summary {
            command: command.to_owned(),
            messages: t.messages,
            errors: t.errors.clone(),
            duration_s: secs,
            rate_per_s: t.messages as f64 / secs,
            rate_asked_per_s: None,
            latency_us: Percentiles::of(&t.hist),
            e2e_latency_us: e2e.map(|e| Percentiles::of(&e.hist)),
            delivery_lateness_us: None,
            scheduled_delivered: None,
            delivered_early: None,
        }
    }

    /// Adds the lateness of scheduled deliveries, when any came.
    pub fn with_lateness(mut self, lateness: &Totals) -> Summary {
        let early: u64 = lateness.errors.values().sum();
        if lateness.messages > 0 || early > 0 {
            self.delivery_lateness_us = Some(Percentiles::of(&lateness.hist));
            self.scheduled_delivered = Some(lateness.messages);
            self.delivered_early = Some(early);
        }
        self
    }

    pub fn print(&self) {
        let errors: u64 = self.errors.values().sum();
        println!(
            "--- {}: {} messages in {:.1} s = {:.0}/s, {errors} errors {:?}",
            self.command, self.messages, self.duration_s, self.rate_per_s, self.errors
        );
        let p = &self.latency_us;
        println!(
            "latency us: p50 {} p90 {} p99 {} p99.9 {} p99.99 {} max {}",
            p.p50, p.p90, p.p99, p.p999, p.p9999, p.max
        );
        if let Some(p) = &self.e2e_latency_us {
            println!(
                "end-to-end latency us: p50 {} p90 {} p99 {} p99.9 {} p99.99 {} max {}",
                p.p50, p.p90, p.p99, p.p999, p.p9999, p.max
            );
        }
        if let Some(p) = &self.delivery_lateness_us {
            println!(
                "delivery lateness us: p50 {} p90 {} p99 {} p99.9 {} p99.99 {} max {} \
                 ({} scheduled messages on time or late, {} early)",
                p.p50,
                p.p90,
                p.p99,
                p.p999,
                p.p9999,
                p.max,
                self.scheduled_delivered.unwrap_or(0),
                self.delivered_early.unwrap_or(0)
            );
        }
    }
}

/// The percentile distribution in HdrHistogram's text (.hgrm) form.
pub fn hgrm(h: &Histogram<u64>) -> String {
    let mut out = String::from("       Value     Percentile TotalCount 1/(1-Percentile)\n\n");
    for v in h.iter_quantiles(5) {
        let q = v.quantile_iterated_to();
        let inverse = if q < 1.0 {
            format!("{:.2}", 1.0 / (1.0 - q))
        } else {
            "inf".into()
        };
        out.push_str(&format!(
            "{:12.3} {:14.12} {:10} {:>14}\n",
            v.value_iterated_to() as f64,
            q,
            v.count_since_last_iteration(),
            inverse
        ));
    }
    out.push_str(&format!(
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]\n",
        h.mean(),
        h.stdev()
    ));
    out.push_str(&format!(
        "#[Max     = {:12.3}, Total count    = {:12}]\n",
        h.max() as f64,
        h.len()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_hgrm_come_from_the_recorded_latencies() {
        let mut h = histogram();
        for us in 1..=1000 {
            h.record(us).unwrap();
        }
        let p = Percentiles::of(&h);
        assert_eq!((p.p50, p.p99, p.max), (500, 990, 1000));
        let text = hgrm(&h);
        assert!(text.starts_with("       Value     Percentile"));
        assert!(text.contains("Total count    =         1000"), "{text}");
    }
}
