//! One shard's CommitLog: segment files named by their 20-digit start offset, preallocated,
//! written with O_DIRECT through glommio DMA files, with group commit.
//!
//! Appends encode straight into an in-memory tail (`[tail start, append_end)`); one writer
//! task writes everything appended since its last write in one DMA write (the partly filled
//! last block is rewritten as it fills), so while a write is in flight the next batch
//! gathers. An append is durable once the write that holds it completed (`async`) or once an
//! `fdatasync` after it completed (`sync`). Recent data is read from the tail; older data
//! from read-only maps of the segment files. A message never straddles segments: the end of
//! a segment is padded with a blank record.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};

use super::tail::Tail;
use glommio::io::{DmaFile, OpenOptions};
use glommio::task::JoinHandle;
use shardmq_protocol::message::{StoredMessage, BLANK_MAGIC_CODE};
use tracing::{info, warn};

use super::error::{StoreError, StoreResult};
use super::position::Position;

/// DMA alignment: writes start and end on these boundaries.
pub const BLOCK_BYTES: u64 = 4096;
/// The most one DMA write carries; also how far past a cut recovery looks for stray data.
pub const MAX_WRITE_BYTES: u64 = 4 << 20;
/// Room a segment keeps for the blank record (TOTALSIZE + MAGICCODE).
const BLANK_MIN_BYTES: u64 = 8;

/// When an append counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushMode {
    /// Once the write holding it completed: `kill -9` loses nothing acknowledged.
    Async,
    /// Once an `fdatasync` covering it completed: power loss loses nothing acknowledged.
    Sync,
}

/// CommitLog settings.
#[derive(Debug, Clone)]
pub struct CommitLogConfig {
    pub dir: PathBuf,
    pub shard: u16,
    /// Segment size; a multiple of 4096 (default 1 GiB).
    pub segment_bytes: u64,
    pub flush: FlushMode,
    /// How much already-written data stays in memory for readers that keep up.
    pub tail_cache_bytes: u64,
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub position: Position,
    /// Offset just past the message: durable once the log's durable offset reaches it.
    pub end: u64,
}

struct Segment {
    path: PathBuf,
    /// Open for writing (the segments being written).
    file: Option<Rc<DmaFile>>,
    /// A read-only map of the whole file, for reads below the in-memory tail.
    map: Option<Bytes>,
}

struct State {
    config: CommitLogConfig,
    segments: BTreeMap<u64, Segment>,
    append_end: u64,
    written: u64,
    synced: u64,
    /// `[tail.start(), append_end)`; `tail.start()` is block-aligned.
    tail: Tail,
    /// Where encoders write a message that does not fit the tail's current chunk.
    scratch: BytesMut,
    failed: Option<String>,
    waiters: VecDeque<(u64, Waker)>,
    writer: Option<Waker>,
    closing: bool,
    /// Called with the new durable offset after each write (or sync).
    on_durable: Option<Box<dyn FnMut(u64)>>,
}

impl State {
    fn durable(&self) -> u64 {
        match self.config.flush {
            FlushMode::Async => self.written,
            FlushMode::Sync => self.synced,
        }
    }

    fn segment_start(&self, offset: u64) -> u64 {
        offset - offset % self.config.segment_bytes
    }

    fn wake_writer(&mut self) {
        if let Some(w) = self.writer.take() {
            w.wake();
        }
    }

    /// Wakes every waiter whose end is durable (all of them after a failure). Waiters are
    /// not in end order (a connection registers when its writer gets to it), so the whole
    /// list is checked.
    fn wake_waiters(&mut self) {
        let durable = self.durable();
        let failed = self.failed.is_some();
        self.waiters.retain(|(end, waker)| {
            let ready = *end <= durable || failed;
            if ready {
                waker.wake_by_ref();
            }
            !ready
        });
    }
}

/// One shard's CommitLog. Cheap to clone; all clones share the log.
#[derive(Clone)]
pub struct CommitLog {
    state: Rc<RefCell<State>>,
    writer: Rc<RefCell<Option<JoinHandle<()>>>>,
}

/// What recovery found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// First offset still on disk.
    pub min_offset: u64,
    /// End of the last whole, valid message.
    pub end: u64,
    /// Bytes dropped from a torn or corrupt tail, with the reason.
    pub cut: Option<(u64, String)>,
}

fn segment_name(start: u64) -> String {
    format!("{start:020}")
}

