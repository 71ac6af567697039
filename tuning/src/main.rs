//! `mqtune`: reads a Linux host's settings and says what to change for a thread-per-core broker.
//!
//! Exit status: 0 when the broker can start (warnings allowed), 1 when an item is FATAL,
//! 2 on a usage error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

use shardmq_tuning::{check, recommended_shards, Host};

/// Reads a Linux host's settings and says what to change for a thread-per-core broker.
///
/// Prints one line per item (current value, recommended value, status, reason), then the
/// fixes.
#[derive(Parser, Debug)]
#[command(
    name = "mqtune",
    override_usage = "mqtune [--check] [--json] [--root DIR] [--shards N]",
    // A flag given twice keeps its last value, as `--root a --root b` always did.
    args_override_self = true,
    after_help = "Exit status: 0 the broker can start (warnings allowed), 1 something FATAL, \
                  2 usage error."
)]
struct Arguments {
    /// Check the host (the default action; accepted for scripts that say it).
    #[arg(long)]
    check: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Read /proc and /sys under DIR (a recorded snapshot) instead of the live host [default:
    /// /, which also probes io_uring with io_uring_setup].
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Judge locked memory and cores for N shards [default: usable CPUs, less one from 4
    /// CPUs on].
    #[arg(long, value_name = "N", value_parser = positive_integer)]
    shards: Option<usize>,
}

/// A shard count: an integer of 1 or more.
fn positive_integer(text: &str) -> Result<usize, String> {
    text.parse::<usize>()
        .ok()
        .filter(|shards| *shards > 0)
        .ok_or_else(|| "needs a positive integer".to_string())
}

fn main() -> ExitCode {
    // Usage errors exit 2 (clap's status for them), `--help` prints and exits 0.
    let arguments = Arguments::parse();
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(words: &[&str]) -> Result<Arguments, clap::Error> {
        Arguments::try_parse_from(std::iter::once("mqtune").chain(words.iter().copied()))
    }

    #[test]
    fn command_definition_is_consistent() {
        Arguments::command().debug_assert();
    }

    #[test]
    fn flags_take_separate_or_inline_values_and_the_last_one_wins() {
        let arguments = parse(&[
            "--check",
            "--json",
            "--root",
            "/a",
            "--root=/b",
            "--shards=3",
            "--shards",
            "4",
            "--check",
            "--json",
        ])
        .unwrap();
        assert!(arguments.check && arguments.json);
        assert_eq!(arguments.root, Some(PathBuf::from("/b")));
        assert_eq!(arguments.shards, Some(4));
        let defaults = parse(&[]).unwrap();
        assert!(!defaults.json);
        assert_eq!((defaults.root, defaults.shards), (None, None));
    }

    #[test]
    fn bad_arguments_are_usage_errors_and_help_is_not() {
        for words in [
            &["--shards", "0"][..],
            &["--shards", "-1"],
            &["--shards", "many"],
            &["--shards"],
            &["--root"],
            &["--frobnicate"],
            &["check"],
        ] {
            let error = parse(words).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{words:?}");
            assert!(error.use_stderr(), "{words:?}");
        }
        for words in [&["-h"][..], &["--help"], &["--json", "--help"]] {
            let error = parse(words).unwrap_err();
            assert_eq!(
                error.kind(),
                clap::error::ErrorKind::DisplayHelp,
                "{words:?}"
            );
            assert_eq!(error.exit_code(), 0, "{words:?}");
        }
    }
}
