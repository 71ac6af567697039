//! ShardMQ's name server: the route registry brokers register with and clients ask for
//! topic routes, speaking RocketMQ's remoting protocol (`mqnamesrv`, default port 9876).
//! The broker embeds it in standalone mode.
//!
//! Like RocketMQ's, it is stateless and independent: run several, register brokers with
//! each, and clients may ask any. It is single-threaded: one glommio executor on its own
//! thread owns the registry, so no locks are needed.
//!
//! - [`registry`]: brokers, clusters, topics and liveness as a plain state machine.
//! - [`handler`]: REGISTER_BROKER, UNREGISTER_BROKER, GET_ROUTEINFO_BY_TOPIC,
//!   GET_BROKER_CLUSTER_INFO, GET_ALL_TOPIC_LIST_FROM_NAMESERVER, DELETE_TOPIC_IN_NAMESRV.
//! - [`server`]: the executor, connections, and the expiry timer.
//!
//! ```no_run
//! use shardmq_namesrv::{NameServer, NamesrvConfig};
//!
//! let server = NameServer::start(NamesrvConfig {
//!     listen: "127.0.0.1:9876".parse().unwrap(),
//!     ..Default::default()
//! })?;
//! println!("routes at {}", server.local_addr());
//! server.stop();
//! # Ok::<(), std::io::Error>(())
//! ```

#![deny(unsafe_code)]

pub mod handler;
pub mod registry;
pub mod server;

pub use server::{NameServer, NamesrvConfig};
