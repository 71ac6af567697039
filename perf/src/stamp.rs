//! The send-time stamp in each body mqperf sends: `MQPF` then the wall-clock send time in
//! microseconds (little-endian u64), padded with `x` to the requested size. A consumer on the
//! same host reads it for microsecond end-to-end latency; bodies without it (too small, or
//! sent by another tool) fall back to the millisecond born timestamp.
//!
//! A message sent for later delivery (`--delay-level`, `--deliver-after`) carries its due
//! time too: `MQPD`, the send time, then the due time (µs, little-endian u64). Its consumer
//! records the delivery's lateness, arrival minus due time.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};

const MAGIC: &[u8; 4] = b"MQPF";
const STAMP_LEN: usize = MAGIC.len() + 8;
/// The magic of a stamp with a due time.
const MAGIC_DUE: &[u8; 4] = b"MQPD";
/// The smallest body that carries a due time.
pub const DUE_STAMP_LEN: usize = STAMP_LEN + 8;

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

/// Writes a stamp with a due time when `body` has room for it.
fn write_due_stamp(body: &mut [u8], sent_us: u64, due_us: u64) {
    if body.len() >= DUE_STAMP_LEN {
        write_stamp(body, sent_us);
        body[..MAGIC_DUE.len()].copy_from_slice(MAGIC_DUE);
        body[STAMP_LEN..DUE_STAMP_LEN].copy_from_slice(&due_us.to_le_bytes());
    }
}

/// When a scheduled message is due, from its send time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// `delay` after the send: a delay level (the broker counts the level from when it
    /// stores the message, so lateness includes the send's own latency).
    After(Duration),
    /// At the send time plus `delay`, rounded up to the millisecond: the absolute time a
    /// timer message asks for (`TIMER_DELIVER_MS`), exactly.
    AtWholeMs(Duration),
}

impl Due {
    /// The due time (µs since the epoch) of a message sent at `sent_us`.
    pub fn due_us(self, sent_us: u64) -> u64 {
        match self {
            Due::After(delay) => sent_us.saturating_add(delay.as_micros() as u64),
            Due::AtWholeMs(delay) => sent_us
                .saturating_add(delay.as_micros() as u64)
                .div_ceil(1000)
                .saturating_mul(1000),
        }
    }
}

/// Stamped bodies for one sending thread: they are cut from a shared arena (one allocation
/// per [`ARENA_BYTES`]) and stamped with a wall-clock time derived from the caller's
/// `Instant` (the wall clock is re-read every [`REBASE_EVERY`]), so a send costs no extra
/// clock read and no allocation of its own.
pub struct Stamper {
    size: usize,
    /// When the bodies are due, if they are scheduled.
    due: Option<Due>,
    arena: BytesMut,
    base: Instant,
    base_us: u64,
}

/// Bytes allocated at a time for bodies.
const ARENA_BYTES: usize = 64 * 1024;
/// How long a wall-clock reading serves as the base for stamps.
const REBASE_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

impl Stamper {
    /// Bodies of `size_bytes` that also carry their due time when `due` is given (and the
    /// size has room: [`DUE_STAMP_LEN`]).
    pub fn new(size_bytes: usize, due: Option<Due>) -> Stamper {
        Stamper {
            size: size_bytes,
            due,
            arena: BytesMut::new(),
            base: Instant::now(),
            base_us: now_us(),
        }
    }

    /// A body of the configured size, stamped (when it has room) with the wall-clock time
    /// of `at`, a reading of the monotonic clock just taken; for scheduled bodies, also the
    /// due time it carries (µs since the epoch; `None` when unscheduled or too small).
    pub fn body(&mut self, at: Instant) -> (Bytes, Option<u64>) {
        if self.arena.capacity() < self.size {
            self.arena = BytesMut::with_capacity(ARENA_BYTES.max(self.size));
        }
        self.arena.put_bytes(b'x', self.size);
        let mut due_us = None;
        if self.size >= STAMP_LEN {
            let sent = self.wall_us(at);
            match self.due {
                Some(due) if self.size >= DUE_STAMP_LEN => {
                    let due = due.due_us(sent);
                    write_due_stamp(&mut self.arena, sent, due);
                    due_us = Some(due);
                }
                _ => write_stamp(&mut self.arena, sent),
            }
        }
        (self.arena.split().freeze(), due_us)
    }