fn align_down(v: u64) -> u64 {
    v - v % BLOCK_BYTES
}

fn align_up(v: u64) -> u64 {
    v.div_ceil(BLOCK_BYTES) * BLOCK_BYTES
}

/// Maps a segment file read-only, as shared bytes.
fn map_file(path: &Path) -> StoreResult<Bytes> {
    let file = fs::File::open(path).map_err(|e| StoreError::io("opening", path, e))?;
    // SAFETY: segment files are only ever written by this shard, below `append_end` and at
    // block boundaries at or above the in-memory tail, and reads through the map stay below
    // the tail (or below the recovered end, before any write). Nothing truncates a mapped
    // segment: retention drops the map before deleting the file.
    #[allow(unsafe_code)]
    let map =
        unsafe { memmap2::Mmap::map(&file) }.map_err(|e| StoreError::io("mapping", path, e))?;
    // Readers walk forward through a segment: let the kernel read ahead generously.
    let _ = map.advise(memmap2::Advice::Sequential);
    Ok(Bytes::from_owner(map))
}

impl CommitLog {
    /// Opens (or creates) the log under `config.dir`, scanning from `scan_from` (a message
    /// boundary from the last checkpoint; `None` scans everything) to find the end. A torn
    /// or corrupt tail is cut and logged; corruption followed by more data is an error that
    /// names the file and offset (the log refuses to open rather than drop acknowledged data).
    pub fn open(
        config: CommitLogConfig,
        scan_from: Option<u64>,
    ) -> StoreResult<(CommitLog, Recovered)> {
        if config.segment_bytes % BLOCK_BYTES != 0 || config.segment_bytes < 2 * BLOCK_BYTES {
            return Err(StoreError::Invalid(format!(
                "segment_bytes {} must be a multiple of {BLOCK_BYTES} and at least {}",
                config.segment_bytes,
                2 * BLOCK_BYTES
            )));
        }
        fs::create_dir_all(&config.dir).map_err(|e| StoreError::io("creating", &config.dir, e))?;
        let mut segments = BTreeMap::new();
        for entry in
            fs::read_dir(&config.dir).map_err(|e| StoreError::io("listing", &config.dir, e))?
        {
            let entry = entry.map_err(|e| StoreError::io("listing", &config.dir, e))?;
            let name = entry.file_name();
            let Some(start) = name
                .to_str()
                .filter(|n| n.len() == 20)
                .and_then(|n| n.parse::<u64>().ok())
            else {
                warn!(file = %entry.path().display(), "ignoring a file that is not a commit-log segment");
                continue;
            };
            if start % config.segment_bytes != 0 {
                return Err(StoreError::Corrupt {
                    path: entry.path(),
                    offset: 0,
                    reason: format!(
                        "segment name {start} is not a multiple of segment_bytes {}",
                        config.segment_bytes
                    ),
                });
            }
            segments.insert(
                start,
                Segment {
                    path: entry.path(),
                    file: None,
                    map: None,
                },
            );
        }
        let last_start = segments.keys().next_back().copied();
        for (start, seg) in &segments {
            let len = fs::metadata(&seg.path)
                .map_err(|e| StoreError::io("reading size of", &seg.path, e))?
                .len();
            if len != config.segment_bytes {
                if Some(*start) == last_start && len < config.segment_bytes {
                    warn!(file = %seg.path.display(), len, "last segment is short (interrupted preallocation); extending it");
                    let f = fs::OpenOptions::new()
                        .write(true)
                        .open(&seg.path)
                        .map_err(|e| StoreError::io("opening", &seg.path, e))?;
                    f.set_len(config.segment_bytes)
                        .map_err(|e| StoreError::io("extending", &seg.path, e))?;
                } else {
                    return Err(StoreError::Corrupt {
                        path: seg.path.clone(),
                        offset: len,
                        reason: format!(
                            "segment is {len} bytes, expected {} (segment_bytes changed, or the file was cut short)",
                            config.segment_bytes
                        ),
                    });
                }
            }
        }
        let min_offset = segments.keys().next().copied().unwrap_or(0);
        let mut state = State {
            config: config.clone(),
            segments,
            append_end: 0,
            written: 0,
            synced: 0,
            tail: Tail::new(0),
            scratch: BytesMut::new(),
            failed: None,
            waiters: VecDeque::new(),
            writer: None,
            closing: false,
            on_durable: None,
        };
        let (end, cut) = recover_end(&mut state, scan_from.unwrap_or(min_offset).max(min_offset))?;
        state.append_end = end;
        state.written = end;
        state.synced = end;
        let tail_start = align_down(end);
        state.tail = Tail::new(tail_start);
        if end > tail_start {
            let seg = state.segment_start(tail_start);
            let map = match state.segments.get(&seg) {
                Some(s) => map_file(&s.path)?,
                None => Bytes::new(),
            };
            let from = (tail_start - seg) as usize;
            let to = (end - seg) as usize;
            state.tail.extend(map.get(from..to).unwrap_or_default());
        }
        let log = CommitLog {
            state: Rc::new(RefCell::new(state)),
            writer: Rc::new(RefCell::new(None)),
        };
        let handle = glommio::spawn_local(run_writer(log.state.clone())).detach();
        *log.writer.borrow_mut() = Some(handle);
        Ok((
            log,
            Recovered {
                min_offset,
                end,
                cut,
            },
        ))
    }

