//! The per-shard storage engine: CommitLog segments, consume queues, the key/time index,
//! recovery, retention and metadata. One instance per shard, driven only by that shard's
//! glommio executor: no locks and no threads of its own.

pub mod commitlog;
pub mod consume_queue;
pub mod engine;
pub mod error;
pub mod index;
pub mod metadata;
pub mod position;
mod tail;

pub use commitlog::{CommitLog, CommitLogConfig, FlushMode};
pub use engine::{
    AppendRef, AppendRequest, AppendResult, ReadResult, ReadStatus, Store, StoreConfig,
};
pub use error::{StoreError, StoreResult};
pub use position::Position;
