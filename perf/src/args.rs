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
