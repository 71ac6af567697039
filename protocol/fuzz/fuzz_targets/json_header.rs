//! Fuzzes the JSON header decoder and every typed header read from its extFields.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use shardmq_protocol::codes::SerializeType;
use shardmq_protocol::command::Command;
use shardmq_protocol::frame::RawFrame;

mod common;

fuzz_target!(|data: &[u8]| {
    let frame = RawFrame {
        serialize_type: SerializeType::Json,
        header: Bytes::copy_from_slice(data),
        body: Bytes::new(),
    };
    if let Ok(cmd) = Command::decode(frame) {
        common::decode_every_header(&cmd);
        common::round_trip_both_encodings(&cmd);
    }
});
