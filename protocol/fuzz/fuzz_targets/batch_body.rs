//! Fuzzes the batch-body decoder: never a panic, and accepted records re-encode to records
//! that decode equal.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use shardmq_protocol::message::{decode_batch, encode_batch, BatchEntry};

fuzz_target!(|data: &[u8]| {
    let entries: Vec<BatchEntry> = decode_batch(&Bytes::copy_from_slice(data))
        .map_while(Result::ok)
        .collect();
    let mut out = BytesMut::new();
    encode_batch(&entries, &mut out).expect("decoded records re-encode");
    let again: Vec<BatchEntry> = decode_batch(&out.freeze())
        .collect::<Result<_, _>>()
        .expect("re-encoded batch decodes");
    assert_eq!(again, entries);
});
