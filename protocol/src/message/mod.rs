//! Messages as RocketMQ lays them out: the stored form pull responses carry, properties,
//! batch-send bodies, and the offset msgId.

mod batch;
mod msg_id;
pub mod properties;
mod stored;

pub use batch::{decode_batch, encode_batch, BatchEntries, BatchEntry};
pub use msg_id::MessageId;
pub use properties::Properties;
pub use stored::{
    MagicVersion, StoredMessage, StoredMessageRef, StoredMessages, BLANK_MAGIC_CODE,
    MESSAGE_MAGIC_CODE_V1, MESSAGE_MAGIC_CODE_V2,
};

/// Java's `String.hashCode`: `s[0]*31^(n-1) + ... + s[n-1]` over UTF-16 units, wrapping.
pub fn java_string_hash(s: &str) -> i32 {
    // ASCII (tags, UNIQ_KEY hex digits: every message) is one UTF-16 unit per byte.
    if s.is_ascii() {
        return s
            .bytes()
            .fold(0i32, |h, b| h.wrapping_mul(31).wrapping_add(i32::from(b)));
    }
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// Message sysFlag bits (`MessageSysFlag`).
pub mod sys_flag {
    /// The body is compressed.
    pub const COMPRESSED: i32 = 0x1;
    /// The TAGS property holds several tags.
    pub const MULTI_TAGS: i32 = 0x2;
    /// Transaction state mask and values.
    pub const TRANSACTION_NOT_TYPE: i32 = 0;
    pub const TRANSACTION_PREPARED_TYPE: i32 = 0x4;
    pub const TRANSACTION_COMMIT_TYPE: i32 = 0x8;
    pub const TRANSACTION_ROLLBACK_TYPE: i32 = 0xC;
    /// BORNHOST is 16 bytes of IPv6.
    pub const BORNHOST_V6: i32 = 0x10;
    /// STOREHOST is 16 bytes of IPv6.
    pub const STOREHOST_V6: i32 = 0x20;
    pub const NEED_UNWRAP: i32 = 0x40;
    pub const INNER_BATCH: i32 = 0x80;
}

/// The body CRC RocketMQ stores: CRC-32 (IEEE) masked to 31 bits.
pub fn body_crc(body: &[u8]) -> i32 {
    (crc32fast::hash(body) & 0x7FFF_FFFF) as i32
}

#[cfg(test)]
mod tests {
    #[test]
    fn body_crc_is_crc32_masked_to_31_bits() {
        // CRC-32 of "123456789" is 0xCBF43926; masked: 0x4BF43926.
        assert_eq!(super::body_crc(b"123456789"), 0x4BF4_3926);
        assert_eq!(super::body_crc(b""), 0);
    }
}
