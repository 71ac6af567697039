//! Timed messages on one shard: a hierarchical timing wheel kept on disk.
//!
//! A message sent with a `TIMER_*` property waits in this shard's `rmq_sys_wheel_timer`
//! queue (durable like any message; the consume-queue entry's tag field holds its due
//! time). This shard's one timer task reads that queue in order and files a 16-byte record
//! (due ms, log position) per message into a *bucket file* under `shard-<k>/timer/`:
//!
//! - `s-<start ms>`: a second, for due times less than a minute ahead (the near wheel);
//! - `m-<start ms>`: a minute, for due times less than an hour ahead;
//! - `h-<start ms>`: an hour, beyond that (up to `timerMaxDelaySec`).
//!
//! As time passes, an hour bucket that comes within an hour is split into minute buckets,
//! and a minute bucket that comes within a minute into second buckets (written and synced
//! before the source is deleted). A second bucket is read into memory when its second
//! begins, its records go into a heap by due time, and each is delivered when due; the file
//! is deleted once all its records are stored in their real topics. So the broker holds in
//! memory only the current second's records and the records filed in the last
//! [`FLUSH_EVERY`]; millions of pending timers cost 16 bytes each on disk.
//!
//! Durability: records are appended to bucket files and synced every [`FLUSH_EVERY`]; the
//! checkpoint (`timer/checkpoint.json`) then records how far the timer queue was filed. After
//! a crash the queue is filed again from the checkpoint, and second buckets that were being
//! delivered are delivered again: duplicates are possible (at least once), losses are not.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::deliver::{append_local, deliver_until_done, Failure};
use super::now_ms;
use crate::shard::Shard;
use crate::store::engine::TIMER_TOPIC;
use crate::store::{metadata, Position};

/// How often filed records are written and synced, and the checkpoint saved.
pub const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Most deliveries in flight per shard.
pub const MAX_IN_FLIGHT: usize = 2048;
/// Most timer-queue entries filed per turn of the loop (then it delivers, and goes on).
const FILE_PER_TURN: u64 = 20_000;
/// Bytes of one record: due time (i64) and log position (u64), big-endian.
const RECORD_BYTES: usize = 16;

const SECOND_MS: i64 = 1000;
const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;

/// The three rings of the wheel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ring {
    Second,
    Minute,
    Hour,
}

impl Ring {
    fn prefix(self) -> &'static str {
        match self {
            Ring::Second => "s",
            Ring::Minute => "m",
            Ring::Hour => "h",
        }
    }
}

/// One bucket: a ring and the start of its span (ms since the epoch, a multiple of the
/// ring's width).
type Bucket = (Ring, i64);

fn bucket_path(dir: &Path, (ring, start): Bucket) -> PathBuf {
    dir.join(format!("{}-{start}", ring.prefix()))
}

fn floor(ms: i64, width: i64) -> i64 {
    ms.div_euclid(width) * width
}

/// What the timer saves (`timer/checkpoint.json`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// Timer-queue entries below this offset are filed in synced bucket files.
    pub filed: u64,
    /// The first second bucket not yet delivered and removed.
    pub deliver_from_ms: i64,
    /// Second buckets hold due times below this (minute buckets before it are split).
    pub seconds_until_ms: i64,
    /// Minute buckets hold due times below this (hour buckets before it are split).
    pub minutes_until_ms: i64,
}

/// A record: when, and which waiting message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Record {
    due_ms: i64,
    position: u64,
}

impl Record {
    fn encode(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.due_ms.to_be_bytes());
        out.extend_from_slice(&self.position.to_be_bytes());
    }

    /// Records of a bucket file; a torn last record (a crash mid-append) is ignored.
    fn decode_all(bytes: &[u8]) -> impl Iterator<Item = Record> + '_ {
        bytes.chunks_exact(RECORD_BYTES).map(|r| Record {
            due_ms: i64::from_be_bytes(r[..8].try_into().expect("8 bytes")),
            position: u64::from_be_bytes(r[8..].try_into().expect("8 bytes")),
        })
    }
}

