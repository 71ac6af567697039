//! A small JSON scanner for remoting headers: flat objects of scalars, read without
//! allocating. Strings come back as byte ranges of the input; unknown values are skipped.
//!
//! Why not serde_json: a header is decoded for every request, and serde_json's generic path
//! (per-string validation, owned strings for escapes, visitor plumbing) cost 3x the budget
//! for a send header. This reads only what a header holds and nothing more.

use bytes::{BufMut, BytesMut};

use crate::error::Error;

/// Scanner results keep the error boxed so that `Ok` values travel in registers.
pub(crate) type ScanResult<T> = std::result::Result<T, Box<Error>>;
use crate::frame::FRAME_PREFIX_BYTES;

/// How deep unknown values may nest before the input is refused.
const MAX_SKIP_DEPTH: usize = 64;

/// A scalar value: where its text is, and whether it is a string with escapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scalar {
    /// A string's contents (without quotes); `escaped` when it holds backslashes.
    Str {
        start: usize,
        end: usize,
        escaped: bool,
    },
    /// A number, `true` or `false`, as written.
    Raw {
        start: usize,
        end: usize,
    },
    Null,
}

pub(crate) struct Scanner<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Scanner<'a> {
    /// The input must already be valid UTF-8 (checked once by the caller).
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Scanner { buf, pos: 0, what }
    }

    pub(crate) fn input(&self) -> &'a [u8] {
        self.buf
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn error(
        &self,
        at: usize,
        reason: impl Into<std::borrow::Cow<'static, str>>,
    ) -> Box<Error> {
        Box::new(Error::corrupt(self.what, FRAME_PREFIX_BYTES + at, reason))
    }

    #[inline(always)]
    pub(crate) fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.buf.get(self.pos) {
            self.pos += 1;
        }
    }

    #[inline(always)]
    pub(crate) fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.buf.get(self.pos).copied()
    }

    #[cold]
    fn eof(&self, expecting: &str) -> Box<Error> {
        self.error(self.pos, format!("EOF while parsing {expecting}"))
    }

    #[inline(always)]
    pub(crate) fn expect(&mut self, byte: u8) -> ScanResult<()> {
        match self.peek() {
            Some(b) if b == byte => {
                self.pos += 1;
                Ok(())
            }
            Some(b) => Err(self.error(
                self.pos,
                format!(
                    "expected `{}`, found `{}`",
                    byte as char,
                    (b as char).escape_debug()
                ),
            )),
            None => Err(self.eof(&format!("`{}`", byte as char))),
        }
    }

    /// After a member: `Ok(true)` on `,` (another follows), `Ok(false)` on `}`.
    #[inline]
    pub(crate) fn comma_or_close(&mut self) -> ScanResult<bool> {
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(b'}') => {
                self.pos += 1;
                Ok(false)
            }
            Some(b) => Err(self.error(
                self.pos,
                format!(
                    "expected `,` or `}}`, found `{}`",
                    (b as char).escape_debug()
                ),
            )),
            None => Err(self.eof("an object")),
        }
    }

    /// The string at the cursor: `(start, end, escaped)` of its contents.
    #[inline]
    pub(crate) fn string(&mut self) -> ScanResult<(usize, usize, bool)> {
        self.expect(b'"')?;
        let start = self.pos;
        let mut escaped = false;
        // Raw control characters are accepted, as fastjson accepts them.
        loop {
            match self.find_quote_or_backslash() {
                Some(i) if self.buf[i] == b'"' => {
                    self.pos = i + 1;
                    return Ok((start, i, escaped));
                }
                Some(i) => {
                    escaped = true;
                    self.pos = i + 2;
                }
                None => {
                    self.pos = self.buf.len();
                    return Err(self.eof("a string"));
                }
            }
        }
    }

    /// Position of the next `"` or `\` from the cursor. Header strings are mostly short, so
    /// look at a few bytes directly before handing the rest to memchr.
    #[inline(always)]
    fn find_quote_or_backslash(&self) -> Option<usize> {
        const DIRECT_BYTES: usize = 24;
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let direct = rest.len().min(DIRECT_BYTES);
        if let Some(i) = rest[..direct].iter().position(|&b| b == b'"' || b == b'\\') {
            return Some(self.pos + i);
        }
        memchr::memchr2(b'"', b'\\', &rest[direct..]).map(|i| self.pos + direct + i)
    }

    /// The scalar at the cursor; objects and arrays are refused.
    pub(crate) fn scalar(&mut self) -> ScanResult<Scalar> {
        let start = match self.peek() {
            Some(b'"') => {
                let (start, end, escaped) = self.string()?;
                return Ok(Scalar::Str {
                    start,
                    end,
                    escaped,
                });
            }
            Some(_) => self.pos,
            None => return Err(self.eof("a value")),
        };
        let b = self.buf[start];
        if b == b'{' || b == b'[' {
            return Err(self.error(
                start,
                "invalid type: map or sequence, expected a string, number, boolean or null",
            ));
        }
        let word: &[u8] = match b {
            b't' => b"true",
            b'f' => b"false",
            b'n' => b"null",
            _ => b"",
        };
        if !word.is_empty() {
            if !self.buf[start..].starts_with(word) {
                return Err(self.error(start, "expected a value"));
            }
            self.pos += word.len();
            return Ok(if b == b'n' {
                Scalar::Null
            } else {
                Scalar::Raw {
                    start,
                    end: self.pos,
                }
            });
        }
        self.number()?;
        Ok(Scalar::Raw {
            start,
            end: self.pos,
        })
    }

    /// A JSON number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> ScanResult<()> {
        let start = self.pos;
        let digits = |s: &mut Self| -> usize {
            let from = s.pos;
            while s.buf.get(s.pos).is_some_and(u8::is_ascii_digit) {
                s.pos += 1;
            }
            s.pos - from
        };
        if self.buf.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        let n = digits(self);
        if n == 0 || (n > 1 && self.buf[int_start] == b'0') {
            return Err(self.error(start, "expected a value"));
        }
        if self.buf.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if digits(self) == 0 {
                return Err(self.error(self.pos, "expected a digit after `.`"));
            }
        }
        if let Some(b'e' | b'E') = self.buf.get(self.pos) {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.buf.get(self.pos) {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return Err(self.error(self.pos, "expected a digit in the exponent"));
            }
        }
        Ok(())
    }

    /// Skips any value, nesting at most [`MAX_SKIP_DEPTH`] deep.
    pub(crate) fn skip_value(&mut self, depth: usize) -> ScanResult<()> {
        if depth > MAX_SKIP_DEPTH {
            return Err(self.error(self.pos, "values nest too deeply"));
        }
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.string()?;
                    self.expect(b':')?;
                    self.skip_value(depth + 1)?;
                    if !self.comma_or_close()? {
                        return Ok(());
                    }
                }
            }
            Some(b'[') => {
                self.pos += 1;
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.skip_value(depth + 1)?;
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(());
                        }
                        Some(_) => return Err(self.error(self.pos, "expected `,` or `]`")),
                        None => return Err(self.eof("an array")),
                    }
                }
            }
            _ => self.scalar().map(|_| ()),
        }
    }

    /// Appends the unescaped contents of the string at `start..end` to `out`.
    pub(crate) fn unescape(&self, start: usize, end: usize, out: &mut BytesMut) -> ScanResult<()> {
        let raw = &self.buf[start..end];
        let mut i = 0;
        while i < raw.len() {
            let Some(next) = raw[i..].iter().position(|&b| b == b'\\') else {
                out.put_slice(&raw[i..]);
                break;
            };
            out.put_slice(&raw[i..i + next]);
            i += next;
            let at = start + i;
            let code = raw.get(i + 1).copied();
            i += 2;
            let simple = match code {
                Some(b'"') => b'"',
                Some(b'\\') => b'\\',
                Some(b'/') => b'/',
                Some(b'b') => 0x08,
                Some(b'f') => 0x0c,
                Some(b'n') => b'\n',
                Some(b'r') => b'\r',
                Some(b't') => b'\t',
                Some(b'u') => {
                    let (c, used) = self.unicode_escape(raw, i, at)?;
                    i += used;
                    let mut utf8 = [0u8; 4];
                    out.put_slice(c.encode_utf8(&mut utf8).as_bytes());
                    continue;
                }
                _ => return Err(self.error(at, "invalid escape")),
            };
            out.put_u8(simple);
        }
        Ok(())
    }

    /// Reads `XXXX` (and a low surrogate `\uXXXX` after a high one) at `raw[i..]`.
    fn unicode_escape(&self, raw: &[u8], i: usize, at: usize) -> ScanResult<(char, usize)> {
        let hex4 = |from: usize| -> Option<u32> {
            raw.get(from..from + 4)?
                .iter()
                .try_fold(0u32, |acc, &h| Some(acc << 4 | (h as char).to_digit(16)?))
        };
        let bad = || self.error(at, "invalid \\u escape");
        let first = hex4(i).ok_or_else(bad)?;
        match first {
            0xD800..=0xDBFF => {
                if raw.get(i + 4..i + 6) != Some(b"\\u") {
                    return Err(self.error(at, "lone leading surrogate in \\u escape"));
                }
                let second = hex4(i + 6).ok_or_else(bad)?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(self.error(at, "invalid trailing surrogate in \\u escape"));
                }
                let c = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                Ok((char::from_u32(c).ok_or_else(bad)?, 10))
            }
            0xDC00..=0xDFFF => Err(self.error(at, "lone trailing surrogate in \\u escape")),
            c => Ok((char::from_u32(c).ok_or_else(bad)?, 4)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unescaped(json_string_body: &str) -> ScanResult<String> {
        let quoted = format!("\"{json_string_body}\"");
        let mut s = Scanner::new(quoted.as_bytes(), "test");
        let (start, end, _) = s.string()?;
        let mut out = BytesMut::new();
        s.unescape(start, end, &mut out)?;
        Ok(String::from_utf8(out.to_vec()).unwrap())
    }

    #[test]
    fn escapes_decode_like_json_including_surrogate_pairs() {
        let cases = [
            (r#"a\"b\\c\/d"#, "a\"b\\c/d"),
            (r"\b\f\n\r\t", "\u{8}\u{c}\n\r\t"),
            (r"TAGS\u0001A\u0002", "TAGS\u{1}A\u{2}"),
            (r"caf\u00e9 \u00E9", "café é"),
            (r"\ud83d\ude00!", "😀!"),
            ("plain é", "plain é"),
        ];
        for (input, want) in cases {
            assert_eq!(unescaped(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn bad_escapes_are_errors_with_their_position() {
        let cases = [
            (r"\x", "invalid escape"),
            (r"\u12", "invalid \\u escape"),
            (r"\ud83d", "lone leading surrogate"),
            (r"\ud83d\u0041", "invalid trailing surrogate"),
            (r"\ude00", "lone trailing surrogate"),
        ];
        for (input, want) in cases {
            let err = unescaped(input).unwrap_err().to_string();
            assert!(err.contains(want), "{input}: {err}");
            assert!(err.contains("at byte 9"), "{input}: {err}");
        }
    }

    #[test]
    fn numbers_follow_the_json_grammar() {
        for ok in ["0", "-0", "12", "-0.5e+3", "1E9", "3.25"] {
            let mut s = Scanner::new(ok.as_bytes(), "test");
            assert_eq!(
                s.scalar().unwrap(),
                Scalar::Raw {
                    start: 0,
                    end: ok.len()
                },
                "{ok}"
            );
        }
        for bad in ["01", "-", "1.", "1e", "+1", ".5", "tru", "nul"] {
            let mut s = Scanner::new(bad.as_bytes(), "test");
            let result = s.scalar();
            let consumed_all = matches!(result, Ok(Scalar::Raw { end, .. }) if end == bad.len());
            assert!(!consumed_all, "{bad} must not scan as one number");
        }
    }

    #[test]
    fn skip_value_skips_nested_values_and_refuses_deep_nesting() {
        let nested = r#"[1, {"a": [true, null, "x\"]"], "b": {}}, [], -2.5e3] ,"#;
        let mut s = Scanner::new(nested.as_bytes(), "test");
        s.skip_value(0).unwrap();
        assert_eq!(s.peek(), Some(b','));
        let deep = "[".repeat(MAX_SKIP_DEPTH + 2) + &"]".repeat(MAX_SKIP_DEPTH + 2);
        let mut s = Scanner::new(deep.as_bytes(), "test");
        let err = s.skip_value(0).unwrap_err().to_string();
        assert!(err.contains("nest too deeply"), "{err}");
    }
}
