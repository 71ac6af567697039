//! The send-time stamp in each body mqperf sends: `MQPF` then the wall-clock send time in
//! microseconds (little-endian u64), padded with `x` to the requested size. A consumer on the
//! same host reads it for microsecond end-to-end latency; bodies without it (too small, or
//! sent by another tool) fall back to the millisecond born timestamp.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};

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
    write_stamp(&mut body, now_us());
    Bytes::from(body)
}

/// Writes the stamp (magic, then `sent_us`) at the start of `body` when it has room.
fn write_stamp(body: &mut [u8], sent_us: u64) {
    if body.len() >= STAMP_LEN {
        body[..MAGIC.len()].copy_from_slice(MAGIC);
        body[MAGIC.len()..STAMP_LEN].copy_from_slice(&sent_us.to_le_bytes());
    }
}

/// Stamped bodies for one sending thread: they are cut from a shared arena (one allocation
/// per [`ARENA_BYTES`]) and stamped with a wall-clock time derived from the caller's
/// `Instant` (the wall clock is re-read every [`REBASE_EVERY`]), so a send costs no extra
/// clock read and no allocation of its own.
pub struct Stamper {
    size: usize,
    arena: BytesMut,
    base: Instant,
    base_us: u64,
}

/// Bytes allocated at a time for bodies.
const ARENA_BYTES: usize = 64 * 1024;
/// How long a wall-clock reading serves as the base for stamps.
const REBASE_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

impl Stamper {
    /// Bodies of `size_bytes`.
    pub fn new(size_bytes: usize) -> Stamper {
        Stamper {
            size: size_bytes,
            arena: BytesMut::new(),
            base: Instant::now(),
            base_us: now_us(),
        }
    }

    /// A body of the configured size, stamped (when it has room) with the wall-clock time
    /// of `at`, a reading of the monotonic clock just taken.
    pub fn body(&mut self, at: Instant) -> Bytes {
        if self.arena.capacity() < self.size {
            self.arena = BytesMut::with_capacity(ARENA_BYTES.max(self.size));
        }
        self.arena.put_bytes(b'x', self.size);
        if self.size >= STAMP_LEN {
            let sent = self.wall_us(at);
            write_stamp(&mut self.arena, sent);
        }
        self.arena.split().freeze()
    }

    /// Microseconds since the Unix epoch at `at`.
    fn wall_us(&mut self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.base);
        if since >= REBASE_EVERY {
            self.base = at;
            self.base_us = now_us();
            return self.base_us;
        }
        self.base_us + since.as_micros() as u64
    }
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
    fn stamper_bodies_match_stamped_ones() {
        for size in [0, 8, 12, 128, 70_000] {
            let mut stamper = Stamper::new(size);
            for _ in 0..1000 {
                let before = now_us();
                let body = stamper.body(Instant::now());
                assert_eq!(body.len(), size);
                let plain = stamped(size);
                match sent_us(&body) {
                    Some(at) => {
                        // Derived from the monotonic clock: within a few ms of the wall clock.
                        assert!(
                            at + 5_000 >= before && at <= now_us() + 5_000,
                            "{at} vs {before}"
                        );
                        assert_eq!(body[STAMP_LEN..], plain[STAMP_LEN..]);
                    }
                    None => assert_eq!(body, plain),
                }
            }
        }
    }

    #[test]
    fn small_or_foreign_bodies_carry_no_stamp() {
        assert_eq!(stamped(8).as_ref(), b"xxxxxxxx");
        assert_eq!(sent_us(b"xxxxxxxx"), None);
        assert_eq!(sent_us(b"hello world, this is long"), None);
    }
}
