//! `extFields`: a command's key/value fields, kept as ranges into one buffer.
//!
//! Decoding a binary header keeps its ranges straight into the frame's header bytes (no copy);
//! a JSON header copies its keys and values once into a fresh buffer. Typed headers read the
//! fields in one pass by matching keys, and write themselves through [`FieldSink`], so no
//! `HashMap<String, String>` is built on the hot path.

use std::borrow::Cow;

use bytes::{BufMut, Bytes, BytesMut};
use bytestring::ByteString;

/// Byte ranges of one key and its value inside the owning buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) key: (u32, u32),
    pub(crate) value: (u32, u32),
}

/// Where the entries are.
#[derive(Clone)]
enum Layout {
    /// `buf[start..end]` is a binary extFields block — `count` repetitions of
    /// (i16 key length, key, i32 value length, value) — already checked by the decoder.
    /// Kept as is, so decoding a binary header allocates nothing for its fields.
    Binary { start: u32, end: u32, count: u32 },
    /// Explicit ranges into `buf`.
    Ranges(Vec<Entry>),
}

/// A command's extFields. Invariant: every entry's key and value lie in `buf` and are valid
/// UTF-8, and `buf` never changes.
#[derive(Clone)]
pub struct ExtFields {
    buf: Bytes,
    layout: Layout,
}

impl Default for ExtFields {
    fn default() -> Self {
        ExtFields {
            buf: Bytes::new(),
            layout: Layout::Ranges(Vec::new()),
        }
    }
}

/// Entries of either layout, in order.
enum Entries<'a> {
    Binary {
        block: &'a [u8],
        pos: usize,
        base: usize,
    },
    Ranges(std::slice::Iter<'a, Entry>),
}

impl Iterator for Entries<'_> {
    type Item = Entry;

    #[inline]
    fn next(&mut self) -> Option<Entry> {
        match self {
            Entries::Ranges(it) => it.next().copied(),
            Entries::Binary { block, pos, base } => {
                let key_len = usize::from(u16::from_be_bytes(
                    block.get(*pos..*pos + 2)?.try_into().ok()?,
                ));
                let key = *pos + 2;
                let value_len_at = key + key_len;
                let value_len =
                    u32::from_be_bytes(block.get(value_len_at..value_len_at + 4)?.try_into().ok()?)
                        as usize;
                let value = value_len_at + 4;
                *pos = value + value_len;
                let at = |offset: usize| (*base + offset) as u32;
                Some(Entry {
                    key: (at(key), at(key + key_len)),
                    value: (at(value), at(value + value_len)),
                })
            }
        }
    }
}

impl ExtFields {
    /// Built by a decoder that has checked the ranges and their UTF-8.
    pub(crate) fn from_checked(buf: Bytes, entries: Vec<Entry>) -> Self {
        ExtFields {
            buf,
            layout: Layout::Ranges(entries),
        }
    }

    /// Built by the binary decoder over a block it has walked and checked.
    pub(crate) fn from_binary_block(buf: Bytes, start: usize, end: usize, count: usize) -> Self {
        ExtFields {
            buf,
            layout: Layout::Binary {
                start: start as u32,
                end: end as u32,
                count: count as u32,
            },
        }
    }

    fn entries(&self) -> Entries<'_> {
        match &self.layout {
            Layout::Ranges(entries) => Entries::Ranges(entries.iter()),
            Layout::Binary { start, end, .. } => Entries::Binary {
                block: self
                    .buf
                    .get(*start as usize..*end as usize)
                    .unwrap_or_default(),
                pos: 0,
                base: *start as usize,
            },
        }
    }

    /// An empty builder.
    pub fn builder() -> ExtFieldsBuilder {
        ExtFieldsBuilder::default()
    }

    /// Fields from `(key, value)` pairs, in order.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut b = ExtFields::builder();
        for (k, v) in pairs {
            b.field(k, v);
        }
        b.build()
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        match &self.layout {
            Layout::Ranges(entries) => entries.len(),
            Layout::Binary { count, .. } => *count as usize,
        }
    }

    /// True when there are no fields.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn slice(&self, (start, end): (u32, u32)) -> &[u8] {
        self.buf
            .get(start as usize..end as usize)
            .unwrap_or_default()
    }

    #[allow(unsafe_code)]
    fn str_at(&self, range: (u32, u32)) -> &str {
        let bytes = self.slice(range);
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: every constructor of `ExtFields` guarantees that each entry's ranges lie in
        // `buf` and hold valid UTF-8 (`from_checked`'s callers validate; the builder takes
        // `&str`), and `buf` is immutable. `slice` returns an empty slice for any other range.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// The fields in wire order, each with zero-copy access to its value.
    pub fn fields(&self) -> impl Iterator<Item = Field<'_>> {
        self.entries().map(move |e| Field {
            key: self.str_at(e.key),
            value: self.str_at(e.value),
            ext: self,
            entry: e,
        })
    }

    /// `(key, value)` pairs in wire order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields().map(|f| (f.key, f.value))
    }

    /// The value of the first field named `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// `value` as a string sharing this buffer (no copy), if it is a slice of it (a value
    /// returned by [`ExtFields::get`] or a borrowed view of these fields is).
    pub fn shared(&self, value: &str) -> Option<ByteString> {
        let buf = self.buf.as_ptr() as usize;
        let start = value.as_ptr() as usize;
        if start < buf || start + value.len() > buf + self.buf.len() {
            return None;
        }
        ByteString::try_from(self.buf.slice_ref(value.as_bytes())).ok()
    }
}