    /// The shard this log belongs to.
    pub fn shard(&self) -> u16 {
        self.state.borrow().config.shard
    }

    /// Offset after the last appended message.
    pub fn append_end(&self) -> u64 {
        self.state.borrow().append_end
    }

    /// Offset up to which appends are durable (per the flush mode).
    pub fn durable_end(&self) -> u64 {
        self.state.borrow().durable()
    }

    /// First offset still stored.
    pub fn min_offset(&self) -> u64 {
        self.state
            .borrow()
            .segments
            .keys()
            .next()
            .copied()
            .unwrap_or(0)
    }

    /// Sets the hook called with the durable offset after each completed write or sync.
    pub fn set_on_durable(&self, hook: Box<dyn FnMut(u64)>) {
        self.state.borrow_mut().on_durable = Some(hook);
    }

    /// Appends one message of `len` bytes, which `encode` writes at the given position.
    /// Returns at once; await [`CommitLog::wait_durable`] with the returned end.
    pub fn append(
        &self,
        len: usize,
        encode: impl FnOnce(Position, &mut BytesMut) -> StoreResult<()>,
    ) -> StoreResult<Appended> {
        let mut s = self.state.borrow_mut();
        if let Some(reason) = &s.failed {
            return Err(StoreError::Refusing(reason.clone()));
        }
        let len = len as u64;
        let segment_bytes = s.config.segment_bytes;
        if len + BLANK_MIN_BYTES > segment_bytes {
            return Err(StoreError::Invalid(format!(
                "a message of {len} bytes does not fit a {segment_bytes}-byte segment"
            )));
        }
        let seg_end = s.segment_start(s.append_end) + segment_bytes;
        if s.append_end + len + BLANK_MIN_BYTES > seg_end {
            // Pad the rest of this segment with a blank record; the message opens the next.
            let pad = seg_end - s.append_end;
            let mut marker = [0u8; BLANK_MIN_BYTES as usize];
            marker[..4].copy_from_slice(&(pad as i32).to_be_bytes());
            marker[4..].copy_from_slice(&BLANK_MAGIC_CODE.to_be_bytes());
            s.tail.extend(&marker);
            s.tail.extend_zeros((pad - BLANK_MIN_BYTES) as usize);
            s.append_end = seg_end;
        }
        let position = Position::new(s.config.shard, s.append_end);
        let check = |wrote: usize| {
            if wrote as u64 == len {
                Ok(())
            } else {
                Err(StoreError::Invalid(format!(
                    "encoder wrote {wrote} bytes, announced {len}"
                )))
            }
        };
        if s.tail.spare_in_chunk() >= len as usize {
            // The common case: encode straight into the tail.
            let chunk = s.tail.chunk_for_write();
            let before = chunk.len();
            let result = encode(position, chunk).and_then(|()| check(chunk.len() - before));
            if let Err(e) = result {
                s.tail.truncate_last_chunk(before);
                return Err(e);
            }
        } else {
            let mut scratch = std::mem::take(&mut s.scratch);
            scratch.clear();
            let result = encode(position, &mut scratch).and_then(|()| check(scratch.len()));
            if result.is_ok() {
                s.tail.extend(&scratch);
            }
            s.scratch = scratch;
            result?;
        }
        s.append_end += len;
        debug_assert_eq!(s.tail.end(), s.append_end);
        let end = s.append_end;
        s.wake_writer();
        Ok(Appended { position, end })
    }

