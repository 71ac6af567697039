//! Reads a Linux host's settings and says what to change for a thread-per-core broker.
//!
//! Used two ways: the `mqtune` binary prints every check (`mqtune --check`, `--json`), and
//! the broker calls [`fatal_problems`] at start so that a host that cannot run it fails with
//! one line per problem and its fix, instead of a glommio error from deep inside a shard.
//!
//! | module | role |
//! |---|---|
//! | `host` | [`Host`]: files read under a root path (`/`, or a recorded snapshot), bounded |
//! | `probe` | the live `io_uring_setup` probe, kept apart so snapshots never run it |
//! | `parse` | pure parsers for `/proc` and `/sys` text; `None` for anything unexpected |
//! | `thresholds` | every number judged against, with its reason |
//! | `checks` | one small module per area (kernel, limits, cpu, memory, disk, network) |
//! | `item` | [`Item`] (one setting: current, recommended, status, reason, fix), [`Problem`] |
//! | `report` | [`Report`]: the human table and the JSON |
//!
//! Invariants: nothing here writes to the host; nothing panics on file contents (a missing
//! or unparsable file gives an item with status `unknown` naming the file); every file read
//! is bounded by [`host::FILE_BYTES_MAX`].
#![deny(unsafe_code)]

mod checks;
pub mod host;
pub mod item;
pub mod parse;
pub mod probe;
mod report;
pub mod thresholds;

pub use host::Host;
pub use item::{Item, Problem, Status};
pub use probe::IoUringProbe;
pub use report::Report;

/// Every check against `host`, judged for `shards` shards.
pub fn check(host: &Host, shards: usize) -> Report {
    Report::new(
        host.root().display().to_string(),
        shards,
        checks::all(host, shards),
    )
}

/// The problems that stop a broker with `shards` shards from starting on `host`: io_uring
/// blocked or disabled, a kernel older than 5.8, too little locked memory, too few open
/// files. Empty when the broker can start. Each problem displays as one line with its fix.
pub fn fatal_problems(host: &Host, shards: usize) -> Vec<Problem> {
    checks::fatal_capable(host, shards)
        .iter()
        .filter(|item| item.status == Status::Fatal)
        .map(Problem::from_item)
        .collect()
}

/// The shard count a host should run: its usable CPUs, less one from 4 CPUs on (1 when the
/// CPUs cannot be read).
pub fn recommended_shards(host: &Host) -> usize {
    checks::default_shards(host)
}
