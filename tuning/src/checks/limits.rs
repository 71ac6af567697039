//! Per-process limits from `/proc/self/limits` (locked memory, open files) and `fs.file-max`.
//!
//! They describe the process that runs the checker: run `mqtune` as the broker's user under
//! the broker's unit (`systemd-run -p LimitMEMLOCK=...`), or let the broker check itself.

use super::{bytes_text, AtLeast};
use crate::host::Host;
use crate::item::{Item, Status};
use crate::parse::{self, Limit};
use crate::thresholds::{
    memlock_required_bytes, CAP_IPC_LOCK, FILE_MAX_MIN, OPEN_FILES_MIN, OPEN_FILES_RECOMMENDED,
};

const LIMITS_FILE: &str = "proc/self/limits";
const STATUS_FILE: &str = "proc/self/status";

/// Whether this process holds `CAP_IPC_LOCK` (root outside a container does), which lifts
/// `RLIMIT_MEMLOCK`. `CapEff` is what counts; without it, user id 0 is taken as exempt.
fn memlock_exempt(host: &Host) -> bool {
    let Ok(status) = host.read(STATUS_FILE) else {
        return false;
    };
    if let Some(mask) = parse::status_field(&status, "CapEff") {
        return parse::has_capability(mask, CAP_IPC_LOCK).unwrap_or(false);
    }
    let effective_uid =
        parse::status_field(&status, "Uid").and_then(|uids| uids.split_whitespace().nth(1));
    effective_uid == Some("0")
}

/// `memlock_bytes`: the soft `RLIMIT_MEMLOCK`, at least 512 KiB per shard plus 1 MiB; fatal
/// below. Unlimited, or `CAP_IPC_LOCK`, passes.
pub fn memlock(host: &Host, shards: usize) -> Item {
    const NAME: &str = "memlock_bytes";
    let required_bytes = memlock_required_bytes(shards);
    let recommended = format!(">= {} for {shards} shards", bytes_text(required_bytes));
    let limit = match host.read_parsed(LIMITS_FILE, |text| {
        parse::soft_limit(text, "Max locked memory")
    }) {
        Ok(limit) => limit,
        Err(unreadable) => return Item::unknown(NAME, recommended, unreadable.describe()),
    };
    let required_mib = required_bytes.div_ceil(1024 * 1024);
    let fix = format!(
        "LimitMEMLOCK={required_mib}M (or infinity) in the broker's unit; in a shell, \
         ulimit -l {} (KiB); persist for logins in /etc/security/limits.d/",
        required_mib * 1024
    );
    let reason = "glommio locks each shard's io_uring memory; a shard that cannot lock it \
                  does not start";
    let (current, status, reason) = match limit {
        Limit::Unlimited => ("unlimited".to_string(), Status::Ok, reason),
        Limit::Value(bytes) if bytes >= required_bytes => (bytes_text(bytes), Status::Ok, reason),
        Limit::Value(bytes) if memlock_exempt(host) => (
            bytes_text(bytes),
            Status::Ok,
            "below the need, but this process holds CAP_IPC_LOCK, which lifts the limit",
        ),
        Limit::Value(bytes) => (bytes_text(bytes), Status::Fatal, reason),
    };
    Item {
        name: NAME.to_string(),
        current,
        recommended,
        status,
        reason: reason.to_string(),
        fix,
    }
}

/// `open_files`: the soft `RLIMIT_NOFILE`; fatal below 4096, a warning below 1048576.
pub fn open_files(host: &Host) -> Item {
    const NAME: &str = "open_files";
    let recommended = format!(">= {OPEN_FILES_RECOMMENDED}");
    let limit = match host.read_parsed(LIMITS_FILE, |text| {
        parse::soft_limit(text, "Max open files")
    }) {
        Ok(limit) => limit,
        Err(unreadable) => return Item::unknown(NAME, recommended, unreadable.describe()),
    };
    let (current, status) = match limit {
        Limit::Unlimited => ("unlimited".to_string(), Status::Ok),
        Limit::Value(files) if files >= OPEN_FILES_RECOMMENDED => (files.to_string(), Status::Ok),
        Limit::Value(files) if files >= OPEN_FILES_MIN => (files.to_string(), Status::Warn),
        Limit::Value(files) => (files.to_string(), Status::Fatal),
    };
    let reason = if status == Status::Fatal {
        format!("below {OPEN_FILES_MIN} the commit log, its queues and a few hundred clients do not fit")
    } else {
        "one descriptor per client connection and per commit-log and queue file".to_string()
    };
    Item {
        name: NAME.to_string(),
        current,
        recommended,
        status,
        reason,
        fix: format!(
            "LimitNOFILE={OPEN_FILES_RECOMMENDED} in the broker's unit; in a shell, \
             ulimit -n {OPEN_FILES_RECOMMENDED}"
        ),
    }
}

/// `file_max`: `fs.file-max`, the system-wide ceiling on open files.
pub fn file_max(host: &Host) -> Item {
    AtLeast {
        name: "file_max",
        file: "proc/sys/fs/file-max",
        min: FILE_MAX_MIN,
        in_bytes: false,
        parse: parse::single_integer,
        reason: "the whole host's open files; the broker's own limit is useless above it",
        fix: format!(
            "sysctl -w fs.file-max={FILE_MAX_MIN} (persist: /etc/sysctl.d/99-shardmq.conf)"
        ),
    }
    .check(host)
}
