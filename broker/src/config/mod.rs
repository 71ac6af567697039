//! The broker's configuration: `mqbroker`'s flags, plus `--config FILE` in RocketMQ's
//! `broker.conf` format (Java properties, RocketMQ key names).
//!
//! [`Args`] is what clap parses. [`BrokerConfig::resolve`] merges it with the file and checks
//! everything once: a flag given on the command line beats the file, the file beats the
//! defaults. The runtime receives a [`BrokerConfig`] whose values are already in range (names
//! non-empty, shard count bounded, every shard port fits in a `u16`, no port clashes), so it
//! never re-validates them.
//!
//! Unknown `broker.conf` keys (RocketMQ has hundreds; ShardMQ reads the few listed in `properties::key`) are warnings, never
//! errors, so an existing RocketMQ `broker.conf` starts a ShardMQ broker as it is. A bad value
//! for a key ShardMQ does read is an error naming the file, line, key and accepted values.
//!
//! Nothing here touches the network: no sockets, no DNS, no interface enumeration.
//!
//! One purpose per file: this one holds the resolved [`BrokerConfig`], its defaults and its
//! errors; `args.rs` the command line; `properties.rs` reading `broker.conf` and parsing its
//! values; `resolve.rs` merging flags, file and defaults and checking the result.

mod args;
mod properties;
mod resolve;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

pub use args::Args;
pub use properties::parse_properties;

/// Main port when neither `--listen` nor `listenPort` says otherwise (RocketMQ's too).
pub const DEFAULT_LISTEN_PORT: u16 = 10911;
/// Address of the main port by default: every interface, [`DEFAULT_LISTEN_PORT`].
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), DEFAULT_LISTEN_PORT);
/// Where the embedded name server listens in standalone mode, by default.
pub const DEFAULT_NAMESRV_LISTEN: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9876);
/// Data directory by default (RocketMQ's is `~/store`).
pub const DEFAULT_DATA_DIR: &str = "./data";
/// First shard port by default: shard `k` listens on `10921 + k`.
pub const DEFAULT_SHARD_PORT_BASE: u16 = 10921;
/// Cluster name by default (RocketMQ's too).
pub const DEFAULT_CLUSTER: &str = "DefaultCluster";
/// Broker name by default.
pub const DEFAULT_BROKER_NAME: &str = "broker-a";
/// Most shards one broker runs. More is refused from `--shards`; more CPUs than this are
/// capped with a warning.
pub const SHARDS_MAX: usize = 256;
/// Queues of an auto-created topic by default (RocketMQ's `defaultTopicQueueNums`).
pub const DEFAULT_TOPIC_QUEUE_NUMS: i32 = 8;
/// Most queues `defaultTopicQueueNums` may give an auto-created topic: a bound on what a
/// single unauthenticated send can make the broker create.
pub const TOPIC_QUEUE_NUMS_MAX: i32 = 1024;
/// Largest message body by default, in bytes (RocketMQ's `maxMessageSize`, 4 MiB).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// How long CommitLog segments are kept by default, in hours (RocketMQ's `fileReservedTime`).
pub const DEFAULT_FILE_RESERVED_HOURS: u64 = 72;
/// Most topics a broker holds by default (`maxTopicCount`); creating one more is refused.
pub const DEFAULT_MAX_TOPIC_COUNT: usize = 100_000;
/// Most client connections one shard serves by default (`maxConnectionsPerShard`); more
/// are closed at accept, with a log line.
pub const DEFAULT_MAX_CONNECTIONS_PER_SHARD: usize = 10_000;
/// How long a shard waits by default for another shard to answer a forwarded request
/// (`forwardTimeoutMillis`), on top of the time a long-polling pull may be held; then the
/// client gets SYSTEM_BUSY and retries.
pub const DEFAULT_FORWARD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Longest timer delay by default (`timerMaxDelaySec`, RocketMQ's: 3 days).
pub const DEFAULT_TIMER_MAX_DELAY: std::time::Duration = std::time::Duration::from_secs(3 * 86_400);
/// The most `timerMaxDelaySec` may be: 30 days.
pub const TIMER_MAX_DELAY_LIMIT: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);
/// Timer precision by default (`timerPrecisionMs`): timed messages are delivered within about
/// this much of their due time.
pub const DEFAULT_TIMER_PRECISION: std::time::Duration = std::time::Duration::from_millis(100);

