//! Framing: `[i32 total][i32 (serializeType << 24) | headerLen][header][body]`, big-endian.
//!
//! `total` counts everything after itself. The decoder is streaming: feed it whatever bytes
//! have arrived; it yields each whole frame by splitting the buffer (no copy of the body).

use bytes::{Buf, Bytes, BytesMut};

use crate::codes::SerializeType;
use crate::error::{Error, Result};

/// The default cap on one frame, length prefix included: 16 MiB.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// Bytes before the header: the total-length word and the type/header-length word.
pub const FRAME_PREFIX_BYTES: usize = 8;

/// The largest header length the 24-bit field can carry.
pub const MAX_HEADER_BYTES: usize = (1 << 24) - 1;

/// One whole frame, split into its parts; `header` and `body` share the read buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    pub serialize_type: SerializeType,
    pub header: Bytes,
    pub body: Bytes,
}

impl RawFrame {
    /// The request's opaque, read before the header is decoded, so that a reply to a
    /// header that fails to decode can still be matched: a binary header's opaque sits at
    /// a fixed place; a JSON header that cannot be parsed has none to trust (0).
    pub fn opaque_hint(&self) -> i32 {
        match (self.serialize_type, self.header.get(5..9)) {
            (SerializeType::RocketMq, Some(b)) => i32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            _ => 0,
        }
    }
}

/// Checks the frame at the start of `buf` without allocating. Returns the whole frame's
/// length (prefix included), `Error::Incomplete` when more bytes are needed, or the reason
/// the bytes cannot be a frame.
pub fn frame_len(buf: &[u8], max_frame_bytes: usize) -> Result<usize> {
    if buf.len() < 4 {
        return Err(Error::Incomplete {
            what: "frame length",
            needed: 4 - buf.len(),
        });
    }
    let total = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if total < 4 {
        return Err(Error::corrupt(
            "frame",
            0,
            format!("total length {total} is less than the 4-byte header-length word"),
        ));
    }
    let frame_bytes = total as usize + 4;
    if frame_bytes > max_frame_bytes {
        return Err(Error::FrameTooLarge {
            len_bytes: frame_bytes,
            limit_bytes: max_frame_bytes,
        });
    }
    if buf.len() < FRAME_PREFIX_BYTES {
        return Err(Error::Incomplete {
            what: "frame prefix",
            needed: FRAME_PREFIX_BYTES - buf.len(),
        });
    }
    let serialize = buf[4];
    if SerializeType::from_code(serialize).is_none() {
        return Err(Error::corrupt(
            "frame",
            4,
            format!("unknown serialize type {serialize} (expected 0 = JSON or 1 = ROCKETMQ)"),
        ));
    }
    let header_len = u32::from_be_bytes([0, buf[5], buf[6], buf[7]]) as usize;
    if header_len > total as usize - 4 {
        return Err(Error::corrupt(
            "frame",
            5,
            format!(
                "header length {header_len} exceeds the {} bytes the frame holds after its prefix",
                total as usize - 4
            ),
        ));
    }
    if buf.len() < frame_bytes {
        return Err(Error::Incomplete {
            what: "frame",
            needed: frame_bytes - buf.len(),
        });
    }
    Ok(frame_bytes)
}

/// Streaming frame decoder with a configurable size limit.
#[derive(Debug, Clone, Copy)]
pub struct FrameDecoder {
    max_frame_bytes: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES)
    }
}

impl FrameDecoder {
    /// A decoder that refuses frames longer than `max_frame_bytes` (prefix included).
    pub fn new(max_frame_bytes: usize) -> Self {
        FrameDecoder { max_frame_bytes }
    }

    /// The configured limit.
    pub fn max_frame_bytes(&self) -> usize {
        self.max_frame_bytes
    }

