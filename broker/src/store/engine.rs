//! The store of one shard: appends go to the CommitLog; once durable they are dispatched to
//! their consume queue and the key index; reads walk a consume queue and return stored
//! messages as they are on disk (the pull-response layout). A periodic flush persists
//! consume queues and the index and then a checkpoint, from which recovery re-dispatches.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fs;
use std::hash::BuildHasherDefault;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use glommio::sync::Semaphore;
use rustc_hash::FxHasher;
use serde::{Deserialize, Serialize};
use shardmq_protocol::message::{
    properties, MagicVersion, StoredMessage, StoredMessageRef, BLANK_MAGIC_CODE,
};
use shardmq_protocol::ByteString;
use tracing::{info, warn};

use super::commitlog::{CommitLog, CommitLogConfig, FlushMode, Recovered};
use super::consume_queue::{tag_hash, ConsumeQueue, CqEntry, DEFAULT_ENTRIES_PER_FILE};
use super::error::{StoreError, StoreResult};
use super::index::{self, Index, IndexConfig, KeyHashes};
use super::metadata;
use super::position::Position;

/// Store settings for one shard.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The broker's data directory; this shard lives in `<data_dir>/shard-<k>/`.
    pub data_dir: PathBuf,
    pub shard: u16,
    /// CommitLog segment size (default 1 GiB; a multiple of 4096).
    pub segment_bytes: u64,
    pub flush: FlushMode,
    /// Written data kept in memory for readers that keep up.
    pub tail_cache_bytes: u64,
    pub cq_entries_per_file: u64,
    pub index: IndexConfig,
    /// How often consume queues, the index and the checkpoint are flushed.
    pub flush_interval: Duration,
    /// Segments older than this are deleted (RocketMQ's fileReservedTime, default 72 h).
    pub retention_hours: u64,
    /// Oldest segments are deleted while the disk is fuller than this.
    pub disk_max_used_ratio: f64,
    /// The address written into STOREHOST (and so into offset msgIds).
    pub store_host: SocketAddr,
}

impl StoreConfig {
    /// Defaults for shard `shard` under `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>, shard: u16) -> Self {
        StoreConfig {
            data_dir: data_dir.into(),
            shard,
            segment_bytes: 1 << 30,
            flush: FlushMode::Async,
            tail_cache_bytes: 64 << 20,
            cq_entries_per_file: DEFAULT_ENTRIES_PER_FILE,
            index: IndexConfig::default(),
            flush_interval: Duration::from_millis(500),
            retention_hours: 72,
            disk_max_used_ratio: 0.90,
            store_host: SocketAddr::from(([127, 0, 0, 1], 10911)),
        }
    }

    /// `<data_dir>/shard-<k>`.
    pub fn shard_dir(&self) -> PathBuf {
        self.data_dir.join(format!("shard-{}", self.shard))
    }
}

/// One message to store.
#[derive(Debug, Clone)]
pub struct AppendRequest {
    pub topic: ByteString,
    pub queue_id: i32,
    pub flag: i32,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub body: Bytes,
    /// Encoded properties (`name\x01value\x02`...).
    pub properties: ByteString,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
}

/// An [`AppendRequest`] borrowed from wherever its parts already are (the broker's hot path
/// builds it straight from a request frame, copying nothing).
#[derive(Debug, Clone, Copy)]
pub struct AppendRef<'a> {
    pub topic: &'a str,
    pub queue_id: i32,
    pub flag: i32,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub body: &'a [u8],
    /// Encoded properties (`name\x01value\x02`...).
    pub properties: &'a str,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
}

impl AppendRequest {
    /// The same message, borrowed.
    pub fn borrowed(&self) -> AppendRef<'_> {
        AppendRef {
            topic: &self.topic,
            queue_id: self.queue_id,
            flag: self.flag,
            sys_flag: self.sys_flag,
            born_timestamp: self.born_timestamp,
            born_host: self.born_host,
            body: &self.body,
            properties: &self.properties,
            reconsume_times: self.reconsume_times,
            prepared_transaction_offset: self.prepared_transaction_offset,
        }
    }
}

/// Where a message was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendResult {
    pub position: Position,
    pub queue_offset: u64,
    pub store_timestamp_ms: i64,
    pub size: u32,
    /// Commit-log offset just past the message (what durability waits for).
    pub end: u64,
}

/// Why a read returned what it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadStatus {
    Found,
    /// `offset` is the queue's max: nothing new yet.
    NoNewMessage,
    /// Entries exist but none matched the tag filter (next_offset moved past them).
    NoMatchedMessage,
    /// `offset` is below the queue's min offset.
    OffsetTooSmall,
    /// `offset` is past the queue's max offset.
    OffsetOverflow,
    /// The queue has no messages at all.
    NoQueue,
}