/// A loaded second bucket: how many of its records are not yet delivered.
#[derive(Debug, Default)]
struct Loaded {
    outstanding: usize,
}

/// The wheel's state (owned by the timer task alone).
struct Wheel {
    dir: PathBuf,
    checkpoint: Checkpoint,
    /// Next timer-queue offset to file.
    filed: u64,
    /// Start of the next second bucket to load.
    next_load_ms: i64,
    /// Buckets with a file on disk.
    files: BTreeSet<Bucket>,
    /// Records filed since the last flush, by bucket.
    unwritten: BTreeMap<Bucket, Vec<u8>>,
    /// Second buckets loaded and not yet removed.
    loaded: BTreeMap<i64, Loaded>,
    /// Loaded records by due time (and the second bucket each belongs to).
    due: BinaryHeap<Reverse<(Record, i64)>>,
    /// Whether anything was filed, split or removed since the checkpoint was saved (an idle
    /// wheel writes nothing).
    changed: bool,
}

/// `shard-<k>/timer`.
pub fn timer_dir(data_dir: &Path, shard: usize) -> PathBuf {
    data_dir.join(format!("shard-{shard}")).join("timer")
}

const CHECKPOINT_FILE: &str = "checkpoint.json";

impl Wheel {
    /// Opens the wheel's directory: its checkpoint and the bucket files there.
    fn open(dir: PathBuf, now: i64) -> std::io::Result<Wheel> {
        std::fs::create_dir_all(&dir)?;
        let saved: Option<Checkpoint> = metadata::read_json(&dir.join(CHECKPOINT_FILE))
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let checkpoint = saved.unwrap_or(Checkpoint {
            filed: 0,
            deliver_from_ms: floor(now, SECOND_MS),
            seconds_until_ms: floor(now, MINUTE_MS) + 2 * MINUTE_MS,
            minutes_until_ms: floor(now, HOUR_MS) + 2 * HOUR_MS,
        });
        let mut files = BTreeSet::new();
        for entry in std::fs::read_dir(&dir)? {
            let name = entry?.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some((prefix, start)) = name.split_once('-') else {
                continue;
            };
            let ring = match prefix {
                "s" => Ring::Second,
                "m" => Ring::Minute,
                "h" => Ring::Hour,
                _ => continue,
            };
            if let Ok(start) = start.parse::<i64>() {
                files.insert((ring, start));
            }
        }
        Ok(Wheel {
            dir,
            filed: checkpoint.filed,
            next_load_ms: checkpoint.deliver_from_ms,
            checkpoint,
            files,
            unwritten: BTreeMap::new(),
            loaded: BTreeMap::new(),
            due: BinaryHeap::new(),
            changed: false,
        })
    }

    /// Files one record in the bucket its due time belongs to.
    fn insert(&mut self, record: Record) {
        self.changed = true;
        let bucket = if record.due_ms < self.next_load_ms {
            match self.loaded.last_key_value() {
                // Due in a second already loaded (or before): into the newest loaded one,
                // straight into the heap.
                Some((&latest, _)) => {
                    self.due.push(Reverse((record, latest)));
                    if let Some(l) = self.loaded.get_mut(&latest) {
                        l.outstanding += 1;
                    }
                    (Ring::Second, latest)
                }
                None => (Ring::Second, self.next_load_ms),
            }
        } else if record.due_ms < self.checkpoint.seconds_until_ms {
            (Ring::Second, floor(record.due_ms, SECOND_MS))
        } else if record.due_ms < self.checkpoint.minutes_until_ms {
            (Ring::Minute, floor(record.due_ms, MINUTE_MS))
        } else {
            (Ring::Hour, floor(record.due_ms, HOUR_MS))
        };
        record.encode(self.unwritten.entry(bucket).or_default());
    }