    /// Resolves once everything up to `end` is durable, or with the error that stopped the log.
    pub fn wait_durable(&self, end: u64) -> WaitDurable {
        WaitDurable {
            state: self.state.clone(),
            end,
        }
    }

    /// `len` bytes at `offset` (durable data only), from memory or from the segment's map.
    pub fn read(&self, offset: u64, len: usize) -> StoreResult<Bytes> {
        let mut s = self.state.borrow_mut();
        let end = offset + len as u64;
        if end > s.durable() {
            return Err(StoreError::Invalid(format!(
                "read of [{offset}, {end}) past the durable end {}",
                s.durable()
            )));
        }
        if offset >= s.tail.start() {
            return Ok(s.tail.read(offset, len));
        }
        let seg = s.segment_start(offset);
        let Some(segment) = s.segments.get_mut(&seg) else {
            return Err(StoreError::Invalid(format!(
                "offset {offset} is below the log's first segment"
            )));
        };
        if segment.map.is_none() {
            segment.map = Some(map_file(&segment.path)?);
        }
        let map = segment.map.clone().unwrap_or_default();
        let from = (offset - seg) as usize;
        map.get(from..from + len)
            .map(|_| map.slice(from..from + len))
            .ok_or_else(|| StoreError::Corrupt {
                path: segment.path.clone(),
                offset: offset - seg,
                reason: format!("read of {len} bytes runs past the segment"),
            })
    }

    /// Forgets whole segments that end at or below `keep_from` (never the one being
    /// written). Returns the new first offset and the files to unlink.
    pub fn delete_segments_below(&self, keep_from: u64) -> (u64, Vec<PathBuf>) {
        let mut s = self.state.borrow_mut();
        let active = s.segment_start(s.append_end);
        let segment_bytes = s.config.segment_bytes;
        let doomed: Vec<u64> = s
            .segments
            .keys()
            .copied()
            .filter(|start| *start < active && start + segment_bytes <= keep_from)
            .collect();
        let mut paths = Vec::with_capacity(doomed.len());
        for start in doomed {
            if let Some(seg) = s.segments.remove(&start) {
                // Readers still holding bytes of its map keep the map alive until they drop
                // them; the file is unlinked by the caller (off the executor).
                drop(seg.map);
                paths.push(seg.path);
            }
        }
        (s.segments.keys().next().copied().unwrap_or(active), paths)
    }

    /// Segments as (start offset, path), oldest first.
    pub fn segments(&self) -> Vec<(u64, PathBuf)> {
        self.state
            .borrow()
            .segments
            .iter()
            .map(|(k, v)| (*k, v.path.clone()))
            .collect()
    }

    /// Waits for every append to be durable, then stops the writer.
    pub async fn close(&self) -> StoreResult<()> {
        let end = self.append_end();
        let result = self.wait_durable(end).await;
        {
            let mut s = self.state.borrow_mut();
            s.closing = true;
            s.wake_writer();
        }
        let handle = self.writer.borrow_mut().take();
        if let Some(handle) = handle {
            handle.await;
        }
        result
    }
}

/// Future of [`CommitLog::wait_durable`].
pub struct WaitDurable {
    state: Rc<RefCell<State>>,
    end: u64,
}

impl Future for WaitDurable {
    type Output = StoreResult<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.state.borrow_mut();
        if s.durable() >= self.end {
            return Poll::Ready(Ok(()));
        }
        if let Some(reason) = &s.failed {
            return Poll::Ready(Err(StoreError::Refusing(reason.clone())));
        }
        s.waiters.push_back((self.end, cx.waker().clone()));
        Poll::Pending
    }
}

/// Resolves when there is something to write, or the log is closing.
struct WorkAvailable(Rc<RefCell<State>>);

