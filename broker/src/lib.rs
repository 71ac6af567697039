//! ShardMQ broker: one pinned glommio executor per core ("shard"), each owning its queues,
//! CommitLog segments, consume queues, offsets and waiting pulls; shards talk only over
//! glommio's channel mesh.
//!
//!
//! Modules: [`config`] (flags and `broker.conf`), [`runtime`] (shards, mesh, listeners),
//! [`conn`], [`outbox`] and [`handlers`] (the remoting requests), [`routing`] and [`moves`] (which shard
//! owns a queue), [`registration`] (name servers), [`store`] (the per-shard storage engine),
//! [`loopback`] (a standalone broker on free loopback ports, for other crates' tests),
//! [`schedule`] (delayed, timed and retried messages), [`retention`] (deleting old segments
//! on a schedule).

pub mod config;
pub mod conn;
pub mod handlers;
pub mod loopback;
pub mod moves;
pub mod outbox;
pub mod registration;
pub mod retention;
pub mod routing;
pub mod runtime;
pub mod schedule;
pub mod shard;
pub mod store;

pub use runtime::Broker;
