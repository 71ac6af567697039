//! Command-line flags of `mqperf`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};

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
    /// How long to measure, after the warm-up (e.g. 10s, 500ms, 2m).
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
    /// Pin worker threads to these CPUs (e.g. `2,3` or `4-7`).
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

/// `10s`, `500ms`, `2m`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, unit) = t.split_at(
        t.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(t.len()),
    );
    let n: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (try 10s, 500ms, 2m)"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        _ => return Err(format!("`{text}`: unknown unit `{unit}` (use ms, s or m)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

/// `2,3` or `4-7` or `0,2-3`.
pub fn parse_cpus(text: &str) -> Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (
                    a.parse().map_err(|_| format!("bad CPU `{a}`"))?,
                    b.parse().map_err(|_| format!("bad CPU `{b}`"))?,
                );
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().map_err(|_| format!("bad CPU `{part}`"))?),
        }
    }
    Ok(cpus)
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
        assert!(parse_duration("3h").is_err());
        assert_eq!(parse_cpus("0,2-4"), Ok(vec![0, 2, 3, 4]));
        assert!(parse_cpus("x").is_err());
        assert_eq!(parse_namesrv("127.0.0.1:9876;").unwrap().len(), 1);
        assert!(parse_namesrv("localhost:9876").is_err());
    }
}
