//! The key/time index: RocketMQ's IndexFile layout, mapping a message key's hash and store time
//! to commit-log positions, in memory-mapped files under `<shard dir>/index/`.
//!
//! # File layout (big-endian, as RocketMQ writes it)
//!
//! ```text
//! header   40 bytes  beginTimestamp i64 | endTimestamp i64 | beginPhyOffset i64 |
//!                    endPhyOffset i64 | hashSlotCount i32 | indexCount i32
//! slots    slots × 4 bytes     i32: number of the newest entry in the slot, 0 = empty
//! entries  max_entries × 20    keyHash i32 | phyOffset i64 | timeDiff i32 | prevIndex i32
//! ```
//!
//! - Entry 0 is never written, so 0 means "none" in slots and in `prevIndex`; a file holds at
//!   most `max_entries - 1` entries. `indexCount` is the number of the next free entry (1 in
//!   a new file), `hashSlotCount` the number of slots in use (as in RocketMQ, not the file's
//!   slot count: that comes from [`IndexConfig`], which must therefore stay the same for a
//!   directory's life — a file of another size is reported as corrupt).
//! - `timeDiff` is whole seconds since the file's `beginTimestamp` (the first entry's store
//!   time), clamped to `0..=i32::MAX`. `prevIndex` links entries of the same slot, newest
//!   first.
//! - A file is named by its first entry's store timestamp in ms, 20 digits zero-padded. Names
//!   are kept strictly increasing (a file created in the same millisecond as the one before is
//!   named one more), so name order is creation order; the header holds the exact times.
//!
//! # What a query returns
//!
//! Only the key's hash is stored, as in RocketMQ, so [`Index::query`] returns the positions of
//! every message whose key has the same hash: **callers must re-check the key (and, for an
//! exact time range, the store timestamp) on the message itself.** Times are kept to the
//! second: an entry matches when the second it was stored in overlaps `[begin_ms, end_ms]`.
//!
//! # Bounds and damage
//!
//! Header fields are validated when a file is opened; every read of a slot or an entry is
//! bounds-checked; a chain is followed only backwards (each `prevIndex` smaller than the entry
//! it is in) and for at most `indexCount` steps, so a damaged file yields fewer results, never
//! a panic or a hang.

use std::cell::Cell;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use memmap2::MmapMut;
use shardmq_protocol::message::properties::{self, names, KEY_SEPARATOR};
use smallvec::SmallVec;

use super::error::{StoreError, StoreResult};

/// Bytes of an index file's header.
pub const HEADER_BYTES: usize = 40;
/// Bytes of one hash slot.
pub const SLOT_BYTES: usize = 4;
/// Bytes of one entry.
pub const ENTRY_BYTES: usize = 20;
/// Digits of an index file's name (its first store timestamp in ms, zero-padded).
pub const FILE_NAME_DIGITS: usize = 20;

const BEGIN_TIMESTAMP_AT: usize = 0;
const END_TIMESTAMP_AT: usize = 8;
const BEGIN_POSITION_AT: usize = 16;
const END_POSITION_AT: usize = 24;
const USED_SLOTS_AT: usize = 32;
const INDEX_COUNT_AT: usize = 36;
const _: () = assert!(INDEX_COUNT_AT + 4 == HEADER_BYTES);

const ENTRY_HASH_AT: usize = 0;
const ENTRY_POSITION_AT: usize = 4;
const ENTRY_TIME_DIFF_AT: usize = 12;
const ENTRY_PREV_AT: usize = 16;
const _: () = assert!(ENTRY_PREV_AT + 4 == ENTRY_BYTES);

/// `timeDiff` unit: an entry's time is known to this many milliseconds.
const TIME_DIFF_UNIT_MS: i64 = 1000;

/// The geometry of every index file in a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexConfig {
    /// Hash slots per file; `1..=i32::MAX`.
    pub slots: u32,
    /// Entry records per file, entry 0 included (so `max_entries - 1` usable); `2..=i32::MAX`.
    pub max_entries: u32,
}

impl Default for IndexConfig {
    /// RocketMQ's defaults: 5 million slots and 20 million entries, about 420 MB per file.
    fn default() -> Self {
        IndexConfig {
            slots: 5_000_000,
            max_entries: 20_000_000,
        }
    }
}

impl IndexConfig {
    /// Size of one index file with this geometry.
    pub fn file_bytes(&self) -> u64 {
        // Cannot overflow: both terms are below 2^32 × 20.
        HEADER_BYTES as u64
            + u64::from(self.slots) * SLOT_BYTES as u64
            + u64::from(self.max_entries) * ENTRY_BYTES as u64
    }

    /// Checks the ranges the on-disk i32 fields impose; returns the file size as a `usize`.
    fn validate(&self) -> StoreResult<usize> {
        let i32_max = i32::MAX as u32;
        if self.slots == 0 || self.slots > i32_max {
            return Err(StoreError::Invalid(format!(
                "index slots {} outside 1..={i32_max}",
                self.slots
            )));
        }
        if self.max_entries < 2 || self.max_entries > i32_max {
            return Err(StoreError::Invalid(format!(
                "index max_entries {} outside 2..={i32_max} (entry 0 is never used)",
                self.max_entries
            )));
        }
        usize::try_from(self.file_bytes()).map_err(|_| {
            StoreError::Invalid(format!(
                "index file of {} bytes does not fit this machine's address space",
                self.file_bytes()
            ))
        })
    }

