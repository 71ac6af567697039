//! The checks, one small module per area, and the two lists the crate runs: every check
//! (`mqtune --check`) and the fatal ones (the broker at start).

mod cpu;
mod disk;
mod kernel;
mod limits;
mod memory;
mod network;

use crate::host::Host;
use crate::item::{Item, Status};
use crate::parse;
use crate::thresholds;

/// Every check, in the order the guide lists them.
pub fn all(host: &Host, shards: usize) -> Vec<Item> {
    let mut items = vec![
        kernel::kernel_version(host),
        kernel::io_uring_disabled(host),
    ];
    items.extend(kernel::io_uring_setup(host));
    items.push(kernel::seccomp(host));
    items.push(limits::memlock(host, shards));
    items.push(limits::open_files(host));
    items.push(limits::file_max(host));
    items.push(cpu::shards(host, shards));
    items.push(cpu::isolcpus(host, shards));
    items.push(cpu::nohz_full(host));
    items.push(cpu::numa(host));
    items.extend(cpu::nic_interrupts(host));
    items.push(cpu::clocksource(host));
    items.push(memory::transparent_hugepage(host));
    items.push(memory::swappiness(host));
    items.extend(disk::block_devices(host));
    items.extend(network::all(host));
    items
}

/// Only the checks that can find something that stops the broker.
pub fn fatal_capable(host: &Host, shards: usize) -> Vec<Item> {
    let mut items = vec![
        kernel::kernel_version(host),
        kernel::io_uring_disabled(host),
    ];
    items.extend(kernel::io_uring_setup(host));
    items.push(limits::memlock(host, shards));
    items.push(limits::open_files(host));
    items
}

/// The shard count to judge when none is given: the most the host's usable CPUs should run.
pub fn default_shards(host: &Host) -> usize {
    cpu::usable_cpus(host)
        .map(|cpus| thresholds::shards_max(cpus.len()))
        .unwrap_or(1)
}

/// `16777216 (16 MiB)`: the exact value the kernel shows, and a readable one.
fn bytes_text(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    const GIB: u64 = 1024 * MIB;
    let readable = if bytes >= GIB && bytes % GIB == 0 {
        format!("{} GiB", bytes / GIB)
    } else if bytes >= MIB && bytes % MIB == 0 {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= KIB && bytes % KIB == 0 {
        format!("{} KiB", bytes / KIB)
    } else {
        return bytes.to_string();
    };
    format!("{bytes} ({readable})")
}

/// An item for a file holding one integer that should be at least `min`.
struct AtLeast<'a> {
    name: &'a str,
    file: &'a str,
    min: u64,
    /// Whether the value is a size in bytes (shown with its MiB form).
    in_bytes: bool,
    /// Read the file's value out of its text (`single_integer`, `third_of_three`).
    parse: fn(&str) -> Option<u64>,
    reason: &'a str,
    fix: String,
}

impl AtLeast<'_> {
    fn check(self, host: &Host) -> Item {
        let show = |value: u64| {
            if self.in_bytes {
                bytes_text(value)
            } else {
                value.to_string()
            }
        };
        let recommended = format!(">= {}", show(self.min));
        match host.read_parsed(self.file, self.parse) {
            Ok(value) => Item {
                name: self.name.to_string(),
                current: show(value),
                recommended,
                status: if value >= self.min {
                    Status::Ok
                } else {
                    Status::Warn
                },
                reason: self.reason.to_string(),
                fix: self.fix,
            },
            Err(unreadable) => Item::unknown(self.name, recommended, unreadable.describe()),
        }
    }
}

/// `major.minor` of the kernel, or the reason it is unknown.
fn kernel_version(host: &Host) -> Result<(u32, u32), crate::host::Unreadable> {
    host.read_parsed("proc/sys/kernel/osrelease", parse::kernel_version)
}

#[cfg(test)]
mod tests {
    use super::bytes_text;

    #[test]
    fn bytes_text_adds_the_largest_exact_binary_unit() {
        assert_eq!(bytes_text(16 * 1024 * 1024), "16777216 (16 MiB)");
        assert_eq!(bytes_text(65536), "65536 (64 KiB)");
        assert_eq!(bytes_text(212_992), "212992 (208 KiB)");
        assert_eq!(bytes_text(1000), "1000");
    }
}
