//! A bounds-checked big-endian reader over a byte slice; every failure names the item and byte.

use crate::error::{Error, Result};

/// Reads fixed-width big-endian fields and length-prefixed slices without ever panicking.
/// `base` is added to positions in errors so they point into the enclosing buffer.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], base: usize, what: &'static str) -> Self {
        Reader {
            buf,
            pos: 0,
            base,
            what,
        }
    }

    /// Position relative to the start of `buf`.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Position in the enclosing buffer, for error messages.
    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8]> {
        if len > self.remaining() {
            return Err(Error::corrupt(
                self.what,
                self.offset(),
                format!(
                    "{field} needs {len} bytes but only {} remain",
                    self.remaining()
                ),
            ));
        }
        let slice = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8> {
        Ok(self.array::<1>(field)?[0])
    }

    pub(crate) fn i16(&mut self, field: &'static str) -> Result<i16> {
        Ok(i16::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn i32(&mut self, field: &'static str) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn i64(&mut self, field: &'static str) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array(field)?))
    }

    /// Reads a length that must be non-negative and fit in what remains.
    pub(crate) fn len_i32(&mut self, field: &'static str) -> Result<usize> {
        let at = self.offset();
        let len = self.i32(field)?;
        self.checked_len(i64::from(len), at, field)
    }

    pub(crate) fn len_i16(&mut self, field: &'static str) -> Result<usize> {
        let at = self.offset();
        let len = self.i16(field)?;
        self.checked_len(i64::from(len), at, field)
    }

    pub(crate) fn len_u8(&mut self, field: &'static str) -> Result<usize> {
        Ok(usize::from(self.u8(field)?))
    }

    fn checked_len(&self, len: i64, at: usize, field: &'static str) -> Result<usize> {
        if len < 0 {
            return Err(Error::corrupt(
                self.what,
                at,
                format!("{field} is negative ({len})"),
            ));
        }
        let len = len as usize;
        if len > self.remaining() {
            return Err(Error::corrupt(
                self.what,
                at,
                format!(
                    "{field} is {len} but only {} bytes remain",
                    self.remaining()
                ),
            ));
        }
        Ok(len)
    }

    /// A UTF-8 string of `len` bytes.
    pub(crate) fn str(&mut self, len: usize, field: &'static str) -> Result<&'a str> {
        let at = self.offset();
        let raw = self.take(len, field)?;
        std::str::from_utf8(raw).map_err(|e| {
            Error::corrupt(
                self.what,
                at + e.valid_up_to(),
                format!("{field} is not valid UTF-8"),
            )
        })
    }
}
