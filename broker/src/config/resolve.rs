//! [`BrokerConfig::resolve`]: merging the command line, `broker.conf` and the defaults (a flag
//! beats the file, the file beats the default), checking each value and the settings against
//! each other, and choosing the advertise IP.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use super::properties::{
    key, parse_bool, parse_broker_id, parse_clean_interval, parse_commit_log_segment,
    parse_consume_queue_file, parse_count, parse_delete_when, parse_disk_ratio, parse_flush,
    parse_forward_timeout, parse_hours, parse_max_message_bytes, parse_namesrv_list, parse_port,
    parse_string, parse_timer_max_delay, parse_timer_precision, parse_topic_queue_nums, ConfFile,
};
use super::{
    Args, BrokerConfig, ConfigError, FlushDiskType, Origin, DEFAULT_BROKER_NAME,
    DEFAULT_CLEAN_RESOURCE_INTERVAL, DEFAULT_CLUSTER, DEFAULT_COMMIT_LOG_SEGMENT_BYTES,
    DEFAULT_CONSUME_QUEUE_ENTRIES_PER_FILE, DEFAULT_DATA_DIR, DEFAULT_DELETE_WHEN_HOURS,
    DEFAULT_DISK_MAX_USED_RATIO, DEFAULT_FILE_RESERVED_HOURS, DEFAULT_FORWARD_TIMEOUT,
    DEFAULT_LISTEN, DEFAULT_MAX_CONNECTIONS_PER_SHARD, DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_MAX_TOPIC_COUNT, DEFAULT_TIMER_MAX_DELAY, DEFAULT_TIMER_PRECISION,
    DEFAULT_TOPIC_QUEUE_NUMS, SEGMENT_HEADROOM_BYTES, SHARDS_MAX,
};

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
            delay_levels: file
                .parse(
                    key::MESSAGE_DELAY_LEVEL,
                    crate::schedule::DelayLevels::parse,
                )?
                .unwrap_or_default(),
            timer_max_delay: file
                .parse(key::TIMER_MAX_DELAY_SEC, parse_timer_max_delay)?
                .unwrap_or(DEFAULT_TIMER_MAX_DELAY),
            timer_precision: file
                .parse(key::TIMER_PRECISION_MS, parse_timer_precision)?
                .unwrap_or(DEFAULT_TIMER_PRECISION),
            commit_log_segment_bytes: file
                .parse(key::MAPPED_FILE_SIZE_COMMIT_LOG, parse_commit_log_segment)?
                .unwrap_or(DEFAULT_COMMIT_LOG_SEGMENT_BYTES),
            consume_queue_entries_per_file: file
                .parse(
                    key::MAPPED_FILE_SIZE_CONSUME_QUEUE,
                    parse_consume_queue_file,
                )?
                .unwrap_or(DEFAULT_CONSUME_QUEUE_ENTRIES_PER_FILE),
            delete_when_hours: file
                .parse(key::DELETE_WHEN, parse_delete_when)?
                .unwrap_or(DEFAULT_DELETE_WHEN_HOURS),
            disk_max_used_ratio: file
                .parse(key::DISK_MAX_USED_SPACE_RATIO, parse_disk_ratio)?
                .unwrap_or(DEFAULT_DISK_MAX_USED_RATIO),
            clean_resource_interval: file
                .parse(key::CLEAN_RESOURCE_INTERVAL, parse_clean_interval)?
                .unwrap_or(DEFAULT_CLEAN_RESOURCE_INTERVAL),
        };
        config.check_conflicts()?;
        Ok((config, warnings))
    }

    /// Checks settings against each other: ports that fit and do not clash, a message that
    /// fits in a frame.
    fn check_conflicts(&self) -> Result<(), ConfigError> {
        if self.commit_log_segment_bytes < self.max_message_bytes as u64 + SEGMENT_HEADROOM_BYTES {
            return Err(ConfigError::Conflict(format!(
                "mappedFileSizeCommitLog ({} bytes) must hold the largest message: at least \
                 maxMessageSize ({} bytes) + {SEGMENT_HEADROOM_BYTES}; raise \
                 mappedFileSizeCommitLog or lower maxMessageSize",
                self.commit_log_segment_bytes, self.max_message_bytes
            )));
        }
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

// Checks, for flag and file values alike. Each error is the "expected ..." half of a message;
// the caller adds where the value came from.

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

fn check_broker_id(id: &i64) -> Result<(), String> {
    if *id < 0 {
        return Err("expected a whole number ≥ 0 (0 is the master)".to_owned());
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::*;

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
                delay_levels: crate::schedule::DelayLevels::default(),
                timer_max_delay: std::time::Duration::from_secs(259_200),
                timer_precision: std::time::Duration::from_millis(100),
                commit_log_segment_bytes: 1 << 30,
                consume_queue_entries_per_file: 300_000,
                delete_when_hours: 1 << 4,
                disk_max_used_ratio: 0.75,
                clean_resource_interval: std::time::Duration::from_secs(10),
            }
        );
        assert!(config.standalone());
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