    fn slot_at(&self, slot: u32) -> usize {
        HEADER_BYTES + slot as usize * SLOT_BYTES
    }

    fn entry_at(&self, entry: u32) -> usize {
        HEADER_BYTES + self.slots as usize * SLOT_BYTES + entry as usize * ENTRY_BYTES
    }
}

/// The stable hash stored for a key: Java's `String.hashCode` over the key's UTF-16 code
/// units, made non-negative as RocketMQ does (`Math.abs`, and 0 for `Integer.MIN_VALUE`).
/// It must never change: files written by one build are read by the next.
pub fn key_hash(key: &str) -> i32 {
    super::consume_queue::java_string_hash(key)
        .checked_abs()
        .unwrap_or(0)
}

/// Index hashes of one message's keys: most messages have one or two.
pub type KeyHashes = SmallVec<[i32; 2]>;

/// The hashes [`Index::put_message_keys`] indexes for a message whose KEYS property is
/// `keys` and UNIQ_KEY is `unique` (each word of KEYS, empty words skipped, then UNIQ_KEY).
pub fn message_key_hashes(keys: &str, unique: &str) -> KeyHashes {
    keys.split(KEY_SEPARATOR)
        .chain(std::iter::once(unique))
        .filter(|k| !k.is_empty())
        .map(key_hash)
        .collect()
}

/// A directory of index files; appends go to the newest, and a full file rolls over to a
/// new one. Owned by one shard; reads and writes are plain memory accesses, `flush` and
/// rollover make blocking syscalls.
#[derive(Debug)]
pub struct Index {
    dir: PathBuf,
    config: IndexConfig,
    /// Oldest first; bounded by retention ([`Index::delete_below`]).
    files: Vec<IndexFile>,
}

impl Index {
    /// Opens the index in `dir`, creating the directory if missing. Every file named by 20
    /// digits is mapped and its header checked; other names are ignored.
    pub fn open(dir: &Path, config: IndexConfig) -> StoreResult<Index> {
        let file_bytes = config.validate()?;
        fs::create_dir_all(dir).map_err(|e| StoreError::io("create index dir", dir, e))?;
        let mut names = Vec::new();
        for entry in fs::read_dir(dir).map_err(|e| StoreError::io("list index dir", dir, e))? {
            let entry = entry.map_err(|e| StoreError::io("list index dir", dir, e))?;
            let file_name = entry.file_name();
            match file_name.to_str().and_then(parse_file_name) {
                Some(name_ms) => names.push(name_ms),
                None => tracing::debug!(
                    "ignoring {} in the index directory: not an index file name",
                    entry.path().display()
                ),
            }
        }
        names.sort_unstable();
        let files = names
            .into_iter()
            .map(|name_ms| IndexFile::load(dir, name_ms, &config, file_bytes))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Index {
            dir: dir.to_path_buf(),
            config,
            files,
        })
    }

    /// Indexes `key` for the message at `position`, stored at `store_timestamp_ms`.
    /// Positions above `i64::MAX` are refused (the file stores an i64).
    pub fn put(&mut self, key: &str, position: u64, store_timestamp_ms: i64) -> StoreResult<()> {
        self.put_hash(key_hash(key), position, store_timestamp_ms)
    }

    /// [`Index::put`] of a key already hashed with [`key_hash`].
    pub fn put_hash(
        &mut self,
        hash: i32,
        position: u64,
        store_timestamp_ms: i64,
    ) -> StoreResult<()> {
        let position = i64::try_from(position).map_err(|_| {
            StoreError::Invalid(format!(
                "index position {position} does not fit the file's i64"
            ))
        })?;
        let config = self.config;
        if self.files.last().is_none_or(|f| f.is_full(&config)) {
            let file = self.create_file(store_timestamp_ms)?;
            self.files.push(file);
        }
        match self.files.last_mut() {
            Some(file) => file.put(&config, hash, position, store_timestamp_ms),
            // Cannot happen: a file was pushed above when there was none.
            None => Err(StoreError::Invalid("index has no file to append to".into())),
        }
    }

    /// Indexes every key of a message: each word of the KEYS property (split on spaces,
    /// empty words skipped) and the UNIQ_KEY property. `properties` is the encoded form.
    pub fn put_message_keys(
        &mut self,
        properties: &str,
        position: u64,
        store_timestamp_ms: i64,
    ) -> StoreResult<()> {
        let keys = properties::find(properties, names::KEYS).unwrap_or("");
        let unique =
            properties::find(properties, names::UNIQ_CLIENT_MESSAGE_ID_KEYIDX).unwrap_or("");
        for hash in message_key_hashes(keys, unique) {
            self.put_hash(hash, position, store_timestamp_ms)?;
        }
        Ok(())
    }

    /// Positions of messages whose key hashes like `key`, stored in a second that overlaps
    /// `[begin_ms, end_ms]`, newest first, at most `max`. Only hashes are compared: callers
    /// re-check the key (and the exact store time) on each message. A position repeated back
    /// to back (a message indexed twice, e.g. re-indexed after a crash) is returned once.
    ///
    /// Within a file the walk stops at the first entry older than `begin_ms`, as RocketMQ's
    /// does: entries are appended in store-time order.
    pub fn query(&self, key: &str, begin_ms: i64, end_ms: i64, max: usize) -> Vec<u64> {
        let mut found = Vec::new();
        if max == 0 || begin_ms > end_ms {
            return found;
        }
        let hash = key_hash(key);
        for file in self.files.iter().rev() {
            if found.len() >= max {
                break;
            }
            file.collect(&self.config, hash, begin_ms, end_ms, max, &mut found);
        }
        found
    }

    /// Highest position indexed so far, `None` when nothing is. Recovery re-indexes the
    /// messages after it; re-indexing the message *at* it too is safe (a message whose keys
    /// were cut short by a crash is completed, and `query` drops back-to-back repeats).
    pub fn last_position(&self) -> Option<u64> {
        // Positions only grow from file to file: the newest non-empty file holds the last.
        self.files
            .iter()
            .rev()
            .find(|f| !f.is_empty())
            .and_then(|f| u64::try_from(f.header.end_position).ok())
    }

    /// Writes every file changed since the last flush to disk (`msync`).
    pub fn flush(&self) -> StoreResult<()> {
        for file in &self.files {
            if file.dirty.get() {
                file.map
                    .flush()
                    .map_err(|e| StoreError::io("msync index file", &file.path, e))?;
                file.dirty.set(false);
            }
        }
        Ok(())
    }

    /// Paths of files changed since the last flush, now counted as clean: the caller syncs
    /// them (`fdatasync` on the file writes back pages dirtied through the map) off the
    /// shard's thread.
    pub fn take_dirty_files(&self) -> Vec<PathBuf> {
        self.files
            .iter()
            .filter(|f| f.dirty.replace(false))
            .map(|f| f.path.clone())
            .collect()
    }

    /// Retention: deletes whole files, oldest first, while a file's highest position is below
    /// `min_position` (or it is empty). The newest file is always kept, so appends and
    /// [`Index::last_position`] go on. Returns how many files were deleted.
    pub fn delete_below(&mut self, min_position: u64) -> StoreResult<usize> {
        let mut deleted = 0;
        while self.files.len() > 1 {
            let oldest = &self.files[0];
            let below = oldest.is_empty()
                || u64::try_from(oldest.header.end_position).is_ok_and(|end| end < min_position);
            if !below {
                break;
            }
            // Unlinking a mapped file is fine on Linux; the map goes when the file is dropped.
            match fs::remove_file(&oldest.path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io("delete index file", &oldest.path, e)),
            }
            self.files.remove(0);
            deleted += 1;
        }
        Ok(deleted)
    }

    /// The directory this index lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many index files there are.
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// Creates the next file, named by `store_timestamp_ms` or one more than the newest
    /// file's name, whichever is larger.
    fn create_file(&self, store_timestamp_ms: i64) -> StoreResult<IndexFile> {
        let wanted_ms = u64::try_from(store_timestamp_ms).unwrap_or(0);
        let name_ms = match self.files.last() {
            Some(newest) => wanted_ms.max(newest.name_ms.saturating_add(1)),
            None => wanted_ms,
        };
        IndexFile::create(&self.dir, name_ms, &self.config)
    }
}

