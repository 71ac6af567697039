//! The broker's configuration: `mqbroker`'s flags, plus `--config FILE` in RocketMQ's
//! `broker.conf` format (Java properties, RocketMQ key names).
//!
//! [`Args`] is what clap parses. [`BrokerConfig::resolve`] merges it with the file and checks
//! everything once: a flag given on the command line beats the file, the file beats the
//! defaults. The runtime receives a [`BrokerConfig`] whose values are already in range (names
//! non-empty, shard count bounded, every shard port fits in a `u16`, no port clashes), so it
//! never re-validates them.
//!
//! Unknown `broker.conf` keys (RocketMQ has hundreds; ShardMQ reads twelve) are warnings, never
//! errors, so an existing RocketMQ `broker.conf` starts a ShardMQ broker as it is. A bad value
//! for a key ShardMQ does read is an error naming the file, line, key and accepted values.
//!
//! Nothing here touches the network: no sockets, no DNS, no interface enumeration.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use shardmq_protocol::frame::DEFAULT_MAX_FRAME_BYTES;

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

/// Most name servers in `--namesrv` / `namesrvAddr`: each one gets a registration and a
/// heartbeat per interval.
pub const NAMESRV_ADDRS_MAX: usize = 32;

/// `broker.conf` keys that ShardMQ reads, with the field each one sets.
mod key {
    pub const CLUSTER: &str = "brokerClusterName";
    pub const BROKER_NAME: &str = "brokerName";
    pub const BROKER_ID: &str = "brokerId";
    pub const NAMESRV_ADDR: &str = "namesrvAddr";
    pub const LISTEN_PORT: &str = "listenPort";
    pub const STORE_PATH_ROOT_DIR: &str = "storePathRootDir";
    pub const FLUSH_DISK_TYPE: &str = "flushDiskType";
    pub const AUTO_CREATE_TOPIC: &str = "autoCreateTopicEnable";
    pub const DEFAULT_TOPIC_QUEUE_NUMS: &str = "defaultTopicQueueNums";
    pub const MAX_MESSAGE_SIZE: &str = "maxMessageSize";
    pub const FILE_RESERVED_TIME: &str = "fileReservedTime";
    pub const BROKER_IP1: &str = "brokerIP1";
    // ShardMQ's own keys (RocketMQ has no such bounds).
    pub const MAX_TOPIC_COUNT: &str = "maxTopicCount";
    pub const MAX_CONNECTIONS_PER_SHARD: &str = "maxConnectionsPerShard";
    pub const FORWARD_TIMEOUT_MILLIS: &str = "forwardTimeoutMillis";

    pub const ALL: [&str; 15] = [
        CLUSTER,
        BROKER_NAME,
        BROKER_ID,
        NAMESRV_ADDR,
        LISTEN_PORT,
        STORE_PATH_ROOT_DIR,
        FLUSH_DISK_TYPE,
        AUTO_CREATE_TOPIC,
        DEFAULT_TOPIC_QUEUE_NUMS,
        MAX_MESSAGE_SIZE,
        FILE_RESERVED_TIME,
        BROKER_IP1,
        MAX_TOPIC_COUNT,
        MAX_CONNECTIONS_PER_SHARD,
        FORWARD_TIMEOUT_MILLIS,
    ];
}

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

/// `mqbroker`'s command line.
///
/// Every setting that `--config FILE` may also set is an `Option`, so
/// [`BrokerConfig::resolve`] can tell "flag given" (it wins) from "not given" (the file, then
/// the default). Settings only a flag sets carry their default here.
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
}