/// What a read returns.
#[derive(Debug, Clone)]
pub struct ReadResult {
    pub status: ReadStatus,
    /// Stored messages in pull-response layout, in queue order.
    pub messages: Vec<Bytes>,
    pub next_offset: u64,
    pub min_offset: u64,
    pub max_offset: u64,
    /// The read stopped at an entry whose bytes live in another shard's log (the queue
    /// moved): that shard and the queue offset to read there.
    pub foreign: Option<(u16, u64)>,
}

/// How far a read walks consume-queue entries that the tag filter rejects.
const MAX_FILTERED_ENTRIES: u64 = 16_000;

#[derive(Debug, Serialize, Deserialize)]
struct Checkpoint {
    /// Commit-log offset up to which consume queues and the index were flushed.
    dispatched: u64,
}

struct QueueState {
    cq: ConsumeQueue,
    /// Next queue offset to hand out (appends run ahead of dispatch).
    next_offset: u64,
}

struct Pending {
    end: u64,
    /// Index into `Queues::slots`.
    slot: usize,
    queue_offset: u64,
    entry: CqEntry,
    store_timestamp_ms: i64,
    /// Index hashes of its KEYS words and UNIQ_KEY (most messages have one or two).
    key_hashes: KeyHashes,
}

type ArrivalListener = Box<dyn FnMut(&str, i32, u64)>;

/// The highest queue id a topic may use.
const MAX_QUEUE_ID: i32 = 65_535;

struct QueueSlot {
    topic: Rc<str>,
    queue_id: i32,
    state: QueueState,
}

/// Every open queue in a slab, found by topic then queue id: one hash per lookup, none on
/// dispatch (pending appends remember their slot).
#[derive(Default)]
struct Queues {
    by_topic: HashMap<Rc<str>, Vec<Option<usize>>, BuildHasherDefault<FxHasher>>,
    slots: Vec<QueueSlot>,
}

impl Queues {
    fn find(&self, topic: &str, queue_id: i32) -> Option<usize> {
        let ids = self.by_topic.get(topic)?;
        usize::try_from(queue_id)
            .ok()
            .and_then(|q| ids.get(q).copied().flatten())
    }

    fn get(&self, topic: &str, queue_id: i32) -> Option<&QueueState> {
        self.find(topic, queue_id)
            .map(|slot| &self.slots[slot].state)
    }

    fn insert(&mut self, topic: &str, queue_id: i32, state: QueueState) -> usize {
        let name: Rc<str> = match self.by_topic.get_key_value(topic) {
            Some((name, _)) => name.clone(),
            None => Rc::from(topic),
        };
        let slot = self.slots.len();
        self.slots.push(QueueSlot {
            topic: name.clone(),
            queue_id,
            state,
        });
        let ids = self.by_topic.entry(name).or_default();
        let q = queue_id as usize;
        if ids.len() <= q {
            ids.resize(q + 1, None);
        }
        ids[q] = Some(slot);
        slot
    }
}

struct Inner {
    config: StoreConfig,
    dir: PathBuf,
    queues: Queues,
    pending: VecDeque<Pending>,
    index: Index,
    dispatched: u64,
    failed: Option<String>,
    on_arrival: Option<ArrivalListener>,
}

impl Inner {
    /// The queue's slot, opening (or creating) its consume queue on first use.
    fn queue(&mut self, topic: &str, queue_id: i32) -> StoreResult<(usize, &mut QueueState)> {
        let slot = match self.queues.find(topic, queue_id) {
            Some(slot) => slot,
            None => self.create_queue(topic, queue_id)?,
        };
        Ok((slot, &mut self.queues.slots[slot].state))
    }

    fn create_queue(&mut self, topic: &str, queue_id: i32) -> StoreResult<usize> {
        if !(0..=MAX_QUEUE_ID).contains(&queue_id) {
            return Err(StoreError::Invalid(format!(
                "queue id {queue_id} is outside 0..={MAX_QUEUE_ID}"
            )));
        }
        validate_topic(topic)?;
        let dir = self
            .dir
            .join("consumequeue")
            .join(topic)
            .join(queue_id.to_string());
        let cq = ConsumeQueue::open(&dir, self.config.cq_entries_per_file)?;
        let next_offset = cq.max_offset();
        Ok(self
            .queues
            .insert(topic, queue_id, QueueState { cq, next_offset }))
    }

