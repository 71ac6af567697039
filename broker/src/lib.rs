//! ShardMQ broker: one pinned glommio executor per core ("shard"), each owning its queues,
//! CommitLog segments, consume queues, offsets and waiting pulls; shards talk only over
//! glommio's channel mesh.
//!
//! Built so far: the per-shard storage engine ([`store`]). The shards, network and
//! handlers (issue 9) are not built yet.

pub mod config;
pub mod conn;
pub mod handlers;
pub mod moves;
pub mod registration;
pub mod routing;
pub mod runtime;
pub mod shard;
pub mod store;

pub use runtime::Broker;

/// What `mqbroker` prints until the broker issue lands.
pub const NOT_YET: &str = "mqbroker: the broker's network side is not built yet (issue 9); \
the wire protocol, name server and storage engine exist so far";
