//! ShardMQ broker: one pinned glommio executor per core ("shard"), each owning its queues,
//! CommitLog segments, consume queues, offsets and waiting pulls; shards talk only over
//! glommio's channel mesh.
//!
//! Not built yet: the storage engine (issue 3) and the shards, network and handlers
//! (issue 9) land here. Today the crate holds only the binary's entry point.

/// What `mqbroker` prints until the broker issue lands.
pub const NOT_YET: &str = "mqbroker: the broker is not built yet (issues 3 and 9); \
only the wire protocol crate exists so far";