    /// Moves every pending append that is now durable into its consume queue and the index.
    fn dispatch(&mut self, durable: u64) {
        while self.pending.front().is_some_and(|p| p.end <= durable) {
            let Some(p) = self.pending.pop_front() else {
                break;
            };
            if let Err(e) = self.dispatch_one(&p) {
                let q = &self.queues.slots[p.slot];
                warn!(
                    "dispatch of {}:{} offset {} failed: {e}",
                    q.topic, q.queue_id, p.queue_offset
                );
                self.failed.get_or_insert_with(|| e.to_string());
            }
            self.dispatched = p.end;
        }
    }

    fn dispatch_one(&mut self, p: &Pending) -> StoreResult<()> {
        let slot = &mut self.queues.slots[p.slot];
        let q = &mut slot.state;
        if p.queue_offset >= q.cq.max_offset() {
            q.cq.put(p.queue_offset, p.entry)?;
        }
        let max = q.cq.max_offset();
        if !p.key_hashes.is_empty()
            && self
                .index
                .last_position()
                .is_none_or(|last| p.entry.position.raw() > last)
        {
            for hash in &p.key_hashes {
                self.index
                    .put_hash(*hash, p.entry.position.raw(), p.store_timestamp_ms)?;
            }
        }
        if let Some(listener) = self.on_arrival.as_mut() {
            let slot = &self.queues.slots[p.slot];
            listener(&slot.topic, slot.queue_id, max);
        }
        Ok(())
    }

    /// What a background flush must sync, and the checkpoint it may then write.
    fn take_dirty_files(&mut self) -> (u64, Vec<PathBuf>) {
        let dispatched = self.dispatched;
        let mut files: Vec<PathBuf> = self
            .queues
            .slots
            .iter_mut()
            .flat_map(|slot| slot.state.cq.take_dirty_files())
            .collect();
        files.extend(self.index.take_dirty_files());
        (dispatched, files)
    }

    fn flush(&mut self) -> StoreResult<u64> {
        let dispatched = self.dispatched;
        for slot in &mut self.queues.slots {
            slot.state.cq.flush()?;
        }
        self.index.flush()?;
        Ok(dispatched)
    }
}

/// The TAGS value and the index hashes of the message's keys, in one pass over the
/// properties (what [`Index::put_message_keys`] would index, hashed now so that nothing of
/// the message is kept until it is durable).
/// Milliseconds since the epoch (rounded down): store timestamps, and when a due time has
/// come (`now_ms() >= due`).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Where delayed messages wait (queue = level - 1), each shard its own.
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";
/// Where timed messages wait (queue 0), each shard its own.
pub const TIMER_TOPIC: &str = "rmq_sys_wheel_timer";

/// Whether `topic` is where delayed or timed messages wait. Their copies are not indexed:
/// key queries name a real topic, and the delivered copy is indexed under it.
fn is_waiting_topic(topic: &str) -> bool {
    topic.len() == SCHEDULE_TOPIC.len() && (topic == SCHEDULE_TOPIC || topic == TIMER_TOPIC)
}

/// The consume-queue entry's tag field: the tag's hash, except in the schedule and timer
/// topics, where it is the message's due time (`TIMER_OUT_MS`, ms), so the schedulers read
/// what is due without reading the log (RocketMQ does the same).
fn tag_code(topic: &str, tags: &str, encoded: &str) -> i64 {
    if is_waiting_topic(topic) {
        return properties::find(encoded, properties::names::TIMER_OUT_MS)
            .and_then(|due| due.parse().ok())
            .unwrap_or(0);
    }
    tag_hash(tags)
}

fn tags_and_key_hashes(encoded: &str) -> (&str, KeyHashes) {
    // The first occurrence of a name counts, as with `properties::find` (what recovery and
    // `query_by_key` read).
    let (mut tags, mut keys, mut unique) = (None, None, None);
    for (name, value) in properties::iter(encoded) {
        let slot = match name {
            properties::names::TAGS => &mut tags,
            properties::names::KEYS => &mut keys,
            properties::names::UNIQ_CLIENT_MESSAGE_ID_KEYIDX => &mut unique,
            _ => continue,
        };
        slot.get_or_insert(value);
    }
    (
        tags.unwrap_or(""),
        index::message_key_hashes(keys.unwrap_or(""), unique.unwrap_or("")),
    )
}

fn validate_topic(topic: &str) -> StoreResult<()> {
    let ok = !topic.is_empty()
        && topic.len() <= 127
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'%' || b == b'|');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "topic `{}`: 1 to 127 characters of [A-Za-z0-9_-%|] (RocketMQ's rule)",
            topic.escape_debug()
        )))
    }
}

/// One shard's store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    log: CommitLog,
    inner: Rc<RefCell<Inner>>,
    /// One checkpoint writer at a time: the background flush or `checkpoint`/`close`.
    flush_gate: Rc<Semaphore>,
}

