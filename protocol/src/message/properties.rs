//! Message properties: `name \x01 value \x02` repeated, and the well-known names.

use crate::error::{Error, Result};

/// Between a property's name and its value.
pub const NAME_VALUE_SEPARATOR: char = '\u{1}';
/// After each property.
pub const PROPERTY_SEPARATOR: char = '\u{2}';

/// Well-known property names (`MessageConst`).
pub mod names {
    pub const KEYS: &str = "KEYS";
    pub const TAGS: &str = "TAGS";
    pub const WAIT_STORE_MSG_OK: &str = "WAIT";
    pub const DELAY_TIME_LEVEL: &str = "DELAY";
    pub const RETRY_TOPIC: &str = "RETRY_TOPIC";
    pub const REAL_TOPIC: &str = "REAL_TOPIC";
    pub const REAL_QUEUE_ID: &str = "REAL_QID";
    pub const TRANSACTION_PREPARED: &str = "TRAN_MSG";
    pub const PRODUCER_GROUP: &str = "PGROUP";
    pub const MIN_OFFSET: &str = "MIN_OFFSET";
    pub const MAX_OFFSET: &str = "MAX_OFFSET";
    pub const ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";
    pub const RECONSUME_TIME: &str = "RECONSUME_TIME";
    pub const MAX_RECONSUME_TIMES: &str = "MAX_RECONSUME_TIMES";
    /// The client-side unique id (what RocketMQ clients call the msgId).
    pub const UNIQ_CLIENT_MESSAGE_ID_KEYIDX: &str = "UNIQ_KEY";
    pub const TRANSACTION_ID: &str = "__transactionId__";
    pub const SHARDING_KEY: &str = "__SHARDINGKEY";
    /// RocketMQ 5.x timed delivery: absolute time (ms since the epoch).
    pub const TIMER_DELIVER_MS: &str = "TIMER_DELIVER_MS";
    /// RocketMQ 5.x timed delivery: seconds from the send.
    pub const TIMER_DELAY_SEC: &str = "TIMER_DELAY_SEC";
    /// RocketMQ 5.x timed delivery: milliseconds from the send.
    pub const TIMER_DELAY_MS: &str = "TIMER_DELAY_MS";
    /// When a timed or delayed message is due (ms since the epoch), set by the broker.
    pub const TIMER_OUT_MS: &str = "TIMER_OUT_MS";
}

/// Separates several keys inside the KEYS property.
pub const KEY_SEPARATOR: char = ' ';

/// Iterates `(name, value)` pairs of an encoded properties string without allocating.
/// Segments without a name/value separator are skipped, as RocketMQ does.
pub fn iter(encoded: &str) -> impl Iterator<Item = (&str, &str)> {
    // Byte searches: both separators are ASCII, so every cut is a char boundary.
    let mut rest = encoded;
    std::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        let end = memchr::memchr(0x02, rest.as_bytes()).unwrap_or(rest.len());
        let item = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or("");
        if let Some(cut) = memchr::memchr(0x01, item.as_bytes()) {
            return Some((&item[..cut], &item[cut + 1..]));
        }
    })
}

/// The value of `name` in an encoded properties string, without allocating.
pub fn find<'a>(encoded: &'a str, name: &str) -> Option<&'a str> {
    iter(encoded).find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// An ordered property list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Properties {
    pairs: Vec<(String, String)>,
}

impl Properties {
    /// An empty list.
    pub fn new() -> Self {
        Properties::default()
    }

    /// Parses the wire form.
    pub fn decode(encoded: &str) -> Self {
        Properties {
            pairs: iter(encoded)
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }

    /// The wire form.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    /// Appends the wire form to `out`.
    pub fn encode_into(&self, out: &mut String) {
        for (k, v) in &self.pairs {
            out.push_str(k);
            out.push(NAME_VALUE_SEPARATOR);
            out.push_str(v);
            out.push(PROPERTY_SEPARATOR);
        }
    }

    /// Length in bytes of the wire form.
    pub fn encoded_len(&self) -> usize {
        self.pairs.iter().map(|(k, v)| k.len() + v.len() + 2).sum()
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `name` to `value`, replacing an earlier value. Neither may contain the
    /// separator characters, and the name may not be empty.
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        let bad = |s: &str| s.contains([NAME_VALUE_SEPARATOR, PROPERTY_SEPARATOR]);
        if name.is_empty() || bad(name) || bad(value) {
            return Err(Error::BadField {
                header: "Properties",
                field: "name/value",
                reason: format!(
                    "property `{}` = `{}`: names must be non-empty and neither may contain \\u0001 or \\u0002",
                    name.escape_debug(),
                    value.escape_debug()
                )
                .into(),
            });
        }
        match self.pairs.iter_mut().find(|(k, _)| k == name) {
            Some(pair) => pair.1 = value.to_owned(),
            None => self.pairs.push((name.to_owned(), value.to_owned())),
        }
        Ok(())
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let at = self.pairs.iter().position(|(k, _)| k == name)?;
        Some(self.pairs.remove(at).1)
    }

    /// Pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of properties.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_matches_rocketmq_separators() {
        let mut p = Properties::new();
        p.set("TAGS", "TagA").unwrap();
        p.set("KEYS", "k1 k2").unwrap();
        p.set("TAGS", "TagB").unwrap();
        assert_eq!(p.encode(), "TAGS\u{1}TagB\u{2}KEYS\u{1}k1 k2\u{2}");
        assert_eq!(p.encoded_len(), p.encode().len());
        assert_eq!(Properties::decode(&p.encode()), p);
    }

    #[test]
    fn decode_skips_segments_without_separator_and_allows_missing_trailer() {
        let cases = [
            ("A\u{1}1\u{2}junk\u{2}B\u{1}2", vec![("A", "1"), ("B", "2")]),
            ("", vec![]),
            ("\u{2}\u{2}", vec![]),
            ("K\u{1}\u{2}", vec![("K", "")]),
        ];
        for (input, want) in cases {
            let got: Vec<_> = iter(input).collect();
            assert_eq!(got, want, "input {input:?}");
        }
        assert_eq!(
            find("A\u{1}1\u{2}UNIQ_KEY\u{1}X\u{2}", "UNIQ_KEY"),
            Some("X")
        );
    }

    #[test]
    fn set_refuses_separators_and_empty_names() {
        let mut p = Properties::new();
        assert!(p.set("", "v").is_err());
        assert!(p.set("a\u{1}b", "v").is_err());
        assert!(p.set("a", "v\u{2}").is_err());
        assert!(p.is_empty());
    }
}