impl PartialEq for ExtFields {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for ExtFields {}

impl std::fmt::Debug for ExtFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// One field during a typed decode.
pub struct Field<'a> {
    pub key: &'a str,
    pub value: &'a str,
    ext: &'a ExtFields,
    entry: Entry,
}

impl Field<'_> {
    /// The value as an owned string that shares the header buffer (no copy).
    pub fn text(&self) -> ByteString {
        let (start, end) = self.entry.value;
        ByteString::try_from(self.ext.buf.slice(start as usize..end as usize)).unwrap_or_default()
    }
}

/// Where a header writes its fields: an [`ExtFieldsBuilder`], or an encoder writing straight
/// into the outgoing frame.
pub trait FieldSink {
    /// Appends one field.
    fn field(&mut self, key: &str, value: &str);
}

/// Anything that can write extFields: typed headers, [`ExtFields`], `()` for none.
pub trait WriteFields {
    /// Writes every field into `sink`.
    fn write_fields<S: FieldSink>(&self, sink: &mut S);
}

impl WriteFields for () {
    fn write_fields<S: FieldSink>(&self, _sink: &mut S) {}
}

impl WriteFields for ExtFields {
    fn write_fields<S: FieldSink>(&self, sink: &mut S) {
        for (k, v) in self.iter() {
            sink.field(k, v);
        }
    }
}

/// Accumulates fields into one buffer.
#[derive(Default)]
pub struct ExtFieldsBuilder {
    buf: BytesMut,
    entries: Vec<Entry>,
}

impl ExtFieldsBuilder {
    /// A builder with room for `bytes` of keys and values and `fields` entries.
    pub fn with_capacity(bytes: usize, fields: usize) -> Self {
        ExtFieldsBuilder {
            buf: BytesMut::with_capacity(bytes),
            entries: Vec::with_capacity(fields),
        }
    }

    fn push(&mut self, bytes: &str) -> (u32, u32) {
        let start = self.buf.len() as u32;
        self.buf.put_slice(bytes.as_bytes());
        (start, self.buf.len() as u32)
    }

    /// The finished fields.
    pub fn build(self) -> ExtFields {
        ExtFields::from_checked(self.buf.freeze(), self.entries)
    }
}

impl FieldSink for ExtFieldsBuilder {
    fn field(&mut self, key: &str, value: &str) {
        let key = self.push(key);
        let value = self.push(value);
        self.entries.push(Entry { key, value });
    }
}

/// The value types a typed header field can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    I16,
    I32,
    I64,
    Bool,
}

/// A typed header field's key, value type and whether RocketMQ requires it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    pub key: &'static str,
    pub kind: FieldKind,
    pub required: bool,
}

