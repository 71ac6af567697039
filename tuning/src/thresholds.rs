//! Every number the checker judges against, with the reason it has that value. The guide
//! (`tuning/README.md`) repeats them; change both together.

/// Oldest kernel, `(major, minor)`, that runs glommio: its README names 5.8 as the minimum,
/// the first kernel with every io_uring operation it probes for at start. Fatal below.
pub const KERNEL_VERSION_MIN: (u32, u32) = (5, 8);

/// Kernel that added `kernel.io_uring_disabled` (distributions backport it, e.g. RHEL 9).
pub const KERNEL_VERSION_WITH_IO_URING_DISABLED: (u32, u32) = (6, 6);

/// Locked memory each glommio executor (one per shard) needs for its io_uring rings and
/// registered buffers, with the project's settings.
pub const MEMLOCK_PER_SHARD_BYTES: u64 = 512 * 1024;

/// Locked memory on top of the shards' share: the broker's own rings (the acceptor, the
/// probe) and slack for glommio's own allocations.
pub const MEMLOCK_HEADROOM_BYTES: u64 = 1024 * 1024;

/// `CAP_IPC_LOCK`: a process holding it is not bound by `RLIMIT_MEMLOCK`.
pub const CAP_IPC_LOCK: u32 = 14;

/// Highest `vm.swappiness` recommended: a swapped-out page of a shard's buffers stalls the
/// whole core, not one thread among many.
pub const SWAPPINESS_MAX: u64 = 10;

/// Smallest `net.core.somaxconn`: the accept queue that absorbs a reconnect storm of
/// thousands of producers after a broker restart.
pub const SOMAXCONN_MIN: u64 = 4096;

/// Smallest socket-buffer ceiling (`rmem_max`, `wmem_max`, third field of `tcp_rmem` and
/// `tcp_wmem`), so one connection can fill a 10–25 Gbit/s link across a data centre.
pub const SOCKET_BUFFER_MAX_MIN_BYTES: u64 = 16 * 1024 * 1024;

/// Recommended open-files soft limit: one descriptor per client connection, per commit-log
/// and consume-queue file, per shard.
pub const OPEN_FILES_RECOMMENDED: u64 = 1_048_576;

/// Open-files limit below which the broker refuses to start: the commit log, the queues and
/// a few hundred clients do not fit.
pub const OPEN_FILES_MIN: u64 = 4096;

/// Recommended system-wide `fs.file-max`: at least the broker's own open-files limit.
pub const FILE_MAX_MIN: u64 = OPEN_FILES_RECOMMENDED;

/// From this many usable CPUs on, one is left to the OS and the NIC's interrupts.
pub const CORES_FOR_SPARE_CORE: usize = 4;

/// Locked memory `shards` need: [`MEMLOCK_PER_SHARD_BYTES`] each plus the headroom.
pub fn memlock_required_bytes(shards: usize) -> u64 {
    (shards as u64)
        .saturating_mul(MEMLOCK_PER_SHARD_BYTES)
        .saturating_add(MEMLOCK_HEADROOM_BYTES)
}

/// The most shards for `cores` usable CPUs: all but one from [`CORES_FOR_SPARE_CORE`] on.
pub fn shards_max(cores: usize) -> usize {
    if cores >= CORES_FOR_SPARE_CORE {
        cores - 1
    } else {
        cores.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memlock_required_is_half_a_mebibyte_per_shard_plus_one_mebibyte() {
        assert_eq!(memlock_required_bytes(0), 1024 * 1024);
        assert_eq!(memlock_required_bytes(8), 5 * 1024 * 1024);
        assert_eq!(memlock_required_bytes(usize::MAX), u64::MAX);
    }

    #[test]
    fn shards_max_leaves_a_core_only_from_four_cores_on() {
        let table = [(0, 1), (1, 1), (3, 3), (4, 3), (16, 15)];
        for (cores, expected) in table {
            assert_eq!(shards_max(cores), expected, "{cores} cores");
        }
    }
}