impl BrokerConfig {
    /// Merges the flags with `--config FILE` (if given) and checks the result. Flags beat the
    /// file, the file beats the defaults. `available_cpus` is how many CPUs this process may
    /// use: the default shard count.
    ///
    /// Returns warnings alongside: unknown or repeated `broker.conf` keys (each named, with
    /// its line), a shard count capped at [`SHARDS_MAX`], an advertise address that other
    /// hosts cannot reach. The caller logs them.
    pub fn resolve(
        args: &Args,
        available_cpus: usize,
    ) -> Result<(BrokerConfig, Vec<String>), ConfigError> {
        let mut warnings = Vec::new();
        let file = match &args.config {
            Some(path) => ConfFile::read(path, &mut warnings)?,
            None => ConfFile::default(),
        };

        let cluster = merge(
            args.cluster.clone(),
            "--cluster",
            &file,
            key::CLUSTER,
            parse_string,
            |name: &String| check_name(name),
            DEFAULT_CLUSTER.to_owned(),
        )?;
        let broker_name = merge(
            args.broker_name.clone(),
            "--broker-name",
            &file,
            key::BROKER_NAME,
            parse_string,
            |name: &String| check_name(name),
            DEFAULT_BROKER_NAME.to_owned(),
        )?;
        let broker_id = merge(
            args.broker_id,
            "--broker-id",
            &file,
            key::BROKER_ID,
            parse_broker_id,
            check_broker_id,
            0,
        )?;
        let data_dir = merge(
            args.data.clone(),
            "--data",
            &file,
            key::STORE_PATH_ROOT_DIR,
            |raw| Ok(PathBuf::from(raw)),
            |path: &PathBuf| check_path(path),
            PathBuf::from(DEFAULT_DATA_DIR),
        )?;
        let flush = merge(
            args.flush,
            "--flush",
            &file,
            key::FLUSH_DISK_TYPE,
            parse_flush,
            |_| Ok(()),
            FlushDiskType::Async,
        )?;

        let namesrv = match &args.namesrv {
            Some(list) => parse_namesrv_list(list).map_err(|expected| ConfigError::Invalid {
                origin: Origin::Flag("--namesrv"),
                value: format!("{list:?}"),
                expected,
            })?,
            None => file
                .parse(key::NAMESRV_ADDR, parse_namesrv_list)?
                .unwrap_or_default(),
        };
        let listen = match args.listen {
            Some(addr) => addr,
            None => match file.parse(key::LISTEN_PORT, parse_port)? {
                Some(port) => SocketAddr::new(DEFAULT_LISTEN.ip(), port),
                None => DEFAULT_LISTEN,
            },
        };
        let shards = match args.shards {
            Some(shards) => {
                check_shards(&shards).map_err(|expected| ConfigError::Invalid {
                    origin: Origin::Flag("--shards"),
                    value: shards.to_string(),
                    expected,
                })?;
                shards
            }
            None => default_shards(available_cpus, &mut warnings),
        };
        if let Err(expected) = check_max_frame_bytes(args.max_frame_bytes) {
            return Err(ConfigError::Invalid {
                origin: Origin::Flag("--max-frame-bytes"),
                value: args.max_frame_bytes.to_string(),
                expected,
            });
        }

        let advertise_ip = advertise_ip(args, &file, listen, namesrv.is_empty(), &mut warnings)?;
        let config = BrokerConfig {
            listen,
            advertise_ip,
            namesrv,
            namesrv_listen: args.namesrv_listen,
            data_dir,
            shards,
            flush,
            shard_port_base: args.shard_port_base,
            cluster,
            broker_name,
            broker_id,
            auto_create_topic: file
                .parse(key::AUTO_CREATE_TOPIC, parse_bool)?
                .unwrap_or(true),
            default_topic_queue_nums: file
                .parse(key::DEFAULT_TOPIC_QUEUE_NUMS, parse_topic_queue_nums)?
                .unwrap_or(DEFAULT_TOPIC_QUEUE_NUMS),
            max_message_bytes: file
                .parse(key::MAX_MESSAGE_SIZE, parse_max_message_bytes)?
                .unwrap_or(DEFAULT_MAX_MESSAGE_BYTES),
            file_reserved_hours: file
                .parse(key::FILE_RESERVED_TIME, parse_hours)?
                .unwrap_or(DEFAULT_FILE_RESERVED_HOURS),
            max_frame_bytes: args.max_frame_bytes,
            max_topic_count: file
                .parse(key::MAX_TOPIC_COUNT, parse_count)?
                .unwrap_or(DEFAULT_MAX_TOPIC_COUNT),
            max_connections_per_shard: file
                .parse(key::MAX_CONNECTIONS_PER_SHARD, parse_count)?
                .unwrap_or(DEFAULT_MAX_CONNECTIONS_PER_SHARD),
            forward_timeout: file
                .parse(key::FORWARD_TIMEOUT_MILLIS, parse_forward_timeout)?
                .unwrap_or(DEFAULT_FORWARD_TIMEOUT),
        };
        config.check_conflicts()?;
        Ok((config, warnings))
    }

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

    /// Checks settings against each other: ports that fit and do not clash, a message that
    /// fits in a frame.
    fn check_conflicts(&self) -> Result<(), ConfigError> {
        if self.max_message_bytes >= self.max_frame_bytes {
            return Err(ConfigError::Conflict(format!(
                "maxMessageSize ({} bytes) must be smaller than --max-frame-bytes ({} bytes), \
                 since a message and its request header travel in one frame; raise \
                 --max-frame-bytes or lower maxMessageSize",
                self.max_message_bytes, self.max_frame_bytes
            )));
        }
        let shard_ports = self.shard_port_range();
        if let Some(ports) = &shard_ports {
            if *ports.end() > u32::from(u16::MAX) {
                return Err(ConfigError::Conflict(format!(
                    "--shard-port-base {} with {} shards needs ports up to {}, past 65535; \
                     lower --shard-port-base or --shards",
                    ports.start(),
                    self.shards,
                    ports.end()
                )));
            }
        }
        let clashes_with_shard_port = |addr: SocketAddr| {
            addr.port() != 0
                && ips_overlap(addr.ip(), self.listen.ip())
                && shard_ports
                    .as_ref()
                    .is_some_and(|ports| ports.contains(&u32::from(addr.port())))
        };
        if clashes_with_shard_port(self.listen) {
            return Err(ConfigError::Conflict(format!(
                "listen port {} is one of the shard ports {}..={}; move --listen (or \
                 listenPort) or --shard-port-base",
                self.listen.port(),
                self.shard_port_base,
                usize::from(self.shard_port_base) + self.shards - 1
            )));
        }
        if self.standalone() {
            let namesrv = self.namesrv_listen;
            if clashes_with_shard_port(namesrv) {
                return Err(ConfigError::Conflict(format!(
                    "--namesrv-listen port {} is one of the shard ports {}..={}; move \
                     --namesrv-listen or --shard-port-base",
                    namesrv.port(),
                    self.shard_port_base,
                    usize::from(self.shard_port_base) + self.shards - 1
                )));
            }
            if namesrv.port() != 0
                && namesrv.port() == self.listen.port()
                && ips_overlap(namesrv.ip(), self.listen.ip())
            {
                return Err(ConfigError::Conflict(format!(
                    "--namesrv-listen {namesrv} and the listen address {} share a port; move \
                     one of them",
                    self.listen
                )));
            }
        }
        Ok(())
    }

    /// Shard ports as `u32`s (so the range can be checked against `u16::MAX`), or `None` when
    /// the OS chooses them.
    fn shard_port_range(&self) -> Option<std::ops::RangeInclusive<u32>> {
        if self.shard_port_base == 0 {
            return None;
        }
        let first = u32::from(self.shard_port_base);
        let shards = u32::try_from(self.shards).expect("shards <= SHARDS_MAX");
        Some(first..=first + shards - 1)
    }
}

