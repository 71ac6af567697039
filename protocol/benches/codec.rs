//! Codec speed: decoding send requests (binary and JSON headers), encoding a send response,
//! and encoding / decoding one 128-byte stored message. Run: `cargo bench -p shardmq-protocol`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion};
use shardmq_protocol::codes::{request_code, response_code, SerializeType};
use shardmq_protocol::command::{encode_frame, Command, Head};
use shardmq_protocol::frame::FrameDecoder;
use shardmq_protocol::header::{
    SendMessageRequestHeader, SendMessageRequestHeaderV2, SendMessageResponseHeader,
};
use shardmq_protocol::message::StoredMessage;

/// Frames a connection finds in one large read (64 KiB of ~300-byte sends).
const FRAMES_PER_READ: u64 = 200;

fn send_header() -> SendMessageRequestHeaderV2 {
    SendMessageRequestHeaderV2 {
        producer_group: "please_rename_unique_group_name".into(),
        topic: "BenchmarkTest".into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id: 3,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        flag: 0,
        properties: Some("UNIQ_KEY\u{1}7F0000010D2B18B4AAC2270C1E3A0000\u{2}WAIT\u{1}true\u{2}TAGS\u{1}TagA\u{2}".into()),
        reconsume_times: Some(0),
        unit_mode: Some(false),
        max_reconsume_times: None,
        batch: Some(false),
        broker_name: Some("broker-a".into()),
    }
}

fn send_frame(serialize_type: SerializeType, v2: bool) -> Bytes {
    let body = Bytes::from(vec![b'x'; 128]);
    let cmd = if v2 {
        Command::new(
            Head::request(request_code::SEND_MESSAGE_V2, 1),
            serialize_type,
            &send_header(),
            body,
        )
    } else {
        let v1 = SendMessageRequestHeader::from(send_header());
        Command::new(
            Head::request(request_code::SEND_MESSAGE, 1),
            serialize_type,
            &v1,
            body,
        )
    };
    cmd.to_bytes()
}

fn bench_decode(c: &mut Criterion) {
    let decoder = FrameDecoder::default();
    let cases = [
        (
            "decode SEND_MESSAGE_V2, binary header",
            send_frame(SerializeType::RocketMq, true),
            true,
        ),
        (
            "decode SEND_MESSAGE_V2, binary header, frame and head only",
            send_frame(SerializeType::RocketMq, true),
            false,
        ),
        (
            "decode SEND_MESSAGE_V2, JSON header",
            send_frame(SerializeType::Json, true),
            true,
        ),
        (
            "decode SEND_MESSAGE_V2, JSON header, frame and head only",
            send_frame(SerializeType::Json, true),
            false,
        ),
        (
            "decode SEND_MESSAGE (v1), JSON header",
            send_frame(SerializeType::Json, false),
            false,
        ),
    ];
    for (name, wire, v2) in cases {
        // As a connection sees them: many frames in one read buffer, decoded in a row.
        // The buffer is filled outside the timed region.
        c.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(FRAMES_PER_READ);
                    left -= n;
                    let mut buf = BytesMut::with_capacity(wire.len() * n as usize);
                    for _ in 0..n {
                        buf.extend_from_slice(&wire);
                    }
                    let start = Instant::now();
                    for _ in 0..n {
                        let frame = decoder.decode(&mut buf).unwrap().unwrap();
                        let cmd = Command::decode(frame).unwrap();
                        match (v2, cmd.head.code) {
                            (true, _) => {
                                black_box(cmd.header::<SendMessageRequestHeaderV2>().unwrap());
                            }
                            (false, request_code::SEND_MESSAGE) => {
                                black_box(cmd.header::<SendMessageRequestHeader>().unwrap());
                            }
                            _ => {}
                        }
                        black_box(cmd);
                    }
                    total += start.elapsed();
                }
                total
            })
        });
    }
}

fn bench_encode(c: &mut Criterion) {
    let request = Head::request(request_code::SEND_MESSAGE_V2, 77);
    let head = Head::response_to(&request, response_code::SUCCESS, None);
    let header = SendMessageResponseHeader {
        msg_id: "7F00000100002A9F00000000000A1B2C".into(),
        queue_id: 3,
        queue_offset: 123_456,
        transaction_id: None,
        batch_uniq_id: None,
    };
    for (name, ser) in [
        (
            "encode send response, binary header",
            SerializeType::RocketMq,
        ),
        ("encode send response, JSON header", SerializeType::Json),
    ] {
        let mut out = BytesMut::with_capacity(4096);
        c.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                encode_frame(&head, ser, black_box(&header), &[], &mut out);
                black_box(out.len())
            })
        });
    }

    let message = StoredMessage {
        queue_id: 3,
        queue_offset: 99,
        physical_offset: 1 << 30,
        born_timestamp: 1_700_000_000_000,
        born_host: "127.0.0.1:50000".parse().unwrap(),
        store_timestamp: 1_700_000_000_001,
        store_host: "127.0.0.1:10911".parse().unwrap(),
        body: Bytes::from(vec![b'x'; 128]),
        topic: "BenchmarkTest".into(),
        properties: "UNIQ_KEY\u{1}7F0000010D2B18B4AAC2270C1E3A0000\u{2}TAGS\u{1}TagA\u{2}".into(),
        ..Default::default()
    };
    let mut out = BytesMut::with_capacity(4096);
    c.bench_function("encode one 128-byte stored message", |b| {
        b.iter(|| {
            out.clear();
            black_box(&message).encode(&mut out).unwrap();
            black_box(out.len())
        })
    });
    let mut encoded = BytesMut::new();
    message.encode(&mut encoded).unwrap();
    let encoded = encoded.freeze();
    c.bench_function("decode one 128-byte stored message (CRC checked)", |b| {
        b.iter(|| black_box(StoredMessage::decode(black_box(&encoded), 0, true).unwrap()))
    });
}

criterion_group!(benches, bench_decode, bench_encode);
criterion_main!(benches);
