//! `mqtune`: reads a Linux host's settings and says what to change for a thread-per-core broker.
//!
//! Exit status: 0 when the broker can start (warnings allowed), 1 when an item is FATAL,
//! 2 on a usage error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use shardmq_tuning::{check, recommended_shards, Host};

const USAGE: &str = "\
usage: mqtune [--check] [--json] [--root DIR] [--shards N]

  --check       check the host (the default action)
  --json        print JSON instead of a table
  --root DIR    read /proc and /sys under DIR (a recorded snapshot); default /, which also
                probes io_uring with io_uring_setup
  --shards N    judge locked memory and cores for N shards; default: usable CPUs, less one
                from 4 CPUs on

exit status: 0 the broker can start, 1 something FATAL, 2 usage error";

/// What the command line asked for.
struct Arguments {
    json: bool,
    root: Option<PathBuf>,
    shards: Option<usize>,
}

enum Parsed {
    Run(Arguments),
    Help,
}

fn parse_arguments(mut words: impl Iterator<Item = String>) -> Result<Parsed, String> {
    let mut arguments = Arguments {
        json: false,
        root: None,
        shards: None,
    };
    while let Some(word) = words.next() {
        let (flag, inline_value) = match word.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_string(), Some(value.to_string()))
            }
            _ => (word, None),
        };
        let mut value = |name: &str| {
            inline_value
                .clone()
                .or_else(|| words.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "--check" => {}
            "--json" => arguments.json = true,
            "--root" => arguments.root = Some(PathBuf::from(value("--root")?)),
            "--shards" => {
                let text = value("--shards")?;
                let shards = text
                    .parse::<usize>()
                    .ok()
                    .filter(|shards| *shards > 0)
                    .ok_or_else(|| format!("--shards needs a positive integer, not {text:?}"))?;
                arguments.shards = Some(shards);
            }
            "-h" | "--help" => return Ok(Parsed::Help),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Parsed::Run(arguments))
}

fn main() -> ExitCode {
    let arguments = match parse_arguments(std::env::args().skip(1)) {
        Ok(Parsed::Run(arguments)) => arguments,
        Ok(Parsed::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("mqtune: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let host = match arguments.root {
        Some(root) if root != Path::new("/") => Host::snapshot(root),
        _ => Host::live(),
    };
    let shards = arguments
        .shards
        .unwrap_or_else(|| recommended_shards(&host));
    let report = check(&host, shards);
    if arguments.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.table());
    }
    if report.fatal > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