/// CommitLog segment size by default (`mappedFileSizeCommitLog`, RocketMQ's: 1 GiB).
pub const DEFAULT_COMMIT_LOG_SEGMENT_BYTES: u64 = 1 << 30;
/// Consume-queue entries per file by default (`mappedFileSizeConsumeQueue` = 6,000,000 bytes).
pub const DEFAULT_CONSUME_QUEUE_ENTRIES_PER_FILE: u64 = 300_000;
/// When expired files may be deleted by default (`deleteWhen`: 04, local time), as hour bits.
pub const DEFAULT_DELETE_WHEN_HOURS: u32 = 1 << 4;
/// Disk usage past which the oldest segments go whatever their age (`diskMaxUsedSpaceRatio`).
pub const DEFAULT_DISK_MAX_USED_RATIO: f64 = 0.75;
/// How often each shard looks for files to delete (`cleanResourceInterval`).
pub const DEFAULT_CLEAN_RESOURCE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);
/// Room a segment keeps beyond the largest message (its properties and fixed fields).
pub const SEGMENT_HEADROOM_BYTES: u64 = 128 << 10;

/// Most name servers in `--namesrv` / `namesrvAddr`: each one gets a registration and a
/// heartbeat per interval.
pub const NAMESRV_ADDRS_MAX: usize = 32;

/// When a message is acknowledged. `broker.conf`: `flushDiskType = ASYNC_FLUSH | SYNC_FLUSH`;
/// command line: `--flush async | sync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FlushDiskType {
    /// Acknowledged once written to the file: `kill -9` loses nothing acknowledged.
    #[default]
    Async,
    /// Acknowledged after fdatasync: power loss loses nothing acknowledged.
    Sync,
}

impl FlushDiskType {
    /// The name `broker.conf` uses: `ASYNC_FLUSH` or `SYNC_FLUSH`.
    pub fn broker_conf_name(self) -> &'static str {
        match self {
            FlushDiskType::Async => "ASYNC_FLUSH",
            FlushDiskType::Sync => "SYNC_FLUSH",
        }
    }
}

