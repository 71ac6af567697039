//! The stored-message layout: what a CommitLog holds and a pull response carries,
//! concatenated. All integers big-endian.
//!
//! TOTALSIZE i32 | MAGICCODE i32 | BODYCRC i32 | QUEUEID i32 | FLAG i32 | QUEUEOFFSET i64 |
//! PHYSICALOFFSET i64 | SYSFLAG i32 | BORNTIMESTAMP i64 | BORNHOST (4 or 16 bytes + i32 port) |
//! STORETIMESTAMP i64 | STOREHOST (4 or 16 + i32) | RECONSUMETIMES i32 |
//! PREPAREDTRANSACTIONOFFSET i64 | i32 len + BODY | i8 (v1) or i16 (v2) len + TOPIC |
//! i16 len + PROPERTIES.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::{BufMut, Bytes};
use bytestring::ByteString;

use super::{body_crc, sys_flag};
use crate::error::{Error, Result};
use crate::read::Reader;

/// Magic of the original layout: the topic length is one byte.
pub const MESSAGE_MAGIC_CODE_V1: i32 = 0xDAA3_20A7_u32 as i32;
/// Magic of the RocketMQ 5 layout: the topic length is two bytes.
pub const MESSAGE_MAGIC_CODE_V2: i32 = 0xDAA3_20AB_u32 as i32;
/// Magic of the blank record that pads the end of a CommitLog segment.
pub const BLANK_MAGIC_CODE: i32 = 0xCBD4_3194_u32 as i32;

const WHAT: &str = "stored message";

/// Which layout, by magic code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MagicVersion {
    /// 0xDAA320A7: topic length i8 (topics up to 127 bytes).
    #[default]
    V1,
    /// 0xDAA320AB: topic length i16.
    V2,
}

impl MagicVersion {
    /// The magic code.
    pub fn magic(self) -> i32 {
        match self {
            MagicVersion::V1 => MESSAGE_MAGIC_CODE_V1,
            MagicVersion::V2 => MESSAGE_MAGIC_CODE_V2,
        }
    }

    fn max_topic_bytes(self) -> usize {
        match self {
            MagicVersion::V1 => i8::MAX as usize,
            MagicVersion::V2 => i16::MAX as usize,
        }
    }
}

/// One stored message. Body, topic and properties share the buffer they were decoded from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub version: MagicVersion,
    pub queue_id: i32,
    pub flag: i32,
    pub queue_offset: i64,
    /// Offset of this record in the CommitLog.
    pub physical_offset: i64,
    /// Message sysFlag. The IPv6 host bits are set from the host addresses on encode.
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub store_timestamp: i64,
    pub store_host: SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    pub body: Bytes,
    pub topic: ByteString,
    /// Encoded properties (`name\x01value\x02`...).
    pub properties: ByteString,
}

impl Default for StoredMessage {
    fn default() -> Self {
        let unspecified = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
        StoredMessage {
            version: MagicVersion::V1,
            queue_id: 0,
            flag: 0,
            queue_offset: 0,
            physical_offset: 0,
            sys_flag: 0,
            born_timestamp: 0,
            born_host: unspecified,
            store_timestamp: 0,
            store_host: unspecified,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body: Bytes::new(),
            topic: ByteString::new(),
            properties: ByteString::new(),
        }
    }
}

fn host_len(addr: &SocketAddr) -> usize {
    match addr {
        SocketAddr::V4(_) => 4 + 4,
        SocketAddr::V6(_) => 16 + 4,
    }
}

fn put_host(out: &mut impl BufMut, addr: &SocketAddr) {
    match addr.ip() {
        IpAddr::V4(ip) => out.put_slice(&ip.octets()),
        IpAddr::V6(ip) => out.put_slice(&ip.octets()),
    }
    out.put_i32(i32::from(addr.port()));
}

fn read_host(r: &mut Reader<'_>, v6: bool, field: &'static str) -> Result<SocketAddr> {
    let ip = if v6 {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(r.take(16, field)?);
        IpAddr::V6(Ipv6Addr::from(octets))
    } else {
        let mut octets = [0u8; 4];
        octets.copy_from_slice(r.take(4, field)?);
        IpAddr::V4(Ipv4Addr::from(octets))
    };
    let at = r.offset();
    let port = r.i32(field)?;
    let port = u16::try_from(port)
        .map_err(|_| Error::corrupt(WHAT, at, format!("{field} port {port} is out of range")))?;
    Ok(SocketAddr::new(ip, port))
}

/// A stored message with borrowed body, topic and properties: what an appender encodes
/// straight from a send request, without taking shared references to its buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredMessageRef<'a> {
    pub version: MagicVersion,
    pub queue_id: i32,
    pub flag: i32,
    pub queue_offset: i64,
    pub physical_offset: i64,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub store_timestamp: i64,
    pub store_host: SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    pub body: &'a [u8],
    pub topic: &'a str,
    pub properties: &'a str,
}

