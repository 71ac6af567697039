//! A bounds-checked big-endian reader over a byte slice; every failure names the item and byte.

use crate::error::Error;

/// Reader results keep the error boxed so that `Ok` values travel in registers; `?` turns
/// the box back into an [`Error`] at the caller.
pub(crate) type Result<T> = std::result::Result<T, Box<Error>>;

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

    #[inline]
    pub(crate) fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8]> {
        match self.buf.get(self.pos..self.pos.wrapping_add(len)) {
            Some(slice) if len <= self.remaining() => {
                self.pos += len;
                Ok(slice)
            }
            _ => Err(self.short(len, field)),
        }
    }

    #[cold]
    #[inline(never)]
    fn short(&self, len: usize, field: &'static str) -> Box<Error> {
        Box::new(Error::corrupt(
            self.what,
            self.offset(),
            format!(
                "{field} needs {len} bytes but only {} remain",
                self.remaining()
            ),
        ))
    }

    #[inline]
    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    #[inline]
    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8> {
        Ok(self.array::<1>(field)?[0])
    }

    #[inline]
    pub(crate) fn i16(&mut self, field: &'static str) -> Result<i16> {
        Ok(i16::from_be_bytes(self.array(field)?))
    }

    #[inline]
    pub(crate) fn i32(&mut self, field: &'static str) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array(field)?))
    }

    #[inline]
    pub(crate) fn i64(&mut self, field: &'static str) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array(field)?))
    }

    /// Reads a length that must be non-negative and fit in what remains.
    #[inline]
    pub(crate) fn len_i32(&mut self, field: &'static str) -> Result<usize> {
        let at = self.offset();
        let len = self.i32(field)?;
        self.checked_len(i64::from(len), at, field)
    }

    #[inline]
    pub(crate) fn len_i16(&mut self, field: &'static str) -> Result<usize> {
        let at = self.offset();
        let len = self.i16(field)?;
        self.checked_len(i64::from(len), at, field)
    }

    #[inline]
    pub(crate) fn len_u8(&mut self, field: &'static str) -> Result<usize> {
        Ok(usize::from(self.u8(field)?))
    }

    #[inline]
    fn checked_len(&self, len: i64, at: usize, field: &'static str) -> Result<usize> {
        if len >= 0 && (len as u64) <= self.remaining() as u64 {
            return Ok(len as usize);
        }
        Err(self.bad_len(len, at, field))
    }

    #[cold]
    #[inline(never)]
    fn bad_len(&self, len: i64, at: usize, field: &'static str) -> Box<Error> {
        if len < 0 {
            return Box::new(Error::corrupt(
                self.what,
                at,
                format!("{field} is negative ({len})"),
            ));
        }
        Box::new(Error::corrupt(
            self.what,
            at,
            format!(
                "{field} is {len} but only {} bytes remain",
                self.remaining()
            ),
        ))
    }

    /// A UTF-8 string of `len` bytes.
    pub(crate) fn str(&mut self, len: usize, field: &'static str) -> Result<&'a str> {
        let at = self.offset();
        let raw = self.take(len, field)?;
        std::str::from_utf8(raw).map_err(|e| {
            Box::new(Error::corrupt(
                self.what,
                at + e.valid_up_to(),
                format!("{field} is not valid UTF-8"),
            ))
        })
    }
}