impl Store {
    /// Opens the shard's store, recovering from the last checkpoint: the commit log's torn
    /// tail is cut, consume-queue entries past the log's end dropped, and everything after
    /// the checkpoint re-dispatched. Must run on the shard's glommio executor.
    pub async fn open(config: StoreConfig) -> StoreResult<(Store, Recovered)> {
        let dir = config.shard_dir();
        fs::create_dir_all(&dir).map_err(|e| StoreError::io("creating", &dir, e))?;
        super::commitlog::disable_io_polling(&dir).await?;
        let checkpoint_path = dir.join("checkpoint");
        let checkpoint: Option<Checkpoint> = metadata::read_json(&checkpoint_path)?;
        let log_config = CommitLogConfig {
            dir: dir.join("commitlog"),
            shard: config.shard,
            segment_bytes: config.segment_bytes,
            flush: config.flush,
            tail_cache_bytes: config.tail_cache_bytes,
        };
        let (log, recovered) =
            CommitLog::open(log_config, checkpoint.as_ref().map(|c| c.dispatched))?;
        if let Some((at, why)) = &recovered.cut {
            warn!(offset = at, reason = %why, "recovery cut the commit log");
        }
        let index = Index::open(&dir.join("index"), config.index)?;
        let mut inner = Inner {
            config: config.clone(),
            dir: dir.clone(),
            queues: Queues::default(),
            pending: VecDeque::new(),
            index,
            dispatched: recovered.end,
            failed: None,
            on_arrival: None,
        };
        open_existing_queues(&mut inner, &recovered, config.shard)?;
        let from = checkpoint
            .map_or(recovered.min_offset, |c| {
                c.dispatched.max(recovered.min_offset)
            })
            .min(recovered.end);
        let redispatched = redispatch(&log, &mut inner, from, recovered.end)?;
        if redispatched > 0 {
            info!(
                messages = redispatched,
                from,
                to = recovered.end,
                "recovery re-dispatched messages to consume queues and the index"
            );
        }
        let store = Store {
            log,
            inner: Rc::new(RefCell::new(inner)),
            flush_gate: Rc::new(Semaphore::new(1)),
        };
        let hook_inner = Rc::downgrade(&store.inner);
        store.log.set_on_durable(Box::new(move |durable| {
            if let Some(inner) = hook_inner.upgrade() {
                inner.borrow_mut().dispatch(durable);
            }
        }));
        glommio::spawn_local(flush_loop(
            Rc::downgrade(&store.inner),
            store.flush_gate.clone(),
            config.flush_interval,
            checkpoint_path,
        ))
        .detach();
        Ok((store, recovered))
    }

    /// The shard this store belongs to.
    pub fn shard(&self) -> u16 {
        self.log.shard()
    }

    /// The commit log (segments, ends).
    pub fn commit_log(&self) -> &CommitLog {
        &self.log
    }

    /// Calls `listener(topic, queue_id, max_offset)` whenever messages land in a queue.
    pub fn set_arrival_listener(&self, listener: ArrivalListener) {
        self.inner.borrow_mut().on_arrival = Some(listener);
    }

    /// Stores one message in memory and schedules its write; await
    /// [`Store::wait_durable`] with the result's `end` before acknowledging it.
    pub fn append(&self, req: &AppendRequest) -> StoreResult<AppendResult> {
        self.append_ref(&req.borrowed())
    }

    /// [`Store::append`] of a borrowed message.
    pub fn append_ref(&self, req: &AppendRef<'_>) -> StoreResult<AppendResult> {
        let mut inner = self.inner.borrow_mut();
        if let Some(reason) = &inner.failed {
            return Err(StoreError::Refusing(reason.clone()));
        }
        let store_host = inner.config.store_host;
        let (slot, queue) = inner.queue(req.topic, req.queue_id)?;
        let queue_offset = queue.next_offset;
        let store_timestamp_ms = now_ms();
        let mut message = StoredMessageRef {
            version: if req.topic.len() > 127 {
                MagicVersion::V2
            } else {
                MagicVersion::V1
            },
            queue_id: req.queue_id,
            flag: req.flag,
            queue_offset: queue_offset as i64,
            physical_offset: 0,
            sys_flag: req.sys_flag,
            born_timestamp: req.born_timestamp,
            born_host: req.born_host,
            store_timestamp: store_timestamp_ms,
            store_host,
            reconsume_times: req.reconsume_times,
            prepared_transaction_offset: req.prepared_transaction_offset,
            body: req.body,
            topic: req.topic,
            properties: req.properties,
        };
        message
            .check_encodable()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let size = message.encoded_len();
        let appended = self.log.append(size, |position, buf| {
            message.physical_offset = position.raw() as i64;
            message
                .encode(buf)
                .map_err(|e| StoreError::Invalid(e.to_string()))
        })?;
        queue.next_offset += 1;
        let (tags, mut key_hashes) = tags_and_key_hashes(req.properties);
        if is_waiting_topic(req.topic) {
            key_hashes = KeyHashes::default();
        }
        let entry = CqEntry {
            position: appended.position,
            size: size as u32,
            tag_hash: tag_code(req.topic, tags, req.properties),
        };
        inner.pending.push_back(Pending {
            end: appended.end,
            slot,
            queue_offset,
            entry,
            store_timestamp_ms,
            key_hashes,
        });
        Ok(AppendResult {
            position: appended.position,
            queue_offset,
            store_timestamp_ms,
            size: size as u32,
            end: appended.end,
        })
    }

