//! Test support: a broker on loopback ports with a temp data dir; free ports and the raw
//! remoting connection come from `shardmq-testkit`.

#![allow(dead_code)]

use std::io;
use std::path::Path;

use clap::Parser;
use shardmq_broker::config::{Args, BrokerConfig};
use shardmq_broker::Broker;

pub use shardmq_testkit::{free_port, free_ports, Conn};

pub struct Ports {
    pub listen: u16,
    pub shard_base: u16,
    pub namesrv: u16,
}

impl Ports {
    pub fn new(shards: u16) -> Ports {
        Ports {
            listen: free_port(),
            shard_base: free_ports(shards),
            namesrv: free_port(),
        }
    }
}

/// A standalone broker (embedded name server) on 127.0.0.1. Tests run in parallel and pick
/// free ports independently, so a port can be taken in between: retry with new ones.
pub fn start_broker(data: &Path, shards: u16, ports: &mut Ports, extra: &[&str]) -> Broker {
    for _ in 0..10 {
        match try_start_broker(data, shards, ports, extra) {
            Ok(b) => return b,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse || e.to_string().contains("in use") => {
                *ports = Ports::new(shards);
            }
            Err(e) => panic!("broker start: {e}"),
        }
    }
    panic!("no free ports after 10 tries");
}

fn try_start_broker(data: &Path, shards: u16, ports: &Ports, extra: &[&str]) -> io::Result<Broker> {
    let mut argv = vec![
        "mqbroker".to_string(),
        "--listen".into(),
        format!("127.0.0.1:{}", ports.listen),
        "--shard-port-base".into(),
        ports.shard_base.to_string(),
        "--namesrv-listen".into(),
        format!("127.0.0.1:{}", ports.namesrv),
        "--data".into(),
        data.display().to_string(),
        "--shards".into(),
        shards.to_string(),
    ];
    argv.extend(extra.iter().map(|s| s.to_string()));
    if !extra.contains(&"--config") {
        // 64 MiB segments, not 1 GiB: tests start many brokers.
        let conf = data.with_extension("conf");
        std::fs::write(&conf, "mappedFileSizeCommitLog=67108864\n")?;
        argv.push("--config".into());
        argv.push(conf.display().to_string());
    }
    let args = Args::try_parse_from(argv).expect("arguments");
    let (config, _) = BrokerConfig::resolve(&args, shards as usize).expect("config");
    Broker::start(config)
}