/// Whether two bind IPs can collide: equal, or either one is every interface.
fn ips_overlap(a: IpAddr, b: IpAddr) -> bool {
    a == b || a.is_unspecified() || b.is_unspecified()
}

/// The advertise IP (RocketMQ's `brokerIP1`): `--advertise` if given; else `brokerIP1` from
/// the file; else the `--listen` IP when it is a specific one; else (listening on every
/// interface) 127.0.0.1.
///
/// RocketMQ picks "the host's primary address" in that last case. ShardMQ deliberately does
/// not guess: enumerating interfaces or routes is a side effect that tests must never have (they
/// may touch no address but 127.0.0.1), and a guess is often wrong on multi-homed hosts and in
/// containers. In standalone mode 127.0.0.1 is right; with `--namesrv` set it is reachable
/// from this host only, so a warning says to pass `--advertise`.
fn advertise_ip(
    args: &Args,
    file: &ConfFile,
    listen: SocketAddr,
    standalone: bool,
    warnings: &mut Vec<String>,
) -> Result<IpAddr, ConfigError> {
    if let Some(ip) = args.advertise {
        check_advertise_ip(&ip).map_err(|expected| ConfigError::Invalid {
            origin: Origin::Flag("--advertise"),
            value: ip.to_string(),
            expected,
        })?;
        return Ok(ip);
    }
    let parse = |raw: &str| {
        let ip = raw
            .parse::<IpAddr>()
            .map_err(|_| "expected an IP address such as 10.0.0.5".to_owned())?;
        check_advertise_ip(&ip)?;
        Ok(ip)
    };
    if let Some(ip) = file.parse(key::BROKER_IP1, parse)? {
        return Ok(ip);
    }
    if !listen.ip().is_unspecified() {
        return Ok(listen.ip());
    }
    if !standalone {
        warnings.push(format!(
            "binding {} with --namesrv set: advertising 127.0.0.1, which only this host can \
             reach; pass --advertise <ip> so clients on other hosts can reach this broker",
            listen.ip()
        ));
    }
    Ok(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// The shard count when `--shards` is not given: the CPUs this process may use, capped at
/// [`SHARDS_MAX`] (with a warning), at least 1.
fn default_shards(available_cpus: usize, warnings: &mut Vec<String>) -> usize {
    if available_cpus > SHARDS_MAX {
        warnings.push(format!(
            "{available_cpus} CPUs available but a broker runs at most {SHARDS_MAX} shards; \
             using {SHARDS_MAX} (pass --shards to choose)"
        ));
    }
    available_cpus.clamp(1, SHARDS_MAX)
}

/// A flag's value if given; else the file's (parsed, then checked); else `default`. Flag
/// values arrive typed from clap and are only checked.
fn merge<T: fmt::Debug>(
    flag: Option<T>,
    flag_name: &'static str,
    file: &ConfFile,
    key: &'static str,
    parse: impl Fn(&str) -> Result<T, String>,
    check: impl Fn(&T) -> Result<(), String>,
    default: T,
) -> Result<T, ConfigError> {
    if let Some(value) = flag {
        return match check(&value) {
            Ok(()) => Ok(value),
            Err(expected) => Err(ConfigError::Invalid {
                origin: Origin::Flag(flag_name),
                value: format!("{value:?}"),
                expected,
            }),
        };
    }
    let from_file = file.parse(key, |raw| {
        let value = parse(raw)?;
        check(&value)?;
        Ok(value)
    })?;
    Ok(from_file.unwrap_or(default))
}

// Value parsers and checks. Each error is the "expected ..." half of a message; the caller
// adds where the value came from.

fn parse_string(raw: &str) -> Result<String, String> {
    Ok(raw.to_owned())
}

fn check_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("expected a non-empty name".to_owned());
    }
    Ok(())
}

fn check_path(path: &Path) -> Result<(), String> {
    if path.as_os_str().is_empty() {
        return Err("expected a directory path".to_owned());
    }
    Ok(())
}

fn parse_broker_id(raw: &str) -> Result<i64, String> {
    raw.parse()
        .map_err(|_| "expected a whole number ≥ 0 (0 is the master)".to_owned())
}

fn check_broker_id(id: &i64) -> Result<(), String> {
    if *id < 0 {
        return Err("expected a whole number ≥ 0 (0 is the master)".to_owned());
    }
    Ok(())
}

fn parse_flush(raw: &str) -> Result<FlushDiskType, String> {
    [FlushDiskType::Async, FlushDiskType::Sync]
        .into_iter()
        .find(|mode| mode.broker_conf_name() == raw)
        .ok_or_else(|| "expected ASYNC_FLUSH or SYNC_FLUSH".to_owned())
}

/// Java's `Boolean.parseBoolean` reads anything but "true" as false; a typo there silently
/// flips the setting, so only true and false (any case) are accepted.
fn parse_bool(raw: &str) -> Result<bool, String> {
    if raw.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if raw.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err("expected true or false".to_owned())
    }
}

fn parse_port(raw: &str) -> Result<u16, String> {
    raw.parse()
        .map_err(|_| "expected a port number, 0 to 65535".to_owned())
}

fn parse_topic_queue_nums(raw: &str) -> Result<i32, String> {
    match raw.parse::<i32>() {
        Ok(n) if (1..=TOPIC_QUEUE_NUMS_MAX).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected a queue count, 1 to {TOPIC_QUEUE_NUMS_MAX}"
        )),
    }
}

