//! ShardMQ name server: the route registry brokers register with and clients ask for
//! topic routes (`mqnamesrv`), also embedded by the broker in standalone mode.
//!
//! Not built yet: issue 4 lands it here.

/// What `mqnamesrv` prints until the name-server issue lands.
pub const NOT_YET: &str = "mqnamesrv: the name server is not built yet (issue 4)";
