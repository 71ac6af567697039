//! Reading RocketMQ's `broker.conf` (Java properties): the reader, the keys ShardMQ knows,
//! warnings for unknown and repeated keys (with their lines), and the parsers of each key's
//! value.
//!
//! The reader is hand-written: the `java-properties` crate (2.0) was considered and reports each
//! key's line, but it reads a bare `key` as `key=` (losing the "no value" syntax error), keeps a
//! value's trailing whitespace and silently drops a last line that ends in `\`, so it cannot
//! keep this reader's behaviour and tests.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::{ConfigError, FlushDiskType, Origin, NAMESRV_ADDRS_MAX, TOPIC_QUEUE_NUMS_MAX};

/// `broker.conf` keys that ShardMQ reads, with the field each one sets.
pub(super) mod key {
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
    // Message lifecycle (RocketMQ's names).
    pub const MESSAGE_DELAY_LEVEL: &str = "messageDelayLevel";
    pub const TIMER_MAX_DELAY_SEC: &str = "timerMaxDelaySec";
    pub const TIMER_PRECISION_MS: &str = "timerPrecisionMs";
    // Storage (RocketMQ's names).
    pub const MAPPED_FILE_SIZE_COMMIT_LOG: &str = "mappedFileSizeCommitLog";
    pub const MAPPED_FILE_SIZE_CONSUME_QUEUE: &str = "mappedFileSizeConsumeQueue";
    pub const DELETE_WHEN: &str = "deleteWhen";
    pub const DISK_MAX_USED_SPACE_RATIO: &str = "diskMaxUsedSpaceRatio";
    pub const CLEAN_RESOURCE_INTERVAL: &str = "cleanResourceInterval";

    pub const ALL: [&str; 23] = [
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
        MESSAGE_DELAY_LEVEL,
        TIMER_MAX_DELAY_SEC,
        TIMER_PRECISION_MS,
        MAPPED_FILE_SIZE_COMMIT_LOG,
        MAPPED_FILE_SIZE_CONSUME_QUEUE,
        DELETE_WHEN,
        DISK_MAX_USED_SPACE_RATIO,
        CLEAN_RESOURCE_INTERVAL,
    ];
}

/// The keys ShardMQ reads from one `broker.conf`, each with the line that set it last.
#[derive(Debug, Default)]
pub(super) struct ConfFile {
    path: PathBuf,
    entries: HashMap<&'static str, Property>,
}

impl ConfFile {
    /// Reads and parses `path`, keeping the keys ShardMQ reads and warning about the rest.
    pub(super) fn read(path: &Path, warnings: &mut Vec<String>) -> Result<ConfFile, ConfigError> {
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
    pub(super) fn parse<T>(
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

// Value parsers of `broker.conf` keys (`parse_namesrv_list` reads `--namesrv` too). Each error
// is the "expected ..." half of a message; the caller adds where the value came from.

pub(super) fn parse_string(raw: &str) -> Result<String, String> {
    Ok(raw.to_owned())
}

pub(super) fn parse_broker_id(raw: &str) -> Result<i64, String> {
    raw.parse()
        .map_err(|_| "expected a whole number ≥ 0 (0 is the master)".to_owned())
}

pub(super) fn parse_flush(raw: &str) -> Result<FlushDiskType, String> {
    [FlushDiskType::Async, FlushDiskType::Sync]
        .into_iter()
        .find(|mode| mode.broker_conf_name() == raw)
        .ok_or_else(|| "expected ASYNC_FLUSH or SYNC_FLUSH".to_owned())
}

/// Java's `Boolean.parseBoolean` reads anything but "true" as false; a typo there silently
/// flips the setting, so only true and false (any case) are accepted.
pub(super) fn parse_bool(raw: &str) -> Result<bool, String> {
    if raw.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if raw.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err("expected true or false".to_owned())
    }
}

pub(super) fn parse_port(raw: &str) -> Result<u16, String> {
    raw.parse()
        .map_err(|_| "expected a port number, 0 to 65535".to_owned())
}

pub(super) fn parse_topic_queue_nums(raw: &str) -> Result<i32, String> {
    match raw.parse::<i32>() {
        Ok(n) if (1..=TOPIC_QUEUE_NUMS_MAX).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected a queue count, 1 to {TOPIC_QUEUE_NUMS_MAX}"
        )),
    }
}

/// RocketMQ's `maxMessageSize` is a Java int: 1 to `i32::MAX` bytes.
pub(super) fn parse_max_message_bytes(raw: &str) -> Result<usize, String> {
    match raw.parse::<i32>() {
        Ok(n) if n >= 1 => Ok(usize::try_from(n).expect("positive i32 fits in usize")),
        _ => Err(format!("expected a size in bytes, 1 to {}", i32::MAX)),
    }
}

pub(super) fn parse_hours(raw: &str) -> Result<u64, String> {
    raw.parse()
        .map_err(|_| "expected a whole number of hours ≥ 0".to_owned())
}

pub(super) fn parse_count(raw: &str) -> Result<usize, String> {
    match raw.parse::<usize>() {
        Ok(n) if (1..=100_000_000).contains(&n) => Ok(n),
        _ => Err("expected a count, 1 to 100000000".to_owned()),
    }
}

pub(super) fn parse_forward_timeout(raw: &str) -> Result<std::time::Duration, String> {
    match raw.parse::<u64>() {
        Ok(ms) if (1..=600_000).contains(&ms) => Ok(std::time::Duration::from_millis(ms)),
        _ => Err("expected milliseconds, 1 to 600000".to_owned()),
    }
}

