//! `mqbroker`'s command line, as clap parses it; [`BrokerConfig::resolve`] turns it into the
//! configuration.
//!
//! [`BrokerConfig::resolve`]: super::BrokerConfig::resolve

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use shardmq_protocol::frame::DEFAULT_MAX_FRAME_BYTES;

use super::{FlushDiskType, DEFAULT_NAMESRV_LISTEN, DEFAULT_SHARD_PORT_BASE};

/// `mqbroker`'s command line.
///
/// Every setting that `--config FILE` may also set is an `Option`, so
/// [`BrokerConfig::resolve`] can tell "flag given" (it wins) from "not given" (the file, then
/// the default). Settings only a flag sets carry their default here.
///
/// [`BrokerConfig::resolve`]: super::BrokerConfig::resolve
#[derive(clap::Parser, Debug, Clone)]
#[command(
    name = "mqbroker",
    version,
    about = "ShardMQ broker: a RocketMQ-compatible, thread-per-core message broker",
    // The struct's doc comment is for rustdoc readers, not for --help.
    long_about = None
)]
pub struct Args {
    /// Main address; every shard accepts on it [default: 0.0.0.0:10911; broker.conf: listenPort]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// IP published to name servers and clients [default: the --listen IP, or 127.0.0.1 when
    /// that is 0.0.0.0; broker.conf: brokerIP1]
    #[arg(long, value_name = "IP")]
    pub advertise: Option<IpAddr>,

    /// Name servers to register with, "ip:port;ip:port"; none: standalone, with an embedded
    /// name server [broker.conf: namesrvAddr]
    #[arg(long, value_name = "ADDRS")]
    pub namesrv: Option<String>,

    /// Where the embedded name server listens (standalone only)
    #[arg(long, value_name = "ADDR", default_value_t = DEFAULT_NAMESRV_LISTEN)]
    pub namesrv_listen: SocketAddr,

    /// Data directory [default: ./data; broker.conf: storePathRootDir]
    #[arg(long, value_name = "PATH")]
    pub data: Option<PathBuf>,

    /// Shards, one pinned executor each, 1 to 256 [default: the CPUs this process may use]
    #[arg(long, value_name = "N")]
    pub shards: Option<usize>,

    /// When a message is acknowledged [default: async; broker.conf: flushDiskType]
    #[arg(long, value_enum, value_name = "MODE")]
    pub flush: Option<FlushDiskType>,

    /// Shard k listens on this port + k; 0: every shard port is chosen by the OS
    #[arg(long, value_name = "PORT", default_value_t = DEFAULT_SHARD_PORT_BASE)]
    pub shard_port_base: u16,

    /// Cluster name [default: DefaultCluster; broker.conf: brokerClusterName]
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,

    /// Broker name [default: broker-a; broker.conf: brokerName]
    #[arg(long, value_name = "NAME")]
    pub broker_name: Option<String>,

    /// Broker id, 0 for a master [default: 0; broker.conf: brokerId]
    #[arg(long, value_name = "N")]
    pub broker_id: Option<i64>,

    /// RocketMQ broker.conf to read; flags given on the command line beat it
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Largest frame accepted, in bytes
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_FRAME_BYTES)]
    pub max_frame_bytes: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::*;

    #[test]
    fn every_flag_sets_its_field() {
        let (config, warnings) = resolve(&[
            "--listen=127.0.0.1:20911",
            "--advertise=127.0.0.1",
            "--namesrv=127.0.0.1:19876",
            "--namesrv-listen=127.0.0.1:29876",
            "--data=/tmp/shardmq-flags",
            "--shards=3",
            "--flush=sync",
            "--shard-port-base=20921",
            "--cluster=c1",
            "--broker-name=b1",
            "--broker-id=2",
            "--max-frame-bytes=8388608",
        ])
        .unwrap();
        assert_eq!(config.listen, addr("127.0.0.1:20911"));
        assert_eq!(config.advertise_ip, ip("127.0.0.1"));
        assert_eq!(config.namesrv, vec![addr("127.0.0.1:19876")]);
        assert_eq!(config.namesrv_listen, addr("127.0.0.1:29876"));
        assert_eq!(config.data_dir, PathBuf::from("/tmp/shardmq-flags"));
        assert_eq!(config.shards, 3);
        assert_eq!(config.flush, FlushDiskType::Sync);
        assert_eq!(config.shard_port_base, 20921);
        assert_eq!(config.cluster, "c1");
        assert_eq!(config.broker_name, "b1");
        assert_eq!(config.broker_id, 2);
        assert_eq!(config.max_frame_bytes, 8 * 1024 * 1024);
        assert!(!config.standalone());
        assert!(warnings.is_empty(), "{warnings:?}");
    }
}