impl Future for WorkAvailable {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = self.0.borrow_mut();
        if s.append_end > s.written || s.closing || s.failed.is_some() {
            return Poll::Ready(());
        }
        s.writer = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Opens (creating and preallocating if needed) the segment starting at `start`.
async fn segment_file(state: &Rc<RefCell<State>>, start: u64) -> StoreResult<Rc<DmaFile>> {
    let (path, existing, segment_bytes) = {
        let s = state.borrow();
        let path = s.config.dir.join(segment_name(start));
        let existing = s.segments.get(&start).and_then(|seg| seg.file.clone());
        (path, existing, s.config.segment_bytes)
    };
    if let Some(file) = existing {
        return Ok(file);
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .dma_open(&path)
        .await
        .map_err(|e| StoreError::io("creating segment", &path, e.into()))?;
    file.pre_allocate(segment_bytes, false)
        .await
        .map_err(|e| StoreError::io("preallocating segment", &path, e.into()))?;
    // The new segment's name must survive a power cut like its bytes do.
    if let Some(dir) = path.parent() {
        super::metadata::sync_dir(dir)?;
    }
    let file = Rc::new(file);
    let mut s = state.borrow_mut();
    // Only the two newest segments stay open for writing.
    let stale: Vec<u64> = s
        .segments
        .range(..start)
        .rev()
        .skip(1)
        .map(|(k, _)| *k)
        .collect();
    for k in stale {
        if let Some(seg) = s.segments.get_mut(&k) {
            seg.file = None;
        }
    }
    s.segments
        .entry(start)
        .or_insert_with(|| Segment {
            path,
            file: None,
            map: None,
        })
        .file = Some(file.clone());
    Ok(file)
}

/// The group-commit loop: write everything appended since the last write, in one DMA write
/// per segment touched, then (sync mode) fdatasync; then wake whoever waits.
async fn run_writer(state: Rc<RefCell<State>>) {
    loop {
        WorkAvailable(state.clone()).await;
        let (from, seg_start, segment_bytes) = {
            let s = state.borrow();
            if s.failed.is_some() || (s.closing && s.append_end == s.written) {
                return;
            }
            (
                s.written,
                s.segment_start(s.written),
                s.config.segment_bytes,
            )
        };
        let result = write_once(&state, from, seg_start, segment_bytes).await;
        let mut s = state.borrow_mut();
        match result {
            Ok(to) => {
                s.written = to;
                if s.config.flush == FlushMode::Sync {
                    // The sync happened inside write_once.
                    s.synced = to;
                }
                // Keep what the next write rewrites (from the block holding `to`) and the
                // configured cache before it.
                let keep_from = align_down(to).saturating_sub(s.config.tail_cache_bytes);
                s.tail.trim(keep_from);
                let durable = s.durable();
                if let Some(mut hook) = s.on_durable.take() {
                    drop(s);
                    hook(durable);
                    s = state.borrow_mut();
                    if s.on_durable.is_none() {
                        s.on_durable = Some(hook);
                    }
                }
                s.wake_waiters();
            }
            Err(e) => {
                warn!("commit log write failed, refusing further writes: {e}");
                s.failed = Some(e.to_string());
                s.wake_waiters();
                return;
            }
        }
    }
}

/// Writes `[align_down(from), to)` of one segment, where `to` is the append end (or the
/// segment's end, or the write-size cap). Returns `to`.
async fn write_once(
    state: &Rc<RefCell<State>>,
    from: u64,
    seg_start: u64,
    segment_bytes: u64,
) -> StoreResult<u64> {
    let file = segment_file(state, seg_start).await?;
    let (buf, write_at, to, path, sync) = {
        let s = state.borrow();
        let seg_end = seg_start + segment_bytes;
        let start = align_down(from);
        let to = s.append_end.min(seg_end).min(start + MAX_WRITE_BYTES);
        // Cover at least 8 zero bytes past the data, so a later scan always finds an end
        // marker even where older bytes of the file remain.
        let len = (align_up(to + BLANK_MIN_BYTES) - start).min(seg_end - start) as usize;
        let mut buf = file.alloc_dma_buffer(len);
        let bytes = buf.as_bytes_mut();
        let data_len = (to - start) as usize;
        s.tail.copy_to(start, &mut bytes[..data_len]);
        bytes[data_len..].fill(0);
        let path = s.config.dir.join(segment_name(seg_start));
        (
            buf,
            start - seg_start,
            to,
            path,
            s.config.flush == FlushMode::Sync,
        )
    };
    file.write_at(buf, write_at)
        .await
        .map_err(|e| StoreError::io("writing", &path, e.into()))?;
    if sync {
        file.fdatasync()
            .await
            .map_err(|e| StoreError::io("syncing", &path, e.into()))?;
    }
    Ok(to)
}

/// Scans from `from` to the end of the log. Returns the end and, if a torn tail was cut,
/// where and why.
fn recover_end(state: &mut State, from: u64) -> StoreResult<(u64, Option<(u64, String)>)> {
    let segment_bytes = state.config.segment_bytes;
    let shard = state.config.shard;
    let starts: Vec<u64> = state.segments.keys().copied().collect();
    let Some(&last) = starts.last() else {
        return Ok((0, None));
    };
    let mut pos = from;
    loop {
        let seg = pos - pos % segment_bytes;
        let Some(segment) = state.segments.get_mut(&seg) else {
            // Past the last segment (the previous one ended with a blank record).
            return Ok((pos.min(last + segment_bytes), None));
        };
        if segment.map.is_none() {
            segment.map = Some(map_file(&segment.path)?);
        }
        let map = segment.map.clone().unwrap_or_default();
        let path = segment.path.clone();
        let at = (pos - seg) as usize;
        if pos + 4 > seg + segment_bytes {
            pos = seg + segment_bytes;
            continue;
        }
        let size = StoredMessage::peek_total_size(&map, at).unwrap_or(0);
        if size == 0 {
            return Ok((pos, None));
        }
        let magic = map
            .get(at + 4..at + 8)
            .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        if magic == Some(BLANK_MAGIC_CODE) {
            pos = seg + segment_bytes;
            continue;
        }
        let problem = match StoredMessage::decode(&map, at, true) {
            Ok((msg, len)) if msg.physical_offset as u64 == Position::new(shard, pos).raw() => {
                pos += len as u64;
                continue;
            }
            Ok((msg, _)) => format!(
                "PHYSICALOFFSET {} does not match the record's place {}",
                msg.physical_offset,
                Position::new(shard, pos).raw()
            ),
            Err(e) => e.to_string(),
        };
        // A torn tail is the last write's garbage followed by zeros. Data further on means
        // corruption in the middle of acknowledged messages: refuse rather than cut it.
        let window_end = (align_up(at as u64 + 1) + MAX_WRITE_BYTES).min(segment_bytes) as usize;
        let beyond = map.get(window_end..).unwrap_or_default();
        let later_segments = seg != last;
        if later_segments || beyond.iter().any(|b| *b != 0) {
            return Err(StoreError::Corrupt {
                path,
                offset: at as u64,
                reason: format!("{problem}; valid-looking data follows, so the log was not cut (restore the file or move it aside)"),
            });
        }
        warn!(file = %path.display(), offset = at, reason = %problem, "cutting a torn commit-log tail");
        // Zero the cut region on disk so none of it can resurface after later writes.
        let file = fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::io("opening", &path, e))?;
        let zeros = vec![0u8; window_end - at];
        std::os::unix::fs::FileExt::write_all_at(&file, &zeros, at as u64)
            .map_err(|e| StoreError::io("zeroing a torn tail in", &path, e))?;
        file.sync_data()
            .map_err(|e| StoreError::io("syncing", &path, e))?;
        segment.map = None;
        return Ok((pos, Some((pos, format!("{}: {problem}", path.display())))));
    }
}

/// Sends this thread's DMA I/O on `dir`'s device to glommio's interrupt-driven main ring
/// instead of its IOPOLL ring.
///
/// Why: glommio probes each device once per thread with a polled read, and where the kernel
/// accepts it (it does even for devices without poll queues, e.g. virtio disks) every later
/// DMA read and write goes to the IOPOLL ring. An executor with polled I/O in flight cannot
/// sleep: it spins reaping completions, so a shard that always has a commit-log write in
/// flight burns its whole core whatever the load (measured: a full core at 150K msg/s, the
/// core the clients needed). glommio offers no switch, but a probe that fails for any
/// reason but ENOTSUP disables the poll ring for that device on that thread; a read of a
/// write-only file is such a failure (EBADF). glommio logs that as an error (target
/// `glommio::reactor`), which `mqbroker` filters out unless RUST_LOG asks for it.
pub async fn disable_io_polling(dir: &Path) -> StoreResult<()> {
    let path = dir.join(".io-poll-probe");
    info!(
        dir = %dir.display(),
        "polled disk I/O is off: DMA reads and writes complete by interrupt, so an idle shard can sleep"
    );
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .dma_open(&path)
        .await
        .map_err(|e| StoreError::io("opening the io-poll probe file", &path, e.into()))?;
    let _ = file.close().await;
    let _ = fs::remove_file(&path);
    Ok(())
}
