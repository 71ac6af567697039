//! A blocking remoting client for tests: real sockets, real frames.

#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use shardmq_namesrv::{NameServer, NamesrvConfig};
use shardmq_protocol::body::{JsonBody, RegisterBrokerBody, TopicConfig};
use shardmq_protocol::codes::{request_code, SerializeType};
use shardmq_protocol::command::{Command, Head};
use shardmq_protocol::ext::WriteFields;
use shardmq_protocol::frame::FrameDecoder;
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

pub struct Conn {
    stream: TcpStream,
    input: BytesMut,
    decoder: FrameDecoder,
    next_opaque: i32,
    pub serialize_type: SerializeType,
}

impl Conn {
    pub fn connect(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            stream,
            input: BytesMut::new(),
            decoder: FrameDecoder::default(),
            next_opaque: 1,
            serialize_type: SerializeType::Json,
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Builds a request with a fresh opaque and sends it; returns the opaque.
    pub fn send<H: WriteFields>(&mut self, code: i32, header: &H, body: Bytes, flag: i32) -> i32 {
        let opaque = self.next_opaque;
        self.next_opaque += 1;
        let mut head = Head::request(code, opaque);
        head.flag = flag;
        let cmd = Command::new(head, self.serialize_type, header, body);
        self.send_raw(&cmd.to_bytes());
        opaque
    }

    /// The next frame from the server.
    pub fn read(&mut self) -> io::Result<Command> {
        let mut chunk = [0u8; 8192];
        loop {
            if let Some(frame) = self
                .decoder
                .decode(&mut self.input)
                .map_err(io::Error::other)?
            {
                return Command::decode(frame).map_err(io::Error::other);
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
            }
            self.input.extend_from_slice(&chunk[..n]);
        }
    }

    pub fn call<H: WriteFields>(&mut self, code: i32, header: &H, body: Bytes) -> Command {
        let opaque = self.send(code, header, body, 0);
        let reply = self.read().expect("reply");
        assert_eq!(
            reply.head.opaque, opaque,
            "reply correlates with the request"
        );
        assert!(reply.head.is_response());
        reply
    }

    pub fn route(&mut self, topic: &str) -> Command {
        let header = GetRouteInfoRequestHeader {
            topic: topic.into(),
            accept_standard_json_only: Some(true),
        };
        self.call(request_code::GET_ROUTEINFO_BY_TOPIC, &header, Bytes::new())
    }

    /// True when the server closed the connection (EOF) within the read timeout.
    pub fn closed_by_server(&mut self) -> bool {
        matches!(self.read(), Err(e) if e.kind() == io::ErrorKind::UnexpectedEof || e.kind() == io::ErrorKind::ConnectionReset)
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
