//! Long-poll wake-up latency: a pull waits on an empty queue (SUSPEND), a message is sent,
//! and the time from the send's write to the pull's reply is recorded (it includes storing
//! the message durably, dispatching it, waking the pull and reading it back).
//!
//! ```sh
//! cargo run --release -p shardmq-broker --example long_poll_latency -- [--rounds 1000] [--shards 2] [--flush async|sync]
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use clap::Parser;
use hdrhistogram::Histogram;
use shardmq_broker::config::{Args, BrokerConfig};
use shardmq_broker::Broker;
use shardmq_protocol::codes::{request_code, response_code, SerializeType};
use shardmq_protocol::command::{Command, Head};
use shardmq_protocol::ext::WriteFields;
use shardmq_protocol::frame::FrameDecoder;
use shardmq_protocol::header::{
    PullMessageRequestHeader, SendMessageRequestHeaderV2, PULL_FLAG_SUSPEND,
};
use shardmq_testkit::free_port;

struct Conn {
    stream: TcpStream,
    input: BytesMut,
    opaque: i32,
}

impl Conn {
    fn new(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            stream,
            input: BytesMut::new(),
            opaque: 0,
        }
    }

    fn send<H: WriteFields>(&mut self, code: i32, header: &H, body: Bytes) {
        self.opaque += 1;
        let cmd = Command::new(
            Head::request(code, self.opaque),
            SerializeType::RocketMq,
            header,
            body,
        );
        self.stream.write_all(&cmd.to_bytes()).unwrap();
    }

    fn read(&mut self) -> Command {
        let decoder = FrameDecoder::default();
        let mut chunk = [0u8; 65536];
        loop {
            if let Some(f) = decoder.decode(&mut self.input).unwrap() {
                return Command::decode(f).unwrap();
            }
            let n = self.stream.read(&mut chunk).unwrap();
            assert!(n > 0, "broker closed the connection");
            self.input.extend_from_slice(&chunk[..n]);
        }
    }
}

fn main() {
    let mut rounds = 1000u32;
    let mut shards = "2".to_string();
    let mut flush = "async".to_string();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--rounds" => rounds = it.next().unwrap().parse().unwrap(),
            "--shards" => shards = it.next().unwrap(),
            "--flush" => flush = it.next().unwrap(),
            other => panic!("unknown flag {other}"),
        }
    }
    let dir = tempfile::tempdir_in(".").unwrap();
    let (listen, namesrv, base) = (free_port(), free_port(), free_port());
    let args = Args::try_parse_from([
        "mqbroker".to_string(),
        "--listen".into(),
        format!("127.0.0.1:{listen}"),
        "--namesrv-listen".into(),
        format!("127.0.0.1:{namesrv}"),
        "--shard-port-base".into(),
        base.to_string(),
        "--data".into(),
        dir.path().display().to_string(),
        "--shards".into(),
        shards.clone(),
        "--flush".into(),
        flush.clone(),
    ])
    .unwrap();
    let (config, _) = BrokerConfig::resolve(&args, 2).unwrap();
    let broker = Broker::start(config).unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], listen));
    let mut producer = Conn::new(addr);
    let mut consumer = Conn::new(addr);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).unwrap();
    let send = SendMessageRequestHeaderV2 {
        producer_group: "PG".into(),
        topic: "LongPoll".into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 8,
        queue_id: 0,
        sys_flag: 0,
        born_timestamp: 0,
        flag: 0,
        properties: Some("TAGS\u{1}A\u{2}".into()),
        ..Default::default()
    };
    // Create the topic.
    producer.send(
        request_code::SEND_MESSAGE_V2,
        &send,
        Bytes::from_static(b"warm-up"),
    );
    assert_eq!(producer.read().head.code, response_code::SUCCESS);
    for round in 0..rounds {
        let pull = PullMessageRequestHeader {
            consumer_group: "CG".into(),
            topic: "LongPoll".into(),
            queue_id: 0,
            queue_offset: i64::from(round) + 1,
            max_msg_nums: 32,
            sys_flag: PULL_FLAG_SUSPEND,
            commit_offset: 0,
            suspend_timeout_millis: 15_000,
            subscription: Some("*".into()),
            sub_version: 0,
            ..Default::default()
        };
        consumer.send(request_code::PULL_MESSAGE, &pull, Bytes::new());
        std::thread::sleep(Duration::from_millis(2));
        let sent_at = Instant::now();
        producer.send(
            request_code::SEND_MESSAGE_V2,
            &send,
            Bytes::from_static(b"wake"),
        );
        let reply = consumer.read();
        let woke = sent_at.elapsed();
        assert_eq!(reply.head.code, response_code::SUCCESS);
        hist.record(woke.as_micros().max(1) as u64).unwrap();
        assert_eq!(producer.read().head.code, response_code::SUCCESS);
    }
    println!(
        "long-poll wake latency over {rounds} rounds ({shards} shards, flush {flush}): p50 {} us, p99 {} us, p99.9 {} us, max {} us",
        hist.value_at_quantile(0.5),
        hist.value_at_quantile(0.99),
        hist.value_at_quantile(0.999),
        hist.max()
    );
    broker.stop();
}
