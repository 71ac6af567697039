//! ShardMQ's Rust client: producers, push and pull consumers and admin calls for any
//! RocketMQ-protocol broker, usable from plain threads and from any async runtime.
//!
//! Not built yet: issue 5 lands it here. The wire format it will speak is re-exported so
//! that callers can already name its types.

pub use shardmq_protocol as protocol;