impl StoredMessageRef<'_> {
    /// The sysFlag as written: the caller's bits with the IPv6 host bits set to match the hosts.
    pub fn wire_sys_flag(&self) -> i32 {
        let mut flag = self.sys_flag & !(sys_flag::BORNHOST_V6 | sys_flag::STOREHOST_V6);
        if self.born_host.is_ipv6() {
            flag |= sys_flag::BORNHOST_V6;
        }
        if self.store_host.is_ipv6() {
            flag |= sys_flag::STOREHOST_V6;
        }
        flag
    }

    /// TOTALSIZE: the encoded length in bytes.
    pub fn encoded_len(&self) -> usize {
        let topic_len_bytes = match self.version {
            MagicVersion::V1 => 1,
            MagicVersion::V2 => 2,
        };
        4 + 4
            + 4
            + 4
            + 4
            + 8
            + 8
            + 4
            + 8
            + host_len(&self.born_host)
            + 8
            + host_len(&self.store_host)
            + 4
            + 8
            + 4
            + self.body.len()
            + topic_len_bytes
            + self.topic.len()
            + 2
            + self.properties.len()
    }

    /// Checks the lengths the layout can carry; encode refuses what this refuses.
    pub fn check_encodable(&self) -> Result<()> {
        let bad = |field: &'static str, reason: String| Error::BadField {
            header: "StoredMessage",
            field,
            reason: reason.into(),
        };
        if self.topic.len() > self.version.max_topic_bytes() {
            return Err(bad(
                "topic",
                format!(
                    "{} bytes exceeds {} for magic {:?}",
                    self.topic.len(),
                    self.version.max_topic_bytes(),
                    self.version
                ),
            ));
        }
        if self.properties.len() > i16::MAX as usize {
            return Err(bad(
                "properties",
                format!("{} bytes exceeds 32767", self.properties.len()),
            ));
        }
        if self.encoded_len() > i32::MAX as usize {
            return Err(bad(
                "body",
                format!("{} bytes is too long", self.body.len()),
            ));
        }
        Ok(())
    }

    /// Appends the encoded message, computing BODYCRC from the body.
    pub fn encode(&self, out: &mut impl BufMut) -> Result<()> {
        self.check_encodable()?;
        out.put_i32(self.encoded_len() as i32);
        out.put_i32(self.version.magic());
        out.put_i32(body_crc(self.body));
        out.put_i32(self.queue_id);
        out.put_i32(self.flag);
        out.put_i64(self.queue_offset);
        out.put_i64(self.physical_offset);
        out.put_i32(self.wire_sys_flag());
        out.put_i64(self.born_timestamp);
        put_host(out, &self.born_host);
        out.put_i64(self.store_timestamp);
        put_host(out, &self.store_host);
        out.put_i32(self.reconsume_times);
        out.put_i64(self.prepared_transaction_offset);
        out.put_i32(self.body.len() as i32);
        out.put_slice(self.body);
        match self.version {
            MagicVersion::V1 => out.put_u8(self.topic.len() as u8),
            MagicVersion::V2 => out.put_i16(self.topic.len() as i16),
        }
        out.put_slice(self.topic.as_bytes());
        out.put_i16(self.properties.len() as i16);
        out.put_slice(self.properties.as_bytes());
        Ok(())
    }
}

