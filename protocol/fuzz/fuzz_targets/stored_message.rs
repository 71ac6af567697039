//! Fuzzes the stored-message decoder: never a panic, and every message it accepts
//! re-encodes to exactly the bytes it came from.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use shardmq_protocol::message::StoredMessage;

fuzz_target!(|data: &[u8]| {
    let buf = Bytes::copy_from_slice(data);
    let mut at = 0;
    for check_crc in [true, false] {
        at = 0;
        while let Ok((msg, len)) = StoredMessage::decode(&buf, at, check_crc) {
            if check_crc {
                let mut out = BytesMut::new();
                msg.encode(&mut out).expect("decoded message re-encodes");
                assert_eq!(&out[..], &data[at..at + len]);
            }
            at += len;
        }
    }
    let _ = at;
});
