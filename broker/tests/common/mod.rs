//! Test support: a broker on loopback ports with a temp data dir, and a blocking remoting
//! client speaking real frames.

#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use clap::Parser;
use shardmq_broker::config::{Args, BrokerConfig};
use shardmq_broker::Broker;
use shardmq_protocol::codes::SerializeType;
use shardmq_protocol::command::{Command, Head};
use shardmq_protocol::ext::WriteFields;
use shardmq_protocol::frame::FrameDecoder;

/// A port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `count` consecutive free ports (for shard ports).
pub fn free_ports(count: u16) -> u16 {
    'search: loop {
        let base = free_port();
        if base > u16::MAX - count {
            continue;
        }
        let held: Vec<_> = (0..count)
            .map(|k| TcpListener::bind(("127.0.0.1", base + k)))
            .collect();
        if held.iter().all(Result::is_ok) {
            return base;
        }
        continue 'search;
    }
}

pub struct Ports {
    pub listen: u16,
    pub shard_base: u16,
    pub namesrv: u16,
}

impl Ports {
    pub fn new(shards: u16) -> Ports {
        Ports {
            listen: free_port(),
            shard_base: free_ports(shards),
            namesrv: free_port(),
        }
    }
}

/// A standalone broker (embedded name server) on 127.0.0.1. Tests run in parallel and pick
/// free ports independently, so a port can be taken in between: retry with new ones.
pub fn start_broker(data: &Path, shards: u16, ports: &mut Ports, extra: &[&str]) -> Broker {
    for _ in 0..10 {
        match try_start_broker(data, shards, ports, extra) {
            Ok(b) => return b,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse || e.to_string().contains("in use") => {
                *ports = Ports::new(shards);
            }
            Err(e) => panic!("broker start: {e}"),
        }
    }
    panic!("no free ports after 10 tries");
}

fn try_start_broker(data: &Path, shards: u16, ports: &Ports, extra: &[&str]) -> io::Result<Broker> {
    let mut argv = vec![
        "mqbroker".to_string(),
        "--listen".into(),
        format!("127.0.0.1:{}", ports.listen),
        "--shard-port-base".into(),
        ports.shard_base.to_string(),
        "--namesrv-listen".into(),
        format!("127.0.0.1:{}", ports.namesrv),
        "--data".into(),
        data.display().to_string(),
        "--shards".into(),
        shards.to_string(),
    ];
    argv.extend(extra.iter().map(|s| s.to_string()));
    let args = Args::try_parse_from(argv).expect("arguments");
    let (config, _) = BrokerConfig::resolve(&args, shards as usize).expect("config");
    Broker::start(config)
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
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            stream,
            input: BytesMut::new(),
            decoder: FrameDecoder::default(),
            next_opaque: 1,
            serialize_type: SerializeType::RocketMq,
        }
    }

    pub fn port(port: u16) -> Conn {
        Conn::connect(SocketAddr::from(([127, 0, 0, 1], port)))
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    pub fn send<H: WriteFields>(&mut self, code: i32, header: &H, body: Bytes) -> i32 {
        let opaque = self.next_opaque;
        self.next_opaque += 1;
        let cmd = Command::new(
            Head::request(code, opaque),
            self.serialize_type,
            header,
            body,
        );
        self.send_raw(&cmd.to_bytes());
        opaque
    }

    pub fn read(&mut self) -> io::Result<Command> {
        let mut chunk = [0u8; 64 * 1024];
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

    /// Sends a request and returns its reply, skipping requests the server sends meanwhile
    /// (NOTIFY_CONSUMER_IDS_CHANGED), as a client does.
    pub fn call<H: WriteFields>(&mut self, code: i32, header: &H, body: Bytes) -> Command {
        let opaque = self.send(code, header, body);
        loop {
            let frame = self.read().expect("reply");
            if frame.head.is_response() {
                assert_eq!(frame.head.opaque, opaque);
                return frame;
            }
        }
    }

    /// Closes the sending half: the server reads end-of-stream.
    pub fn shutdown_write(&mut self) {
        self.stream
            .shutdown(std::net::Shutdown::Write)
            .expect("shutdown");
    }

    pub fn closed_by_server(&mut self) -> bool {
        matches!(self.read(), Err(e) if e.kind() == io::ErrorKind::UnexpectedEof || e.kind() == io::ErrorKind::ConnectionReset)
    }
}