/// `Some(ms)` when `name` is an index file's name.
fn parse_file_name(name: &str) -> Option<u64> {
    if name.len() != FILE_NAME_DIGITS || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

fn file_path(dir: &Path, name_ms: u64) -> PathBuf {
    dir.join(format!("{name_ms:0width$}", width = FILE_NAME_DIGITS))
}

/// An index file's header, kept in memory and written to the map on every put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    begin_timestamp_ms: i64,
    /// The highest store time indexed (RocketMQ keeps the last one; equal when times rise).
    end_timestamp_ms: i64,
    begin_position: i64,
    /// The highest position indexed.
    end_position: i64,
    /// Slots in use.
    used_slots: i32,
    /// Number of the next free entry; 1 in an empty file.
    index_count: i32,
}

impl Header {
    const EMPTY: Header = Header {
        begin_timestamp_ms: 0,
        end_timestamp_ms: 0,
        begin_position: 0,
        end_position: 0,
        used_slots: 0,
        index_count: 1,
    };

    fn read(bytes: &[u8]) -> Option<Header> {
        Some(Header {
            begin_timestamp_ms: read_i64(bytes, BEGIN_TIMESTAMP_AT)?,
            end_timestamp_ms: read_i64(bytes, END_TIMESTAMP_AT)?,
            begin_position: read_i64(bytes, BEGIN_POSITION_AT)?,
            end_position: read_i64(bytes, END_POSITION_AT)?,
            used_slots: read_i32(bytes, USED_SLOTS_AT)?,
            index_count: read_i32(bytes, INDEX_COUNT_AT)?,
        })
    }

    fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut out = [0u8; HEADER_BYTES];
        out[BEGIN_TIMESTAMP_AT..][..8].copy_from_slice(&self.begin_timestamp_ms.to_be_bytes());
        out[END_TIMESTAMP_AT..][..8].copy_from_slice(&self.end_timestamp_ms.to_be_bytes());
        out[BEGIN_POSITION_AT..][..8].copy_from_slice(&self.begin_position.to_be_bytes());
        out[END_POSITION_AT..][..8].copy_from_slice(&self.end_position.to_be_bytes());
        out[USED_SLOTS_AT..][..4].copy_from_slice(&self.used_slots.to_be_bytes());
        out[INDEX_COUNT_AT..][..4].copy_from_slice(&self.index_count.to_be_bytes());
        out
    }

    /// Checks a header read from `path`; 0 entries (`indexCount` 0, as RocketMQ tolerates)
    /// becomes 1.
    fn validate(mut self, path: &Path, config: &IndexConfig) -> StoreResult<Header> {
        let corrupt = |offset: usize, reason: String| StoreError::Corrupt {
            path: path.to_path_buf(),
            offset: offset as u64,
            reason,
        };
        if self.index_count < 0 || self.index_count as u32 > config.max_entries {
            return Err(corrupt(
                INDEX_COUNT_AT,
                format!(
                    "indexCount {} outside 0..={} (max_entries)",
                    self.index_count, config.max_entries
                ),
            ));
        }
        if self.used_slots < 0 || self.used_slots as u32 > config.slots {
            return Err(corrupt(
                USED_SLOTS_AT,
                format!(
                    "hashSlotCount {} outside 0..={} (slots)",
                    self.used_slots, config.slots
                ),
            ));
        }
        self.index_count = self.index_count.max(1);
        if self.index_count > 1 {
            if self.end_timestamp_ms < self.begin_timestamp_ms {
                return Err(corrupt(
                    END_TIMESTAMP_AT,
                    format!(
                        "endTimestamp {} before beginTimestamp {}",
                        self.end_timestamp_ms, self.begin_timestamp_ms
                    ),
                ));
            }
            if self.begin_position < 0 {
                return Err(corrupt(
                    BEGIN_POSITION_AT,
                    format!("beginPhyOffset {} is negative", self.begin_position),
                ));
            }
            if self.end_position < self.begin_position {
                return Err(corrupt(
                    END_POSITION_AT,
                    format!(
                        "endPhyOffset {} below beginPhyOffset {}",
                        self.end_position, self.begin_position
                    ),
                ));
            }
        }
        Ok(self)
    }
}

/// One mapped index file.
#[derive(Debug)]
struct IndexFile {
    path: PathBuf,
    /// The timestamp in the file's name.
    name_ms: u64,
    /// Exactly `IndexConfig::file_bytes` long (checked at open and create).
    map: MmapMut,
    header: Header,
    /// Changed since the last `msync`.
    dirty: Cell<bool>,
}

