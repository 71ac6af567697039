//! The SEND_BATCH_MESSAGE body: records of TOTALSIZE i32, MAGICCODE i32 (0), BODYCRC i32 (0),
//! FLAG i32, i32 length + BODY, i16 length + PROPERTIES, concatenated.

use bytes::{BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use crate::error::{Error, Result};
use crate::read::Reader;

const WHAT: &str = "batch body";
/// Size of a record with an empty body and no properties.
const MIN_RECORD_BYTES: usize = 4 + 4 + 4 + 4 + 4 + 2;

/// One message of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchEntry {
    pub flag: i32,
    pub body: Bytes,
    /// Encoded properties.
    pub properties: ByteString,
}

impl BatchEntry {
    /// The record's TOTALSIZE.
    pub fn encoded_len(&self) -> usize {
        MIN_RECORD_BYTES + self.body.len() + self.properties.len()
    }
}

/// Appends the batch body. Errors if a record's properties exceed 32767 bytes.
pub fn encode_batch<'a>(
    entries: impl IntoIterator<Item = &'a BatchEntry>,
    out: &mut BytesMut,
) -> Result<()> {
    for e in entries {
        if e.properties.len() > i16::MAX as usize || e.encoded_len() > i32::MAX as usize {
            return Err(Error::BadField {
                header: "BatchEntry",
                field: "properties",
                reason: format!(
                    "record of {} bytes with {} bytes of properties does not fit",
                    e.encoded_len(),
                    e.properties.len()
                )
                .into(),
            });
        }
        out.reserve(e.encoded_len());
        out.put_i32(e.encoded_len() as i32);
        out.put_i32(0);
        out.put_i32(0);
        out.put_i32(e.flag);
        out.put_i32(e.body.len() as i32);
        out.put_slice(&e.body);
        out.put_i16(e.properties.len() as i16);
        out.put_slice(e.properties.as_bytes());
    }
    Ok(())
}

/// Iterates the records of a batch body; bodies and properties share `body`'s buffer.
pub fn decode_batch(body: &Bytes) -> BatchEntries {
    BatchEntries {
        buf: body.clone(),
        pos: 0,
        failed: false,
    }
}

/// Records of a batch body, in order; stops after the first error.
pub struct BatchEntries {
    buf: Bytes,
    pos: usize,
    failed: bool,
}

impl BatchEntries {
    fn record(&self) -> Result<(BatchEntry, usize)> {
        let at = self.pos;
        let mut head = Reader::new(&self.buf[at..], at, WHAT);
        let size = head.i32("TOTALSIZE")?;
        if size < MIN_RECORD_BYTES as i32 || size as usize > self.buf.len() - at {
            return Err(Error::corrupt(
                WHAT,
                at,
                format!(
                    "TOTALSIZE {size} is outside {MIN_RECORD_BYTES}..={}",
                    self.buf.len() - at
                ),
            ));
        }
        let size = size as usize;
        let mut r = Reader::new(&self.buf[at..at + size], at, WHAT);
        r.i32("TOTALSIZE")?;
        r.i32("MAGICCODE")?;
        r.i32("BODYCRC")?;
        let flag = r.i32("FLAG")?;
        let body_len = r.len_i32("BODYLENGTH")?;
        let body_at = at + r.pos();
        r.take(body_len, "BODY")?;
        let props_len = r.len_i16("PROPERTIESLENGTH")?;
        let props_at = at + r.pos();
        r.str(props_len, "PROPERTIES")?;
        if r.remaining() != 0 {
            return Err(Error::corrupt(
                WHAT,
                r.offset(),
                format!(
                    "TOTALSIZE {size} leaves {} bytes after PROPERTIES",
                    r.remaining()
                ),
            ));
        }
        let entry = BatchEntry {
            flag,
            body: self.buf.slice(body_at..body_at + body_len),
            properties: ByteString::try_from(self.buf.slice(props_at..props_at + props_len))
                .unwrap_or_default(),
        };
        Ok((entry, size))
    }
}

impl Iterator for BatchEntries {
    type Item = Result<BatchEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        match self.record() {
            Ok((entry, size)) => {
                self.pos += size;
                Some(Ok(entry))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}
