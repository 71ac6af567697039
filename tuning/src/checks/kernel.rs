//! Kernel version and io_uring availability: without io_uring there is no glommio executor.

use super::kernel_version as read_kernel_version;
use crate::host::Host;
use crate::item::{Item, Status};
use crate::parse;
use crate::probe::IoUringProbe;
use crate::thresholds::{KERNEL_VERSION_MIN, KERNEL_VERSION_WITH_IO_URING_DISABLED};

const IO_URING_DISABLED_FILE: &str = "proc/sys/kernel/io_uring_disabled";
const SECCOMP_FIX: &str = "allow io_uring_setup, io_uring_enter and io_uring_register in the \
                           container's seccomp profile (or run the broker outside the container)";

/// `kernel_version`: fatal below [`KERNEL_VERSION_MIN`].
pub fn kernel_version(host: &Host) -> Item {
    const NAME: &str = "kernel_version";
    let (min_major, min_minor) = KERNEL_VERSION_MIN;
    let recommended = format!(">= {min_major}.{min_minor}");
    match read_kernel_version(host) {
        Ok((major, minor)) => Item {
            name: NAME.to_string(),
            current: format!("{major}.{minor}"),
            recommended,
            status: if (major, minor) >= KERNEL_VERSION_MIN {
                Status::Ok
            } else {
                Status::Fatal
            },
            reason: "glommio runs every shard on io_uring and needs the operations of 5.8"
                .to_string(),
            fix: format!("upgrade to a {min_major}.{min_minor} or newer kernel (a distribution HWE or LTS kernel)"),
        },
        Err(unreadable) => Item::unknown(NAME, recommended, unreadable.describe()),
    }
}

/// `io_uring_disabled` (`kernel.io_uring_disabled`): 0 allowed, 1 only for
/// `kernel.io_uring_group` members, 2 disabled (fatal). Absent before 6.6, where io_uring
/// has no such switch.
pub fn io_uring_disabled(host: &Host) -> Item {
    const NAME: &str = "io_uring_disabled";
    const RECOMMENDED: &str = "0";
    let fix = "sysctl -w kernel.io_uring_disabled=0 (persist: /etc/sysctl.d/99-shardmq.conf)";
    if !host.exists(IO_URING_DISABLED_FILE) {
        if let Ok(version) = read_kernel_version(host) {
            if version < KERNEL_VERSION_WITH_IO_URING_DISABLED {
                return Item {
                    name: NAME.to_string(),
                    current: "absent".to_string(),
                    recommended: RECOMMENDED.to_string(),
                    status: Status::Ok,
                    reason: "kernels before 6.6 have no such switch: io_uring is allowed"
                        .to_string(),
                    fix: String::new(),
                };
            }
        }
    }
    let value = match host.read_parsed(IO_URING_DISABLED_FILE, parse::single_integer) {
        Ok(value) => value,
        Err(unreadable) => return Item::unknown(NAME, RECOMMENDED, unreadable.describe()),
    };
    let (status, reason) = match value {
        0 => (Status::Ok, "io_uring is allowed for every process"),
        1 => (
            Status::Warn,
            "io_uring is only for CAP_SYS_ADMIN and members of kernel.io_uring_group: \
             run the broker in that group",
        ),
        2 => (
            Status::Fatal,
            "io_uring is disabled for every process: glommio cannot start a shard",
        ),
        _ => (
            Status::Unknown,
            "not a value the kernel documents (0, 1 or 2)",
        ),
    };
    Item {
        name: NAME.to_string(),
        current: value.to_string(),
        recommended: RECOMMENDED.to_string(),
        status,
        reason: reason.to_string(),
        fix: fix.to_string(),
    }
}

/// `io_uring_setup`: the live probe's result; no item for snapshots, which are not probed.
pub fn io_uring_setup(host: &Host) -> Option<Item> {
    let probe = host.io_uring_probe()?;
    let (status, fix) = match probe {
        IoUringProbe::Available => (Status::Ok, String::new()),
        IoUringProbe::Refused { errno } if errno == libc::ENOMEM => (
            Status::Fatal,
            "raise the locked-memory limit (LimitMEMLOCK= in the unit, ulimit -l)".to_string(),
        ),
        IoUringProbe::Refused { .. } => (
            Status::Fatal,
            format!("set kernel.io_uring_disabled=0 and {SECCOMP_FIX}"),
        ),
        IoUringProbe::NotAttempted => (Status::Unknown, String::new()),
    };
    Some(Item {
        name: "io_uring_setup".to_string(),
        current: probe.describe(),
        recommended: "succeeds".to_string(),
        status,
        reason: "each shard's glommio executor creates its rings with this syscall".to_string(),
        fix,
    })
}

/// `seccomp`: whether a seccomp filter is on this process (`Seccomp:` in
/// `/proc/self/status`). Container runtimes' default profiles block the io_uring syscalls; a
/// live probe that succeeded shows this filter lets them through.
pub fn seccomp(host: &Host) -> Item {
    const NAME: &str = "seccomp";
    const FILE: &str = "proc/self/status";
    let recommended = "no filter, or one that allows io_uring_*";
    let mode = host.read_parsed(FILE, |status| {
        parse::single_integer(parse::status_field(status, "Seccomp")?)
    });
    let mode = match mode {
        Ok(mode) => mode,
        Err(unreadable) => return Item::unknown(NAME, recommended, unreadable.describe()),
    };
    let probed_ok = host.io_uring_probe() == Some(IoUringProbe::Available);
    let (current, status, reason) = match mode {
        0 => ("none", Status::Ok, "no seccomp filter on this process"),
        1 => (
            "strict",
            Status::Warn,
            "strict seccomp allows only read, write, exit and sigreturn",
        ),
        2 if probed_ok => (
            "filter",
            Status::Ok,
            "a seccomp filter is on, and io_uring_setup got through it",
        ),
        2 => (
            "filter",
            Status::Warn,
            "a seccomp filter is on; container runtimes' default profiles block io_uring",
        ),
        _ => (
            "unexpected",
            Status::Unknown,
            "Seccomp: mode is not 0, 1 or 2",
        ),
    };
    Item {
        name: NAME.to_string(),
        current: current.to_string(),
        recommended: recommended.to_string(),
        status,
        reason: reason.to_string(),
        fix: SECCOMP_FIX.to_string(),
    }
}