impl IndexFile {
    /// Creates, preallocates and maps a new file. Preallocating turns a full disk into
    /// `DiskFull` here instead of a SIGBUS when a page of the map is first written.
    fn create(dir: &Path, name_ms: u64, config: &IndexConfig) -> StoreResult<IndexFile> {
        let path = file_path(dir, name_ms);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| StoreError::io("create index file", &path, e))?;
        let made = preallocate(&file, config.file_bytes())
            .map_err(|e| StoreError::io("preallocate index file", &path, e))
            .and_then(|()| map(&file, &path))
            .and_then(|map| {
                let mut index_file = IndexFile {
                    path: path.clone(),
                    name_ms,
                    map,
                    header: Header::EMPTY,
                    dirty: Cell::new(true),
                };
                index_file.write_header();
                file.sync_all()
                    .map_err(|e| StoreError::io("fsync index file", &path, e))?;
                super::metadata::sync_dir(dir)?;
                Ok(index_file)
            });
        if made.is_err() {
            // Best effort: a half-made file would be reported as corrupt at the next open.
            let _ = fs::remove_file(&path);
        }
        made
    }

    /// Maps an existing file and checks its size and header.
    fn load(
        dir: &Path,
        name_ms: u64,
        config: &IndexConfig,
        file_bytes: usize,
    ) -> StoreResult<IndexFile> {
        let path = file_path(dir, name_ms);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::io("open index file", &path, e))?;
        let len_bytes = file
            .metadata()
            .map_err(|e| StoreError::io("stat index file", &path, e))?
            .len();
        if len_bytes != file_bytes as u64 {
            return Err(StoreError::Corrupt {
                path,
                offset: len_bytes.min(file_bytes as u64),
                reason: format!(
                    "index file is {len_bytes} bytes; slots {} and max_entries {} make {file_bytes}",
                    config.slots, config.max_entries
                ),
            });
        }
        let map = map(&file, &path)?;
        let header = Header::read(&map)
            .ok_or_else(|| StoreError::Corrupt {
                path: path.clone(),
                offset: 0,
                reason: "shorter than its header".into(),
            })?
            .validate(&path, config)?;
        Ok(IndexFile {
            path,
            name_ms,
            map,
            header,
            dirty: Cell::new(false),
        })
    }

    fn is_empty(&self) -> bool {
        self.header.index_count <= 1
    }

    fn is_full(&self, config: &IndexConfig) -> bool {
        self.header.index_count as u32 >= config.max_entries
    }

    fn write_header(&mut self) {
        let encoded = self.header.encode();
        // The map is at least HEADER_BYTES long (file size checked against the config).
        if let Some(out) = self.map.get_mut(..HEADER_BYTES) {
            out.copy_from_slice(&encoded);
        }
        self.dirty.set(true);
    }

    /// Appends one entry. The caller has checked the file is not full.
    fn put(
        &mut self,
        config: &IndexConfig,
        hash: i32,
        position: i64,
        store_timestamp_ms: i64,
    ) -> StoreResult<()> {
        let entry = self.header.index_count as u32;
        debug_assert!(entry >= 1 && entry < config.max_entries);
        if self.is_empty() {
            self.header.begin_timestamp_ms = store_timestamp_ms;
            self.header.end_timestamp_ms = store_timestamp_ms;
            self.header.begin_position = position;
            self.header.end_position = position;
        }
        let slot_at = config.slot_at(hash as u32 % config.slots);
        // A slot pointing at or past this entry is damage (or a torn write): start a new chain.
        let prev = read_i32(&self.map, slot_at)
            .filter(|&p| p > 0 && (p as u32) < entry)
            .unwrap_or(0);
        let time_diff = (store_timestamp_ms.saturating_sub(self.header.begin_timestamp_ms)
            / TIME_DIFF_UNIT_MS)
            .clamp(0, i64::from(i32::MAX)) as i32;

        let mut record = [0u8; ENTRY_BYTES];
        record[ENTRY_HASH_AT..][..4].copy_from_slice(&hash.to_be_bytes());
        record[ENTRY_POSITION_AT..][..8].copy_from_slice(&position.to_be_bytes());
        record[ENTRY_TIME_DIFF_AT..][..4].copy_from_slice(&time_diff.to_be_bytes());
        record[ENTRY_PREV_AT..][..4].copy_from_slice(&prev.to_be_bytes());
        self.write_at(config.entry_at(entry), &record)?;
        self.write_at(slot_at, &(entry as i32).to_be_bytes())?;

        let header = &mut self.header;
        if prev == 0 && (header.used_slots as u32) < config.slots {
            header.used_slots += 1;
        }
        header.index_count += 1;
        header.end_timestamp_ms = header.end_timestamp_ms.max(store_timestamp_ms);
        header.begin_position = header.begin_position.min(position);
        header.end_position = header.end_position.max(position);
        self.write_header();
        Ok(())
    }

    fn write_at(&mut self, at: usize, bytes: &[u8]) -> StoreResult<()> {
        match at
            .checked_add(bytes.len())
            .and_then(|end| self.map.get_mut(at..end))
        {
            Some(out) => {
                out.copy_from_slice(bytes);
                Ok(())
            }
            None => Err(StoreError::Corrupt {
                path: self.path.clone(),
                offset: at as u64,
                reason: format!("write of {} bytes past the end of the map", bytes.len()),
            }),
        }
    }

    /// Appends to `found` the positions of entries with `hash` matching the time range,
    /// newest first, until `found` holds `max`.
    fn collect(
        &self,
        config: &IndexConfig,
        hash: i32,
        begin_ms: i64,
        end_ms: i64,
        max: usize,
        found: &mut Vec<u64>,
    ) {
        let header = &self.header;
        let last_second_ms = TIME_DIFF_UNIT_MS - 1;
        if self.is_empty()
            || header.begin_timestamp_ms > end_ms
            || header.end_timestamp_ms.saturating_add(last_second_ms) < begin_ms
        {
            return;
        }
        let count = header.index_count as u32;
        let slot_at = config.slot_at(hash as u32 % config.slots);
        let mut entry = match read_i32(&self.map, slot_at) {
            Some(newest) if newest > 0 && (newest as u32) < count => newest as u32,
            _ => return,
        };
        // Bounded twice over: each step goes to a smaller entry number, and there are at
        // most `count` steps.
        for _ in 0..count {
            let at = config.entry_at(entry);
            let (Some(entry_hash), Some(position), Some(time_diff), Some(prev)) = (
                read_i32(&self.map, at + ENTRY_HASH_AT),
                read_i64(&self.map, at + ENTRY_POSITION_AT),
                read_i32(&self.map, at + ENTRY_TIME_DIFF_AT),
                read_i32(&self.map, at + ENTRY_PREV_AT),
            ) else {
                return;
            };
            let stored_ms = header
                .begin_timestamp_ms
                .saturating_add(i64::from(time_diff.max(0)) * TIME_DIFF_UNIT_MS);
            if stored_ms.saturating_add(last_second_ms) < begin_ms {
                return;
            }
            if entry_hash == hash && stored_ms <= end_ms {
                if let Ok(position) = u64::try_from(position) {
                    if found.last() != Some(&position) {
                        found.push(position);
                        if found.len() >= max {
                            return;
                        }
                    }
                }
            }
            if prev <= 0 {
                return;
            }
            if prev as u32 >= entry {
                tracing::warn!(
                    "index file {}: entry {entry} links forward to {prev}; chain cut there",
                    self.path.display()
                );
                return;
            }
            entry = prev as u32;
        }
    }
}

fn read_i32(bytes: &[u8], at: usize) -> Option<i32> {
    let raw = bytes.get(at..at.checked_add(4)?)?;
    Some(i32::from_be_bytes(raw.try_into().ok()?))
}

fn read_i64(bytes: &[u8], at: usize) -> Option<i64> {
    let raw = bytes.get(at..at.checked_add(8)?)?;
    Some(i64::from_be_bytes(raw.try_into().ok()?))
}

