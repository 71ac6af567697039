//! The JSON header (serialize type 0): `{"code", "language", "version", "opaque", "flag",
//! "remark", "extFields": {...}, "serializeTypeCurrentRPC"}`. Unknown fields are ignored;
//! `extFields` values may be strings, numbers or booleans; `language` a name or a number.

use bytes::{BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use crate::codes::LanguageCode;
use crate::command::Head;
use crate::error::{Error, Result};
use crate::ext::{Entry, ExtFields, FieldSink, WriteFields};
use crate::frame::FRAME_PREFIX_BYTES;
use crate::json_scan::{Scalar, ScanResult, Scanner};

const WHAT: &str = "JSON header";

/// While scanning, an entry's range end carries this bit when the string has escapes
/// (frames are under 2 GiB, so real offsets never reach it).
const ESCAPED_BIT: u32 = 1 << 31;

fn range(start: usize, end: usize, escaped: bool) -> (u32, u32) {
    (
        start as u32,
        end as u32 | if escaped { ESCAPED_BIT } else { 0 },
    )
}

/// Decodes a JSON header. When no extFields key or value holds an escape, the fields point
/// straight into `header` (no copy); otherwise they are unescaped once into their own buffer.
pub(crate) fn decode(header: Bytes) -> Result<(Head, ExtFields)> {
    if let Err(e) = std::str::from_utf8(&header) {
        return Err(Error::corrupt(
            WHAT,
            FRAME_PREFIX_BYTES + e.valid_up_to(),
            "not valid UTF-8",
        ));
    }
    decode_utf8(header).map_err(|e| *e)
}

/// [`decode`] for input already checked to be UTF-8.
fn decode_utf8(header: Bytes) -> ScanResult<(Head, ExtFields)> {
    let mut s = Scanner::new(&header, WHAT);
    // Java's defaults for absent fields: language JAVA, everything else zero.
    let mut head = Head {
        language: LanguageCode::JAVA,
        ..Head::default()
    };
    let mut code_seen = false;
    let mut entries: Vec<Entry> = Vec::with_capacity(16);
    let mut escaped = false;
    if s.peek() != Some(b'{') {
        return Err(s.error(s.pos(), "a JSON header must be an object"));
    }
    s.expect(b'{')?;
    let mut more = s.peek() != Some(b'}');
    if !more {
        s.expect(b'}')?;
    }
    while more {
        let (key_start, key_end, key_escaped) = s.string()?;
        s.expect(b':')?;
        let value_at = s.pos();
        // Header keys never need escapes; an escaped key is simply not one we know.
        let key = if key_escaped {
            &b""[..]
        } else {
            &header[key_start..key_end]
        };
        match key {
            b"code" => {
                head.code = int_value(&mut s, &header, "code")?;
                code_seen = true;
            }
            b"version" => head.version = int_value(&mut s, &header, "version")?,
            b"opaque" => head.opaque = int_value(&mut s, &header, "opaque")?,
            b"flag" => head.flag = int_value(&mut s, &header, "flag")?,
            b"language" => head.language = language(&mut s, &header)?,
            b"remark" => {
                head.remark = match s.scalar()? {
                    Scalar::Str { start, end, .. } if start == end => None,
                    Scalar::Str {
                        start,
                        end,
                        escaped: false,
                    } => Some(text(&header, start, end)),
                    Scalar::Str {
                        start,
                        end,
                        escaped: true,
                    } => {
                        let mut out = BytesMut::with_capacity(end - start);
                        s.unescape(start, end, &mut out)?;
                        Some(ByteString::try_from(out.freeze()).map_err(|_| {
                            s.error(start, "remark is not valid UTF-8 once unescaped")
                        })?)
                    }
                    Scalar::Null => None,
                    Scalar::Raw { .. } => {
                        return Err(s.error(value_at, "invalid type: remark must be a string"))
                    }
                }
            }
            b"extFields" => {
                if s.peek() == Some(b'n') {
                    s.scalar()?;
                } else {
                    s.expect(b'{')?;
                    let mut fields = s.peek() != Some(b'}');
                    if !fields {
                        s.expect(b'}')?;
                    }
                    while fields {
                        let key = s.string()?;
                        if key.1 - key.0 > i16::MAX as usize {
                            return Err(s.error(key.0, "extFields key longer than 32767 bytes"));
                        }
                        s.expect(b':')?;
                        let value = s.scalar()?;
                        let value = match value {
                            Scalar::Str {
                                start,
                                end,
                                escaped: e,
                            } => range(start, end, e),
                            Scalar::Raw { start, end } => range(start, end, false),
                            Scalar::Null => {
                                fields = s.comma_or_close()?;
                                continue;
                            }
                        };
                        let key = range(key.0, key.1, key.2);
                        escaped |= (key.1 | value.1) & ESCAPED_BIT != 0;
                        entries.push(Entry { key, value });
                        fields = s.comma_or_close()?;
                    }
                }
            }
            _ => s.skip_value(0)?,
        }
        more = s.comma_or_close()?;
    }
    if s.peek().is_some() {
        return Err(s.error(s.pos(), "trailing characters after the header object"));
    }
    if !code_seen {
        return Err(s.error(0, "missing field `code`"));
    }
    let ext = if escaped {
        copy_unescaped(&s, entries)?
    } else {
        // Whole input is UTF-8 and every range starts and ends at an ASCII delimiter.
        ExtFields::from_checked(header, entries)
    };
    Ok((head, ext))
}

/// The slow path: some key or value has escapes. The new buffer starts with a copy of the
/// header, so unescaped spans keep their offsets; each escaped string is unescaped once and
/// appended. The result is UTF-8: copies of UTF-8 cut at ASCII delimiters, plus whole chars.
fn copy_unescaped(s: &Scanner<'_>, mut entries: Vec<Entry>) -> ScanResult<ExtFields> {
    let input = s.input();
    let mut buf = BytesMut::with_capacity(input.len() * 2);
    buf.put_slice(input);
    let mut place = |(start, end): &mut (u32, u32)| -> ScanResult<()> {
        if *end & ESCAPED_BIT != 0 {
            let from = buf.len();
            s.unescape(*start as usize, (*end & !ESCAPED_BIT) as usize, &mut buf)?;
            *start = from as u32;
            *end = buf.len() as u32;
        }
        Ok(())
    };
    for entry in &mut entries {
        place(&mut entry.key)?;
        place(&mut entry.value)?;
    }
    Ok(ExtFields::from_checked(buf.freeze(), entries))
}

fn text(header: &Bytes, start: usize, end: usize) -> ByteString {
    ByteString::try_from(header.slice(start..end)).unwrap_or_default()
}

/// An integer head field, as a number or a string of digits.
fn int_value(s: &mut Scanner<'_>, header: &[u8], field: &'static str) -> ScanResult<i32> {
    let at = s.pos();
    let (start, end) = match s.scalar()? {
        Scalar::Str { start, end, .. } | Scalar::Raw { start, end } => (start, end),
        Scalar::Null => return Ok(0),
    };
    let raw = &header[start..end];
    crate::ext::parse_decimal(raw)
        .and_then(|v| i32::try_from(v).ok())
        .ok_or_else(|| {
            s.error(
                at,
                format!(
                    "`{}` is not an integer for `{field}`",
                    String::from_utf8_lossy(raw).escape_debug()
                ),
            )
        })
}

/// A language given by name (`"JAVA"`) or by number; unknown names read as OTHER.
fn language(s: &mut Scanner<'_>, header: &[u8]) -> ScanResult<LanguageCode> {
    let at = s.pos();
    match s.scalar()? {
        Scalar::Str { start, end, .. } => Ok(std::str::from_utf8(&header[start..end])
            .ok()
            .and_then(LanguageCode::from_name)
            .unwrap_or(LanguageCode::OTHER)),
        Scalar::Raw { start, end } => crate::ext::parse_decimal(&header[start..end])
            .and_then(|v| u8::try_from(v).ok())
            .map(LanguageCode)
            .ok_or_else(|| {
                s.error(
                    at,
                    format!(
                        "language code {} out of range",
                        String::from_utf8_lossy(&header[start..end])
                    ),
                )
            }),
        Scalar::Null => Ok(LanguageCode::OTHER),
    }
}

/// Appends `s` as a JSON string literal.
pub(crate) fn put_json_str(out: &mut BytesMut, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.put_u8(b'"');
    let bytes = s.as_bytes();
    let mut clean_from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => &[],
            _ => continue,
        };
        out.put_slice(&bytes[clean_from..i]);
        if escape.is_empty() {
            out.put_slice(b"\\u00");
            out.put_u8(HEX[usize::from(b >> 4)]);
            out.put_u8(HEX[usize::from(b & 0xf)]);
        } else {
            out.put_slice(escape);
        }
        clean_from = i + 1;
    }
    out.put_slice(&bytes[clean_from..]);
    out.put_u8(b'"');
}