    /// Records of `bucket`: its file's and those not yet written.
    async fn read_bucket(&self, bucket: Bucket) -> std::io::Result<Vec<Record>> {
        let mut bytes = Vec::new();
        if self.files.contains(&bucket) {
            let path = bucket_path(&self.dir, bucket);
            bytes = glommio::executor()
                .spawn_blocking(move || {
                    let mut out = Vec::new();
                    match std::fs::File::open(&path) {
                        Ok(mut f) => f.read_to_end(&mut out).map(|_| out),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(out),
                        Err(e) => Err(e),
                    }
                })
                .await?;
        }
        if let Some(more) = self.unwritten.get(&bucket) {
            bytes.extend_from_slice(more);
        }
        Ok(Record::decode_all(&bytes).collect())
    }

    /// Splits the bucket `source` into the next ring down: its records are written (and
    /// synced) into their new buckets before its file is deleted.
    async fn split(&mut self, source: Bucket) -> std::io::Result<()> {
        let records = self.read_bucket(source).await?;
        self.changed = true;
        self.unwritten.remove(&source);
        let mut out: BTreeMap<Bucket, Vec<u8>> = BTreeMap::new();
        // The boundaries moved before the split: each record lands one ring down.
        for record in records {
            self.insert(record);
        }
        // Write what the split produced now, with the source's deletion after it.
        for (bucket, bytes) in std::mem::take(&mut self.unwritten) {
            out.insert(bucket, bytes);
        }
        let deleted = self
            .files
            .contains(&source)
            .then(|| bucket_path(&self.dir, source));
        self.write(out, deleted).await
    }