/// RocketMQ's `maxMessageSize` is a Java int: 1 to `i32::MAX` bytes.
fn parse_max_message_bytes(raw: &str) -> Result<usize, String> {
    match raw.parse::<i32>() {
        Ok(n) if n >= 1 => Ok(usize::try_from(n).expect("positive i32 fits in usize")),
        _ => Err(format!("expected a size in bytes, 1 to {}", i32::MAX)),
    }
}

fn parse_hours(raw: &str) -> Result<u64, String> {
    raw.parse()
        .map_err(|_| "expected a whole number of hours ≥ 0".to_owned())
}

fn parse_count(raw: &str) -> Result<usize, String> {
    match raw.parse::<usize>() {
        Ok(n) if (1..=100_000_000).contains(&n) => Ok(n),
        _ => Err("expected a count, 1 to 100000000".to_owned()),
    }
}

fn parse_forward_timeout(raw: &str) -> Result<std::time::Duration, String> {
    match raw.parse::<u64>() {
        Ok(ms) if (1..=600_000).contains(&ms) => Ok(std::time::Duration::from_millis(ms)),
        _ => Err("expected milliseconds, 1 to 600000".to_owned()),
    }
}

fn check_shards(shards: &usize) -> Result<(), String> {
    if !(1..=SHARDS_MAX).contains(shards) {
        return Err(format!("expected a shard count, 1 to {SHARDS_MAX}"));
    }
    Ok(())
}

fn check_max_frame_bytes(bytes: usize) -> Result<(), String> {
    if bytes == 0 || bytes > i32::MAX as usize {
        return Err(format!(
            "expected a size in bytes, 1 to {} (the frame length is an i32 on the wire)",
            i32::MAX
        ));
    }
    Ok(())
}

fn check_advertise_ip(ip: &IpAddr) -> Result<(), String> {
    if ip.is_unspecified() || ip.is_multicast() {
        return Err(
            "expected an address clients can connect to, such as 10.0.0.5 \
                    (not 0.0.0.0, not multicast)"
                .to_owned(),
        );
    }
    Ok(())
}

/// Parses `ip:port;ip:port` as RocketMQ writes `namesrvAddr`: entries trimmed, empty ones
/// (a trailing `;`) skipped, repeats dropped. Hostnames are refused rather than looked up:
/// resolving them would be a network call, and RocketMQ clients get IPs from the name server
/// anyway.
fn parse_namesrv_list(raw: &str) -> Result<Vec<SocketAddr>, String> {
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for entry in raw
        .split(';')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
    {
        let addr: SocketAddr = entry.parse().map_err(|_| {
            format!(
                "name server {entry:?} is not ip:port (hostnames are not looked up); expected a \
                 list such as 10.0.0.1:9876;10.0.0.2:9876"
            )
        })?;
        if addr.ip().is_unspecified() || addr.port() == 0 {
            return Err(format!(
                "name server {entry:?} is not an address to connect to (unspecified IP or \
                 port 0); expected a list such as 10.0.0.1:9876;10.0.0.2:9876"
            ));
        }
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }
    if addrs.len() > NAMESRV_ADDRS_MAX {
        return Err(format!(
            "{} name servers given; expected at most {NAMESRV_ADDRS_MAX}",
            addrs.len()
        ));
    }
    Ok(addrs)
}

/// The keys ShardMQ reads from one `broker.conf`, each with the line that set it last.
#[derive(Debug, Default)]
struct ConfFile {
    path: PathBuf,
    entries: HashMap<&'static str, Property>,
}

impl ConfFile {
    /// Reads and parses `path`, keeping the keys ShardMQ reads and warning about the rest.
    fn read(path: &Path, warnings: &mut Vec<String>) -> Result<ConfFile, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        let properties = parse_lines(&text).map_err(|error| match error {
            ConfigError::Syntax { line, problem, .. } => ConfigError::Syntax {
                path: Some(path.to_owned()),
                line,
                problem,
            },
            other => other,
        })?;
        let mut entries: HashMap<&'static str, Property> = HashMap::new();
        for property in properties {
            let Some(known) = key::ALL.into_iter().find(|known| *known == property.key) else {
                warnings.push(format!(
                    "{} line {}: unknown key `{}` ignored; ShardMQ reads {}",
                    path.display(),
                    property.line,
                    property.key,
                    key::ALL.join(", ")
                ));
                continue;
            };
            if let Some(earlier) = entries.get(known) {
                warnings.push(format!(
                    "{} line {}: `{known}` set again (first on line {}); the last one wins",
                    path.display(),
                    property.line,
                    earlier.line
                ));
            }
            entries.insert(known, property);
        }
        Ok(ConfFile {
            path: path.to_owned(),
            entries,
        })
    }

    /// The value of `key` parsed by `parse`, if the file sets it; a parse failure names the
    /// file, line and key.
    fn parse<T>(
        &self,
        key: &'static str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        let Some(property) = self.entries.get(key) else {
            return Ok(None);
        };
        parse(&property.value)
            .map(Some)
            .map_err(|expected| ConfigError::Invalid {
                origin: Origin::File {
                    path: self.path.clone(),
                    line: property.line,
                    key,
                },
                value: format!("{:?}", property.value),
                expected,
            })
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

/// One `key=value` of a properties file, with the line it starts on (counted from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Property {
    line: usize,
    key: String,
    value: String,
}