    /// Resolves once the append that ended at `end` is durable (per the flush mode).
    pub async fn wait_durable(&self, end: u64) -> StoreResult<()> {
        self.log.wait_durable(end).await
    }

    /// [`Store::append`] and wait until it is durable.
    pub async fn put(&self, req: &AppendRequest) -> StoreResult<AppendResult> {
        let result = self.append(req)?;
        self.wait_durable(result.end).await?;
        Ok(result)
    }

    /// Reads up to `max_messages` / `max_bytes` from `offset` of a queue, skipping entries
    /// whose tag hash `accept` rejects without reading their bytes.
    pub fn read(
        &self,
        topic: &str,
        queue_id: i32,
        offset: u64,
        max_messages: usize,
        max_bytes: usize,
        accept: impl Fn(i64) -> bool,
    ) -> StoreResult<ReadResult> {
        let inner = self.inner.borrow();
        let shard = self.log.shard();
        let empty = |status| ReadResult {
            status,
            messages: Vec::new(),
            next_offset: 0,
            min_offset: 0,
            max_offset: 0,
            foreign: None,
        };
        let Some(q) = inner.queues.get(topic, queue_id) else {
            return Ok(empty(ReadStatus::NoQueue));
        };
        let (min, max) = (q.cq.min_offset(), q.cq.max_offset());
        let mut result = ReadResult {
            next_offset: offset,
            min_offset: min,
            max_offset: max,
            ..empty(ReadStatus::Found)
        };
        if max == 0 {
            result.status = ReadStatus::NoQueue;
            return Ok(result);
        }
        if offset < min {
            result.status = ReadStatus::OffsetTooSmall;
            result.next_offset = min;
            return Ok(result);
        }
        if offset == max {
            result.status = ReadStatus::NoNewMessage;
            return Ok(result);
        }
        if offset > max {
            result.status = ReadStatus::OffsetOverflow;
            result.next_offset = max;
            return Ok(result);
        }
        let mut bytes = 0usize;
        let mut cursor = offset;
        let mut filtered = 0u64;
        while cursor < max
            && result.messages.len() < max_messages
            && filtered < MAX_FILTERED_ENTRIES
        {
            let Some(entry) = q.cq.get(cursor) else { break };
            if !accept(entry.tag_hash) {
                cursor += 1;
                filtered += 1;
                continue;
            }
            if entry.position.shard() != shard {
                result.foreign = Some((entry.position.shard(), cursor));
                break;
            }
            if !result.messages.is_empty() && bytes + entry.size as usize > max_bytes {
                break;
            }
            let message = self
                .log
                .read(entry.position.offset(), entry.size as usize)?;
            bytes += message.len();
            result.messages.push(message);
            cursor += 1;
        }
        result.next_offset = cursor;
        if result.messages.is_empty() && result.foreign.is_none() {
            result.status = ReadStatus::NoMatchedMessage;
        }
        Ok(result)
    }

    /// Makes an empty queue start at `offset` (it moved here; its history is elsewhere).
    /// A queue already at or past `offset` is left alone.
    pub fn start_queue_at(&self, topic: &str, queue_id: i32, offset: u64) -> StoreResult<()> {
        let mut inner = self.inner.borrow_mut();
        let (_, q) = inner.queue(topic, queue_id)?;
        if q.next_offset >= offset {
            return Ok(());
        }
        q.cq.start_at(offset)?;
        q.next_offset = offset;
        Ok(())
    }

    /// The next queue offset an append will get (appends run ahead of dispatch).
    pub fn next_offset(&self, topic: &str, queue_id: i32) -> u64 {
        let inner = self.inner.borrow();
        inner
            .queues
            .get(topic, queue_id)
            .map_or(0, |q| q.next_offset)
    }

