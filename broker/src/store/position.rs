//! A commit-log position that names its shard: the shard in the top 16 bits, the byte offset
//! in that shard's CommitLog in the low 48. Consume-queue entries store it, so a queue can
//! move to another shard and its history stays readable where it was written.

/// Bits of a position that hold the byte offset (256 TiB per shard).
pub const OFFSET_BITS: u32 = 48;
const OFFSET_MASK: u64 = (1 << OFFSET_BITS) - 1;

/// Shard and byte offset, packed. Shard 0's positions equal plain offsets, as in RocketMQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position(u64);

impl Position {
    /// The position of byte `offset` of shard `shard`'s CommitLog.
    pub fn new(shard: u16, offset: u64) -> Self {
        debug_assert!(offset <= OFFSET_MASK, "offset {offset} exceeds 48 bits");
        Position((u64::from(shard) << OFFSET_BITS) | (offset & OFFSET_MASK))
    }

    /// From the packed form (as stored in PHYSICALOFFSET and consume-queue entries).
    pub fn from_raw(raw: u64) -> Self {
        Position(raw)
    }

    /// The packed form.
    pub fn raw(self) -> u64 {
        self.0
    }

    /// Which shard's CommitLog holds the bytes.
    pub fn shard(self) -> u16 {
        (self.0 >> OFFSET_BITS) as u16
    }

    /// Byte offset in that CommitLog.
    pub fn offset(self) -> u64 {
        self.0 & OFFSET_MASK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_and_offset_pack_and_unpack() {
        let cases = [(0u16, 0u64), (0, 4096), (1, 1 << 30), (65535, OFFSET_MASK)];
        for (shard, offset) in cases {
            let p = Position::new(shard, offset);
            assert_eq!((p.shard(), p.offset()), (shard, offset));
            assert_eq!(Position::from_raw(p.raw()), p);
        }
        assert_eq!(
            Position::new(0, 12345).raw(),
            12345,
            "shard 0 is a plain offset"
        );
        assert!(Position::new(1, 0) > Position::new(0, OFFSET_MASK));
    }
}