/// Parses a `broker.conf` as Java's `Properties.load` does: `key=value`, `key: value` or
/// `key value`; `#` and `!` comment lines; blank lines; whitespace around keys and values
/// trimmed; a line ending in an odd number of `\` continues on the next; escapes `\t` `\n`
/// `\r` `\f` `\uXXXX`, and `\` before any other character stands for that character.
///
/// Differences from Java, each refusing input Java would take silently: a line with a key
/// but no separator and no value is an error, as is an empty key, a malformed `\u` escape or a
/// lone UTF-16 surrogate. The text is UTF-8 (Java reads ISO-8859-1); trailing whitespace of a
/// value is trimmed (Java keeps it; RocketMQ then fails to parse `brokerId=0 `).
///
/// Returns every pair in file order, repeats included (a reader keeps the last). Errors name
/// the line.
pub fn parse_properties(text: &str) -> Result<Vec<(String, String)>, ConfigError> {
    Ok(parse_lines(text)?
        .into_iter()
        .map(|property| (property.key, property.value))
        .collect())
}

/// Java properties' whitespace: space, tab, form feed.
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0c')
}

fn parse_lines(text: &str) -> Result<Vec<Property>, ConfigError> {
    let mut properties = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, first)) = lines.next() {
        let line = index + 1;
        let first = first.trim_start_matches(is_blank);
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let mut logical = first.to_owned();
        while ends_with_continuation(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start_matches(is_blank)),
                None => break,
            }
        }
        properties.push(parse_logical_line(&logical, line)?);
    }
    Ok(properties)
}

/// Whether a line ends in an odd number of backslashes: the last one is not escaped, so the
/// line continues.
fn ends_with_continuation(line: &str) -> bool {
    line.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

fn parse_logical_line(text: &str, line: usize) -> Result<Property, ConfigError> {
    let syntax = |problem: String| ConfigError::Syntax {
        path: None,
        line,
        problem,
    };
    // The key ends at the first unescaped '=', ':' or blank.
    let mut key_end = text.len();
    let mut escaped = false;
    for (at, c) in text.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '=' || c == ':' || is_blank(c) {
            key_end = at;
            break;
        }
    }
    let raw_key = &text[..key_end];
    let mut rest = text[key_end..].trim_start_matches(is_blank);
    let mut has_separator_char = false;
    if let Some(after) = rest.strip_prefix(['=', ':']) {
        rest = after.trim_start_matches(is_blank);
        has_separator_char = true;
    }
    if raw_key.is_empty() {
        return Err(syntax(
            "no key before the separator; write key=value".to_owned(),
        ));
    }
    let key = unescape(raw_key).map_err(&syntax)?;
    if !has_separator_char && rest.is_empty() {
        return Err(syntax(format!(
            "`{key}` has no value; write {key}=value (or {key}= for an empty one)"
        )));
    }
    let value = unescape(rest).map_err(&syntax)?;
    Ok(Property { line, key, value })
}