    /// Appends `records` to their bucket files and syncs them, then deletes `then_delete`.
    async fn write(
        &mut self,
        records: BTreeMap<Bucket, Vec<u8>>,
        then_delete: Option<PathBuf>,
    ) -> std::io::Result<()> {
        let dir = self.dir.clone();
        let buckets: Vec<Bucket> = records.keys().copied().collect();
        let result = glommio::executor()
            .spawn_blocking(move || -> std::io::Result<()> {
                for (bucket, bytes) in &records {
                    let mut f = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(bucket_path(&dir, *bucket))?;
                    f.write_all(bytes)?;
                    f.sync_data()?;
                }
                if !records.is_empty() {
                    std::fs::File::open(&dir)?.sync_all()?;
                }
                if let Some(path) = then_delete {
                    match std::fs::remove_file(&path) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                        _ => {}
                    }
                }
                Ok(())
            })
            .await;
        result?;
        self.files.extend(buckets);
        Ok(())
    }

    /// Writes and syncs every record filed since the last flush, then saves the checkpoint.
    async fn flush(&mut self) -> std::io::Result<()> {
        if !self.changed {
            return Ok(());
        }
        let filed = self.filed;
        let records = std::mem::take(&mut self.unwritten);
        // Records of loaded buckets stay needed until delivered: written like the rest.
        if let Err(e) = self.write(records.clone(), None).await {
            // Keep them for the next try.
            for (bucket, bytes) in records {
                let mut bytes = bytes;
                if let Some(newer) = self.unwritten.remove(&bucket) {
                    bytes.extend_from_slice(&newer);
                }
                self.unwritten.insert(bucket, bytes);
            }
            return Err(e);
        }
        let checkpoint = Checkpoint {
            filed,
            deliver_from_ms: self
                .loaded
                .first_key_value()
                .map_or(self.next_load_ms, |(start, _)| *start),
            ..self.checkpoint
        };
        if checkpoint != self.checkpoint {
            let bytes = serde_json::to_vec(&checkpoint).map_err(std::io::Error::other)?;
            let path = self.dir.join(CHECKPOINT_FILE);
            glommio::executor()
                .spawn_blocking(move || metadata::write_atomic(&path, &bytes))
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            self.checkpoint = checkpoint;
        }
        self.changed = !self.unwritten.is_empty();
        Ok(())
    }

    /// Brings the wheel to `now`: splits the hour buckets that came within the hour and the
    /// minute buckets that came within the minute, and loads the second buckets that began
    /// (an empty one too: it takes what falls due in it) into the heap.
    async fn advance(&mut self, now: i64) -> std::io::Result<()> {
        while self.checkpoint.minutes_until_ms <= now + HOUR_MS {
            let source = (Ring::Hour, self.checkpoint.minutes_until_ms);
            self.checkpoint.minutes_until_ms += HOUR_MS;
            if let Err(e) = self.split(source).await {
                self.checkpoint.minutes_until_ms -= HOUR_MS;
                return Err(e);
            }
        }
        while self.checkpoint.seconds_until_ms <= now + MINUTE_MS {
            let source = (Ring::Minute, self.checkpoint.seconds_until_ms);
            self.checkpoint.seconds_until_ms += MINUTE_MS;
            if let Err(e) = self.split(source).await {
                self.checkpoint.seconds_until_ms -= MINUTE_MS;
                return Err(e);
            }
        }
        while self.next_load_ms <= now {
            let start = self.next_load_ms;
            let bucket = (Ring::Second, start);
            let mut loaded = Loaded::default();
            if self.files.contains(&bucket) || self.unwritten.contains_key(&bucket) {
                let records = self.read_bucket(bucket).await?;
                loaded.outstanding = records.len();
                for record in records {
                    self.due.push(Reverse((record, start)));
                }
            }
            self.loaded.insert(start, loaded);
            self.next_load_ms = start + SECOND_MS;
        }
        Ok(())
    }

    /// The next loaded record due at `now`, and its bucket.
    fn pop_due(&mut self, now: i64) -> Option<(Record, i64)> {
        match self.due.peek() {
            Some(Reverse((record, _))) if record.due_ms <= now => {}
            _ => return None,
        }
        self.due.pop().map(|Reverse(pair)| pair)
    }

    /// Marks a delivered record of `bucket` done.
    fn delivered(&mut self, bucket: i64) {
        if let Some(l) = self.loaded.get_mut(&bucket) {
            l.outstanding = l.outstanding.saturating_sub(1);
        }
    }

    /// Deletes second buckets that are over and fully delivered.
    async fn remove_finished(&mut self, now: i64) {
        let finished: Vec<i64> = self
            .loaded
            .iter()
            .filter(|(start, l)| l.outstanding == 0 && **start + SECOND_MS <= now)
            .map(|(start, _)| *start)
            .collect();
        for start in finished {
            self.loaded.remove(&start);
            let bucket = (Ring::Second, start);
            if self.unwritten.remove(&bucket).is_some() {
                self.changed = true;
            }
            if self.files.remove(&bucket) {
                self.changed = true;
                let path = bucket_path(&self.dir, bucket);
                let removed = glommio::executor()
                    .spawn_blocking(move || std::fs::remove_file(path))
                    .await;
                if let Err(e) = removed {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        warn!(bucket = start, "removing a delivered timer bucket: {e}");
                    }
                }
            }
        }
    }
}