impl StoredMessage {
    /// A borrowed view of this message.
    pub fn as_ref(&self) -> StoredMessageRef<'_> {
        StoredMessageRef {
            version: self.version,
            queue_id: self.queue_id,
            flag: self.flag,
            queue_offset: self.queue_offset,
            physical_offset: self.physical_offset,
            sys_flag: self.sys_flag,
            born_timestamp: self.born_timestamp,
            born_host: self.born_host,
            store_timestamp: self.store_timestamp,
            store_host: self.store_host,
            reconsume_times: self.reconsume_times,
            prepared_transaction_offset: self.prepared_transaction_offset,
            body: &self.body,
            topic: &self.topic,
            properties: &self.properties,
        }
    }

    /// The sysFlag as written: the caller's bits with the IPv6 host bits set to match the hosts.
    pub fn wire_sys_flag(&self) -> i32 {
        self.as_ref().wire_sys_flag()
    }

    /// TOTALSIZE: the encoded length in bytes.
    pub fn encoded_len(&self) -> usize {
        self.as_ref().encoded_len()
    }

    /// Checks the lengths the layout can carry; encode refuses what this refuses.
    pub fn check_encodable(&self) -> Result<()> {
        self.as_ref().check_encodable()
    }

    /// Appends the encoded message, computing BODYCRC from the body.
    pub fn encode(&self, out: &mut impl BufMut) -> Result<()> {
        self.as_ref().encode(out)
    }

    /// Reads TOTALSIZE at `at`: `Incomplete` if fewer than 4 bytes remain.
    pub fn peek_total_size(buf: &[u8], at: usize) -> Result<i32> {
        match buf.get(at..at + 4) {
            Some(b) => Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            None => Err(Error::Incomplete {
                what: "stored message size",
                needed: at + 4 - buf.len().min(at + 4),
            }),
        }
    }

    /// Decodes the message at byte `at` of `buf`, returning it and its length.
    /// `Incomplete` means the buffer ends inside the message (a torn tail); any other
    /// error names the field and its byte in `buf`. With `check_crc`, a body whose CRC
    /// differs from BODYCRC is corrupt.
    pub fn decode(buf: &Bytes, at: usize, check_crc: bool) -> Result<(StoredMessage, usize)> {
        let total = Self::peek_total_size(buf, at)?;
        let available = buf.len() - at;
        if total < 4 {
            return Err(Error::corrupt(
                WHAT,
                at,
                format!("TOTALSIZE {total} is too small"),
            ));
        }
        let total = total as usize;
        if total > available {
            return Err(Error::Incomplete {
                what: WHAT,
                needed: total - available,
            });
        }
        let mut r = Reader::new(&buf[at..at + total], at, WHAT);
        r.i32("TOTALSIZE")?;
        let magic_at = r.offset();
        let version = match r.i32("MAGICCODE")? {
            MESSAGE_MAGIC_CODE_V1 => MagicVersion::V1,
            MESSAGE_MAGIC_CODE_V2 => MagicVersion::V2,
            BLANK_MAGIC_CODE => {
                return Err(Error::corrupt(
                    WHAT,
                    magic_at,
                    "blank end-of-segment marker, not a message",
                ))
            }
            other => {
                return Err(Error::corrupt(
                    WHAT,
                    magic_at,
                    format!("unknown MAGICCODE {:#010x}", other as u32),
                ))
            }
        };
        let crc_at = r.offset();
        let crc = r.i32("BODYCRC")?;
        let queue_id = r.i32("QUEUEID")?;
        let flag = r.i32("FLAG")?;
        let queue_offset = r.i64("QUEUEOFFSET")?;
        let physical_offset = r.i64("PHYSICALOFFSET")?;
        let sys_flag = r.i32("SYSFLAG")?;
        let born_timestamp = r.i64("BORNTIMESTAMP")?;
        let born_host = read_host(&mut r, sys_flag & sys_flag::BORNHOST_V6 != 0, "BORNHOST")?;
        let store_timestamp = r.i64("STORETIMESTAMP")?;
        let store_host = read_host(&mut r, sys_flag & sys_flag::STOREHOST_V6 != 0, "STOREHOST")?;
        let reconsume_times = r.i32("RECONSUMETIMES")?;
        let prepared_transaction_offset = r.i64("PREPAREDTRANSACTIONOFFSET")?;
        let body_len = r.len_i32("BODYLENGTH")?;
        let body_at = at + r.pos();
        r.take(body_len, "BODY")?;
        let body = buf.slice(body_at..body_at + body_len);
        let topic_len = match version {
            MagicVersion::V1 => r.len_u8("TOPICLENGTH")?,
            MagicVersion::V2 => r.len_i16("TOPICLENGTH")?,
        };
        let topic_at = at + r.pos();
        r.str(topic_len, "TOPIC")?;
        let props_len = r.len_i16("PROPERTIESLENGTH")?;
        let props_at = at + r.pos();
        r.str(props_len, "PROPERTIES")?;
        if r.remaining() != 0 {
            return Err(Error::corrupt(
                WHAT,
                r.offset(),
                format!(
                    "TOTALSIZE {total} leaves {} bytes after PROPERTIES",
                    r.remaining()
                ),
            ));
        }
        if check_crc && body_crc(&body) != crc {
            return Err(Error::corrupt(
                WHAT,
                crc_at,
                format!(
                    "BODYCRC {crc:#x} does not match the body's {:#x}",
                    body_crc(&body)
                ),
            ));
        }
        let text = |start: usize, len: usize| {
            ByteString::try_from(buf.slice(start..start + len)).unwrap_or_default()
        };
        let message = StoredMessage {
            version,
            queue_id,
            flag,
            queue_offset,
            physical_offset,
            sys_flag,
            born_timestamp,
            born_host,
            store_timestamp,
            store_host,
            reconsume_times,
            prepared_transaction_offset,
            body,
            topic: text(topic_at, topic_len),
            properties: text(props_at, props_len),
        };
        Ok((message, total))
    }

    /// Iterates the messages of a pull-response body.
    pub fn iter(buf: &Bytes, check_crc: bool) -> StoredMessages {
        StoredMessages {
            buf: buf.clone(),
            pos: 0,
            check_crc,
            failed: false,
        }
    }
}

/// Messages of a concatenated buffer, in order; stops after the first error.
pub struct StoredMessages {
    buf: Bytes,
    pos: usize,
    check_crc: bool,
    failed: bool,
}

impl Iterator for StoredMessages {
    type Item = Result<StoredMessage>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        match StoredMessage::decode(&self.buf, self.pos, self.check_crc) {
            Ok((m, len)) => {
                self.pos += len;
                Some(Ok(m))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}
