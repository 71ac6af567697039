//! The per-shard storage engine: CommitLog segments, consume queues, the key/time index,
//! recovery, retention and metadata. One instance per shard, driven only by that shard's
//! glommio executor: no locks and no threads of its own.

pub mod error;
pub mod index;
pub mod metadata;

pub use error::{StoreError, StoreResult};
