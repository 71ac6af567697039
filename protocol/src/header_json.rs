//! The JSON header (serialize type 0): `{"code", "language", "version", "opaque", "flag",
//! "remark", "extFields": {...}, "serializeTypeCurrentRPC"}`. Unknown fields are ignored;
//! `extFields` values may be strings, numbers or booleans; `language` a name or a number.

use std::borrow::Cow;
use std::fmt;

use bytes::{BufMut, BytesMut};
use bytestring::ByteString;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::codes::LanguageCode;
use crate::command::Head;
use crate::error::{Error, Result};
use crate::ext::{ExtFields, FieldSink, WriteFields};
use crate::frame::FRAME_PREFIX_BYTES;

const WHAT: &str = "JSON header";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonHead<'a> {
    #[serde(deserialize_with = "crate::lenient::int")]
    code: i32,
    #[serde(default, deserialize_with = "language")]
    language: LanguageCode,
    #[serde(default, deserialize_with = "crate::lenient::int")]
    version: i32,
    #[serde(default, deserialize_with = "crate::lenient::int")]
    opaque: i32,
    #[serde(default, deserialize_with = "crate::lenient::int")]
    flag: i32,
    #[serde(default, borrow)]
    remark: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "ext_fields")]
    ext_fields: ExtFields,
}

/// Decodes a JSON header; keys and values are copied once into the fields' own buffer.
pub(crate) fn decode(header: &[u8]) -> Result<(Head, ExtFields)> {
    // serde would also read a struct from an array; RocketMQ headers are always objects.
    if let Some(at) = header.iter().position(|b| !b.is_ascii_whitespace()) {
        if header[at] != b'{' {
            return Err(Error::corrupt(
                WHAT,
                FRAME_PREFIX_BYTES + at,
                "a JSON header must be an object",
            ));
        }
    }
    let parsed: JsonHead<'_> = serde_json::from_slice(header).map_err(|e| {
        let offset = if e.line() <= 1 {
            FRAME_PREFIX_BYTES + e.column().saturating_sub(1)
        } else {
            FRAME_PREFIX_BYTES
        };
        Error::corrupt(WHAT, offset, e.to_string())
    })?;
    let head = Head {
        code: parsed.code,
        language: parsed.language,
        version: parsed.version,
        opaque: parsed.opaque,
        flag: parsed.flag,
        remark: parsed
            .remark
            .filter(|r| !r.is_empty())
            .map(|r| ByteString::from(r.as_ref())),
    };
    Ok((head, parsed.ext_fields))
}

/// A language given by name (`"JAVA"`) or by number; unknown names read as OTHER.
fn language<'de, D: Deserializer<'de>>(d: D) -> Result<LanguageCode, D::Error> {
    struct LangVisitor;
    impl Visitor<'_> for LangVisitor {
        type Value = LanguageCode;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a language name or number")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<LanguageCode, E> {
            Ok(LanguageCode::from_name(v).unwrap_or(LanguageCode::OTHER))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<LanguageCode, E> {
            u8::try_from(v)
                .map(LanguageCode)
                .map_err(|_| E::custom(format!("language code {v} out of range")))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<LanguageCode, E> {
            u8::try_from(v)
                .map(LanguageCode)
                .map_err(|_| E::custom(format!("language code {v} out of range")))
        }
        fn visit_unit<E: de::Error>(self) -> Result<LanguageCode, E> {
            Ok(LanguageCode::OTHER)
        }
    }
    d.deserialize_any(LangVisitor)
}

/// The extFields object: scalars only; `null` values are dropped (Java omits them).
fn ext_fields<'de, D: Deserializer<'de>>(d: D) -> Result<ExtFields, D::Error> {
    struct ExtVisitor;
    impl<'de> Visitor<'de> for ExtVisitor {
        type Value = ExtFields;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object of scalar values")
        }
        fn visit_unit<E: de::Error>(self) -> Result<ExtFields, E> {
            Ok(ExtFields::default())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ExtFields, A::Error> {
            let mut builder = ExtFields::builder();
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                if key.len() > i16::MAX as usize {
                    return Err(de::Error::custom("extFields key longer than 32767 bytes"));
                }
                match map.next_value::<Scalar<'de>>()? {
                    Scalar::Text(v) => builder.field(&key, &v),
                    Scalar::Null => {}
                }
            }
            Ok(builder.build())
        }
    }
    d.deserialize_any(ExtVisitor)
}

/// One extFields value, as the text RocketMQ would have sent as a string.
enum Scalar<'a> {
    Text(Cow<'a, str>),
    Null,
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number, boolean or null")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Text(Cow::Owned(
                    itoa::Buffer::new().format(v).to_owned(),
                )))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Text(Cow::Owned(
                    itoa::Buffer::new().format(v).to_owned(),
                )))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Text(Cow::Owned(v.to_string())))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Text(Cow::Borrowed(if v {
                    "true"
                } else {
                    "false"
                })))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Null)
            }
        }
        d.deserialize_any(ScalarVisitor)
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
