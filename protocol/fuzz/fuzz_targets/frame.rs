//! Fuzzes the streaming frame decoder and command decoding: any bytes, fed in two chunks,
//! must yield frames or a typed error, never a panic; a decoded command re-encodes to a
//! frame that decodes to the same command.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use shardmq_protocol::command::Command;
use shardmq_protocol::frame::FrameDecoder;

fuzz_target!(|data: &[u8]| {
    let decoder = FrameDecoder::new(64 * 1024);
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let mut buf = BytesMut::from(&data[..split]);
    let mut fed_rest = false;
    loop {
        match decoder.decode(&mut buf) {
            Ok(Some(frame)) => {
                if let Ok(cmd) = Command::decode(frame) {
                    let mut wire = BytesMut::from(&cmd.to_bytes()[..]);
                    let again = decoder
                        .decode(&mut wire)
                        .expect("re-encoded frame decodes")
                        .expect("re-encoded frame is whole");
                    let cmd2 = Command::decode(again).expect("re-encoded command decodes");
                    assert_eq!(cmd.ext, cmd2.ext);
                    assert_eq!(cmd.body, cmd2.body);
                    assert_eq!(cmd.head.opaque, cmd2.head.opaque);
                }
            }
            Ok(None) if !fed_rest => {
                buf.extend_from_slice(&data[split..]);
                fed_rest = true;
            }
            Ok(None) | Err(_) => break,
        }
    }
});
