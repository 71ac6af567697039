//! Command bodies that are JSON: typed serde structs under RocketMQ's field names.
//!
//! Decoding accepts what Java's fastjson writes by default, including map keys that are
//! bare integers (`{0:"127.0.0.1:10911"}`); encoding writes standard JSON.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

mod heartbeat;
mod misc;
mod register;
mod route;

pub use heartbeat::*;
pub use misc::*;
pub use register::*;
pub use route::*;

/// A body carried as JSON.
pub trait JsonBody: Serialize + DeserializeOwned {
    /// The RocketMQ class name, for error messages.
    const NAME: &'static str;

    /// Decodes the body, accepting fastjson's bare integer map keys.
    fn decode(bytes: &[u8]) -> Result<Self> {
        match serde_json::from_slice(bytes) {
            Ok(v) => Ok(v),
            Err(first) => {
                let bad = |e: serde_json::Error| Error::Json {
                    what: Self::NAME,
                    reason: e.to_string(),
                };
                match quote_bare_integer_keys(bytes) {
                    Some(fixed) => serde_json::from_slice(&fixed).map_err(bad),
                    None => Err(bad(first)),
                }
            }
        }
    }

    /// Encodes the body as standard JSON.
    fn encode(&self) -> Bytes {
        // Serializing these plain structs cannot fail: no non-string map keys, no I/O.
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }
}

/// Rewrites object keys written as bare integers (`{0:"x"}`, fastjson's default for
/// `Map<Long, _>`) as quoted strings. `None` when there was nothing to rewrite.
pub fn quote_bare_integer_keys(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() + 8);
    let mut changed = false;
    let mut in_string = false;
    let mut escaped = false;
    let mut expect_key = false;
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if in_string {
            out.push(b);
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                expect_key = false;
            }
            b'{' | b',' => expect_key = true,
            b' ' | b'\t' | b'\r' | b'\n' => {}
            b'-' | b'0'..=b'9' if expect_key => {
                let end = input[i + 1..]
                    .iter()
                    .position(|c| !c.is_ascii_digit())
                    .map_or(input.len(), |p| i + 1 + p);
                let after = input[end..]
                    .iter()
                    .position(|c| !c.is_ascii_whitespace())
                    .map(|p| input[end + p]);
                if after == Some(b':') {
                    out.push(b'"');
                    out.extend_from_slice(&input[i..end]);
                    out.push(b'"');
                    changed = true;
                    i = end;
                    expect_key = false;
                    continue;
                }
                expect_key = false;
            }
            _ => expect_key = false,
        }
        out.push(b);
        i += 1;
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_integer_keys_are_quoted_and_strings_left_alone() {
        let cases: &[(&str, Option<&str>)] = &[
            (r#"{0:"a",1 : "b"}"#, Some(r#"{"0":"a","1" : "b"}"#)),
            (r#"{"k":{-1:"x"}}"#, Some(r#"{"k":{"-1":"x"}}"#)),
            (r#"{"s":"{0:1}"}"#, None),
            (r#"[1,2,{"a":3}]"#, None),
            (r#"{"e":"\"{0:"}"#, None),
        ];
        for (input, want) in cases {
            let got = quote_bare_integer_keys(input.as_bytes());
            assert_eq!(
                got.as_deref().map(|v| std::str::from_utf8(v).unwrap()),
                *want,
                "input {input}"
            );
        }
    }
}
