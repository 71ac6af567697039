//! Connections by address, opened on first use and replaced when they fail.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use rustc_hash::FxHashMap;

use crate::error::Result;
use crate::remoting::{Connection, ServerRequests};

/// The client's connections.
pub struct Pool {
    connect_timeout: Duration,
    connections: Mutex<FxHashMap<SocketAddr, Connection>>,
    server_requests: Option<ServerRequests>,
}

impl Pool {
    pub fn new(connect_timeout: Duration, server_requests: Option<ServerRequests>) -> Pool {
        Pool {
            connect_timeout,
            connections: Mutex::default(),
            server_requests,
        }
    }

    /// The connection to `addr`, opening a new one if there is none or it closed.
    pub fn get(&self, addr: SocketAddr) -> Result<Connection> {
        let mut map = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get(&addr).filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        let c = Connection::connect(addr, self.connect_timeout, self.server_requests.clone())?;
        map.insert(addr, c.clone());
        Ok(c)
    }

    /// Closes every connection.
    pub fn close_all(&self) {
        for c in self
            .connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            c.close();
        }
    }
}