/// Allocates the file's blocks (falling back to a sparse `set_len` where the filesystem
/// cannot), so the map never writes into a hole on a full disk.
fn preallocate(file: &File, len_bytes: u64) -> io::Result<()> {
    let len = libc::off_t::try_from(len_bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file too large"))?;
    // SAFETY: a plain syscall on a descriptor `file` keeps open for the call's duration.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
    match rc {
        0 => Ok(()),
        libc::EOPNOTSUPP | libc::ENOSYS => file.set_len(len_bytes),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

fn map(file: &File, path: &Path) -> StoreResult<MmapMut> {
    // SAFETY: index files belong to this shard alone; nothing else truncates or writes them
    // while they are mapped, and every read of the map is bounds-checked.
    unsafe { MmapMut::map_mut(file) }.map_err(|e| StoreError::io("map index file", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TINY: IndexConfig = IndexConfig {
        slots: 4,
        max_entries: 5,
    };

    /// Room for every test's puts in one file.
    const ROOMY: IndexConfig = IndexConfig {
        slots: 64,
        max_entries: 256,
    };

    fn open(dir: &Path, config: IndexConfig) -> Index {
        Index::open(dir, config).expect("open index")
    }

    fn index_files(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
    }

    fn patch(path: &Path, at: usize, bytes: &[u8]) {
        let mut contents = fs::read(path).unwrap();
        contents[at..at + bytes.len()].copy_from_slice(bytes);
        fs::write(path, contents).unwrap();
    }

    #[test]
    fn key_hash_is_java_string_hash_code_made_non_negative() {
        let cases: &[(&str, i32)] = &[
            ("", 0),
            ("a", 97),
            ("hello", 99_162_322),
            // Two UTF-16 units for one code point: 0xD83D * 31 + 0xDE00.
            ("\u{1F600}", 0xD83D * 31 + 0xDE00),
            // "polygenelubricants".hashCode() == Integer.MIN_VALUE; RocketMQ maps it to 0.
            ("polygenelubricants", 0),
        ];
        for (key, want) in cases {
            assert_eq!(key_hash(key), *want, "key {key:?}");
        }
        // A key whose Java hash is negative comes back as its absolute value.
        let negative = "zzzzzzzzzz";
        let java: i32 = negative
            .encode_utf16()
            .fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(i32::from(u)));
        assert!(java < 0, "fixture must hash negative in Java");
        assert_eq!(key_hash(negative), -java);
    }

    #[test]
    fn query_returns_positions_of_the_key_newest_first() {
        let tmp = tempfile::tempdir().unwrap();
        let mut index = open(tmp.path(), ROOMY);
        index.put("order-1", 100, 10_000).unwrap();
        index.put("order-2", 200, 11_000).unwrap();
        index.put("order-1", 300, 12_000).unwrap();
        index.put("order-1", 400, 13_000).unwrap();
        assert_eq!(index.query("order-1", 0, i64::MAX, 10), vec![400, 300, 100]);
        assert_eq!(index.query("order-2", 0, i64::MAX, 10), vec![200]);
        assert_eq!(index.query("order-3", 0, i64::MAX, 10), Vec::<u64>::new());
        assert_eq!(index.query("order-1", 0, i64::MAX, 2), vec![400, 300]);
        assert_eq!(index.query("order-1", 0, i64::MAX, 0), Vec::<u64>::new());
    }

    #[test]
    fn query_keeps_only_entries_stored_within_the_time_range() {
        let tmp = tempfile::tempdir().unwrap();
        let mut index = open(tmp.path(), ROOMY);
        for (i, ts) in [10_000, 20_000, 30_000, 40_000].into_iter().enumerate() {
            index.put("k", i as u64, ts).unwrap();
        }
        assert_eq!(index.query("k", 20_000, 30_000, 10), vec![2, 1]);
        assert_eq!(index.query("k", 15_000, 25_000, 10), vec![1]);
        assert_eq!(index.query("k", 41_000, 90_000, 10), Vec::<u64>::new());
        assert_eq!(index.query("k", 0, 9_000, 10), Vec::<u64>::new());
        assert_eq!(index.query("k", 30_000, 20_000, 10), Vec::<u64>::new());
    }

    #[test]
    fn store_time_is_kept_to_the_second_so_a_range_inside_that_second_matches() {
        let tmp = tempfile::tempdir().unwrap();
        let mut index = open(tmp.path(), ROOMY);
        index.put("k", 1, 10_000).unwrap();
        index.put("k", 2, 11_700).unwrap(); // recorded as second 11_000..=11_999
        assert_eq!(index.query("k", 11_500, 11_600, 10), vec![2]);
        assert_eq!(index.query("k", 12_000, 13_000, 10), Vec::<u64>::new());
        assert_eq!(index.query("k", 10_999, 10_999, 10), vec![1]);
    }

    #[test]
    fn colliding_keys_share_a_hash_so_callers_must_recheck_the_key() {
        // "Aa" and "BB" have the same Java hashCode (2112).
        assert_eq!(key_hash("Aa"), key_hash("BB"));
        let tmp = tempfile::tempdir().unwrap();
        let mut index = open(tmp.path(), ROOMY);
        index.put("Aa", 1, 1_000).unwrap();
        index.put("BB", 2, 1_000).unwrap();
        assert_eq!(index.query("Aa", 0, i64::MAX, 10), vec![2, 1]);
    }

    #[test]
    fn a_full_file_rolls_over_and_query_spans_files() {
        let tmp = tempfile::tempdir().unwrap();
        let mut index = open(tmp.path(), TINY); // 4 entries per file
        for position in 0..10u64 {
            index.put("k", position, 5_000).unwrap();
        }
        assert_eq!(index.file_count(), 3);
        let names: Vec<String> = index_files(tmp.path())
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
            .collect();
        // Same millisecond: names are kept distinct and increasing.
        assert_eq!(
            names,
            [
                "00000000000000005000",
                "00000000000000005001",
                "00000000000000005002"
            ]
        );
        for path in index_files(tmp.path()) {
            assert_eq!(fs::metadata(&path).unwrap().len(), TINY.file_bytes());
        }
        let all: Vec<u64> = (0..10).rev().collect();
        assert_eq!(index.query("k", 0, i64::MAX, 100), all);
        assert_eq!(index.query("k", 0, i64::MAX, 6), all[..6]);
    }

    #[test]
    fn reopen_after_drop_keeps_entries_and_last_position() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("shard-0").join("index");
        {
            let mut index = open(&dir, TINY);
            assert_eq!(index.last_position(), None);
            for position in 0..6u64 {
                index
                    .put(&format!("k{}", position % 2), position * 10, 1_000)
                    .unwrap();
            }
            index.flush().unwrap();
            assert_eq!(index.last_position(), Some(50));
        }
        let mut index = open(&dir, TINY);
        assert_eq!(index.file_count(), 2);
        assert_eq!(index.last_position(), Some(50));
        assert_eq!(index.query("k0", 0, i64::MAX, 10), vec![40, 20, 0]);
        assert_eq!(index.query("k1", 0, i64::MAX, 10), vec![50, 30, 10]);
        index.put("k0", 60, 2_000).unwrap();
        assert_eq!(index.query("k0", 0, i64::MAX, 10), vec![60, 40, 20, 0]);
        assert_eq!(index.last_position(), Some(60));
    }

    #[test]
    fn reopen_with_other_geometry_reports_the_file_size_as_corrupt() {
        let tmp = tempfile::tempdir().unwrap();
        open(tmp.path(), TINY).put("k", 1, 1_000).unwrap();
        let other = IndexConfig { slots: 8, ..TINY };
        match Index::open(tmp.path(), other) {
            Err(StoreError::Corrupt { path, offset, .. }) => {
                assert_eq!(path, index_files(tmp.path())[0]);
                assert_eq!(offset, TINY.file_bytes());
            }
            other => panic!("want Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn a_corrupt_header_count_is_reported_with_the_file_and_byte() {
        let tmp = tempfile::tempdir().unwrap();
        open(tmp.path(), TINY).put("k", 1, 1_000).unwrap();
        let path = index_files(tmp.path())[0].clone();
        let cases: &[(usize, i32, u64)] = &[
            (INDEX_COUNT_AT, 6, INDEX_COUNT_AT as u64), // above max_entries (5)
            (INDEX_COUNT_AT, -1, INDEX_COUNT_AT as u64),
            (USED_SLOTS_AT, 5, USED_SLOTS_AT as u64), // above slots (4)
        ];
        for &(at, value, want_offset) in cases {
            let good = fs::read(&path).unwrap();
            patch(&path, at, &value.to_be_bytes());
            let err = Index::open(tmp.path(), TINY).expect_err("corrupt header must fail open");
            let text = err.to_string();
            match err {
                StoreError::Corrupt {
                    path: p, offset, ..
                } => {
                    assert_eq!(
                        (p, offset),
                        (path.clone(), want_offset),
                        "patch {at} = {value}"
                    );
                    assert!(text.contains(path.to_str().unwrap()), "{text}");
                }
                other => panic!("patch {at} = {value}: want Corrupt, got {other:?}"),
            }
            fs::write(&path, good).unwrap();
        }
        assert!(Index::open(tmp.path(), TINY).is_ok(), "restored file opens");
    }

    #[test]
    fn a_prev_index_cycle_ends_the_walk_instead_of_hanging() {
        let tmp = tempfile::tempdir().unwrap();
        let config = IndexConfig {
            slots: 1,
            max_entries: 8,
        };
        {
            let mut index = open(tmp.path(), config);
            for position in 1..=4u64 {
                index.put("k", position, 1_000).unwrap();
            }
        }
        let path = index_files(tmp.path())[0].clone();
        // Entry 2 links forward to 4, which links back down to 3, 2, ...: a cycle.
        patch(
            &path,
            config.entry_at(2) + ENTRY_PREV_AT,
            &4i32.to_be_bytes(),
        );
        // And the slot itself points at entry 4 (the newest): walk 4 → 3 → 2 → (4: cut).
        let index = open(tmp.path(), config);
        assert_eq!(index.query("k", 0, i64::MAX, 100), vec![4, 3, 2]);

        // A self-loop is cut too.
        patch(
            &path,
            config.entry_at(4) + ENTRY_PREV_AT,
            &4i32.to_be_bytes(),
        );
        let index = open(tmp.path(), config);
        assert_eq!(index.query("k", 0, i64::MAX, 100), vec![4]);
    }

    #[test]
    fn delete_below_removes_only_whole_old_files_and_keeps_the_newest() {
        let tmp = tempfile::tempdir().unwrap();
        let mut index = open(tmp.path(), TINY); // 4 entries per file
        for position in 0..10u64 {
            index.put("k", position, 1_000 + position as i64).unwrap();
        }
        // Files hold positions 0..=3, 4..=7, 8..=9.
        assert_eq!(index.file_count(), 3);
        assert_eq!(
            index.delete_below(3).unwrap(),
            0,
            "file 0..=3 still holds 3"
        );
        assert_eq!(index.delete_below(4).unwrap(), 1);
        assert_eq!(index.file_count(), 2);
        assert_eq!(index_files(tmp.path()).len(), 2);
        assert_eq!(
            index.query("k", 0, i64::MAX, 100),
            vec![9, 8, 7, 6, 5, 4],
            "entries of kept files survive"
        );
        assert_eq!(index.delete_below(u64::MAX).unwrap(), 1, "newest is kept");
        assert_eq!(index.file_count(), 1);
        assert_eq!(index.last_position(), Some(9));
        assert_eq!(index_files(tmp.path()).len(), 1);
    }

    #[test]
    fn put_message_keys_indexes_each_keys_word_and_the_uniq_key() {
        let tmp = tempfile::tempdir().unwrap();
        let mut index = open(tmp.path(), ROOMY);
        let props =
            "TAGS\u{1}tag-a\u{2}KEYS\u{1}order-1  user-7\u{2}UNIQ_KEY\u{1}AC11000100002A9F\u{2}";
        index.put_message_keys(props, 4096, 1_000).unwrap();
        index
            .put_message_keys("KEYS\u{1}user-7\u{2}", 8192, 2_000)
            .unwrap();
        index
            .put_message_keys("TAGS\u{1}x\u{2}", 9000, 3_000)
            .unwrap();
        assert_eq!(index.query("order-1", 0, i64::MAX, 10), vec![4096]);
        assert_eq!(index.query("user-7", 0, i64::MAX, 10), vec![8192, 4096]);
        assert_eq!(index.query("AC11000100002A9F", 0, i64::MAX, 10), vec![4096]);
        assert_eq!(index.query("tag-a", 0, i64::MAX, 10), Vec::<u64>::new());
        assert_eq!(index.query("", 0, i64::MAX, 10), Vec::<u64>::new());
        assert_eq!(
            index.last_position(),
            Some(8192),
            "a message without keys adds nothing"
        );
    }

    #[test]
    fn a_position_indexed_twice_back_to_back_is_returned_once() {
        let tmp = tempfile::tempdir().unwrap();
        let mut index = open(tmp.path(), ROOMY);
        index.put("k", 7, 1_000).unwrap();
        index.put("k", 7, 1_000).unwrap(); // re-indexed after a crash
        index.put("k", 9, 1_000).unwrap();
        assert_eq!(index.query("k", 0, i64::MAX, 10), vec![9, 7]);
    }

    #[test]
    fn bad_config_and_position_are_invalid_requests() {
        let tmp = tempfile::tempdir().unwrap();
        for config in [
            IndexConfig {
                slots: 0,
                max_entries: 5,
            },
            IndexConfig {
                slots: 4,
                max_entries: 1,
            },
            IndexConfig {
                slots: u32::MAX,
                max_entries: 5,
            },
        ] {
            assert!(
                matches!(Index::open(tmp.path(), config), Err(StoreError::Invalid(_))),
                "{config:?}"
            );
        }
        let mut index = open(tmp.path(), TINY);
        assert!(matches!(
            index.put("k", u64::MAX, 1_000),
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(index.file_count(), 0, "a refused put creates no file");
    }

    #[test]
    fn non_index_file_names_are_ignored_at_open() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("README"), b"not an index").unwrap();
        fs::write(tmp.path().join("0000000000000000100"), b"19 digits").unwrap();
        let index = open(tmp.path(), TINY);
        assert_eq!(index.file_count(), 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Against a plain list: any sequence of puts (with rollovers and slot collisions)
        /// queries to the matching hashes, newest first, within the range, at most `max`.
        #[test]
        fn query_agrees_with_a_list_of_puts(
            puts in prop::collection::vec((0usize..6, 0i64..5), 1..40),
            begin_s in 0i64..8,
            span_s in 0i64..8,
            max in 1usize..50,
        ) {
            let keys = ["a", "b", "c", "Aa", "BB", "long key"];
            let config = IndexConfig { slots: 3, max_entries: 5 };
            let tmp = tempfile::tempdir().unwrap();
            let mut index = open(tmp.path(), config);
            let mut model = Vec::new();
            let mut ts = 1_000;
            for (position, &(key, step_s)) in puts.iter().enumerate() {
                ts += step_s * 1_000; // whole seconds, non-decreasing
                index.put(keys[key], position as u64, ts).unwrap();
                model.push((key_hash(keys[key]), position as u64, ts));
            }
            let begin_ms = 1_000 + begin_s * 1_000 + 300;
            let end_ms = begin_ms + span_s * 1_000;
            for key in keys {
                let want: Vec<u64> = model
                    .iter()
                    .rev()
                    .filter(|(h, _, t)| *h == key_hash(key) && *t <= end_ms && t + 999 >= begin_ms)
                    .map(|(_, p, _)| *p)
                    .take(max)
                    .collect();
                prop_assert_eq!(index.query(key, begin_ms, end_ms, max), want, "key {}", key);
            }
            prop_assert_eq!(index.last_position(), Some(puts.len() as u64 - 1));
        }

        /// Arbitrary bytes in a file's slots and entries never panic or hang a query.
        #[test]
        fn garbage_in_slots_and_entries_never_panics_a_query(
            garbage in prop::collection::vec(any::<u8>(), 0..300),
            index_count in 0i32..=6,
        ) {
            let config = IndexConfig { slots: 2, max_entries: 6 };
            let tmp = tempfile::tempdir().unwrap();
            open(tmp.path(), config).put("k", 1, 1_000).unwrap();
            let path = index_files(tmp.path())[0].clone();
            let mut contents = fs::read(&path).unwrap();
            let body = &mut contents[HEADER_BYTES..];
            for (i, b) in garbage.iter().enumerate().take(body.len()) {
                body[i] = *b;
            }
            contents[INDEX_COUNT_AT..][..4].copy_from_slice(&index_count.to_be_bytes());
            fs::write(&path, contents).unwrap();
            let index = open(tmp.path(), config);
            for key in ["k", "a", "b", "c"] {
                let found = index.query(key, i64::MIN, i64::MAX, 100);
                prop_assert!(found.len() <= 6);
            }
        }
    }
}