    /// Takes the next whole frame off the front of `buf`. `Ok(None)`: read more bytes and
    /// call again. An error means the stream is unframed: the connection should be closed.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<RawFrame>> {
        let frame_bytes = match frame_len(buf, self.max_frame_bytes) {
            Ok(n) => n,
            Err(Error::Incomplete { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let serialize_type = SerializeType::from_code(buf[4]).unwrap_or_default();
        let header_len = u32::from_be_bytes([0, buf[5], buf[6], buf[7]]) as usize;
        let mut frame = buf.split_to(frame_bytes).freeze();
        frame.advance(FRAME_PREFIX_BYTES);
        let header = frame.split_to(header_len);
        Ok(Some(RawFrame {
            serialize_type,
            header,
            body: frame,
        }))
    }

    /// How many more bytes the frame at the front of `buf` needs, or 0 when a whole frame
    /// (or an error) is available. Lets a connection size its next read.
    pub fn bytes_wanted(&self, buf: &[u8]) -> usize {
        match frame_len(buf, self.max_frame_bytes) {
            Err(Error::Incomplete { needed, .. }) => needed,
            _ => 0,
        }
    }
}

/// The second frame word: serialize type in the top byte, header length in the low 24 bits.
pub fn header_word(serialize_type: SerializeType, header_len: usize) -> u32 {
    assert!(
        header_len <= MAX_HEADER_BYTES,
        "header of {header_len} bytes does not fit the 24-bit length field"
    );
    (u32::from(serialize_type.code()) << 24) | header_len as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ser: u8, header: &[u8], body: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((4 + header.len() + body.len()) as i32).to_be_bytes());
        v.push(ser);
        v.extend_from_slice(&(header.len() as u32).to_be_bytes()[1..]);
        v.extend_from_slice(header);
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn whole_frame_splits_into_header_and_body() {
        let bytes = frame(0, b"{}", b"payload");
        let mut buf = BytesMut::from(&bytes[..]);
        let f = FrameDecoder::default().decode(&mut buf).unwrap().unwrap();
        assert_eq!(f.serialize_type, SerializeType::Json);
        assert_eq!(&f.header[..], b"{}");
        assert_eq!(&f.body[..], b"payload");
        assert!(buf.is_empty());
    }

    #[test]
    fn byte_by_byte_arrival_yields_frame_only_when_complete() {
        let bytes = frame(1, b"hdr", b"body");
        let decoder = FrameDecoder::default();
        let mut buf = BytesMut::new();
        for (i, b) in bytes.iter().enumerate() {
            assert_eq!(decoder.decode(&mut buf).unwrap(), None, "early at byte {i}");
            assert!(decoder.bytes_wanted(&buf) > 0);
            buf.extend_from_slice(&[*b]);
        }
        let f = decoder.decode(&mut buf).unwrap().unwrap();
        assert_eq!(f.serialize_type, SerializeType::RocketMq);
        assert_eq!((&f.header[..], &f.body[..]), (&b"hdr"[..], &b"body"[..]));
    }

    #[test]
    fn many_frames_in_one_buffer_come_out_in_order() {
        let mut bytes = frame(0, b"a", b"1");
        bytes.extend(frame(1, b"bb", b""));
        bytes.extend(frame(0, b"", b"333"));
        bytes.extend(&frame(0, b"partial", b"x")[..5]);
        let mut buf = BytesMut::from(&bytes[..]);
        let d = FrameDecoder::default();
        let got: Vec<_> = std::iter::from_fn(|| d.decode(&mut buf).unwrap())
            .map(|f| (f.header, f.body))
            .collect();
        assert_eq!(
            got,
            vec![
                (Bytes::from("a"), Bytes::from("1")),
                (Bytes::from("bb"), Bytes::new()),
                (Bytes::new(), Bytes::from("333")),
            ]
        );
        assert_eq!(buf.len(), 5);
    }

    #[test]
    fn bad_prefixes_are_rejected_with_their_byte() {
        // (input, expected error) — each a hand-built prefix.
        let cases: Vec<(Vec<u8>, Error)> = vec![
            (
                vec![0, 0, 0, 3, 0, 0, 0, 0],
                Error::corrupt(
                    "frame",
                    0,
                    "total length 3 is less than the 4-byte header-length word",
                ),
            ),
            (
                vec![0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0],
                Error::corrupt(
                    "frame",
                    0,
                    "total length -1 is less than the 4-byte header-length word",
                ),
            ),
            (
                vec![0, 0, 0, 4, 2, 0, 0, 0],
                Error::corrupt(
                    "frame",
                    4,
                    "unknown serialize type 2 (expected 0 = JSON or 1 = ROCKETMQ)",
                ),
            ),
            (
                vec![0, 0, 0, 6, 0, 0, 0, 3, 0, 0],
                Error::corrupt(
                    "frame",
                    5,
                    "header length 3 exceeds the 2 bytes the frame holds after its prefix",
                ),
            ),
            (
                vec![0x7f, 0, 0, 0],
                Error::FrameTooLarge {
                    len_bytes: 0x7f00_0004,
                    limit_bytes: DEFAULT_MAX_FRAME_BYTES,
                },
            ),
        ];
        for (input, want) in cases {
            let mut buf = BytesMut::from(&input[..]);
            assert_eq!(FrameDecoder::default().decode(&mut buf), Err(want));
        }
    }

    #[test]
    fn configured_limit_is_enforced_before_the_bytes_arrive() {
        let d = FrameDecoder::new(64);
        let mut buf = BytesMut::from(&[0u8, 0, 0, 61][..]);
        assert_eq!(
            d.decode(&mut buf),
            Err(Error::FrameTooLarge {
                len_bytes: 65,
                limit_bytes: 64
            })
        );
        let mut ok = BytesMut::from(&[0u8, 0, 0, 60][..]);
        assert_eq!(d.decode(&mut ok), Ok(None));
    }
}