    /// The consume-queue entry at `offset` of a queue, once dispatched (durable).
    pub fn entry(&self, topic: &str, queue_id: i32, offset: u64) -> Option<CqEntry> {
        let inner = self.inner.borrow();
        let q = inner.queues.get(topic, queue_id)?;
        (offset >= q.cq.min_offset() && offset < q.cq.max_offset())
            .then(|| q.cq.get(offset))
            .flatten()
    }

    /// (min, max) offsets of a queue; (0, 0) if it has none.
    pub fn offsets(&self, topic: &str, queue_id: i32) -> (u64, u64) {
        let inner = self.inner.borrow();
        inner
            .queues
            .get(topic, queue_id)
            .map_or((0, 0), |q| (q.cq.min_offset(), q.cq.max_offset()))
    }

    /// The stored message at `position` (this shard's, durable), as stored.
    pub fn message_at(&self, position: Position) -> StoreResult<Bytes> {
        if position.shard() != self.log.shard() {
            return Err(StoreError::Invalid(format!(
                "position {} belongs to shard {}",
                position.raw(),
                position.shard()
            )));
        }
        let head = self.log.read(position.offset(), 8)?;
        let size = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let magic = i32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        if size <= 8 || magic == BLANK_MAGIC_CODE {
            return Err(StoreError::Invalid(format!(
                "no message starts at position {}",
                position.raw()
            )));
        }
        self.log.read(position.offset(), size as usize)
    }

    fn entry_store_time(&self, entry: CqEntry) -> StoreResult<i64> {
        let bytes = self
            .log
            .read(entry.position.offset(), entry.size as usize)?;
        StoredMessage::decode(&bytes, 0, false)
            .map(|(m, _)| m.store_timestamp)
            .map_err(|e| StoreError::Invalid(e.to_string()))
    }

    /// Store time of the queue's first message.
    pub fn earliest_store_time(&self, topic: &str, queue_id: i32) -> StoreResult<Option<i64>> {
        let entry = {
            let inner = self.inner.borrow();
            inner
                .queues
                .get(topic, queue_id)
                .and_then(|q| q.cq.get(q.cq.min_offset()))
        };
        entry.map(|e| self.entry_store_time(e)).transpose()
    }

