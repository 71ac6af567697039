//! Delay levels on one shard: a message sent with `DELAY` = n waits in this shard's
//! `SCHEDULE_TOPIC_XXXX` queue n − 1. Within a level every message waits the same time, so
//! each queue falls due in order: one task per shard walks the queues' heads, delivers what
//! is due (up to [`BATCH`] at a time per level, appended together with one wait for
//! durability) and sleeps until the earliest
//! head falls due or `timerPrecisionMs` passes. How far each level was delivered is saved in
//! `shard-<k>/delayOffset.json` (RocketMQ's layout) at most every [`SAVE_EVERY`] and at stop;
//! after a crash the messages since the last save are delivered again (at least once).

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use shardmq_protocol::body::{DelayOffsetTable, JsonBody};
use tracing::warn;

use super::deliver::{append_local, deliver_until_done, Failure};
use super::now_ms;
use crate::shard::Shard;
use crate::store::engine::SCHEDULE_TOPIC;
use crate::store::metadata;

/// RocketMQ's file name for the delay levels' progress.
pub const DELAY_OFFSET_FILE: &str = "delayOffset.json";
/// Most messages of one level delivered concurrently.
pub const BATCH: usize = 256;
/// How often changed progress is saved.
pub const SAVE_EVERY: Duration = Duration::from_secs(1);

/// `shard-<k>/delayOffset.json`.
pub fn progress_path(data_dir: &Path, shard: usize) -> PathBuf {
    data_dir
        .join(format!("shard-{shard}"))
        .join(DELAY_OFFSET_FILE)
}

/// The delay levels' delivery task of `shard`; returns once the shard stops, progress saved.
pub async fn run(shard: Rc<Shard>) {
    let path = progress_path(&shard.config.data_dir, shard.id);
    let table: DelayOffsetTable = match metadata::read_json(&path) {
        Ok(t) => t.unwrap_or_default(),
        Err(e) => {
            // Unreadable progress: start each level at its queue's beginning (at least once).
            warn!(
                shard = shard.id,
                "{e}; delivering every delay level from its start"
            );
            DelayOffsetTable::default()
        }
    };
    let levels = shard.config.delay_levels.max_level();
    let mut next: Vec<u64> = (1..=levels)
        .map(|level| {
            table
                .offset_table
                .get(&level)
                .map_or(0, |o| (*o).max(0) as u64)
        })
        .collect();
    shard.set_delay_offsets(&next);
    let mut saved = next.clone();
    let mut last_save = Instant::now();
    let precision = shard.config.timer_precision;
    while !shard.is_stopping() {
        let now = now_ms();
        let mut wait = precision;
        for (index, cursor) in next.iter_mut().enumerate() {
            let queue = index as i32;
            let (min, max) = shard.store.offsets(SCHEDULE_TOPIC, queue);
            let mut at = (*cursor).max(min);
            let mut due = Vec::new();
            while at < max && due.len() < BATCH {
                let Some(entry) = shard.store.entry(SCHEDULE_TOPIC, queue, at) else {
                    break;
                };
                if entry.tag_hash > now {
                    let until = Duration::from_millis((entry.tag_hash - now) as u64);
                    wait = wait.min(until);
                    break;
                }
                due.push(entry.position);
                at += 1;
            }
            let first = at - due.len() as u64;
            // Appended here in one batch (one wait for durability); a message whose queue
            // another shard owns, or that failed for now, in a task of its own.
            let mut end = 0u64;
            let mut tasks = Vec::new();
            for position in due {
                match append_local(&shard, position) {
                    Ok(Some(e)) => end = end.max(e),
                    Err(Failure::Drop(why)) => {
                        shard.count(|c| c.schedule_dropped += 1);
                        warn!(shard = shard.id, position = position.raw(), %why, "a delayed message could not be delivered");
                    }
                    Ok(None) | Err(Failure::Retry(_)) => {
                        let shard = shard.clone();
                        tasks.push(glommio::spawn_local(async move {
                            deliver_until_done(&shard, position).await
                        }));
                    }
                }
            }
            let mut all = end == 0 || shard.store.wait_durable(end).await.is_ok();
            for task in tasks {
                all &= task.await;
            }
            // All or nothing: a batch not wholly stored is tried again (at least once).
            let done = if all { at } else { first };
            if done > first {
                wait = Duration::ZERO;
            }
            *cursor = done.max(*cursor);
        }
        shard.set_delay_offsets(&next);
        if next != saved && last_save.elapsed() >= SAVE_EVERY {
            if save(&path, &next).await {
                saved = next.clone();
            }
            last_save = Instant::now();
        }
        if wait.is_zero() {
            glommio::yield_if_needed().await;
        } else {
            glommio::timer::sleep(wait.max(Duration::from_millis(1))).await;
        }
    }
    if next != saved {
        save(&path, &next).await;
    }
}

async fn save(path: &Path, next: &[u64]) -> bool {
    let table = DelayOffsetTable {
        offset_table: next
            .iter()
            .enumerate()
            .map(|(i, o)| (i as i32 + 1, *o as i64))
            .collect(),
    };
    let bytes = table.encode();
    let write_path = path.to_owned();
    let written = glommio::executor()
        .spawn_blocking(move || metadata::write_atomic(&write_path, &bytes))
        .await;
    match written {
        Ok(()) => true,
        Err(e) => {
            warn!(path = %path.display(), "saving the delay levels' progress: {e}");
            false
        }
    }
}