/// The timer task of `shard`; returns once the shard stops, its wheel flushed.
pub async fn run(shard: Rc<Shard>) {
    let dir = timer_dir(&shard.config.data_dir, shard.id);
    let mut wheel = match Wheel::open(dir.clone(), now_ms()) {
        Ok(w) => w,
        Err(e) => {
            // Without its wheel the shard cannot deliver timed messages: say so loudly; the
            // messages stay in the timer queue and are filed after a restart that can.
            tracing::error!(shard = shard.id, dir = %dir.display(), "the timer wheel cannot open: {e}; timed messages wait until it can");
            return;
        }
    };
    if wheel.filed > 0 || !wheel.files.is_empty() {
        info!(
            shard = shard.id,
            filed = wheel.filed,
            buckets = wheel.files.len(),
            "timer wheel reopened"
        );
    }
    let (done_tx, done_rx) = flume::unbounded::<(i64, Record, bool)>();
    let mut in_flight = 0usize;
    let mut last_flush = Instant::now();
    let precision = shard.config.timer_precision;
    loop {
        let stopping = shard.is_stopping();
        // Completed deliveries.
        while let Ok((bucket, record, done)) = done_rx.try_recv() {
            in_flight -= 1;
            if done {
                wheel.delivered(bucket);
            } else {
                // Not stored (a failed write, or the shard stopping): due again at once; at
                // a stop it stays in its bucket file for the next start.
                wheel.due.push(Reverse((record, bucket)));
            }
        }
        if stopping && in_flight == 0 {
            break;
        }
        let now = now_ms();
        // File what arrived in the timer queue.
        let (min, max) = shard.store.offsets(TIMER_TOPIC, 0);
        wheel.filed = wheel.filed.max(min);
        let mut filed_now = 0;
        while wheel.filed < max && filed_now < FILE_PER_TURN {
            let Some(entry) = shard.store.entry(TIMER_TOPIC, 0, wheel.filed) else {
                break;
            };
            wheel.insert(Record {
                due_ms: entry.tag_hash,
                position: entry.position.raw(),
            });
            wheel.filed += 1;
            filed_now += 1;
        }
        if let Err(e) = wheel.advance(now).await {
            warn!(shard = shard.id, "advancing the timer wheel: {e}; retrying");
        }
        // Deliver what is due: appended here in a batch that waits for durability once;
        // a record whose queue another shard owns (or that failed for now) in a task.
        let mut batch: Vec<(Record, i64)> = Vec::new();
        let mut batch_end = 0u64;
        while !stopping && in_flight + batch.len() < MAX_IN_FLIGHT {
            let Some((record, bucket)) = wheel.pop_due(now) else {
                break;
            };
            let position = Position::from_raw(record.position);
            match append_local(&shard, position) {
                Ok(Some(end)) => {
                    batch.push((record, bucket));
                    batch_end = batch_end.max(end);
                }
                Err(Failure::Drop(why)) => {
                    shard.count(|c| c.schedule_dropped += 1);
                    warn!(shard = shard.id, position = record.position, %why, "a timed message could not be delivered");
                    wheel.delivered(bucket);
                }
                Ok(None) | Err(Failure::Retry(_)) => {
                    in_flight += 1;
                    let (shard, done_tx) = (shard.clone(), done_tx.clone());
                    glommio::spawn_local(async move {
                        let done = deliver_until_done(&shard, position).await;
                        let _ = done_tx.send((bucket, record, done));
                    })
                    .detach();
                }
            }
        }
        if !batch.is_empty() {
            in_flight += batch.len();
            let (shard, done_tx) = (shard.clone(), done_tx.clone());
            glommio::spawn_local(async move {
                let durable = shard.store.wait_durable(batch_end).await.is_ok();
                for (record, bucket) in batch {
                    let _ = done_tx.send((bucket, record, durable));
                }
            })
            .detach();
        }
        wheel.remove_finished(now).await;
        if last_flush.elapsed() >= FLUSH_EVERY || stopping {
            if let Err(e) = wheel.flush().await {
                warn!(shard = shard.id, "flushing the timer wheel: {e}; retrying");
            }
            last_flush = Instant::now();
        }
        // Sleep until the next due record, the next second, or the precision.
        let now = now_ms();
        let mut wait = precision.as_millis() as i64;
        if let Some(Reverse((record, _))) = wheel.due.peek() {
            wait = wait.min(record.due_ms - now);
        }
        wait = wait.min(wheel.next_load_ms - now);
        if filed_now == FILE_PER_TURN || wait <= 0 && in_flight < MAX_IN_FLIGHT {
            glommio::yield_if_needed().await;
            glommio::timer::sleep(Duration::from_micros(200)).await;
        } else {
            glommio::timer::sleep(Duration::from_millis(wait.clamp(1, 1000) as u64)).await;
        }
    }
    if let Err(e) = wheel.flush().await {
        warn!(shard = shard.id, "flushing the timer wheel at stop: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_a_torn_tail_is_ignored() {
        let mut bytes = Vec::new();
        let a = Record {
            due_ms: 1_700_000_000_123,
            position: (3u64 << 48) | 77,
        };
        a.encode(&mut bytes);
        Record {
            due_ms: 5,
            position: 6,
        }
        .encode(&mut bytes);
        bytes.extend_from_slice(&[1, 2, 3]);
        let got: Vec<Record> = Record::decode_all(&bytes).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], a);
    }

    /// Runs `f` on a glommio executor (the wheel's file I/O uses its blocking pool).
    fn on_executor<F, T>(f: impl FnOnce() -> F + Send + 'static) -> T
    where
        F: std::future::Future<Output = T> + 'static,
        T: Send + 'static,
    {
        glommio::LocalExecutorBuilder::default()
            .io_memory(64 << 10)
            .spawn(move || async move { f().await })
            .unwrap()
            .join()
            .unwrap()
    }

    #[test]
    fn every_record_comes_out_once_never_early_through_the_rings_flushes_and_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_owned();
        let (late_ms, count) = on_executor(move || async move {
            let t0 = 5 * HOUR_MS + 17 * MINUTE_MS + 3 * SECOND_MS + 400;
            let mut w = Wheel::open(path.clone(), t0).unwrap();
            // Due times spread over three hours: second, minute and hour rings all used.
            let dues: Vec<i64> = (0..600)
                .map(|i| t0 + (i * i * 37_003) % (3 * HOUR_MS))
                .collect();
            for (i, due) in dues.iter().enumerate() {
                w.insert(Record {
                    due_ms: *due,
                    position: i as u64,
                });
            }
            w.flush().await.unwrap();
            let mut got = vec![None; dues.len()];
            let mut now = t0;
            let mut reopened = false;
            while now < t0 + 3 * HOUR_MS + 2 * MINUTE_MS {
                w.advance(now).await.unwrap();
                while let Some((r, bucket)) = w.pop_due(now) {
                    assert!(r.due_ms <= now, "early: due {} at {now}", r.due_ms);
                    assert!(got[r.position as usize].is_none(), "twice: {r:?}");
                    got[r.position as usize] = Some(now - r.due_ms);
                    w.delivered(bucket);
                }
                w.remove_finished(now).await;
                if !reopened && now > t0 + 90 * MINUTE_MS {
                    // A clean stop and start: the checkpoint and bucket files carry on.
                    w.flush().await.unwrap();
                    assert!(w.loaded.values().all(|l| l.outstanding == 0));
                    w = Wheel::open(path.clone(), now).unwrap();
                    reopened = true;
                }
                now += 250;
            }
            let late = got
                .iter()
                .map(|l| l.expect("every record delivered"))
                .max()
                .unwrap();
            let left = std::fs::read_dir(&path).unwrap().count();
            (late, left)
        });
        assert!(
            late_ms <= 250,
            "a record came {late_ms} ms late with 250 ms steps"
        );
        // Only the checkpoint (and at most the current second's bucket) remain.
        assert!(count <= 2, "{count} files left");
    }

    #[test]
    fn records_are_filed_in_the_ring_their_distance_says() {
        let dir = tempfile::tempdir().unwrap();
        let now = 10 * HOUR_MS + 5 * MINUTE_MS + 30 * SECOND_MS + 250;
        let mut w = Wheel::open(dir.path().to_owned(), now).unwrap();
        let rec = |due_ms| Record {
            due_ms,
            position: 1,
        };
        w.insert(rec(now + 5_000));
        w.insert(rec(now + 5 * MINUTE_MS));
        w.insert(rec(now + 5 * HOUR_MS));
        w.insert(rec(now - 10_000));
        let buckets: Vec<Bucket> = w.unwritten.keys().copied().collect();
        assert!(buckets.contains(&(Ring::Second, floor(now + 5_000, SECOND_MS))));
        assert!(buckets.contains(&(Ring::Minute, floor(now + 5 * MINUTE_MS, MINUTE_MS))));
        assert!(buckets.contains(&(Ring::Hour, floor(now + 5 * HOUR_MS, HOUR_MS))));
        // A due time already past goes to the next second to be loaded.
        assert!(buckets.contains(&(Ring::Second, floor(now, SECOND_MS))));
    }
}
