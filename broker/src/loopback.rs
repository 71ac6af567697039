//! A standalone broker (embedded name server) on free 127.0.0.1 ports, for the tests and
//! benchmarks of the crates built on the broker (client, mqperf).

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::Duration;

use clap::Parser;

use crate::config::{Args, BrokerConfig};
use crate::Broker;

/// A running standalone broker and where to reach it.
pub struct Loopback {
    pub broker: Broker,
    /// Its embedded name server.
    pub namesrv: SocketAddr,
    /// The broker's main port.
    pub addr: SocketAddr,
}

/// A port on 127.0.0.1 that was free a moment ago (nothing listens there now). Tests use
/// `shardmq-testkit`'s; this one serves [`start`], which is library code.
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts a broker with `shards` shards and data under `data`, on ports the OS says are
/// free (tried again with new ports, up to 10 times, if another process took one first);
/// returns once it has had time to register with its name server.
pub fn start(data: &Path, shards: usize) -> std::io::Result<Loopback> {
    start_with_conf(data, shards, "")
}

/// CommitLog segments of test brokers: 64 MiB, not RocketMQ's 1 GiB (`conf` may say
/// otherwise).
pub const TEST_SEGMENT_BYTES: u64 = 64 << 20;

/// [`start`] with `broker.conf` lines (`messageDelayLevel=100ms 200ms 300ms`, ...), written
/// beside the data directory as `<data>.conf`, after a default of [`TEST_SEGMENT_BYTES`]
/// segments.
pub fn start_with_conf(data: &Path, shards: usize, conf: &str) -> std::io::Result<Loopback> {
    let conf_path = data.with_extension("conf");
    let segment = "mappedFileSizeCommitLog";
    let defaults = if conf.contains(segment) {
        String::new()
    } else {
        format!("{segment}={TEST_SEGMENT_BYTES}\n")
    };
    std::fs::write(&conf_path, format!("{defaults}{conf}"))?;
    let mut last_error = None;
    for _ in 0..10 {
        let (listen, base, ns) = (free_port()?, free_port()?, free_port()?);
        let args = Args::try_parse_from([
            "mqbroker".to_string(),
            "--listen".into(),
            format!("127.0.0.1:{listen}"),
            "--shard-port-base".into(),
            base.to_string(),
            "--namesrv-listen".into(),
            format!("127.0.0.1:{ns}"),
            "--data".into(),
            data.display().to_string(),
            "--shards".into(),
            shards.to_string(),
            "--config".into(),
            conf_path.display().to_string(),
        ])
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
        let (config, _) = BrokerConfig::resolve(&args, shards)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
        match Broker::start(config) {
            Ok(broker) => {
                std::thread::sleep(Duration::from_millis(200));
                return Ok(Loopback {
                    broker,
                    namesrv: SocketAddr::from(([127, 0, 0, 1], ns)),
                    addr: SocketAddr::from(([127, 0, 0, 1], listen)),
                });
            }
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| std::io::Error::other("no free ports")))
}
