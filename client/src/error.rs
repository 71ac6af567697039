//! The client's one error type: what failed (broker, topic, code and remark) and what to do.

use std::net::SocketAddr;

use shardmq_protocol::codes::response_code;

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Connecting to, reading from or writing to `addr` failed.
    #[error("connection to {addr}: {source} (is the broker or name server running there?)")]
    Io {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// No reply within the timeout.
    #[error("{what} at {addr} got no reply within {timeout_ms} ms (raise the timeout, or check the server's load)")]
    Timeout {
        addr: SocketAddr,
        what: &'static str,
        timeout_ms: u64,
    },
    /// The server answered with an error code.
    #[error("{addr} refused {what}: code {code} ({}) {remark}", response_code::name(*code).unwrap_or("unknown"))]
    Server {
        addr: SocketAddr,
        what: &'static str,
        code: i32,
        remark: String,
    },
    /// No name server knows a route for the topic.
    #[error("no route for topic `{topic}` from name servers {namesrv:?} (create the topic, or enable auto-creation on the broker)")]
    NoRoute {
        topic: String,
        namesrv: Vec<SocketAddr>,
    },
    /// The server sent bytes that are not what the protocol says.
    #[error("bad reply from {addr}: {source}")]
    Protocol {
        addr: SocketAddr,
        #[source]
        source: shardmq_protocol::Error,
    },
    /// The caller asked for something invalid.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// The connection closed while the request was waiting.
    #[error("connection to {addr} closed while waiting for {what}; retry")]
    Closed {
        addr: SocketAddr,
        what: &'static str,
    },
}

/// The client's result type.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;
