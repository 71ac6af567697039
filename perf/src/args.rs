//! Command-line flags of `mqperf`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};
use shardmq_tuning::parse::{cpu_list, CPU_ID_MAX};

/// Load generator and latency reporter for any RocketMQ-protocol broker.
#[derive(Parser, Debug)]
#[command(name = "mqperf", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Send messages: rate, errors, send latency.
    Produce(ProduceArgs),
    /// Consume messages: rate and end-to-end latency from each message's born time.
    Consume(ConsumeArgs),
    /// Produce and consume together: send and end-to-end latency.
    E2e(E2eArgs),
}

/// How sends wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Up to `--inflight` sends outstanding per producer, each acknowledged.
    Async,
    /// One send at a time per producer.
    Sync,
    /// Fire and forget.
    Oneway,
}

#[derive(ClapArgs, Debug, Clone)]
pub struct Common {
    /// Name server(s), `;`-separated.
    #[arg(long)]
    pub namesrv: String,
    #[arg(long)]
    pub topic: String,
    /// How long to measure, after the warm-up (e.g. 10s, 500ms, 2m, 1m30s; a plain number is
    /// seconds).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Load before measuring starts, not counted.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Write the summary as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the latency percentile distribution (.hgrm).
    #[arg(long)]
    pub hgrm: Option<PathBuf>,
    /// Write an SVG: the latency percentile spectrum and the rate over time.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Pin worker threads to these CPUs (e.g. `2,3` or `4-7`; ids up to 65535).
    #[arg(long)]
    pub cpus: Option<String>,
}

#[derive(ClapArgs, Debug, Clone)]
pub struct ProduceArgs {
    #[command(flatten)]
    pub common: Common,
    /// Body size in bytes.
    #[arg(long, default_value_t = 128)]
    pub size: usize,
    /// Producer connections (each its own producer).
    #[arg(long, default_value_t = 4)]
    pub producers: usize,
    /// Sends outstanding per producer (async mode).
    #[arg(long, default_value_t = 256)]
    pub inflight: usize,
    #[arg(long, value_enum, default_value_t = Mode::Async)]
    pub mode: Mode,
    /// Sending threads (producers are spread over them).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Fixed total rate (messages/s): latency counts from each message's scheduled time
    /// (coordinated-omission correction).
    #[arg(long)]
    pub rate: Option<u64>,
    /// Send to the broker's main address only, as a client unaware of ShardMQ's shard ports
    /// does (the broker then forwards what another shard owns).
    #[arg(long)]
    pub no_shard_ports: bool,
    /// Send every message with this delay level (RocketMQ's `DELAY`, 1 and up; a level past
    /// the last of `--delay-levels` is the last). Consumers report delivery lateness.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..), conflicts_with = "deliver_after")]
    pub delay_level: Option<u32>,
    /// The broker's `messageDelayLevel`, to know when a `--delay-level` message is due.
    #[arg(long, default_value = DEFAULT_DELAY_LEVELS, value_parser = parse_delay_levels)]
    pub delay_levels: DelayLevels,
    /// Deliver every message this long after its send (a RocketMQ 5 timer: `TIMER_DELIVER_MS`
    /// = send time + this, e.g. 5s). Consumers report delivery lateness.
    #[arg(long, value_parser = parse_duration)]
    pub deliver_after: Option<Duration>,
}

/// RocketMQ's default `messageDelayLevel`.
pub const DEFAULT_DELAY_LEVELS: &str = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h";

/// A broker's delay levels: level `n` waits `.0[n - 1]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelayLevels(pub Vec<Duration>);

impl DelayLevels {
    /// How long level `level` waits (levels past the last wait the last's time, as brokers
    /// clamp them).
    pub fn delay(&self, level: u32) -> Duration {
        let index = (level.max(1) as usize - 1).min(self.0.len().saturating_sub(1));
        self.0.get(index).copied().unwrap_or_default()
    }
}

/// `1s 5s 100ms 2m ...`, as a broker's `messageDelayLevel` writes them (1 to 64 levels).
pub fn parse_delay_levels(text: &str) -> Result<DelayLevels, String> {
    let levels = text
        .split_whitespace()
        .map(parse_duration)
        .collect::<Result<Vec<_>, _>>()?;
    if levels.is_empty() || levels.len() > 64 {
        return Err(format!(
            "`{text}` has {} delay levels; a broker has 1 to 64 (e.g. `1s 5s 10s`)",
            levels.len()
        ));
    }
    Ok(DelayLevels(levels))
}

impl ProduceArgs {
    /// How long after its send each message is due, with the stamp's rule for it; `None`
    /// when messages go out for immediate delivery.
    pub fn due(&self) -> Option<crate::stamp::Due> {
        use crate::stamp::Due;
        match (self.delay_level, self.deliver_after) {
            (Some(level), _) => Some(Due::After(self.delay_levels.delay(level))),
            (None, Some(after)) => Some(Due::AtWholeMs(after)),
            (None, None) => None,
        }
    }
}

#[derive(ClapArgs, Debug, Clone)]
pub struct ConsumeArgs {
    #[command(flatten)]
    pub common: Common,
    #[arg(long, default_value = "mqperf-consumer")]
    pub group: String,
}