    /// The first queue offset whose message was stored at or after `timestamp_ms` (the max
    /// offset when none was).
    pub fn offset_by_time(
        &self,
        topic: &str,
        queue_id: i32,
        timestamp_ms: i64,
    ) -> StoreResult<u64> {
        let (min, max) = self.offsets(topic, queue_id);
        let (mut lo, mut hi) = (min, max);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let entry = {
                let inner = self.inner.borrow();
                inner
                    .queues
                    .get(topic, queue_id)
                    .and_then(|q| q.cq.get(mid))
            };
            let Some(entry) = entry else { break };
            if entry.position.shard() != self.log.shard()
                || self.entry_store_time(entry)? >= timestamp_ms
            {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Ok(lo)
    }

    /// Messages of `topic` with `key` (a KEYS word or the UNIQ_KEY) stored within
    /// [begin_ms, end_ms], newest first.
    pub fn query_by_key(
        &self,
        topic: &str,
        key: &str,
        begin_ms: i64,
        end_ms: i64,
        max: usize,
    ) -> StoreResult<Vec<Bytes>> {
        let positions =
            self.inner
                .borrow()
                .index
                .query(key, begin_ms, end_ms, max.saturating_mul(4));
        let mut found = Vec::new();
        for raw in positions {
            let Ok(bytes) = self.message_at(Position::from_raw(raw)) else {
                continue;
            };
            let Ok((m, _)) = StoredMessage::decode(&bytes, 0, false) else {
                continue;
            };
            let keys = properties::find(&m.properties, properties::names::KEYS).unwrap_or("");
            let uniq = properties::find(
                &m.properties,
                properties::names::UNIQ_CLIENT_MESSAGE_ID_KEYIDX,
            );
            if &*m.topic == topic
                && (keys.split(properties::KEY_SEPARATOR).any(|k| k == key) || uniq == Some(key))
            {
                found.push(bytes);
                if found.len() == max {
                    break;
                }
            }
        }
        Ok(found)
    }

    /// Deletes the oldest commit-log segments (never the one being written): those whose
    /// last write is older than `retention_hours` when `expired_allowed` (RocketMQ deletes
    /// expired files only at its `deleteWhen` hours), and, whatever the hour, as many as
    /// it takes to bring the disk below `disk_max_used_ratio`. Consume queues and the index
    /// forget what lay in them; files are unlinked on the blocking pool, so a send never
    /// waits for an unlink. Returns the new first commit-log offset.
    pub async fn enforce_retention(
        &self,
        now: SystemTime,
        expired_allowed: bool,
    ) -> StoreResult<u64> {
        let (retention, max_ratio, dir) = {
            let inner = self.inner.borrow();
            (
                Duration::from_secs(inner.config.retention_hours * 3600),
                inner.config.disk_max_used_ratio,
                inner.dir.clone(),
            )
        };
        let segments = self.log.segments();
        // Every segment but the newest: (too old, its size on disk).
        let candidates: Vec<(bool, u64)> = segments
            .iter()
            .take(segments.len().saturating_sub(1))
            .map(|(_, path)| {
                let meta = fs::metadata(path);
                let old = expired_allowed
                    && meta
                        .as_ref()
                        .ok()
                        .and_then(|m| m.modified().ok())
                        .is_some_and(|t| now.duration_since(t).is_ok_and(|age| age > retention));
                (old, meta.map_or(0, |m| m.len()))
            })
            .collect();
        let cut = segments_to_delete(&candidates, disk_usage(&dir), max_ratio);
        if cut == 0 {
            return Ok(self.log.min_offset());
        }
        let (min, doomed) = self.log.delete_segments_below(segments[cut].0);
        let shard = self.log.shard();
        {
            let mut inner = self.inner.borrow_mut();
            for slot in &mut inner.queues.slots {
                slot.state.cq.forget_below(shard, min)?;
            }
            inner.index.delete_below(Position::new(shard, min).raw())?;
        }
        let unlinked = glommio::executor()
            .spawn_blocking(move || {
                for path in &doomed {
                    match fs::remove_file(path) {
                        Ok(()) => {
                            info!(file = %path.display(), "retention deleted a commit-log segment")
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(StoreError::io("deleting", path, e)),
                    }
                }
                Ok(())
            })
            .await;
        unlinked?;
        Ok(min)
    }

    /// Flushes consume queues and the index and writes the checkpoint.
    pub async fn checkpoint(&self) -> StoreResult<()> {
        let _turn = self
            .flush_gate
            .acquire_permit(1)
            .await
            .map_err(|e| StoreError::Refusing(format!("store is closed: {e}")))?;
        let (dispatched, path) = {
            let mut inner = self.inner.borrow_mut();
            (inner.flush()?, inner.dir.join("checkpoint"))
        };
        metadata::write_json(&path, &Checkpoint { dispatched })
    }

    /// Waits for every append to be durable, flushes, checkpoints and stops the writer and
    /// the background flush.
    pub async fn close(&self) -> StoreResult<()> {
        let result = self.log.close().await;
        self.checkpoint().await?;
        self.flush_gate.close();
        result
    }
}

/// The file system's used fraction and its size in bytes.
fn disk_usage(dir: &Path) -> Option<(f64, u64)> {
    let stat = rustix::fs::statvfs(dir).ok()?;
    let total_bytes = stat.f_blocks.saturating_mul(stat.f_frsize);
    (stat.f_blocks > 0).then(|| {
        (
            1.0 - stat.f_bavail as f64 / stat.f_blocks as f64,
            total_bytes,
        )
    })
}

/// How many of the oldest segments to delete, given for each (oldest first, the newest left
/// out) whether it is past retention and its size: the old ones, then more while the disk
/// stays above `max_ratio`, each deletion counted as freeing its own size.
fn segments_to_delete(
    candidates: &[(bool, u64)],
    disk: Option<(f64, u64)>,
    max_ratio: f64,
) -> usize {
    let mut used_ratio = disk.map(|(ratio, _)| ratio);
    let total_bytes = disk.map_or(0, |(_, total)| total).max(1) as f64;
    let mut count = 0;
    for (old, bytes) in candidates {
        let full = used_ratio.is_some_and(|r| r > max_ratio);
        if !(*old || full) {
            break;
        }
        count += 1;
        used_ratio = used_ratio.map(|r| r - *bytes as f64 / total_bytes);
    }
    count
}

/// Every `every`: syncs the consume-queue and index files changed since the last round and
/// then writes the checkpoint, on glommio's blocking thread pool so the shard never waits
/// for the disk here.
async fn flush_loop(
    inner: std::rc::Weak<RefCell<Inner>>,
    gate: Rc<Semaphore>,
    every: Duration,
    path: PathBuf,
) {
    loop {
        glommio::timer::sleep(every).await;
        // Closed gate: the store was closed.
        let Ok(_turn) = gate.acquire_permit(1).await else {
            return;
        };
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let (dispatched, files) = strong.borrow_mut().take_dirty_files();
        drop(strong);
        let path = path.clone();
        let result = glommio::executor()
            .spawn_blocking(move || sync_files_and_checkpoint(&files, &path, dispatched))
            .await;
        if let Err(e) = result {
            warn!("periodic flush failed (the previous checkpoint stays): {e}");
        }
    }
}

fn sync_files_and_checkpoint(
    files: &[PathBuf],
    checkpoint: &Path,
    dispatched: u64,
) -> StoreResult<()> {
    for file in files {
        match fs::File::open(file) {
            Ok(f) => f
                .sync_data()
                .map_err(|e| StoreError::io("syncing", file, e))?,
            // Retention deleted it meanwhile.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io("opening", file, e)),
        }
    }
    metadata::write_json(checkpoint, &Checkpoint { dispatched })
}

/// Opens every consume queue found on disk and drops entries past the log's end.
fn open_existing_queues(inner: &mut Inner, recovered: &Recovered, shard: u16) -> StoreResult<()> {
    let root = inner.dir.join("consumequeue");
    let Ok(topics) = fs::read_dir(&root) else {
        return Ok(());
    };
    for topic in topics {
        let topic = topic.map_err(|e| StoreError::io("listing", &root, e))?;
        let Some(name) = topic.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let Ok(queues) = fs::read_dir(topic.path()) else {
            continue;
        };
        for queue in queues {
            let queue = queue.map_err(|e| StoreError::io("listing", topic.path(), e))?;
            let Some(queue_id) = queue
                .file_name()
                .to_str()
                .and_then(|q| q.parse::<i32>().ok())
            else {
                continue;
            };
            let (_, q) = inner.queue(&name, queue_id)?;
            let dropped = q.cq.truncate_past(shard, recovered.end)?;
            if dropped > 0 {
                warn!(topic = %name, queue_id, dropped, "dropped consume-queue entries past the recovered log end");
            }
            q.cq.forget_below(shard, recovered.min_offset)?;
            q.next_offset = q.cq.max_offset();
        }
    }
    Ok(())
}

/// Re-dispatches the messages in [from, to) of the log to consume queues and the index.
fn redispatch(log: &CommitLog, inner: &mut Inner, from: u64, to: u64) -> StoreResult<u64> {
    let shard = log.shard();
    let segment_bytes = inner.config.segment_bytes;
    let mut pos = from;
    let mut count = 0;
    while pos + 8 <= to {
        let head = log.read(pos, 8)?;
        let size = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let magic = i32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        if magic == BLANK_MAGIC_CODE || size <= 0 {
            pos = pos - pos % segment_bytes + segment_bytes;
            continue;
        }
        let bytes = log.read(pos, size as usize)?;
        let (m, _) = StoredMessage::decode(&bytes, 0, false).map_err(|e| StoreError::Corrupt {
            path: inner.dir.join("commitlog"),
            offset: pos,
            reason: e.to_string(),
        })?;
        let (_, q) = inner.queue(&m.topic, m.queue_id)?;
        let queue_offset = m.queue_offset as u64;
        let tags = properties::find(&m.properties, properties::names::TAGS).unwrap_or("");
        let entry = CqEntry {
            position: Position::new(shard, pos),
            size: size as u32,
            tag_hash: tag_code(&m.topic, tags, &m.properties),
        };
        if queue_offset == q.cq.max_offset() {
            q.cq.put(queue_offset, entry)?;
            count += 1;
        } else if queue_offset > q.cq.max_offset() {
            warn!(topic = %m.topic, queue_id = m.queue_id, queue_offset, have = q.cq.max_offset(), "consume queue is missing entries before the checkpoint; skipping");
        }
        q.next_offset = q.cq.max_offset();
        if !is_waiting_topic(&m.topic)
            && inner
                .index
                .last_position()
                .is_none_or(|last| entry.position.raw() > last)
        {
            inner
                .index
                .put_message_keys(&m.properties, entry.position.raw(), m.store_timestamp)?;
        }
        pos += size as u64;
    }
    inner.dispatched = to;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::segments_to_delete;

    #[test]
    fn a_full_disk_frees_only_the_segments_it_needs_to_get_under_the_limit() {
        // 95% used of 1000 bytes, limit 90%: 50 bytes to free, segments of 20 bytes each.
        let segments = vec![(false, 20); 9];
        assert_eq!(segments_to_delete(&segments, Some((0.95, 1000)), 0.90), 3);
    }

    #[test]
    fn old_segments_go_and_young_ones_stay_when_the_disk_has_room() {
        let segments = [(true, 20), (true, 20), (false, 20), (true, 20)];
        assert_eq!(segments_to_delete(&segments, Some((0.10, 1000)), 0.90), 2);
        assert_eq!(segments_to_delete(&segments, None, 0.90), 2);
    }
}
