//! `mqbroker`: runs a broker until SIGINT or SIGTERM, then stops it cleanly (in-flight
//! writes finish, stores flush and checkpoint, the broker unregisters) and exits 0.
//! Before starting it runs the host checks that would stop a shard (tuning/README.md).

use std::process::ExitCode;

use clap::Parser;
use shardmq_broker::config::{Args, BrokerConfig};
use shardmq_broker::Broker;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// What is logged unless RUST_LOG says otherwise. `glommio::reactor`'s only error event
/// (glommio 0.9) reports a failed probe of the polled-I/O ring, and each shard makes that
/// probe fail on purpose to keep polled I/O off (see `store::commitlog::disable_io_polling`,
/// which logs one INFO line saying so): expected behaviour must not log as an error.
const DEFAULT_LOG_FILTER: &str = "info,glommio::reactor=off";

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| DEFAULT_LOG_FILTER.into()),
        )
        .init();
    let args = Args::parse();
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let (config, warnings) = match BrokerConfig::resolve(&args, cpus) {
        Ok(resolved) => resolved,
        Err(e) => {
            eprintln!("mqbroker: {e}");
            return ExitCode::from(2);
        }
    };
    for warning in warnings {
        eprintln!("mqbroker: warning: {warning}");
    }
    let problems = shardmq_tuning::fatal_problems(&shardmq_tuning::Host::live(), config.shards);
    if !problems.is_empty() {
        for p in problems {
            eprintln!("mqbroker: cannot start: {p}");
        }
        return ExitCode::FAILURE;
    }
    // Block the signals before any thread starts, so only this thread receives them.
    let mut signals = match Signals::new([SIGINT, SIGTERM]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mqbroker: cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let broker = match Broker::start(config) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("mqbroker: {e}");
            return ExitCode::FAILURE;
        }
    };
    let c = broker.config();
    println!(
        "mqbroker listening on {} ({} shards, shard ports {}..{}), data in {}, name server {}",
        c.listen,
        c.shards,
        c.shard_port(0),
        c.shard_port(c.shards - 1),
        c.data_dir.display(),
        broker.namesrv_addr().map_or_else(
            || format!("{:?}", c.namesrv),
            |a| format!("embedded on {a}")
        ),
    );
    if let Some(signal) = signals.forever().next() {
        eprintln!("mqbroker: signal {signal}, stopping");
    }
    broker.stop();
    ExitCode::SUCCESS
}