/// Resolves Java properties escapes and trims trailing unescaped whitespace.
fn unescape(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    // Length of `out` up to its last character that is escaped or not whitespace.
    let mut kept_len = 0;
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            if !c.is_whitespace() {
                kept_len = out.len();
            }
            continue;
        }
        let Some(escaped) = chars.next() else {
            break; // A lone trailing backslash: Java drops it too.
        };
        let resolved = match escaped {
            't' => '\t',
            'n' => '\n',
            'r' => '\r',
            'f' => '\x0c',
            'u' => {
                let hex: String = chars.by_ref().take(4).collect();
                // All four checked first: from_str_radix alone would take a leading '+'.
                let is_hex = hex.len() == 4 && hex.chars().all(|h| h.is_ascii_hexdigit());
                let code = is_hex
                    .then(|| u32::from_str_radix(&hex, 16).expect("four hex digits"))
                    .ok_or_else(|| {
                        format!("malformed \\u escape \\u{hex}; expected four hex digits")
                    })?;
                char::from_u32(code).ok_or_else(|| {
                    format!(
                        "\\u{hex} is half of a UTF-16 surrogate pair; write the character \
                         itself (the file is read as UTF-8)"
                    )
                })?
            }
            other => other,
        };
        out.push(resolved);
        kept_len = out.len();
    }
    out.truncate(kept_len);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    const CPUS: usize = 4;

    fn args(flags: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("mqbroker").chain(flags.iter().copied()))
            .expect("flags parse")
    }

    /// Writes `text` as a broker.conf in a fresh temp dir; keep the dir alive while in use.
    fn conf(text: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("broker.conf");
        std::fs::write(&path, text).expect("write broker.conf");
        let path = path.to_str().expect("utf-8 temp path").to_owned();
        (dir, path)
    }

    fn resolve(flags: &[&str]) -> Result<(BrokerConfig, Vec<String>), ConfigError> {
        BrokerConfig::resolve(&args(flags), CPUS)
    }

    fn resolve_with_conf(
        text: &str,
        flags: &[&str],
    ) -> Result<(BrokerConfig, Vec<String>), ConfigError> {
        let (_dir, path) = conf(text);
        let mut all = vec!["--config", path.as_str()];
        all.extend_from_slice(flags);
        resolve(&all)
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn defaults_without_flags_or_file() {
        let (config, warnings) = resolve(&[]).unwrap();
        assert_eq!(
            config,
            BrokerConfig {
                listen: addr("0.0.0.0:10911"),
                advertise_ip: ip("127.0.0.1"),
                namesrv: vec![],
                namesrv_listen: addr("127.0.0.1:9876"),
                data_dir: PathBuf::from("./data"),
                shards: CPUS,
                flush: FlushDiskType::Async,
                shard_port_base: 10921,
                cluster: "DefaultCluster".into(),
                broker_name: "broker-a".into(),
                broker_id: 0,
                auto_create_topic: true,
                default_topic_queue_nums: 8,
                max_message_bytes: 4 * 1024 * 1024,
                file_reserved_hours: 72,
                max_frame_bytes: 16 * 1024 * 1024,
                max_topic_count: 100_000,
                max_connections_per_shard: 10_000,
                forward_timeout: std::time::Duration::from_secs(10),
            }
        );
        assert!(config.standalone());
        assert!(warnings.is_empty(), "{warnings:?}");
    }

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

    #[test]
    fn flags_beat_file_and_file_beats_defaults() {
        let text = "brokerClusterName=FileCluster\nbrokerName=file-broker\nbrokerId=1\n\
                    listenPort=30911\nflushDiskType=SYNC_FLUSH\nstorePathRootDir=/tmp/file-store\n";
        // The file alone beats the defaults.
        let (from_file, _) = resolve_with_conf(text, &[]).unwrap();
        assert_eq!(from_file.cluster, "FileCluster");
        assert_eq!(from_file.broker_name, "file-broker");
        assert_eq!(from_file.broker_id, 1);
        assert_eq!(from_file.listen, addr("0.0.0.0:30911"));
        assert_eq!(from_file.flush, FlushDiskType::Sync);
        assert_eq!(from_file.data_dir, PathBuf::from("/tmp/file-store"));
        // Keys the file does not set keep their defaults.
        assert_eq!(from_file.default_topic_queue_nums, DEFAULT_TOPIC_QUEUE_NUMS);

        // Flags beat the file, key by key; the rest still comes from the file.
        let (flagged, _) = resolve_with_conf(
            text,
            &[
                "--broker-name",
                "flag-broker",
                "--listen",
                "127.0.0.1:40911",
                "--flush",
                "async",
            ],
        )
        .unwrap();
        assert_eq!(flagged.broker_name, "flag-broker");
        assert_eq!(flagged.listen, addr("127.0.0.1:40911"));
        assert_eq!(flagged.flush, FlushDiskType::Async);
        assert_eq!(flagged.cluster, "FileCluster");
        assert_eq!(flagged.broker_id, 1);
    }

    #[test]
    fn every_broker_conf_key_sets_its_field() {
        let text = "\
brokerClusterName = ProdCluster
brokerName = broker-b
brokerId = 3
namesrvAddr = 127.0.0.1:9876;127.0.0.1:9877
listenPort = 20911
storePathRootDir = /var/lib/shardmq
flushDiskType = SYNC_FLUSH
autoCreateTopicEnable = false
defaultTopicQueueNums = 16
maxMessageSize = 1048576
fileReservedTime = 48
brokerIP1 = 127.0.0.1
maxTopicCount = 500
maxConnectionsPerShard = 64
forwardTimeoutMillis = 750
";
        let (config, warnings) = resolve_with_conf(text, &[]).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(config.cluster, "ProdCluster");
        assert_eq!(config.broker_name, "broker-b");
        assert_eq!(config.broker_id, 3);
        assert_eq!(
            config.namesrv,
            vec![addr("127.0.0.1:9876"), addr("127.0.0.1:9877")]
        );
        assert_eq!(config.listen, addr("0.0.0.0:20911"));
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/shardmq"));
        assert_eq!(config.flush, FlushDiskType::Sync);
        assert!(!config.auto_create_topic);
        assert_eq!(config.default_topic_queue_nums, 16);
        assert_eq!(config.max_message_bytes, 1024 * 1024);
        assert_eq!(config.file_reserved_hours, 48);
        assert_eq!(config.advertise_ip, ip("127.0.0.1"));
        assert_eq!(config.advertised_addr(), addr("127.0.0.1:20911"));
        assert_eq!(config.max_topic_count, 500);
        assert_eq!(config.max_connections_per_shard, 64);
        assert_eq!(
            config.forward_timeout,
            std::time::Duration::from_millis(750)
        );
    }

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
    fn unknown_keys_warn_with_line_number_and_are_not_errors() {
        let text = "brokerName=b\n# comment\ndeleteWhen=04\n\nbrokerRole=ASYNC_MASTER\n";
        let (config, warnings) = resolve_with_conf(text, &[]).unwrap();
        assert_eq!(config.broker_name, "b");
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("line 3") && warnings[0].contains("`deleteWhen`"));
        assert!(warnings[1].contains("line 5") && warnings[1].contains("`brokerRole`"));
        assert!(
            warnings[0].contains("broker.conf"),
            "names the file: {}",
            warnings[0]
        );
    }

    #[test]
    fn repeated_key_warns_and_the_last_line_wins() {
        let (config, warnings) =
            resolve_with_conf("brokerName=first\nbrokerName=second\n", &[]).unwrap();
        assert_eq!(config.broker_name, "second");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("line 2") && warnings[0].contains("first on line 1"));
    }

    #[test]
    fn bad_values_error_naming_key_line_and_accepted_values() {
        // (line 2 of the file, what the message must also contain)
        let cases = [
            ("brokerId=abc", "whole number"),
            ("brokerId=-1", "whole number"),
            ("flushDiskType=FAST", "ASYNC_FLUSH or SYNC_FLUSH"),
            ("flushDiskType=async_flush", "ASYNC_FLUSH or SYNC_FLUSH"),
            ("autoCreateTopicEnable=yes", "true or false"),
            ("defaultTopicQueueNums=0", "1 to 1024"),
            ("defaultTopicQueueNums=1025", "1 to 1024"),
            ("maxMessageSize=-1", "size in bytes"),
            ("maxMessageSize=4MB", "size in bytes"),
            ("fileReservedTime=-1", "hours"),
            ("maxTopicCount=0", "1 to 100000000"),
            ("maxConnectionsPerShard=many", "1 to 100000000"),
            ("forwardTimeoutMillis=0", "1 to 600000"),
            ("listenPort=70000", "port number"),
            ("brokerIP1=not-an-ip", "IP address"),
            ("brokerIP1=0.0.0.0", "not 0.0.0.0"),
            (
                "namesrvAddr=localhost:9876",
                "\"localhost:9876\" is not ip:port",
            ),
            (
                "namesrvAddr=127.0.0.1:9876;127.0.0.1",
                "\"127.0.0.1\" is not ip:port",
            ),
            ("namesrvAddr=0.0.0.0:9876", "not an address to connect to"),
            ("brokerName=", "non-empty name"),
            ("brokerClusterName=", "non-empty name"),
            ("storePathRootDir=", "directory path"),
        ];
        for (line, expected) in cases {
            let key = line.split('=').next().unwrap();
            let error = resolve_with_conf(&format!("# first line\n{line}\n"), &[])
                .expect_err(line)
                .to_string();
            assert!(error.contains("line 2"), "{line}: {error}");
            assert!(error.contains(&format!("key {key}")), "{line}: {error}");
            assert!(error.contains(expected), "{line}: {error}");
        }
    }

    #[test]
    fn bad_flags_error_naming_the_flag() {
        let cases: [(&[&str], &str); 7] = [
            (&["--shards", "0"], "--shards"),
            (&["--shards", "257"], "--shards"),
            (&["--broker-name", ""], "--broker-name"),
            (&["--cluster", " "], "--cluster"),
            (&["--namesrv", "nameserver:9876"], "--namesrv"),
            (&["--advertise", "0.0.0.0"], "--advertise"),
            (&["--max-frame-bytes", "0"], "--max-frame-bytes"),
        ];
        for (flags, flag) in cases {
            let error = resolve(flags).expect_err(flag).to_string();
            assert!(error.starts_with(flag), "{flags:?}: {error}");
            assert!(error.contains("expected"), "{flags:?}: {error}");
        }
    }

    #[test]
    fn shards_default_to_available_cpus_capped_at_256() {
        let (config, warnings) = BrokerConfig::resolve(&args(&[]), 1).unwrap();
        assert_eq!(config.shards, 1);
        assert!(warnings.is_empty());

        let (config, warnings) =
            BrokerConfig::resolve(&args(&["--shard-port-base", "0"]), 300).unwrap();
        assert_eq!(config.shards, SHARDS_MAX);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("300 CPUs"), "{}", warnings[0]);

        let (config, _) = BrokerConfig::resolve(&args(&["--shards", "256"]), 2).unwrap();
        assert_eq!(config.shards, 256);
    }

    #[test]
    fn missing_config_file_error_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.conf");
        let error = resolve(&["--config", path.to_str().unwrap()]).unwrap_err();
        assert!(matches!(error, ConfigError::ReadFile { .. }));
        assert!(error.to_string().contains("absent.conf"), "{error}");
    }

    #[test]
    fn syntax_error_in_file_names_file_and_line() {
        let error = resolve_with_conf("brokerName=b\n\njustakey\n", &[]).unwrap_err();
        let message = error.to_string();
        assert!(matches!(
            error,
            ConfigError::Syntax {
                line: 3,
                path: Some(_),
                ..
            }
        ));
        assert!(message.contains("broker.conf line 3"), "{message}");
        assert!(message.contains("justakey=value"), "{message}");
    }

    #[test]
    fn properties_syntax() {
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let cases: [(&str, &[(&str, &str)]); 14] = [
            ("", &[]),
            ("# only a comment\n! and another\n\n   \n", &[]),
            ("a=1", &[("a", "1")]),
            ("a: 1", &[("a", "1")]),
            ("  a  =  1  \n", &[("a", "1")]),
            ("\ta\t:\t1\t", &[("a", "1")]),
            ("a 1", &[("a", "1")]),
            ("a = x=y:z", &[("a", "x=y:z")]),
            ("a=\nb:", &[("a", ""), ("b", "")]),
            ("a=1\r\nb=2\r\n", &[("a", "1"), ("b", "2")]),
            (
                "  # indented comment\na=1 # not a comment",
                &[("a", "1 # not a comment")],
            ),
            ("a=one \\\n    two\n", &[("a", "one two")]),
            (r"a\=b=c\:d\\e\u0041\t", &[("a=b", "c:d\\eA\t")]),
            ("a=1\na=2", &[("a", "1"), ("a", "2")]),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_properties(text).unwrap(), pairs(expected), "{text:?}");
        }
    }

    #[test]
    fn properties_syntax_errors_name_the_line() {
        let cases = [
            ("a=1\nkey_without_value\n", 2, "no value"),
            ("a=1\n\n= value\n", 3, "no key"),
            ("a=1\nb=\\u00zz\n", 2, "malformed \\u escape"),
            ("b=\\uD800\n", 1, "surrogate"),
            // A continued line is reported at the line it starts on.
            ("a=1 \\\n2\nbroken\n", 3, "no value"),
        ];
        for (text, line, problem) in cases {
            let error = parse_properties(text).expect_err(text);
            assert!(
                matches!(&error, ConfigError::Syntax { line: l, path: None, .. } if *l == line),
                "{text:?}: {error:?}"
            );
            let message = error.to_string();
            assert!(
                message.contains(&format!("line {line}")),
                "{text:?}: {message}"
            );
            assert!(message.contains(problem), "{text:?}: {message}");
        }
    }

    #[test]
    fn namesrv_list_parses_semicolons_trailing_semicolon_and_repeats() {
        let cases: [(&str, &[&str]); 6] = [
            ("", &[]),
            (";", &[]),
            ("127.0.0.1:9876", &["127.0.0.1:9876"]),
            ("127.0.0.1:9876;", &["127.0.0.1:9876"]),
            (
                " 127.0.0.1:9876 ; 127.0.0.1:9877 ;",
                &["127.0.0.1:9876", "127.0.0.1:9877"],
            ),
            (
                "127.0.0.1:9876;127.0.0.1:9876;[::1]:9876",
                &["127.0.0.1:9876", "[::1]:9876"],
            ),
        ];
        for (text, expected) in cases {
            let expected: Vec<SocketAddr> = expected.iter().map(|a| addr(a)).collect();
            assert_eq!(parse_namesrv_list(text), Ok(expected.clone()), "{text:?}");
            let (config, _) = resolve(&["--namesrv", text, "--listen", "127.0.0.1:10911"]).unwrap();
            assert_eq!(config.namesrv, expected, "{text:?}");
            assert_eq!(config.standalone(), expected.is_empty());
        }
        let too_many: Vec<String> = (0..=NAMESRV_ADDRS_MAX)
            .map(|i| format!("127.0.0.1:{}", 9000 + i))
            .collect();
        let error = parse_namesrv_list(&too_many.join(";")).unwrap_err();
        assert!(error.contains("at most 32"), "{error}");
    }

    #[test]
    fn namesrv_error_names_the_bad_entry() {
        let error = resolve(&["--namesrv", "127.0.0.1:9876;broker-host:9876"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("\"broker-host:9876\""), "{error}");
        assert!(!error.contains("\"127.0.0.1:9876\" is"), "{error}");
    }

    #[test]
    fn advertise_is_the_specific_listen_ip() {
        let (config, warnings) =
            resolve(&["--listen", "127.0.0.1:10911", "--namesrv", "127.0.0.1:9876"]).unwrap();
        assert_eq!(config.advertise_ip, ip("127.0.0.1"));
        assert_eq!(config.advertised_addr(), addr("127.0.0.1:10911"));
        assert!(warnings.is_empty(), "{warnings:?}");

        let (config, _) = resolve(&["--listen", "[::1]:10911"]).unwrap();
        assert_eq!(config.advertised_addr(), addr("[::1]:10911"));
    }

    #[test]
    fn advertise_is_loopback_for_wildcard_listen_in_standalone_mode() {
        let (config, warnings) = resolve(&["--listen", "0.0.0.0:10911"]).unwrap();
        assert!(config.standalone());
        assert_eq!(config.advertised_addr(), addr("127.0.0.1:10911"));
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn advertise_is_loopback_with_warning_for_wildcard_listen_with_namesrv() {
        let (config, warnings) =
            resolve(&["--listen", "0.0.0.0:10911", "--namesrv", "127.0.0.1:9876"]).unwrap();
        assert_eq!(config.advertise_ip, ip("127.0.0.1"));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("--advertise"), "{}", warnings[0]);
    }

    #[test]
    fn advertise_flag_beats_broker_ip1_which_beats_listen_ip() {
        let text = "brokerIP1=127.0.0.2\n";
        let (config, _) = resolve_with_conf(text, &["--listen", "127.0.0.3:10911"]).unwrap();
        assert_eq!(config.advertise_ip, ip("127.0.0.2"));

        let (config, warnings) = resolve_with_conf(
            text,
            &[
                "--listen",
                "0.0.0.0:10911",
                "--advertise",
                "127.0.0.4",
                "--namesrv",
                "127.0.0.1:9876",
            ],
        )
        .unwrap();
        assert_eq!(config.advertised_addr(), addr("127.0.0.4:10911"));
        assert!(warnings.is_empty(), "{warnings:?}");
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

    #[test]
    fn port_conflicts_are_errors_naming_both_settings() {
        let cases: [(&[&str], &str); 4] = [
            (
                &["--shards", "2", "--shard-port-base", "65535"],
                "past 65535",
            ),
            (
                &["--shards", "4", "--listen", "0.0.0.0:10922"],
                "shard ports 10921..=10924",
            ),
            (&["--namesrv-listen", "127.0.0.1:10911"], "share a port"),
            (
                &["--shards", "2", "--namesrv-listen", "127.0.0.1:10922"],
                "--namesrv-listen port",
            ),
        ];
        for (flags, expected) in cases {
            let error = resolve(flags).expect_err(expected);
            assert!(
                matches!(error, ConfigError::Conflict(_)),
                "{flags:?}: {error:?}"
            );
            assert!(error.to_string().contains(expected), "{flags:?}: {error}");
        }
        // Port 0 never clashes: the OS picks.
        resolve(&["--listen", "127.0.0.1:0", "--namesrv-listen", "127.0.0.1:0"]).unwrap();
        // With a name server set, the embedded one's address is not used, so it cannot clash.
        resolve(&[
            "--namesrv",
            "127.0.0.1:9876",
            "--listen",
            "127.0.0.1:10911",
            "--namesrv-listen",
            "127.0.0.1:10911",
        ])
        .unwrap();
    }

    #[test]
    fn max_message_bytes_must_be_below_max_frame_bytes() {
        let error = resolve_with_conf("maxMessageSize=2048\n", &["--max-frame-bytes", "2048"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("maxMessageSize (2048 bytes)"), "{error}");
        assert!(error.contains("--max-frame-bytes"), "{error}");
        let (config, _) =
            resolve_with_conf("maxMessageSize=2047\n", &["--max-frame-bytes", "2048"]).unwrap();
        assert_eq!(config.max_message_bytes, 2047);
    }
}
