//! Route-lookup load test: GET_ROUTEINFO_BY_TOPIC over loopback, pipelined, with latency
//! percentiles from HdrHistogram.
//!
//! ```sh
//! cargo run --release -p shardmq-namesrv --example route_bench -- \
//!     [--addr HOST:PORT] [--connections 4] [--inflight 8] [--duration-s 10] [--topics 100] [--binary]
//! ```
//! Without `--addr` it starts a name server in this process on 127.0.0.1 and registers a
//! broker with `--topics` topics; with it, those topics (`Bench-0`..) must already exist.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use hdrhistogram::Histogram;
use shardmq_namesrv::{NameServer, NamesrvConfig};
use shardmq_protocol::body::{JsonBody, RegisterBrokerBody, TopicConfig};
use shardmq_protocol::codes::{request_code, response_code, SerializeType};
use shardmq_protocol::command::{encode_frame, Command, Head};
use shardmq_protocol::frame::FrameDecoder;
use shardmq_protocol::header::{GetRouteInfoRequestHeader, RegisterBrokerRequestHeader};

struct Args {
    addr: Option<SocketAddr>,
    connections: usize,
    inflight: usize,
    duration: Duration,
    topics: usize,
    serialize_type: SerializeType,
}

fn parse_args() -> Args {
    let mut args = Args {
        addr: None,
        connections: 4,
        inflight: 8,
        duration: Duration::from_secs(10),
        topics: 100,
        serialize_type: SerializeType::Json,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => args.addr = Some(value().parse().expect("--addr HOST:PORT")),
            "--connections" => args.connections = value().parse().expect("--connections N"),
            "--inflight" => args.inflight = value().parse().expect("--inflight N"),
            "--duration-s" => {
                args.duration = Duration::from_secs(value().parse().expect("--duration-s N"))
            }
            "--topics" => args.topics = value().parse().expect("--topics N"),
            "--binary" => args.serialize_type = SerializeType::RocketMq,
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

fn register(addr: SocketAddr, topics: usize) -> TcpStream {
    let mut body = RegisterBrokerBody::default();
    for i in 0..topics {
        let name = format!("Bench-{i}");
        let config = TopicConfig {
            topic_name: name.clone(),
            read_queue_nums: 8,
            write_queue_nums: 8,
            ..Default::default()
        };
        body.topic_config_serialize_wrapper
            .topic_config_table
            .insert(name, config);
    }
    let header = RegisterBrokerRequestHeader {
        broker_name: "bench-broker".into(),
        broker_addr: "127.0.0.1:10911".into(),
        cluster_name: "BenchCluster".into(),
        ha_server_addr: "127.0.0.1:10912".into(),
        broker_id: 0,
        ..Default::default()
    };
    let cmd = Command::new(
        Head::request(request_code::REGISTER_BROKER, 1),
        SerializeType::Json,
        &header,
        body.encode(),
    );
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.write_all(&cmd.to_bytes()).unwrap();
    let mut input = BytesMut::new();
    let reply = read_frame(&mut stream, &mut input);
    assert_eq!(
        reply.head.code,
        response_code::SUCCESS,
        "register: {:?}",
        reply.head.remark
    );
    stream
}

fn read_frame(stream: &mut TcpStream, input: &mut BytesMut) -> Command {
    let decoder = FrameDecoder::default();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        if let Some(frame) = decoder.decode(input).expect("framed reply") {
            return Command::decode(frame).expect("decodable reply");
        }
        let n = stream.read(&mut chunk).expect("read");
        assert!(n > 0, "server closed the connection");
        input.extend_from_slice(&chunk[..n]);
    }
}

/// One connection: keeps `inflight` lookups outstanding until `deadline`.
fn run_connection(
    addr: SocketAddr,
    args: &Args,
    seed: usize,
    deadline: Instant,
) -> (Histogram<u64>, u64) {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_nodelay(true).unwrap();
    let mut input = BytesMut::new();
    let mut out = BytesMut::new();
    let mut sent: VecDeque<Instant> = VecDeque::with_capacity(args.inflight);
    let mut opaque = 0i32;
    let mut errors = 0u64;
    let send = |out: &mut BytesMut, sent: &mut VecDeque<Instant>, opaque: &mut i32| {
        *opaque += 1;
        let topic = format!("Bench-{}", (seed + *opaque as usize) % args.topics);
        let header = GetRouteInfoRequestHeader {
            topic: topic.as_str().into(),
            accept_standard_json_only: Some(true),
        };
        encode_frame(
            &Head::request(request_code::GET_ROUTEINFO_BY_TOPIC, *opaque),
            args.serialize_type,
            &header,
            &[],
            out,
        );
        sent.push_back(Instant::now());
    };
    for _ in 0..args.inflight {
        send(&mut out, &mut sent, &mut opaque);
    }
    stream.write_all(&out).unwrap();
    out.clear();
    while let Some(started) = sent.pop_front() {
        let reply = read_frame(&mut stream, &mut input);
        hist.saturating_record(started.elapsed().as_micros().max(1) as u64);
        if reply.head.code != response_code::SUCCESS {
            errors += 1;
        }
        if Instant::now() < deadline {
            send(&mut out, &mut sent, &mut opaque);
            stream.write_all(&out).unwrap();
            out.clear();
        }
    }
    (hist, errors)
}

fn main() {
    let args = parse_args();
    let (_server, addr) = match args.addr {
        Some(addr) => (None, addr),
        None => {
            let server = NameServer::start(NamesrvConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                ..Default::default()
            })
            .expect("start name server");
            let addr = server.local_addr();
            (Some(server), addr)
        }
    };
    let _registration = args.addr.is_none().then(|| register(addr, args.topics));
    let start = Instant::now();
    let deadline = start + args.duration;
    let results: Vec<(Histogram<u64>, u64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..args.connections)
            .map(|i| {
                let args = &args;
                s.spawn(move || run_connection(addr, args, i * 7919, deadline))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = start.elapsed().as_secs_f64();
    let mut total = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let mut errors = 0;
    for (h, e) in &results {
        total.add(h).unwrap();
        errors += e;
    }
    let q = |p: f64| total.value_at_quantile(p);
    println!(
        "route lookups: {} in {:.1} s = {:.0}/s, errors {}, {} connections x {} in flight, {:?} headers",
        total.len(),
        elapsed,
        total.len() as f64 / elapsed,
        errors,
        args.connections,
        args.inflight,
        args.serialize_type
    );
    println!(
        "latency us: p50 {} p90 {} p99 {} p99.9 {} p99.99 {} max {}",
        q(0.50),
        q(0.90),
        q(0.99),
        q(0.999),
        q(0.9999),
        total.max()
    );
}