/// A value type a typed header field can hold, with RocketMQ's text form.
pub trait FieldValue: Sized {
    /// What kind of value this is.
    const KIND: FieldKind;
    /// Parses the field's text.
    fn parse_field(field: &Field<'_>) -> Result<Self, Cow<'static, str>>;
    /// Writes the value's text under `key`.
    fn write_field<S: FieldSink>(&self, key: &str, sink: &mut S);
}

macro_rules! integer_field {
    ($($ty:ty => $kind:ident),*) => {$(
        impl FieldValue for $ty {
            const KIND: FieldKind = FieldKind::$kind;

            fn parse_field(field: &Field<'_>) -> Result<Self, Cow<'static, str>> {
                parse_decimal(field.value.as_bytes())
                    .and_then(|v| <$ty>::try_from(v).ok())
                    .ok_or_else(|| {
                        Cow::Owned(format!(
                            "`{}` is not a {}",
                            field.value.escape_debug(),
                            stringify!($ty)
                        ))
                    })
            }

            fn write_field<S: FieldSink>(&self, key: &str, sink: &mut S) {
                sink.field(key, itoa::Buffer::new().format(*self));
            }
        }
    )*};
}

integer_field!(i16 => I16, i32 => I32, i64 => I64);

/// A decimal integer as Java's `Long.parseLong` reads it: optional sign, then digits.
pub(crate) fn parse_decimal(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    let first_nonzero = digits
        .iter()
        .position(|&d| d != b'0')
        .unwrap_or(digits.len());
    let digits = &digits[first_nonzero..];
    if digits.len() > 19 {
        return None;
    }
    // Accumulate negatively so that i64::MIN parses.
    let mut value: i64 = 0;
    for &d in digits {
        let digit = d.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value.checked_mul(10)?.checked_sub(i64::from(digit))?;
    }
    if negative {
        Some(value)
    } else {
        value.checked_neg()
    }
}

/// Like Java's `Boolean.parseBoolean`: `true` in any case is true, anything else false.
impl FieldValue for bool {
    const KIND: FieldKind = FieldKind::Bool;

    fn parse_field(field: &Field<'_>) -> Result<Self, Cow<'static, str>> {
        Ok(field.value.eq_ignore_ascii_case("true"))
    }

    fn write_field<S: FieldSink>(&self, key: &str, sink: &mut S) {
        sink.field(key, if *self { "true" } else { "false" });
    }
}

impl FieldValue for ByteString {
    const KIND: FieldKind = FieldKind::Text;

    fn parse_field(field: &Field<'_>) -> Result<Self, Cow<'static, str>> {
        Ok(field.text())
    }

    fn write_field<S: FieldSink>(&self, key: &str, sink: &mut S) {
        sink.field(key, self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_keeps_order_and_duplicates_first_wins_on_get() {
        let ext = ExtFields::from_pairs([("topic", "T"), ("queueId", "3"), ("topic", "U")]);
        assert_eq!(ext.len(), 3);
        assert_eq!(ext.get("topic"), Some("T"));
        assert_eq!(ext.get("missing"), None);
        let keys: Vec<_> = ext.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["topic", "queueId", "topic"]);
    }

    #[test]
    fn a_value_of_the_fields_is_shared_without_a_copy_and_a_foreign_one_is_not() {
        let ext = ExtFields::from_pairs([("topic", "TopicA"), ("queueId", "3")]);
        let value = ext.get("topic").unwrap();
        let shared = ext.shared(value).unwrap();
        assert_eq!(&*shared, "TopicA");
        assert_eq!(
            shared.as_bytes().as_ptr(),
            value.as_ptr(),
            "the same bytes, not a copy"
        );
        let elsewhere = String::from("TopicA");
        assert_eq!(ext.shared(&elsewhere), None);
    }

    #[test]
    fn field_values_parse_like_java() {
        let ext = ExtFields::from_pairs([
            ("a", "42"),
            ("b", "-7"),
            ("c", "TRUE"),
            ("d", "yes"),
            ("e", "x1"),
            ("f", "99999999999"),
        ]);
        let f: Vec<_> = ext.fields().collect();
        assert_eq!(i32::parse_field(&f[0]), Ok(42));
        assert_eq!(i64::parse_field(&f[1]), Ok(-7));
        assert_eq!(bool::parse_field(&f[2]), Ok(true));
        assert_eq!(bool::parse_field(&f[3]), Ok(false));
        assert!(i32::parse_field(&f[4]).unwrap_err().contains("not a i32"));
        let edge = ExtFields::from_pairs([
            ("min", "-9223372036854775808"),
            ("max", "+9223372036854775807"),
            ("over", "9223372036854775808"),
            ("sign", "-"),
            ("zeros", "00000000000000000001"),
            ("long", "10000000000000000000"),
        ]);
        let e: Vec<_> = edge.fields().collect();
        assert_eq!(i64::parse_field(&e[0]), Ok(i64::MIN));
        assert_eq!(i64::parse_field(&e[1]), Ok(i64::MAX));
        assert!(i64::parse_field(&e[2]).is_err());
        assert!(i64::parse_field(&e[3]).is_err());
        assert_eq!(
            i64::parse_field(&e[4]),
            Ok(1),
            "leading zeros, as Java allows"
        );
        assert!(i64::parse_field(&e[5]).is_err(), "20 significant digits");
        assert!(i32::parse_field(&f[5]).is_err());
        assert_eq!(i64::parse_field(&f[5]), Ok(99_999_999_999));
    }
}