fn put_int_field(out: &mut BytesMut, key: &str, value: i32) {
    out.put_u8(b'"');
    out.put_slice(key.as_bytes());
    out.put_slice(b"\":");
    out.put_slice(itoa::Buffer::new().format(value).as_bytes());
    out.put_u8(b',');
}

struct JsonSink<'a> {
    out: &'a mut BytesMut,
    count: usize,
}

impl FieldSink for JsonSink<'_> {
    fn field(&mut self, key: &str, value: &str) {
        if self.count > 0 {
            self.out.put_u8(b',');
        }
        self.count += 1;
        put_json_str(self.out, key);
        self.out.put_u8(b':');
        put_json_str(self.out, value);
    }
}

/// Appends a JSON header as Java writes it: numbers as numbers, extFields values as strings.
pub(crate) fn encode<F: WriteFields + ?Sized>(head: &Head, fields: &F, out: &mut BytesMut) {
    out.put_u8(b'{');
    put_int_field(out, "code", head.code);
    match head.language.name() {
        Some(name) => {
            out.put_slice(b"\"language\":\"");
            out.put_slice(name.as_bytes());
            out.put_slice(b"\",");
        }
        None => put_int_field(out, "language", i32::from(head.language.0)),
    }
    put_int_field(out, "version", head.version);
    put_int_field(out, "opaque", head.opaque);
    put_int_field(out, "flag", head.flag);
    if let Some(remark) = &head.remark {
        out.put_slice(b"\"remark\":");
        put_json_str(out, remark);
        out.put_u8(b',');
    }
    let ext_at = out.len();
    out.put_slice(b"\"extFields\":{");
    let mut sink = JsonSink { out, count: 0 };
    fields.write_fields(&mut sink);
    if sink.count == 0 {
        out.truncate(ext_at);
    } else {
        out.put_slice(b"},");
    }
    out.put_slice(b"\"serializeTypeCurrentRPC\":\"JSON\"}");
}
