//! Saving a shard's metadata: one task per shard that, every [`PERSIST_EVERY`], encodes what
//! changed on the executor (a copy, no borrow held across an await) and writes it — temp
//! file, fsync, rename, fsync of the directory — on glommio's blocking-thread pool, so no
//! fsync ever stalls the shard's sends and pulls.
//!
//! Each shard saves its consumer offsets (`shard-<k>/consumerOffset.json`); shard 0 also
//! saves the topic table (`topics.json`) and the queue-move table (`queue-moves.json`, the
//! one persisted queue → shard table) from its copies. A file is encoded and written only
//! when its table changed since its last successful write (the offsets' dirty flag, the
//! topic table's change count, the move table's version); a failed write is retried.

use std::cell::Cell;
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

/// What a shard last saved of its replicated tables: the topic table's change count and
/// the move table's version (offsets carry their own dirty flag). Unchanged tables are
/// neither encoded nor written.
#[derive(Default)]
pub struct Persister {
    topics_saved: Cell<Option<u64>>,
    moves_saved: Cell<Option<u64>>,
}

/// One file to write, and what it records once written.
enum File {
    Offsets,
    Moves(u64),
    Topics(u64),
}

impl Persister {
    /// Saves what changed (everything when `force`). Encodes here, writes off the executor.
    pub async fn save(&self, shard: &Shard, force: bool) {
        let mut files: Vec<(File, PathBuf, serde_json::Result<Vec<u8>>)> = Vec::new();
        if let Some(bytes) = shard.offsets_to_save(force) {
            files.push((
                File::Offsets,
                offsets_path(&shard.config.data_dir, shard.id),
                bytes,
            ));
        }
        if shard.id == 0 {
            let data = &shard.config.data_dir;
            let version = shard.moves().version;
            if version > 0 && (force || self.moves_saved.get() != Some(version)) {
                let bytes = serde_json::to_vec_pretty(&*shard.moves());
                files.push((File::Moves(version), data.join(MOVES_FILE), bytes));
            }
            let changes = shard.topics.changes();
            if force || self.topics_saved.get() != Some(changes) {
                let table = TopicConfigs {
                    table: shard.topics.borrow().clone(),
                    ..Default::default()
                };
                let bytes = serde_json::to_vec_pretty(&table);
                files.push((
                    File::Topics(changes),
                    data.join(metadata::TOPICS_FILE),
                    bytes,
                ));
            }
        }
        for (file, path, bytes) in files {
            let written = match bytes {
                Ok(bytes) => {
                    let write_path = path.clone();
                    glommio::executor()
                        .spawn_blocking(move || metadata::write_atomic(&write_path, &bytes))
                        .await
                        .map_err(|e| e.to_string())
                }
                Err(e) => Err(format!("encoding: {e}")),
            };
            match (written, file) {
                (Ok(()), File::Offsets) => {}
                (Ok(()), File::Moves(version)) => self.moves_saved.set(Some(version)),
                (Ok(()), File::Topics(changes)) => self.topics_saved.set(Some(changes)),
                (Err(e), file) => {
                    warn!(
                        shard = shard.id,
                        "saving {}: {e} (retried in {PERSIST_EVERY:?})",
                        path.display()
                    );
                    if matches!(file, File::Offsets) {
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
