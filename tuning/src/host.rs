//! The host as the checker sees it: files read under a root path, plus the live-only probe.
//!
//! Every check reads through [`Host`], never through `std::fs` directly, so tests can point
//! the checker at a recorded snapshot of `/proc` and `/sys` laid out under a folder.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::probe::{self, IoUringProbe};

/// Largest file the checker reads, in bytes. `/proc/interrupts` on a many-core machine with
/// many NIC queues is the biggest file read; a few MiB holds thousands of lines of it.
pub const FILE_BYTES_MAX: u64 = 4 * 1024 * 1024;

/// Most directory entries the checker looks at in one folder (`/sys/block`, NUMA nodes).
pub const DIR_ENTRIES_MAX: usize = 4096;

/// A file that could not be read or understood: which file, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// Full path of the file (under the root), as shown to the operator.
    pub path: String,
    /// What went wrong: an I/O error, a size over [`FILE_BYTES_MAX`], or what was unparsable.
    pub reason: String,
}

impl Unreadable {
    /// The item text for an unknown value: `cannot read <path>: <reason>`.
    pub fn describe(&self) -> String {
        format!("cannot read {}: {}", self.path, self.reason)
    }
}

/// A Linux host: a root folder to read `/proc` and `/sys` from, and (live hosts only) the
/// result of asking the kernel for an io_uring.
#[derive(Debug, Clone)]
pub struct Host {
    root: PathBuf,
    io_uring_probe: Option<IoUringProbe>,
}

impl Host {
    /// The machine this process runs on: root `/`, and io_uring probed with `io_uring_setup`.
    pub fn live() -> Host {
        Host {
            root: PathBuf::from("/"),
            io_uring_probe: Some(probe::io_uring_setup()),
        }
    }

    /// A recorded snapshot laid out like the real filesystem under `root`; nothing is probed,
    /// so io_uring is judged from `io_uring_disabled` and the kernel version alone.
    pub fn snapshot(root: impl Into<PathBuf>) -> Host {
        Host {
            root: root.into(),
            io_uring_probe: None,
        }
    }

    /// The folder `/proc` and `/sys` are read under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The live `io_uring_setup` result, when this host was probed.
    pub fn io_uring_probe(&self) -> Option<IoUringProbe> {
        self.io_uring_probe
    }

    /// Where `relative` (written like `proc/sys/vm/swappiness`) lies under the root.
    fn path_of(&self, relative: &str) -> PathBuf {
        self.root.join(relative.trim_start_matches('/'))
    }

    fn unreadable(&self, relative: &str, reason: impl Into<String>) -> Unreadable {
        Unreadable {
            path: self.path_of(relative).display().to_string(),
            reason: reason.into(),
        }
    }

    /// The text of one file, at most [`FILE_BYTES_MAX`] bytes, which must be UTF-8.
    pub fn read(&self, relative: &str) -> Result<String, Unreadable> {
        let file = fs::File::open(self.path_of(relative))
            .map_err(|error| self.unreadable(relative, error.to_string()))?;
        let mut bytes = Vec::new();
        file.take(FILE_BYTES_MAX + 1)
            .read_to_end(&mut bytes)
            .map_err(|error| self.unreadable(relative, error.to_string()))?;
        if bytes.len() as u64 > FILE_BYTES_MAX {
            return Err(self.unreadable(relative, format!("larger than {FILE_BYTES_MAX} bytes")));
        }
        String::from_utf8(bytes).map_err(|_| self.unreadable(relative, "not UTF-8 text"))
    }

    /// One file parsed by `parse`; a parse failure names the file and quotes its first line.
    pub fn read_parsed<T>(
        &self,
        relative: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<T, Unreadable> {
        let text = self.read(relative)?;
        parse(&text).ok_or_else(|| {
            let first_line: String = text.lines().next().unwrap_or("").chars().take(60).collect();
            self.unreadable(relative, format!("unexpected contents {first_line:?}"))
        })
    }

    /// Whether `relative` exists (file or folder).
    pub fn exists(&self, relative: &str) -> bool {
        self.path_of(relative).exists()
    }

    /// Names in a folder, sorted, at most [`DIR_ENTRIES_MAX`]; names that are not UTF-8 are
    /// skipped (no kernel-made name under `/sys/block` or the node folder is).
    pub fn list(&self, relative: &str) -> Result<Vec<String>, Unreadable> {
        let entries = fs::read_dir(self.path_of(relative))
            .map_err(|error| self.unreadable(relative, error.to_string()))?;
        let mut names: Vec<String> = entries
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .take(DIR_ENTRIES_MAX)
            .collect();
        names.sort();
        Ok(names)
    }
}
