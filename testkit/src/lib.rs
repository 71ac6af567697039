//! Test support shared by ShardMQ's crates (a dev-dependency only): free ports on
//! 127.0.0.1, and [`Conn`], a blocking remoting connection that speaks real frames, for
//! tests that talk to a broker or a name server byte for byte.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use shardmq_protocol::codes::SerializeType;
use shardmq_protocol::command::{Command, Head};
use shardmq_protocol::ext::WriteFields;
use shardmq_protocol::frame::FrameDecoder;
use shardmq_protocol::header::{PullMessageRequestHeader, SendMessageRequestHeader};

/// How long a test waits for a frame before the read fails.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A port free right now on 127.0.0.1 (bound, then released: another process may take it
/// before the caller binds it, so starters retry).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding an ephemeral port on 127.0.0.1")
}

/// The first of `count` consecutive ports free right now on 127.0.0.1 (for shard ports).
pub fn free_ports(count: u16) -> u16 {
    loop {
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
    }
}

/// A SEND_MESSAGE header as a Java producer writes it (group `PG`, TBW102 as the default
/// topic); `SendMessageRequestHeaderV2::from` gives the short-key form.
pub fn send_header(topic: &str, queue_id: i32, properties: &str) -> SendMessageRequestHeader {
    SendMessageRequestHeader {
        producer_group: "PG".into(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        flag: 0,
        properties: Some(properties.into()),
        reconsume_times: Some(0),
        unit_mode: Some(false),
        batch: Some(false),
        max_reconsume_times: None,
        broker_name: None,
    }
}

/// A PULL_MESSAGE header of consumer group `group` (32 messages at most, TAG expression).
pub fn pull_header(
    group: &str,
    topic: &str,
    queue_id: i32,
    offset: i64,
    sys_flag: i32,
    suspend_ms: i64,
    subscription: &str,
) -> PullMessageRequestHeader {
    PullMessageRequestHeader {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id,
        queue_offset: offset,
        max_msg_nums: 32,
        sys_flag,
        commit_offset: 0,
        suspend_timeout_millis: suspend_ms,
        subscription: Some(subscription.into()),
        sub_version: 0,
        expression_type: Some("TAG".into()),
        max_msg_bytes: None,
        request_source: None,
    }
}

/// A blocking client connection: requests with fresh opaques, frames read whole.
pub struct Conn {
    stream: TcpStream,
    input: BytesMut,
    decoder: FrameDecoder,
    next_opaque: i32,
    /// The header encoding requests are sent in.
    pub serialize_type: SerializeType,
}

impl Conn {
    /// Connects to `addr`; requests go in the binary (RocketMQ) header encoding.
    pub fn connect(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            stream,
            input: BytesMut::new(),
            decoder: FrameDecoder::default(),
            next_opaque: 1,
            serialize_type: SerializeType::RocketMq,
        }
    }

    /// Connects to `port` on 127.0.0.1.
    pub fn port(port: u16) -> Conn {
        Conn::connect(SocketAddr::from(([127, 0, 0, 1], port)))
    }

    /// Writes bytes as they are (malformed frames included).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Sends a request; returns its opaque.
    pub fn send<H: WriteFields>(&mut self, code: i32, header: &H, body: Bytes) -> i32 {
        self.send_flagged(code, header, body, 0)
    }

    /// Sends a request with `flag` set (oneway: `codes::FLAG_ONEWAY`); returns its opaque.
    pub fn send_flagged<H: WriteFields>(
        &mut self,
        code: i32,
        header: &H,
        body: Bytes,
        flag: i32,
    ) -> i32 {
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
    /// (NOTIFY_CONSUMER_IDS_CHANGED), as a client does. Panics if the reply's opaque is
    /// not the request's.
    pub fn call<H: WriteFields>(&mut self, code: i32, header: &H, body: Bytes) -> Command {
        let opaque = self.send(code, header, body);
        loop {
            let frame = self.read().expect("reply");
            if frame.head.is_response() {
                assert_eq!(
                    frame.head.opaque, opaque,
                    "reply correlates with the request"
                );
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

    /// True when the server closed the connection (EOF or reset) within the read timeout.
    pub fn closed_by_server(&mut self) -> bool {
        matches!(self.read(), Err(e) if e.kind() == io::ErrorKind::UnexpectedEof || e.kind() == io::ErrorKind::ConnectionReset)
    }
}
