//! The compact binary header (serialize type 1): code i16, language u8, version i16,
//! opaque i32, flag i32, remark (i32 length + UTF-8), extFields (i32 length + entries of
//! i16 key length, key, i32 value length, value).

use bytes::{BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use crate::codes::LanguageCode;
use crate::command::Head;
use crate::error::{Error, Result};
use crate::ext::{ExtFields, FieldSink, WriteFields};
use crate::frame::FRAME_PREFIX_BYTES;
use crate::read::Reader;

const WHAT: &str = "binary header";

/// Decodes a binary header. Extfield ranges point into `header` itself: nothing is copied.
pub(crate) fn decode(header: Bytes) -> Result<(Head, ExtFields)> {
    let mut r = Reader::new(&header, FRAME_PREFIX_BYTES, WHAT);
    let code = r.i16("code")?;
    let language = LanguageCode(r.u8("language")?);
    let version = r.i16("version")?;
    let opaque = r.i32("opaque")?;
    let flag = r.i32("flag")?;
    let remark_len = r.len_i32("remark length")?;
    let remark = match remark_len {
        0 => None,
        len => Some(ByteString::from(r.str(len, "remark")?)),
    };
    let ext_len = r.len_i32("extFields length")?;
    let ext_start = r.pos();
    // Fast path: when the whole extFields block is ASCII, every key and value is UTF-8.
    let all_ascii = header
        .get(ext_start..ext_start + ext_len)
        .is_some_and(is_ascii);
    let mut count = 0usize;
    while r.pos() < ext_start + ext_len {
        let key_len = r.len_i16("extFields key length")?;
        if all_ascii {
            r.take(key_len, "extFields key")?;
        } else {
            r.str(key_len, "extFields key")?;
        }
        let value_len = r.len_i32("extFields value length")?;
        if all_ascii {
            r.take(value_len, "extFields value")?;
        } else {
            r.str(value_len, "extFields value")?;
        }
        count += 1;
    }
    if r.pos() != ext_start + ext_len {
        return Err(Error::corrupt(
            WHAT,
            FRAME_PREFIX_BYTES + ext_start,
            format!(
                "extFields length {ext_len} ends inside an entry (entries run to {})",
                r.pos() - ext_start
            ),
        ));
    }
    let head = Head {
        code: i32::from(code),
        language,
        version: i32::from(version),
        opaque,
        flag,
        remark,
    };
    let ext = ExtFields::from_binary_block(header, ext_start, ext_start + ext_len, count);
    Ok((head, ext))
}

/// ASCII check eight bytes at a time (the std one goes byte by byte on short inputs).
fn is_ascii(bytes: &[u8]) -> bool {
    let mut chunks = bytes.chunks_exact(8);
    let mut high = 0u64;
    for c in &mut chunks {
        high |= u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
    }
    high & 0x8080_8080_8080_8080 == 0 && chunks.remainder().is_ascii()
}

/// Writes entries straight into the outgoing buffer.
struct BinarySink<'a> {
    out: &'a mut BytesMut,
}

impl FieldSink for BinarySink<'_> {
    fn field(&mut self, key: &str, value: &str) {
        // Keys are RocketMQ field names; a key over i16::MAX bytes is a programming error.
        let key_len = i16::try_from(key.len()).expect("extFields key longer than 32767 bytes");
        self.out.put_i16(key_len);
        self.out.put_slice(key.as_bytes());
        self.out.put_i32(value.len() as i32);
        self.out.put_slice(value.as_bytes());
    }
}

/// Appends a binary header. Codes and versions are written as Java does: cast to i16.
pub(crate) fn encode<F: WriteFields + ?Sized>(head: &Head, fields: &F, out: &mut BytesMut) {
    out.put_i16(head.code as i16);
    out.put_u8(head.language.0);
    out.put_i16(head.version as i16);
    out.put_i32(head.opaque);
    out.put_i32(head.flag);
    match &head.remark {
        Some(remark) => {
            out.put_i32(remark.len() as i32);
            out.put_slice(remark.as_bytes());
        }
        None => out.put_i32(0),
    }
    let len_at = out.len();
    out.put_i32(0);
    fields.write_fields(&mut BinarySink { out });
    let ext_len = (out.len() - len_at - 4) as i32;
    out[len_at..len_at + 4].copy_from_slice(&ext_len.to_be_bytes());
}