    /// Microseconds since the Unix epoch at `at`. The base pairs a monotonic and a wall
    /// reading taken together (re-read every [`REBASE_EVERY`]); `at` may lie before the base
    /// (a paced send's scheduled time when the sender is behind), so it is placed relative to
    /// the base either way, never given the base's wall time.
    fn wall_us(&mut self, at: Instant) -> u64 {
        let now = Instant::now();
        if now.saturating_duration_since(self.base) >= REBASE_EVERY {
            self.base = now;
            self.base_us = now_us();
        }
        match at.checked_duration_since(self.base) {
            Some(after) => self.base_us + after.as_micros() as u64,
            None => self
                .base_us
                .saturating_sub(self.base.duration_since(at).as_micros() as u64),
        }
    }
}

/// The send time stamped in `body`, if it carries one.
pub fn sent_us(body: &[u8]) -> Option<u64> {
    let plain = body.len() >= STAMP_LEN && &body[..MAGIC.len()] == MAGIC;
    if !plain && due_us(body).is_none() {
        return None;
    }
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&body[MAGIC.len()..STAMP_LEN]);
    Some(u64::from_le_bytes(raw))
}

/// The due time stamped in `body`, if it is a scheduled message's.
pub fn due_us(body: &[u8]) -> Option<u64> {
    if body.len() < DUE_STAMP_LEN || &body[..MAGIC_DUE.len()] != MAGIC_DUE {
        return None;
    }
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&body[STAMP_LEN..DUE_STAMP_LEN]);
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
    fn a_past_instant_is_stamped_with_its_own_wall_time_even_right_after_a_rebase() {
        // A paced sender behind schedule stamps its scheduled instant, tens of ms ago; the
        // stamp must say so (else due times move later and deliveries look early).
        let mut stamper = Stamper::new(64, None);
        std::thread::sleep(REBASE_EVERY + Duration::from_millis(10));
        let at = Instant::now() - Duration::from_millis(40);
        let (body, _) = stamper.body(at);
        let stamped = sent_us(&body).unwrap();
        let expected = now_us() - 40_000;
        assert!(
            stamped.abs_diff(expected) < 5_000,
            "stamped {stamped}, expected about {expected}"
        );
    }

    #[test]
    fn stamper_bodies_match_stamped_ones() {
        for size in [0, 8, 12, 128, 70_000] {
            let mut stamper = Stamper::new(size, None);
            for _ in 0..1000 {
                let before = now_us();
                let (body, due) = stamper.body(Instant::now());
                assert_eq!(due, None);
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
    fn scheduled_bodies_carry_send_and_due_times_and_plain_ones_no_due_time() {
        let second = Duration::from_secs(1);
        let table: &[(usize, Option<Due>, bool)] = &[
            (128, Some(Due::After(second)), true),
            (20, Some(Due::AtWholeMs(second)), true),
            // Room for the send time only: stamped as a plain body.
            (19, Some(Due::After(second)), false),
            (128, None, false),
        ];
        for (size, due, carries_due) in table {
            let mut stamper = Stamper::new(*size, *due);
            let (body, due_us) = stamper.body(Instant::now());
            assert_eq!(body.len(), *size);
            let sent = sent_us(&body).expect("a send time");
            assert_eq!(due_us.is_some(), *carries_due, "{size} {due:?}");
            assert_eq!(super::due_us(&body), due_us, "{size} {due:?}");
            if let (Some(due), Some(at)) = (due, due_us) {
                assert_eq!(at, due.due_us(sent));
                assert!(at >= sent + 1_000_000);
            }
        }
    }

    #[test]
    fn due_times_after_a_delay_and_at_whole_milliseconds() {
        let d = Duration::from_millis(250);
        assert_eq!(Due::After(d).due_us(1_000_001), 1_250_001);
        assert_eq!(Due::AtWholeMs(d).due_us(1_000_001), 1_251_000);
        assert_eq!(Due::AtWholeMs(d).due_us(1_000_000), 1_250_000);
        assert_eq!(Due::After(d).due_us(u64::MAX), u64::MAX);
    }

    #[test]
    fn small_or_foreign_bodies_carry_no_stamp() {
        assert_eq!(stamped(8).as_ref(), b"xxxxxxxx");
        assert_eq!(sent_us(b"xxxxxxxx"), None);
        assert_eq!(sent_us(b"hello world, this is long"), None);
        assert_eq!(due_us(b"MQPDxxxxxxxxxxxxxxxx"[..19].as_ref()), None);
        assert_eq!(due_us(&stamped(128)), None);
    }
}