pub(super) fn parse_timer_max_delay(raw: &str) -> Result<std::time::Duration, String> {
    match raw.parse::<u64>() {
        Ok(s) if (1..=super::TIMER_MAX_DELAY_LIMIT.as_secs()).contains(&s) => {
            Ok(std::time::Duration::from_secs(s))
        }
        _ => Err(format!(
            "expected seconds, 1 to {}",
            super::TIMER_MAX_DELAY_LIMIT.as_secs()
        )),
    }
}

pub(super) fn parse_timer_precision(raw: &str) -> Result<std::time::Duration, String> {
    match raw.parse::<u64>() {
        Ok(ms) if (10..=1000).contains(&ms) => Ok(std::time::Duration::from_millis(ms)),
        _ => Err("expected milliseconds, 10 to 1000".to_owned()),
    }
}

pub(super) fn parse_commit_log_segment(raw: &str) -> Result<u64, String> {
    match raw.parse::<u64>() {
        Ok(n) if (1 << 20..=16 << 30).contains(&n) && n % 4096 == 0 => Ok(n),
        _ => Err(
            "expected bytes, a multiple of 4096 from 1048576 (1 MiB) to 17179869184 (16 GiB)"
                .to_owned(),
        ),
    }
}

pub(super) fn parse_consume_queue_file(raw: &str) -> Result<u64, String> {
    match raw.parse::<u64>() {
        Ok(n) if (20 * 1024..=20 * 10_000_000).contains(&n) && n % 20 == 0 => Ok(n / 20),
        _ => Err("expected bytes, a multiple of 20 (one entry) from 20480 to 200000000".to_owned()),
    }
}

/// `deleteWhen`: hours of the day (local time) when expired files may be deleted, `04` or
/// `04;16`; as a bit set (bit h = hour h).
pub(super) fn parse_delete_when(raw: &str) -> Result<u32, String> {
    let mut hours = 0u32;
    for part in raw.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        match part.parse::<u32>() {
            Ok(h) if h < 24 => hours |= 1 << h,
            _ => return Err(format!("{part:?} is not an hour; expected hours 00 to 23 separated by ';', such as 04 or 04;16")),
        }
    }
    if hours == 0 {
        return Err("expected hours 00 to 23 separated by ';', such as 04 or 04;16".to_owned());
    }
    Ok(hours)
}

pub(super) fn parse_disk_ratio(raw: &str) -> Result<f64, String> {
    match raw.parse::<u32>() {
        Ok(p) if (10..=95).contains(&p) => Ok(f64::from(p) / 100.0),
        _ => Err("expected a percentage, 10 to 95".to_owned()),
    }
}

pub(super) fn parse_clean_interval(raw: &str) -> Result<std::time::Duration, String> {
    match raw.parse::<u64>() {
        Ok(ms) if (100..=3_600_000).contains(&ms) => Ok(std::time::Duration::from_millis(ms)),
        _ => Err("expected milliseconds, 100 to 3600000".to_owned()),
    }
}

/// Parses `ip:port;ip:port` as RocketMQ writes `namesrvAddr`: entries trimmed, empty ones
/// (a trailing `;`) skipped, repeats dropped. Hostnames are refused rather than looked up:
/// resolving them would be a network call, and RocketMQ clients get IPs from the name server
/// anyway.
pub(super) fn parse_namesrv_list(raw: &str) -> Result<Vec<SocketAddr>, String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::*;

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
messageDelayLevel = 1s 2m 3h
timerMaxDelaySec = 3600
timerPrecisionMs = 20
mappedFileSizeCommitLog = 8388608
mappedFileSizeConsumeQueue = 60000
deleteWhen = 04;16
diskMaxUsedSpaceRatio = 80
cleanResourceInterval = 500
";
        let (config, warnings) = resolve_with_conf(text, &[]).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(config.delay_levels.max_level(), 3);
        assert_eq!(
            config.delay_levels.delay(2),
            std::time::Duration::from_secs(120)
        );
        assert_eq!(config.timer_max_delay, std::time::Duration::from_secs(3600));
        assert_eq!(config.timer_precision, std::time::Duration::from_millis(20));
        assert_eq!(config.commit_log_segment_bytes, 8 << 20);
        assert_eq!(config.consume_queue_entries_per_file, 3000);
        assert_eq!(config.delete_when_hours, (1 << 4) | (1 << 16));
        assert!((config.disk_max_used_ratio - 0.80).abs() < 1e-9);
        assert_eq!(
            config.clean_resource_interval,
            std::time::Duration::from_millis(500)
        );
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
    fn unknown_keys_warn_with_line_number_and_are_not_errors() {
        let text =
            "brokerName=b\n# comment\nflushIntervalCommitLog=500\n\nbrokerRole=ASYNC_MASTER\n";
        let (config, warnings) = resolve_with_conf(text, &[]).unwrap();
        assert_eq!(config.broker_name, "b");
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("line 3") && warnings[0].contains("`flushIntervalCommitLog`"));
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
            ("messageDelayLevel=1s 5x", "unknown unit"),
            ("messageDelayLevel=", "0 levels"),
            ("timerMaxDelaySec=0", "1 to 2592000"),
            ("timerMaxDelaySec=2592001", "1 to 2592000"),
            ("timerPrecisionMs=5", "10 to 1000"),
            ("mappedFileSizeCommitLog=1000", "multiple of 4096"),
            ("mappedFileSizeConsumeQueue=1001", "multiple of 20"),
            ("deleteWhen=25", "not an hour"),
            ("diskMaxUsedSpaceRatio=99", "10 to 95"),
            ("cleanResourceInterval=5", "100 to 3600000"),
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
}
