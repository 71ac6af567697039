//! The send-time stamp in each body mqperf sends: `MQPF` then the wall-clock send time in
//! microseconds (little-endian u64), padded with `x` to the requested size. A consumer on the
//! same host reads it for microsecond end-to-end latency; bodies without it (too small, or
//! sent by another tool) fall back to the millisecond born timestamp.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

const MAGIC: &[u8; 4] = b"MQPF";
const STAMP_LEN: usize = MAGIC.len() + 8;

/// Microseconds since the Unix epoch, now.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A body of `size_bytes`, stamped with the current time when it has room.
pub fn stamped(size_bytes: usize) -> Bytes {
    let mut body = vec![b'x'; size_bytes];
    if size_bytes >= STAMP_LEN {
        body[..MAGIC.len()].copy_from_slice(MAGIC);
        body[MAGIC.len()..STAMP_LEN].copy_from_slice(&now_us().to_le_bytes());
    }
    Bytes::from(body)
}

/// The send time stamped in `body`, if it carries one.
pub fn sent_us(body: &[u8]) -> Option<u64> {
    if body.len() < STAMP_LEN || &body[..MAGIC.len()] != MAGIC {
        return None;
    }
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&body[MAGIC.len()..STAMP_LEN]);
    Some(u64::from_le_bytes(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamped_body_has_requested_size_and_a_readable_recent_time() {
        let before = now_us();
        let body = stamped(128);
        assert_eq!(body.len(), 128);
        let at = sent_us(&body).expect("stamp");
        assert!(
            at >= before && at <= now_us(),
            "{at} outside [{before}, now]"
        );
    }

    #[test]
    fn small_or_foreign_bodies_carry_no_stamp() {
        assert_eq!(stamped(8).as_ref(), b"xxxxxxxx");
        assert_eq!(sent_us(b"xxxxxxxx"), None);
        assert_eq!(sent_us(b"hello world, this is long"), None);
    }
}
