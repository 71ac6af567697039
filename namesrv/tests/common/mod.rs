//! Name-server test support: a name server on an ephemeral port, connections in JSON
//! (the raw connection is `shardmq-testkit`'s), and brokers to register.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use shardmq_namesrv::{NameServer, NamesrvConfig};
use shardmq_protocol::body::{JsonBody, RegisterBrokerBody, TopicConfig};
use shardmq_protocol::codes::{request_code, SerializeType};
use shardmq_protocol::command::Command;
use shardmq_protocol::header::{GetRouteInfoRequestHeader, RegisterBrokerRequestHeader};

/// A name server on an ephemeral loopback port that looks for silent brokers every 50 ms.
pub fn start_namesrv() -> NameServer {
    NameServer::start(NamesrvConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        scan_interval: Duration::from_millis(50),
        ..Default::default()
    })
    .expect("name server starts")
}

pub use shardmq_testkit::Conn;

/// A connection to a name server; requests go in the JSON header encoding (Java's).
pub fn connect(addr: SocketAddr) -> Conn {
    let mut conn = Conn::connect(addr);
    conn.serialize_type = SerializeType::Json;
    conn
}

/// A route lookup on a test connection.
pub trait RouteExt {
    /// GET_ROUTEINFO_BY_TOPIC for `topic`.
    fn route(&mut self, topic: &str) -> Command;
}

impl RouteExt for Conn {
    fn route(&mut self, topic: &str) -> Command {
        let header = GetRouteInfoRequestHeader {
            topic: topic.into(),
            accept_standard_json_only: Some(true),
        };
        self.call(request_code::GET_ROUTEINFO_BY_TOPIC, &header, Bytes::new())
    }
}

pub struct Broker<'a> {
    pub cluster: &'a str,
    pub name: &'a str,
    pub addr: &'a str,
    pub id: i64,
    pub timeout_ms: Option<i64>,
    /// (topic, queues, shard ports)
    pub topics: Vec<(&'a str, i32, Option<Vec<u16>>)>,
}

impl Broker<'_> {
    pub fn header(&self) -> RegisterBrokerRequestHeader {
        RegisterBrokerRequestHeader {
            broker_name: self.name.into(),
            broker_addr: self.addr.into(),
            cluster_name: self.cluster.into(),
            ha_server_addr: format!("{}:10912", self.addr.split(':').next().unwrap())
                .as_str()
                .into(),
            broker_id: self.id,
            heartbeat_timeout_millis: self.timeout_ms,
            enable_acting_master: None,
            compressed: Some(false),
            body_crc32: None,
        }
    }

    pub fn body(&self) -> Bytes {
        let mut body = RegisterBrokerBody::default();
        for (topic, queues, ports) in &self.topics {
            body.topic_config_serialize_wrapper
                .topic_config_table
                .insert(
                    topic.to_string(),
                    TopicConfig {
                        topic_name: topic.to_string(),
                        read_queue_nums: *queues,
                        write_queue_nums: *queues,
                        shard_ports: ports.clone(),
                        ..Default::default()
                    },
                );
        }
        body.encode()
    }

    pub fn register(&self, conn: &mut Conn) -> Command {
        conn.call(request_code::REGISTER_BROKER, &self.header(), self.body())
    }
}

pub fn broker<'a>(
    name: &'a str,
    addr: &'a str,
    topics: Vec<(&'a str, i32, Option<Vec<u16>>)>,
) -> Broker<'a> {
    Broker {
        cluster: "DefaultCluster",
        name,
        addr,
        id: 0,
        timeout_ms: None,
        topics,
    }
}