#[derive(ClapArgs, Debug, Clone)]
pub struct E2eArgs {
    #[command(flatten)]
    pub produce: ProduceArgs,
    #[arg(long, default_value = "mqperf-e2e")]
    pub group: String,
}

/// A duration as `humantime` reads it (`10s`, `500ms`, `2m`, `1.5s`, `1m 30s`, `1h`), or a
/// plain number of seconds (`3`), which `humantime` alone would refuse for want of a unit.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let plain_seconds = !text.is_empty() && text.chars().all(|c| c.is_ascii_digit() || c == '.');
    let result = if plain_seconds {
        humantime::parse_duration(&format!("{text}s"))
    } else {
        humantime::parse_duration(text)
    };
    result.map_err(|e| format!("`{text}` is not a duration ({e}); try 10s, 500ms or 2m"))
}

/// A CPU list (`2,3`, `4-7`, `0,2-3`), read by the tuning crate's kernel CPU-list parser:
/// ids in ascending order, each once; ids above [`CPU_ID_MAX`] are refused.
pub fn parse_cpus(text: &str) -> Result<Vec<usize>, String> {
    let cpus = cpu_list(text).ok_or_else(|| {
        format!("`{text}` is not a CPU list (e.g. 2,3 or 4-7; CPU ids 0 to {CPU_ID_MAX})")
    })?;
    Ok(cpus.into_iter().map(|cpu| cpu as usize).collect())
}

/// `a:p;b:p` as RocketMQ writes name server lists.
pub fn parse_namesrv(text: &str) -> Result<Vec<SocketAddr>, String> {
    text.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| format!("name server `{s}` is not ip:port"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_cpus_and_name_servers_parse() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("3 parsecs").is_err());
        assert_eq!(parse_cpus("0,2-4"), Ok(vec![0, 2, 3, 4]));
        assert!(parse_cpus("x").is_err());
        assert_eq!(parse_namesrv("127.0.0.1:9876;").unwrap().len(), 1);
        assert!(parse_namesrv("localhost:9876").is_err());
    }

    #[test]
    fn every_duration_the_tests_and_docs_use_parses() {
        let table: &[(&str, Duration)] = &[
            ("0s", Duration::ZERO),
            ("1s", Duration::from_secs(1)),
            ("2s", Duration::from_secs(2)),
            ("10s", Duration::from_secs(10)),
            ("15s", Duration::from_secs(15)),
            ("30s", Duration::from_secs(30)),
            ("200ms", Duration::from_millis(200)),
            ("500ms", Duration::from_millis(500)),
            ("10m", Duration::from_secs(600)),
            ("0", Duration::ZERO),
            ("1.5", Duration::from_millis(1500)),
            (" 2s ", Duration::from_secs(2)),
            ("1.5s", Duration::from_millis(1500)),
            ("1m 30s", Duration::from_secs(90)),
            ("1m30s", Duration::from_secs(90)),
            ("1h", Duration::from_secs(3600)),
        ];
        for (text, expected) in table {
            assert_eq!(parse_duration(text), Ok(*expected), "{text:?}");
        }
        for text in ["", "s", "-1s", "5 parsecs", "1.2.3", "ten seconds"] {
            let error = parse_duration(text).unwrap_err();
            assert!(error.contains(text.trim()), "{text:?}: {error}");
        }
    }

    #[test]
    fn delay_levels_parse_like_a_brokers_and_clamp_past_the_last() {
        let levels = parse_delay_levels(DEFAULT_DELAY_LEVELS).unwrap();
        assert_eq!(levels.0.len(), 18);
        assert_eq!(levels.delay(1), Duration::from_secs(1));
        assert_eq!(levels.delay(3), Duration::from_secs(10));
        assert_eq!(levels.delay(18), Duration::from_secs(7200));
        assert_eq!(levels.delay(99), Duration::from_secs(7200));
        let short = parse_delay_levels("100ms 200ms").unwrap();
        assert_eq!(short.delay(2), Duration::from_millis(200));
        for bad in ["", "1s parsecs", &"1s ".repeat(65)] {
            assert!(parse_delay_levels(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cpu_lists_come_sorted_and_deduplicated_from_the_tuning_parser() {
        assert_eq!(parse_cpus("1"), Ok(vec![1]));
        assert_eq!(parse_cpus("2-3"), Ok(vec![2, 3]));
        assert_eq!(parse_cpus("4-7"), Ok(vec![4, 5, 6, 7]));
        assert_eq!(parse_cpus("3,1,1-2"), Ok(vec![1, 2, 3]));
        assert_eq!(parse_cpus(""), Ok(vec![]));
        for text in ["7-4", "0,,1", "a-b", "-1", "1-"] {
            assert!(parse_cpus(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn cpu_ids_past_cpu_id_max_are_refused_not_expanded() {
        // Before the bound, `0-99999999999` asked for a vector of 10^11 CPU ids.
        let max = CPU_ID_MAX as usize;
        assert_eq!(parse_cpus(&max.to_string()), Ok(vec![max]));
        for text in [
            "0-99999999999".to_string(),
            "99999999999".to_string(),
            format!("0-{}", max + 1),
            format!("{}", max + 1),
        ] {
            let error = parse_cpus(&text).unwrap_err();
            assert!(error.contains(&text), "{text}: {error}");
            assert!(error.contains(&CPU_ID_MAX.to_string()), "{text}: {error}");
        }
    }
}