/// The resolved configuration the runtime uses. Built by [`BrokerConfig::resolve`], which
/// guarantees the ranges documented on each field.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerConfig {
    /// Main address; every shard accepts on it. Port 0 lets the OS choose.
    pub listen: SocketAddr,
    /// IP published to name servers and clients; never unspecified (`0.0.0.0`).
    pub advertise_ip: IpAddr,
    /// Name servers to register with, in the order given, without repeats, at most
    /// [`NAMESRV_ADDRS_MAX`]. Empty: standalone, with an embedded name server.
    pub namesrv: Vec<SocketAddr>,
    /// Where the embedded name server listens (standalone only).
    pub namesrv_listen: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Number of shards, 1..=[`SHARDS_MAX`].
    pub shards: usize,
    /// When a message is acknowledged.
    pub flush: FlushDiskType,
    /// Shard k listens on `shard_port_base + k` (on the listen IP); 0: the OS chooses each.
    /// `shard_port_base + shards - 1` fits in a `u16`.
    pub shard_port_base: u16,
    /// Cluster name, non-empty.
    pub cluster: String,
    /// Broker name, non-empty.
    pub broker_name: String,
    /// Broker id, ≥ 0; 0 is the master.
    pub broker_id: i64,
    /// Whether a send to an unknown topic creates it (`autoCreateTopicEnable`).
    pub auto_create_topic: bool,
    /// Queues of an auto-created topic, 1..=[`TOPIC_QUEUE_NUMS_MAX`] (`defaultTopicQueueNums`).
    pub default_topic_queue_nums: i32,
    /// Largest message body accepted, in bytes; positive and below `max_frame_bytes`
    /// (`maxMessageSize`).
    pub max_message_bytes: usize,
    /// How long CommitLog segments are kept, in hours (`fileReservedTime`).
    pub file_reserved_hours: u64,
    /// Largest frame accepted, in bytes, 1..=`i32::MAX` (the frame length is an i32 on the
    /// wire).
    pub max_frame_bytes: usize,
    /// Most topics this broker holds, ≥ 1 (`maxTopicCount`).
    pub max_topic_count: usize,
    /// Most client connections per shard, ≥ 1 (`maxConnectionsPerShard`).
    pub max_connections_per_shard: usize,
    /// How long a forwarded request may wait for its owner shard, 1 ms to 10 min
    /// (`forwardTimeoutMillis`), plus a pull's hold time.
    pub forward_timeout: std::time::Duration,
    /// Delay levels (`messageDelayLevel`), 1 to 64 of them.
    pub delay_levels: crate::schedule::DelayLevels,
    /// Longest delay a timed message may ask for, 1 s to 30 days (`timerMaxDelaySec`).
    pub timer_max_delay: std::time::Duration,
    /// How often each shard's timer delivers what fell due, 10 ms to 1 s (`timerPrecisionMs`).
    pub timer_precision: std::time::Duration,
    /// CommitLog segment size, 1 MiB to 16 GiB, a multiple of 4096, at least
    /// `max_message_bytes` + [`SEGMENT_HEADROOM_BYTES`] (`mappedFileSizeCommitLog`).
    pub commit_log_segment_bytes: u64,
    /// Consume-queue entries per file (`mappedFileSizeConsumeQueue` / 20).
    pub consume_queue_entries_per_file: u64,
    /// Hours of the day (local time; bit h = hour h) when expired segments may be deleted
    /// (`deleteWhen`); never empty.
    pub delete_when_hours: u32,
    /// Disk usage (0.10 to 0.95) past which the oldest segments go whatever their age
    /// (`diskMaxUsedSpaceRatio`, a percentage in the file).
    pub disk_max_used_ratio: f64,
    /// How often each shard looks for segments to delete, 100 ms to 1 h
    /// (`cleanResourceInterval`).
    pub clean_resource_interval: std::time::Duration,
}

impl BrokerConfig {
    /// Whether the broker runs alone, with an embedded name server (no `--namesrv` given).
    pub fn standalone(&self) -> bool {
        self.namesrv.is_empty()
    }

    /// The address published to name servers and clients: `advertise_ip` and the listen port.
    /// With listen port 0 the runtime must publish the port it was actually given instead.
    pub fn advertised_addr(&self) -> SocketAddr {
        SocketAddr::new(self.advertise_ip, self.listen.port())
    }

    /// Shard `shard`'s own port: `shard_port_base + shard`, or 0 (the OS chooses) when
    /// `shard_port_base` is 0.
    ///
    /// # Panics
    /// If `shard >= self.shards`: the caller asked about a shard that does not exist.
    pub fn shard_port(&self, shard: usize) -> u16 {
        assert!(
            shard < self.shards,
            "shard {shard} of {} shards",
            self.shards
        );
        if self.shard_port_base == 0 {
            return 0;
        }
        u16::try_from(usize::from(self.shard_port_base) + shard)
            .expect("resolve checked that shard_port_base + shards - 1 fits in a u16")
    }
}

/// Where a value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A command-line flag, such as `--shards`.
    Flag(&'static str),
    /// A `broker.conf` key at a line (counted from 1).
    File {
        path: PathBuf,
        line: usize,
        key: &'static str,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(flag) => f.write_str(flag),
            Origin::File { path, line, key } => {
                write!(f, "{} line {line}, key {key}", path.display())
            }
        }
    }
}

