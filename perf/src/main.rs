//! `mqperf`: load generator and latency reporter for any RocketMQ-protocol broker.
//! `produce`, `consume` and `e2e`; one line per second while running; a summary at the end
//! (or at Ctrl-C) with HdrHistogram percentiles; `--json`, `--hgrm` and `--plot` outputs.

mod args;
mod consume;
mod plot;
mod produce;
mod stamp;
mod stats;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;

use args::{parse_cpus, Cli, Command, Common};
use stats::{Collector, Summary, Totals};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mqperf: {e}");
            ExitCode::FAILURE
        }
    }
}

fn outputs(common: &Common, summary: &Summary, totals: &Totals) -> Result<(), String> {
    summary.print();
    if let Some(path) = &common.json {
        let json = serde_json::to_vec_pretty(summary).map_err(|e| e.to_string())?;
        std::fs::write(path, json).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    if let Some(path) = &common.hgrm {
        std::fs::write(path, stats::hgrm(&totals.hist))
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    if let Some(path) = &common.plot {
        plot::write(path, &summary.command, &totals.hist, &totals.rates)?;
    }
    Ok(())
}

fn run(command: Command) -> Result<(), String> {
    let stop = Arc::new(AtomicBool::new(false));
    // Ctrl-C (or SIGTERM) ends the run early; the summary covers what was measured.
    // `stop` also ends the producers when their time is up; `interrupted` only on a signal.
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone()).map_err(|e| e.to_string())?;
        signal_hook::flag::register(signal, interrupted.clone()).map_err(|e| e.to_string())?;
    }
    match command {
        Command::Produce(a) => {
            let cpus = a
                .common
                .cpus
                .as_deref()
                .map(parse_cpus)
                .transpose()?
                .unwrap_or_default();
            let collector = Collector::start("produce", a.common.warmup, stop.clone());
            let deadline = Instant::now() + a.common.warmup + a.common.duration;
            let result = produce::run(&a, &collector, deadline, &stop, &cpus);
            stop.store(true, Ordering::Release);
            let totals = collector.finish();
            result?;
            let mut summary = Summary::new("produce", &totals, None);
            summary.rate_asked_per_s = a.rate;
            outputs(&a.common, &summary, &totals)
        }
        Command::Consume(a) => {
            let collector = Collector::start("consume", a.common.warmup, stop.clone());
            // Quiet: most runs carry no scheduled messages; the summary shows any that came.
            let lateness = Collector::start_with("lateness", a.common.warmup, stop.clone(), false);
            let consumer = consume::start(
                &a.common.namesrv,
                &a.common.topic,
                &a.group,
                &collector,
                &lateness,
            )
            .inspect_err(|_| stop.store(true, Ordering::Release))?;
            let deadline = Instant::now() + a.common.warmup + a.common.duration;
            while Instant::now() < deadline && !stop.load(Ordering::Acquire) {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            consumer.shutdown();
            stop.store(true, Ordering::Release);
            let totals = collector.finish();
            let lateness = lateness.finish();
            let mut summary = Summary::new("consume", &totals, None).with_lateness(&lateness);
            summary.e2e_latency_us = Some(summary.latency_us.clone());
            outputs(&a.common, &summary, &totals)
        }
        Command::E2e(a) => {
            let p = &a.produce;
            let cpus = p
                .common
                .cpus
                .as_deref()
                .map(parse_cpus)
                .transpose()?
                .unwrap_or_default();
            let e2e_stop = Arc::new(AtomicBool::new(false));
            let consumed = Collector::start("e2e", p.common.warmup, e2e_stop.clone());
            let scheduled = p.due();
            let lateness = Collector::start_with(
                "lateness",
                p.common.warmup,
                e2e_stop.clone(),
                scheduled.is_some(),
            );
            let started = produce::create_topic(p).and_then(|()| {
                // The consumer starts at the queues' ends: the topic must exist before it looks.
                consume::start(
                    &p.common.namesrv,
                    &p.common.topic,
                    &a.group,
                    &consumed,
                    &lateness,
                )
            });
            let consumer = started.inspect_err(|_| e2e_stop.store(true, Ordering::Release))?;
            let sent = Collector::start("send", p.common.warmup, stop.clone());
            let deadline = Instant::now() + p.common.warmup + p.common.duration;
            let result = produce::run(p, &sent, deadline, &stop, &cpus);
            stop.store(true, Ordering::Release);
            let send_totals = sent.finish();
            // Let the consumer drain what is in flight, and what is scheduled until it is due
            // (plus a second for the broker's timer precision), unless interrupted.
            let delay = match scheduled {
                Some(stamp::Due::After(d) | stamp::Due::AtWholeMs(d)) => {
                    d + std::time::Duration::from_secs(1)
                }
                None => std::time::Duration::ZERO,
            };
            let drained = Instant::now() + std::time::Duration::from_millis(500) + delay;
            while Instant::now() < drained && !interrupted.load(Ordering::Acquire) {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            consumer.shutdown();
            e2e_stop.store(true, Ordering::Release);
            let e2e_totals = consumed.finish();
            let lateness = lateness.finish();
            result?;
            let mut summary =
                Summary::new("e2e", &send_totals, Some(&e2e_totals)).with_lateness(&lateness);
            summary.rate_asked_per_s = p.rate;
            println!("consumed {} messages", e2e_totals.messages);
            outputs(&p.common, &summary, &send_totals)
        }
    }
}
