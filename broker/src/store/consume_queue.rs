//! A consume queue: for one (topic, queueId), fixed 20-byte entries — commit-log position
//! (i64, naming the shard), size (i32), tag hash (i64) — so queue offset → entry is
//! arithmetic. Files of `entries_per_file` entries, named by their first entry's byte offset
//! (20 digits), memory-mapped read-write. Always rebuildable from the commit log.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use memmap2::MmapMut;

use super::error::{StoreError, StoreResult};
use super::position::Position;

/// Bytes per entry.
pub const ENTRY_BYTES: u64 = 20;
/// RocketMQ's entries per file.
pub const DEFAULT_ENTRIES_PER_FILE: u64 = 300_000;

/// One entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CqEntry {
    pub position: Position,
    pub size: u32,
    pub tag_hash: i64,
}

impl CqEntry {
    fn encode(&self) -> [u8; ENTRY_BYTES as usize] {
        let mut out = [0u8; ENTRY_BYTES as usize];
        out[..8].copy_from_slice(&self.position.raw().to_be_bytes());
        out[8..12].copy_from_slice(&self.size.to_be_bytes());
        out[12..].copy_from_slice(&self.tag_hash.to_be_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Option<CqEntry> {
        let position = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        let size = u32::from_be_bytes(bytes.get(8..12)?.try_into().ok()?);
        let tag_hash = i64::from_be_bytes(bytes.get(12..20)?.try_into().ok()?);
        (size > 0).then_some(CqEntry {
            position: Position::from_raw(position),
            size,
            tag_hash,
        })
    }
}

/// RocketMQ's tag hash: Java's `String.hashCode` of the TAGS property (0 without tags).
pub fn tag_hash(tags: &str) -> i64 {
    i64::from(java_string_hash(tags))
}

pub use shardmq_protocol::message::java_string_hash;

struct CqFile {
    path: PathBuf,
    map: MmapMut,
    dirty: bool,
}

/// One queue's entries.
pub struct ConsumeQueue {
    dir: PathBuf,
    entries_per_file: u64,
    /// First entry index of each file → the file.
    files: BTreeMap<u64, CqFile>,
    /// First queue offset still readable.
    min_offset: u64,
    /// Next queue offset to be written.
    max_offset: u64,
}

fn file_name(first_index: u64) -> String {
    format!("{:020}", first_index * ENTRY_BYTES)
}

fn map_file(path: &Path, len: u64, create: bool) -> StoreResult<MmapMut> {
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .open(path)
        .map_err(|e| StoreError::io("opening", path, e))?;
    let actual = file
        .metadata()
        .map_err(|e| StoreError::io("reading size of", path, e))?
        .len();
    if actual != len {
        if create && actual == 0 {
            file.set_len(len)
                .map_err(|e| StoreError::io("sizing", path, e))?;
        } else {
            return Err(StoreError::Corrupt {
                path: path.to_owned(),
                offset: actual,
                reason: format!("consume-queue file is {actual} bytes, expected {len}"),
            });
        }
    }
    // SAFETY: consume-queue files are private to this shard's store; only this map writes
    // them, and nothing truncates a file while it is mapped (deletion unmaps first).
    #[allow(unsafe_code)]
    unsafe { MmapMut::map_mut(&file) }.map_err(|e| StoreError::io("mapping", path, e))
}

impl ConsumeQueue {
    /// Opens the queue under `dir` (created if missing) and finds its first and next offsets.
    pub fn open(dir: &Path, entries_per_file: u64) -> StoreResult<ConsumeQueue> {
        fs::create_dir_all(dir).map_err(|e| StoreError::io("creating", dir, e))?;
        let file_bytes = entries_per_file * ENTRY_BYTES;
        let mut files = BTreeMap::new();
        for entry in fs::read_dir(dir).map_err(|e| StoreError::io("listing", dir, e))? {
            let entry = entry.map_err(|e| StoreError::io("listing", dir, e))?;
            let name = entry.file_name();
            let Some(byte_offset) = name
                .to_str()
                .filter(|n| n.len() == 20)
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            if byte_offset % file_bytes != 0 {
                return Err(StoreError::Corrupt {
                    path: entry.path(),
                    offset: 0,
                    reason: format!(
                        "file name {byte_offset} is not a multiple of the file size {file_bytes}"
                    ),
                });
            }
            let map = map_file(&entry.path(), file_bytes, false)?;
            files.insert(
                byte_offset / ENTRY_BYTES,
                CqFile {
                    path: entry.path(),
                    map,
                    dirty: false,
                },
            );
        }
        let mut cq = ConsumeQueue {
            dir: dir.to_owned(),
            entries_per_file,
            files,
            min_offset: 0,
            max_offset: 0,
        };
        if let Some((&first, _)) = cq.files.iter().next() {
            cq.min_offset = first;
            // One past the last entry of the newest file that has any.
            cq.max_offset = first;
            for (&file_first, file) in cq.files.iter().rev() {
                let used = (0..entries_per_file).rev().find(|i| {
                    let at = (*i * ENTRY_BYTES) as usize;
                    file.map
                        .get(at..at + ENTRY_BYTES as usize)
                        .and_then(CqEntry::decode)
                        .is_some()
                });
                if let Some(last) = used {
                    cq.max_offset = file_first + last + 1;
                    break;
                }
            }
            // Skip leading holes left by retention in the first file.
            while cq.min_offset < cq.max_offset && cq.get(cq.min_offset).is_none() {
                cq.min_offset += 1;
            }
        }
        Ok(cq)
    }

    /// Makes an empty queue start at `offset` (a queue that moved here from another shard
    /// continues the numbering its history there ended at). Refused once it has entries.
    pub fn start_at(&mut self, offset: u64) -> StoreResult<()> {
        if self.max_offset > self.min_offset {
            return Err(StoreError::Invalid(format!(
                "consume queue {} already holds offsets {}..{}",
                self.dir.display(),
                self.min_offset,
                self.max_offset
            )));
        }
        self.min_offset = offset;
        self.max_offset = offset;
        Ok(())
    }

    /// First readable queue offset.
    pub fn min_offset(&self) -> u64 {
        self.min_offset
    }

    /// Next queue offset (one past the last entry).
    pub fn max_offset(&self) -> u64 {
        self.max_offset
    }

    /// The entry at `offset`, if it exists.
    pub fn get(&self, offset: u64) -> Option<CqEntry> {
        if offset < self.min_offset || offset >= self.max_offset {
            return None;
        }
        let first = offset - offset % self.entries_per_file;
        let file = self.files.get(&first)?;
        let at = ((offset - first) * ENTRY_BYTES) as usize;
        CqEntry::decode(file.map.get(at..at + ENTRY_BYTES as usize)?)
    }

    /// Writes the entry for `offset`, which must be the next one (or an earlier one being
    /// rewritten in recovery). Later offsets are refused.
    pub fn put(&mut self, offset: u64, entry: CqEntry) -> StoreResult<()> {
        if offset > self.max_offset || offset < self.min_offset {
            return Err(StoreError::Invalid(format!(
                "consume queue {}: entry {offset} would leave a gap after {}",
                self.dir.display(),
                self.max_offset
            )));
        }
        let first = offset - offset % self.entries_per_file;
        if !self.files.contains_key(&first) {
            let path = self.dir.join(file_name(first));
            let map = map_file(&path, self.entries_per_file * ENTRY_BYTES, true)?;
            self.files.insert(
                first,
                CqFile {
                    path,
                    map,
                    dirty: false,
                },
            );
        }
        let file = self
            .files
            .get_mut(&first)
            .ok_or_else(|| StoreError::Invalid("consume-queue file vanished".into()))?;
        let at = ((offset - first) * ENTRY_BYTES) as usize;
        file.map[at..at + ENTRY_BYTES as usize].copy_from_slice(&entry.encode());
        file.dirty = true;
        self.max_offset = self.max_offset.max(offset + 1);
        Ok(())
    }

    /// Drops entries whose bytes lie at or past `log_end` of shard `shard`'s log (after the
    /// log's tail was cut in recovery).
    pub fn truncate_past(&mut self, shard: u16, log_end: u64) -> StoreResult<u64> {
        let mut dropped = 0;
        while self.max_offset > self.min_offset {
            let last = self.max_offset - 1;
            match self.get(last) {
                Some(e)
                    if e.position.shard() == shard
                        && e.position.offset() + u64::from(e.size) > log_end =>
                {
                    let first = last - last % self.entries_per_file;
                    if let Some(file) = self.files.get_mut(&first) {
                        let at = ((last - first) * ENTRY_BYTES) as usize;
                        file.map[at..at + ENTRY_BYTES as usize].fill(0);
                        file.dirty = true;
                    }
                    self.max_offset = last;
                    dropped += 1;
                }
                _ => break,
            }
        }
        Ok(dropped)
    }

    /// Retention: the first offset becomes the first entry whose position is at or past
    /// `min_position` of `shard`; whole files before it are deleted.
    pub fn forget_below(&mut self, shard: u16, min_offset_in_log: u64) -> StoreResult<()> {
        while self.min_offset < self.max_offset {
            match self.get(self.min_offset) {
                Some(e)
                    if e.position.shard() == shard && e.position.offset() < min_offset_in_log =>
                {
                    self.min_offset += 1
                }
                _ => break,
            }
        }
        let keep_first = self.min_offset - self.min_offset % self.entries_per_file;
        let doomed: Vec<u64> = self.files.range(..keep_first).map(|(k, _)| *k).collect();
        for first in doomed {
            if let Some(file) = self.files.remove(&first) {
                drop(file.map);
                fs::remove_file(&file.path)
                    .map_err(|e| StoreError::io("deleting", &file.path, e))?;
            }
        }
        Ok(())
    }

    /// Paths of files changed since the last flush, now counted as clean: the caller syncs
    /// them off the shard's thread.
    pub fn take_dirty_files(&mut self) -> Vec<PathBuf> {
        self.files
            .values_mut()
            .filter_map(|f| std::mem::take(&mut f.dirty).then(|| f.path.clone()))
            .collect()
    }

    /// Flushes dirty files to disk.
    pub fn flush(&mut self) -> StoreResult<()> {
        for file in self.files.values_mut().filter(|f| f.dirty) {
            file.map
                .flush()
                .map_err(|e| StoreError::io("flushing", &file.path, e))?;
            file.dirty = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(offset: u64) -> CqEntry {
        CqEntry {
            position: Position::new(0, offset * 100),
            size: 100,
            tag_hash: offset as i64,
        }
    }

    #[test]
    fn java_string_hash_matches_java() {
        // Values from Java: "TagA".hashCode() == 2598919, "".hashCode() == 0, "é".hashCode() == 233.
        assert_eq!(java_string_hash("TagA"), 2_598_919);
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("é"), 233);
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
    }

    #[test]
    fn entries_span_files_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut cq = ConsumeQueue::open(dir.path(), 4).unwrap();
        for i in 0..10 {
            cq.put(i, entry(i)).unwrap();
        }
        assert!(cq.put(12, entry(12)).is_err(), "gaps are refused");
        cq.flush().unwrap();
        drop(cq);
        let cq = ConsumeQueue::open(dir.path(), 4).unwrap();
        assert_eq!((cq.min_offset(), cq.max_offset()), (0, 10));
        for i in 0..10 {
            assert_eq!(cq.get(i), Some(entry(i)));
        }
        assert_eq!(cq.get(10), None);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 3);
        assert!(
            names.contains(&"00000000000000000080".to_string()),
            "{names:?}"
        );
    }

    #[test]
    fn truncate_past_and_forget_below_move_the_ends() {
        let dir = tempfile::tempdir().unwrap();
        let mut cq = ConsumeQueue::open(dir.path(), 4).unwrap();
        for i in 0..10 {
            cq.put(i, entry(i)).unwrap();
        }
        assert_eq!(cq.truncate_past(0, 750).unwrap(), 3);
        assert_eq!(cq.max_offset(), 7);
        cq.forget_below(0, 450).unwrap();
        assert_eq!(cq.min_offset(), 5);
        assert_eq!(cq.get(4), None);
        assert!(
            !dir.path().join("00000000000000000000").exists(),
            "the first whole file went"
        );
        drop(cq);
        let cq = ConsumeQueue::open(dir.path(), 4).unwrap();
        assert_eq!(
            (cq.min_offset(), cq.max_offset()),
            (4, 7),
            "reopen finds the file's first entry"
        );
    }

    #[test]
    fn a_file_of_the_wrong_size_is_reported_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("00000000000000000000"), b"short").unwrap();
        let err = ConsumeQueue::open(dir.path(), 4).err().unwrap().to_string();
        assert!(
            err.contains("00000000000000000000") && err.contains("expected 80"),
            "{err}"
        );
    }
}