/// Why the configuration was refused. Each message says what was wrong, where (flag, or file,
/// line and key) and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--config FILE` could not be read.
    #[error("cannot read config file {}: {source}; check the --config path", path.display())]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A line is not Java properties syntax. `path` is `None` from [`parse_properties`].
    #[error("{} line {line}: {problem}", file_label(path))]
    Syntax {
        path: Option<PathBuf>,
        line: usize,
        problem: String,
    },

    /// A value is out of range or unreadable; `expected` says what is accepted.
    #[error("{origin}: {value} is not accepted; {expected}")]
    Invalid {
        origin: Origin,
        /// The value as given (quoted when it was text).
        value: String,
        expected: String,
    },

    /// Settings that are fine alone but not together (say, a port in two roles); the message
    /// names both and what to change.
    #[error("conflicting settings: {0}")]
    Conflict(String),
}

/// How a syntax error names its file: the path, or "broker.conf" for text without one.
fn file_label(path: &Option<PathBuf>) -> String {
    match path {
        Some(path) => path.display().to_string(),
        None => "broker.conf".to_owned(),
    }
}

/// Helpers the tests of every file here share.
#[cfg(test)]
mod test_support {
    use std::net::{IpAddr, SocketAddr};

    use clap::Parser;

    use super::{Args, BrokerConfig, ConfigError};

    pub(super) const CPUS: usize = 4;

    pub(super) fn args(flags: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("mqbroker").chain(flags.iter().copied()))
            .expect("flags parse")
    }

    /// Writes `text` as a broker.conf in a fresh temp dir; keep the dir alive while in use.
    pub(super) fn conf(text: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("broker.conf");
        std::fs::write(&path, text).expect("write broker.conf");
        let path = path.to_str().expect("utf-8 temp path").to_owned();
        (dir, path)
    }

    pub(super) fn resolve(flags: &[&str]) -> Result<(BrokerConfig, Vec<String>), ConfigError> {
        BrokerConfig::resolve(&args(flags), CPUS)
    }

    pub(super) fn resolve_with_conf(
        text: &str,
        flags: &[&str],
    ) -> Result<(BrokerConfig, Vec<String>), ConfigError> {
        let (_dir, path) = conf(text);
        let mut all = vec!["--config", path.as_str()];
        all.extend_from_slice(flags);
        resolve(&all)
    }

    pub(super) fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    pub(super) fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::properties::parse_flush;
    use super::test_support::*;
    use super::*;
    use clap::Parser;

    #[test]
    fn flush_disk_type_names_round_trip() {
        for mode in [FlushDiskType::Async, FlushDiskType::Sync] {
            assert_eq!(parse_flush(mode.broker_conf_name()), Ok(mode));
        }
        assert_eq!(
            resolve(&["--flush", "sync"]).unwrap().0.flush,
            FlushDiskType::Sync
        );
        assert!(Args::try_parse_from(["mqbroker", "--flush", "fast"]).is_err());
    }

    #[test]
    fn shard_port_is_base_plus_index() {
        let (config, _) = resolve(&["--shards", "3", "--shard-port-base", "20000"]).unwrap();
        let ports: Vec<u16> = (0..3).map(|k| config.shard_port(k)).collect();
        assert_eq!(ports, [20000, 20001, 20002]);

        let (config, _) = resolve(&["--shards", "256", "--shard-port-base", "65280"]).unwrap();
        assert_eq!(config.shard_port(255), u16::MAX);

        let (config, _) = resolve(&["--shards", "2", "--shard-port-base", "0"]).unwrap();
        assert_eq!((config.shard_port(0), config.shard_port(1)), (0, 0));
    }

    #[test]
    #[should_panic(expected = "shard 2 of 2 shards")]
    fn shard_port_of_a_shard_that_does_not_exist_panics() {
        let (config, _) = resolve(&["--shards", "2"]).unwrap();
        config.shard_port(2);
    }
}
