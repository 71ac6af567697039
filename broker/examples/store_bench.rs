//! Storage-engine benchmark for one shard: appends of small messages with many in flight
//! (group commit at work), then a read-back of the whole backlog.
//!
//! ```sh
//! cargo run --release -p shardmq-broker --example store_bench -- \
//!     [--flush async|sync] [--messages 2000000] [--size 128] [--inflight 1024] \
//!     [--queues 8] [--segment-mb 1024] [--dir /path/on/the/disk/to/test]
//! ```
//! Prints appends/s, MB/s, append-to-durable latency percentiles (HdrHistogram), and the
//! read-back rate. The data directory is deleted afterwards unless `--keep` is given.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use glommio::{LocalExecutorBuilder, Placement};
use hdrhistogram::Histogram;
use shardmq_broker::store::{AppendRequest, FlushMode, Store, StoreConfig};

struct Args {
    flush: FlushMode,
    messages: u64,
    size: usize,
    inflight: usize,
    queues: i32,
    segment_bytes: u64,
    dir: Option<PathBuf>,
    keep: bool,
}

fn parse() -> Args {
    let mut a = Args {
        flush: FlushMode::Async,
        messages: 2_000_000,
        size: 128,
        inflight: 1024,
        queues: 8,
        segment_bytes: 1 << 30,
        dir: None,
        keep: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--flush" => {
                a.flush = match value().as_str() {
                    "sync" => FlushMode::Sync,
                    _ => FlushMode::Async,
                }
            }
            "--messages" => a.messages = value().parse().expect("--messages N"),
            "--size" => a.size = value().parse().expect("--size BYTES"),
            "--inflight" => a.inflight = value().parse().expect("--inflight N"),
            "--queues" => a.queues = value().parse().expect("--queues N"),
            "--segment-mb" => {
                a.segment_bytes = value().parse::<u64>().expect("--segment-mb N") << 20
            }
            "--dir" => a.dir = Some(PathBuf::from(value())),
            "--keep" => a.keep = true,
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

fn main() {
    let args = parse();
    let tmp = tempfile::tempdir_in(".").expect("temp dir");
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().to_owned());
    LocalExecutorBuilder::new(Placement::Fixed(0))
        .io_memory(4 << 20)
        .spawn(move || async move { bench(args, dir).await })
        .expect("executor")
        .join()
        .expect("bench");
    drop(tmp);
}

async fn bench(args: Args, dir: PathBuf) {
    let mut config = StoreConfig::new(&dir, 0);
    config.flush = args.flush;
    config.segment_bytes = args.segment_bytes;
    let (store, _) = Store::open(config).await.expect("open store");
    let body = Bytes::from(vec![b'x'; args.size]);
    let properties = "UNIQ_KEY\u{1}7F0000010D2B18B4AAC2270C1E3A0000\u{2}TAGS\u{1}TagA\u{2}";
    let mut requests: Vec<AppendRequest> = (0..args.queues)
        .map(|q| AppendRequest {
            topic: "BenchTopic".into(),
            queue_id: q,
            flag: 0,
            sys_flag: 0,
            born_timestamp: 1_700_000_000_000,
            born_host: "127.0.0.1:50000".parse().unwrap(),
            body: body.clone(),
            properties: properties.into(),
            reconsume_times: 0,
            prepared_transaction_offset: 0,
        })
        .collect();
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    // Latency is sampled on every 16th append: reading the clock for each one would cost
    // more than a good part of the append itself.
    const SAMPLE_EVERY: u64 = 16;
    let mut pending: VecDeque<(u64, Option<Instant>)> = VecDeque::with_capacity(args.inflight);
    let start = Instant::now();
    let mut stored_bytes = 0u64;
    for i in 0..args.messages {
        let req = &mut requests[(i % args.queues as u64) as usize];
        let r = store.append(req).expect("append");
        stored_bytes += u64::from(r.size);
        pending.push_back((r.end, (i % SAMPLE_EVERY == 0).then(Instant::now)));
        if pending.len() >= args.inflight {
            let (end, _) = pending[0];
            store.wait_durable(end).await.expect("durable");
            let durable = store.commit_log().durable_end();
            while pending.front().is_some_and(|(e, _)| *e <= durable) {
                if let Some((_, Some(t))) = pending.pop_front() {
                    latency.saturating_record(t.elapsed().as_micros().max(1) as u64);
                }
            }
        }
    }
    while let Some((end, t)) = pending.pop_front() {
        store.wait_durable(end).await.expect("durable");
        if let Some(t) = t {
            latency.saturating_record(t.elapsed().as_micros().max(1) as u64);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "append {:?}: {} x {} B bodies ({} B stored each), {} in flight: {:.0} msg/s, {:.1} MB/s stored, {:.2} s",
        args.flush,
        args.messages,
        args.size,
        stored_bytes / args.messages.max(1),
        args.inflight,
        args.messages as f64 / secs,
        stored_bytes as f64 / secs / 1e6,
        secs
    );
    println!(
        "append-to-durable latency us: p50 {} p99 {} p99.9 {} max {}",
        latency.value_at_quantile(0.5),
        latency.value_at_quantile(0.99),
        latency.value_at_quantile(0.999),
        latency.max()
    );
    // Let the dispatcher catch up (it runs after each write), then read everything back.
    glommio::timer::sleep(Duration::from_millis(50)).await;
    let start = Instant::now();
    let mut read_bytes = 0u64;
    let mut read_messages = 0u64;
    let mut touched = 0u8;
    for q in 0..args.queues {
        let mut offset = 0;
        loop {
            let r = store
                .read("BenchTopic", q, offset, 1024, 4 << 20, |_| true)
                .expect("read");
            if r.messages.is_empty() {
                break;
            }
            read_messages += r.messages.len() as u64;
            for m in &r.messages {
                // Touch every message (its TOTALSIZE and last byte), so pages not in memory
                // are really read: messages come back as zero-copy slices of the segment map.
                let total = i32::from_be_bytes([m[0], m[1], m[2], m[3]]) as usize;
                assert_eq!(total, m.len(), "TOTALSIZE matches");
                touched ^= m[m.len() - 1];
                read_bytes += m.len() as u64;
            }
            offset = r.next_offset;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    std::hint::black_box(touched);
    println!(
        "read back: {read_messages} messages, {:.1} MB in {:.2} s = {:.2} GB/s, {:.0} msg/s",
        read_bytes as f64 / 1e6,
        secs,
        read_bytes as f64 / secs / 1e9,
        read_messages as f64 / secs
    );
    store.close().await.expect("close");
    if args.keep {
        println!("data kept in {}", dir.display());
    }
}
