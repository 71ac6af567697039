//! Saving a shard's metadata: one task per shard that, every [`PERSIST_EVERY`], encodes what
//! changed on the executor (a copy, no borrow held across an await) and writes it — temp
//! file, fsync, rename, fsync of the directory — on glommio's blocking-thread pool, so no
//! fsync ever stalls the shard's sends and pulls.
//!
//! Each shard saves its consumer offsets (`shard-<k>/consumerOffset.json`); shard 0 also
//! saves the topic table (`topics.json`) and the queue-move table (`queue-moves.json`, the
//! one persisted queue → shard table) from its copies. A file is rewritten only when its
//! encoding changed since the last successful write; a failed write is retried next time.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tracing::warn;

use super::Shard;
use crate::store::metadata::{self, TopicConfigs};

/// How often a shard saves what changed.
pub const PERSIST_EVERY: Duration = Duration::from_secs(5);
/// Where shard 0 keeps the queue moves (beside topics.json).
pub const MOVES_FILE: &str = "queue-moves.json";

/// `shard-<k>/consumerOffset.json` under the data directory.
pub fn offsets_path(data_dir: &Path, shard: usize) -> PathBuf {
    data_dir
        .join(format!("shard-{shard}"))
        .join(metadata::OFFSETS_FILE)
}

/// What a shard last wrote to each of its files (to skip unchanged rewrites).
#[derive(Default)]
pub struct Persister {
    written: RefCell<HashMap<PathBuf, Vec<u8>>>,
}

impl Persister {
    /// Saves what changed (everything when `force`). Encodes here, writes off the executor.
    pub async fn save(&self, shard: &Shard, force: bool) {
        let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
        match shard.offsets_to_save(force) {
            Some(Ok(bytes)) => files.push((offsets_path(&shard.config.data_dir, shard.id), bytes)),
            Some(Err(e)) => warn!(shard = shard.id, "encoding consumer offsets: {e}"),
            None => {}
        }
        if shard.id == 0 {
            let data = &shard.config.data_dir;
            let moves = serde_json::to_vec_pretty(&*shard.moves());
            if shard.moves().version > 0 {
                match moves {
                    Ok(bytes) => files.push((data.join(MOVES_FILE), bytes)),
                    Err(e) => warn!("encoding the queue moves: {e}"),
                }
            }
            let table = TopicConfigs {
                table: shard.topics.borrow().clone(),
                ..Default::default()
            };
            match serde_json::to_vec_pretty(&table) {
                Ok(bytes) => files.push((data.join(metadata::TOPICS_FILE), bytes)),
                Err(e) => warn!("encoding the topic table: {e}"),
            }
        }
        files.retain(|(path, bytes)| force || self.written.borrow().get(path) != Some(bytes));
        for (path, bytes) in files {
            let (write_path, write_bytes) = (path.clone(), bytes.clone());
            let result = glommio::executor()
                .spawn_blocking(move || metadata::write_atomic(&write_path, &write_bytes))
                .await;
            match result {
                Ok(()) => {
                    self.written.borrow_mut().insert(path, bytes);
                }
                Err(e) => {
                    warn!(
                        shard = shard.id,
                        "saving {}: {e} (retried in {PERSIST_EVERY:?})",
                        path.display()
                    );
                    if path.ends_with(metadata::OFFSETS_FILE) {
                        shard.offsets_not_saved();
                    }
                }
            }
        }
    }
}

/// How often the task looks whether the broker is stopping.
const STOP_POLL: Duration = Duration::from_millis(50);

/// Saves `shard`'s metadata every [`PERSIST_EVERY`] until `stopped()`. The runtime awaits
/// this task before its final save (with `force`), so two saves never write the same file
/// at once.
pub async fn run(shard: Rc<Shard>, persister: Rc<Persister>, stopped: impl Fn() -> bool) {
    let mut last = Instant::now();
    while !stopped() {
        glommio::timer::sleep(STOP_POLL).await;
        if last.elapsed() >= PERSIST_EVERY && !stopped() {
            persister.save(&shard, false).await;
            last = Instant::now();
        }
    }
}
