//! The in-memory tail of a CommitLog: the most recent bytes, in fixed-size chunks, so that
//! appending never moves what is already there and old chunks are dropped whole.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

/// Bytes per chunk; a multiple of the 4096-byte DMA block.
pub const CHUNK_BYTES: usize = 4 << 20;

/// `[start, end)` of the log. Every chunk but the last is full, so chunk `i` starts at
/// `start + i * CHUNK_BYTES`; `start` is block-aligned and stays so.
pub struct Tail {
    start: u64,
    chunks: VecDeque<BytesMut>,
    /// Dropped chunks kept for reuse: their pages stay mapped, so a new chunk costs no page
    /// faults. At most [`SPARE_CHUNKS`].
    spare: Vec<BytesMut>,
}

/// Dropped chunks kept for reuse.
const SPARE_CHUNKS: usize = 4;

impl Tail {
    /// An empty tail beginning at `start` (block-aligned).
    pub fn new(start: u64) -> Self {
        let mut chunks = VecDeque::new();
        chunks.push_back(BytesMut::with_capacity(CHUNK_BYTES));
        Tail {
            start,
            chunks,
            spare: Vec::new(),
        }
    }

    /// First offset held.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// One past the last offset held.
    pub fn end(&self) -> u64 {
        let full = (self.chunks.len() - 1) * CHUNK_BYTES;
        self.start + (full + self.chunks.back().map_or(0, BytesMut::len)) as u64
    }

    fn last(&mut self) -> &mut BytesMut {
        if self.chunks.back().is_none_or(|c| c.len() == CHUNK_BYTES) {
            let chunk = self
                .spare
                .pop()
                .unwrap_or_else(|| BytesMut::with_capacity(CHUNK_BYTES));
            self.chunks.push_back(chunk);
        }
        let last = self.chunks.len() - 1;
        &mut self.chunks[last]
    }

    /// Room left in the last chunk.
    pub fn spare_in_chunk(&self) -> usize {
        self.chunks.back().map_or(0, |c| CHUNK_BYTES - c.len())
    }

    /// The last chunk, for an encoder writing at most [`Tail::spare_in_chunk`] bytes.
    pub fn chunk_for_write(&mut self) -> &mut BytesMut {
        self.last()
    }

    /// Rolls the last chunk back to `len` bytes (an encoder that failed midway).
    pub fn truncate_last_chunk(&mut self, len: usize) {
        if let Some(c) = self.chunks.back_mut() {
            c.truncate(len);
        }
    }

    /// Appends `bytes`, across chunks if need be.
    pub fn extend(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let last = self.last();
            let take = (CHUNK_BYTES - last.len()).min(bytes.len());
            last.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
    }

    /// Appends `n` zero bytes.
    pub fn extend_zeros(&mut self, mut n: usize) {
        const ZEROS: [u8; 4096] = [0; 4096];
        while n > 0 {
            let take = n.min(ZEROS.len());
            self.extend(&ZEROS[..take]);
            n -= take;
        }
    }

    /// Copies `[from, from + out.len())` into `out`; the range must lie in the tail.
    pub fn copy_to(&self, from: u64, out: &mut [u8]) {
        let mut at = (from - self.start) as usize;
        let mut done = 0;
        while done < out.len() {
            let chunk = &self.chunks[at / CHUNK_BYTES];
            let in_chunk = at % CHUNK_BYTES;
            let take = (chunk.len() - in_chunk).min(out.len() - done);
            out[done..done + take].copy_from_slice(&chunk[in_chunk..in_chunk + take]);
            done += take;
            at += take;
        }
    }

    /// A copy of `[from, from + len)`.
    pub fn read(&self, from: u64, len: usize) -> Bytes {
        let mut out = vec![0u8; len];
        self.copy_to(from, &mut out);
        Bytes::from(out)
    }

    /// Drops whole chunks that end at or before `keep_from` (never the last one).
    pub fn trim(&mut self, keep_from: u64) {
        while self.chunks.len() > 1 && self.start + CHUNK_BYTES as u64 <= keep_from {
            if let Some(mut chunk) = self.chunks.pop_front() {
                if self.spare.len() < SPARE_CHUNKS {
                    chunk.clear();
                    self.spare.push(chunk);
                }
            }
            self.start += CHUNK_BYTES as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_cross_chunks_and_read_back_from_any_offset() {
        let mut t = Tail::new(8192);
        let data: Vec<u8> = (0..CHUNK_BYTES * 2 + 100)
            .map(|i| (i % 251) as u8)
            .collect();
        t.extend(&data[..10]);
        t.extend(&data[10..]);
        assert_eq!(t.end(), 8192 + data.len() as u64);
        for from in [0usize, 5, CHUNK_BYTES - 3, CHUNK_BYTES * 2] {
            let got = t.read(8192 + from as u64, 50);
            assert_eq!(&got[..], &data[from..from + 50], "from {from}");
        }
        t.trim(8192 + CHUNK_BYTES as u64 + 1);
        assert_eq!(t.start(), 8192 + CHUNK_BYTES as u64);
        assert_eq!(
            &t.read(t.start(), 4)[..],
            &data[CHUNK_BYTES..CHUNK_BYTES + 4]
        );
        t.trim(u64::MAX);
        assert_eq!(
            t.end(),
            8192 + data.len() as u64,
            "the last chunk always stays"
        );
    }

    #[test]
    fn zeros_and_a_rolled_back_write_keep_the_end_consistent() {
        let mut t = Tail::new(0);
        t.extend_zeros(10_000);
        assert_eq!(t.end(), 10_000);
        let before = t.chunk_for_write().len();
        t.chunk_for_write().extend_from_slice(b"partial");
        t.truncate_last_chunk(before);
        assert_eq!(t.end(), 10_000);
        assert!(t.read(0, 10_000).iter().all(|b| *b == 0));
    }
}
