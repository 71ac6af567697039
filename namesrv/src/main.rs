//! `mqnamesrv`: runs a name server until it is killed.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use shardmq_namesrv::{NameServer, NamesrvConfig};

/// ShardMQ name server (RocketMQ-compatible route registry).
#[derive(Parser, Debug)]
#[command(name = "mqnamesrv", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:9876")]
    listen: SocketAddr,
    /// Drop a broker silent this long, unless it registered its own timeout.
    #[arg(long, default_value_t = 120_000)]
    broker_timeout_ms: u64,
    /// How often to look for silent brokers.
    #[arg(long, default_value_t = 5_000)]
    scan_interval_ms: u64,
    /// Largest frame accepted, in bytes.
    #[arg(long, default_value_t = shardmq_protocol::frame::DEFAULT_MAX_FRAME_BYTES)]
    max_frame_bytes: usize,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let config = NamesrvConfig {
        listen: args.listen,
        default_broker_timeout: Duration::from_millis(args.broker_timeout_ms),
        scan_interval: Duration::from_millis(args.scan_interval_ms),
        max_frame_bytes: args.max_frame_bytes,
        ..Default::default()
    };
    match NameServer::start(config) {
        Ok(server) => {
            println!("mqnamesrv listening on {}", server.local_addr());
            loop {
                std::thread::park();
            }
        }
        Err(e) => {
            eprintln!("mqnamesrv: {e}");
            ExitCode::FAILURE
        }
    }
}
