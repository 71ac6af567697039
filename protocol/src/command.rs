//! A remoting command: the fixed head fields, extFields, and body, in either header encoding.

use bytes::{BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use crate::codes::{response_code, LanguageCode, SerializeType, FLAG_ONEWAY, FLAG_RESPONSE};
use crate::error::Result;
use crate::ext::{ExtFields, WriteFields};
use crate::frame::{header_word, RawFrame, FRAME_PREFIX_BYTES};
use crate::header::{CommandHeader, EmptyHeader};
use crate::{header_binary, header_json};

/// The version ShardMQ's own commands carry (RocketMQ's `MQVersion` ordinal, here V5_3_3; at least 401
/// so that Java name servers answer in standard JSON).
pub const SHARDMQ_VERSION: i32 = 479;

/// The fixed fields every command header has.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Head {
    /// Request code, or response code when `flag` has [`FLAG_RESPONSE`].
    pub code: i32,
    pub language: LanguageCode,
    pub version: i32,
    /// Correlates a response with its request.
    pub opaque: i32,
    pub flag: i32,
    pub remark: Option<ByteString>,
}

impl Head {
    /// A request head from ShardMQ.
    pub fn request(code: i32, opaque: i32) -> Self {
        Head {
            code,
            language: LanguageCode::RUST,
            version: SHARDMQ_VERSION,
            opaque,
            flag: 0,
            remark: None,
        }
    }

    /// The head of a response to `request`: same opaque, response flag set.
    pub fn response_to(request: &Head, code: i32, remark: Option<ByteString>) -> Self {
        Head {
            code,
            language: LanguageCode::RUST,
            version: request.version,
            opaque: request.opaque,
            flag: FLAG_RESPONSE,
            remark,
        }
    }

    /// True for a response.
    pub fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    /// True for a request that wants no response.
    pub fn is_oneway(&self) -> bool {
        self.flag & FLAG_ONEWAY != 0
    }
}

/// A whole command, as decoded from a frame or built to be sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Command {
    pub head: Head,
    /// The header encoding it arrived in; replies use the same one.
    pub serialize_type: SerializeType,
    pub ext: ExtFields,
    pub body: Bytes,
}

impl Command {
    /// Decodes the header of a frame; the body is kept as it is (shared, not copied).
    pub fn decode(frame: RawFrame) -> Result<Command> {
        let (head, ext) = match frame.serialize_type {
            SerializeType::Json => header_json::decode(frame.header)?,
            SerializeType::RocketMq => header_binary::decode(frame.header)?,
        };
        Ok(Command {
            head,
            serialize_type: frame.serialize_type,
            ext,
            body: frame.body,
        })
    }

    /// A command from its head and a typed header.
    pub fn new<H: WriteFields>(
        head: Head,
        serialize_type: SerializeType,
        header: &H,
        body: Bytes,
    ) -> Command {
        let mut builder = ExtFields::builder();
        header.write_fields(&mut builder);
        Command {
            head,
            serialize_type,
            ext: builder.build(),
            body,
        }
    }

    /// A reply to `request`, in the request's header encoding, with a typed header and body.
    pub fn reply<H: WriteFields>(
        request: &Command,
        code: i32,
        remark: Option<String>,
        header: &H,
        body: Bytes,
    ) -> Command {
        let head = Head::response_to(&request.head, code, remark.map(ByteString::from));
        Command::new(head, request.serialize_type, header, body)
    }

    /// A SUCCESS reply to `request` carrying only `body`.
    pub fn ok(request: &Command, body: Bytes) -> Command {
        Command::reply(request, response_code::SUCCESS, None, &EmptyHeader, body)
    }

    /// An error reply to `request`: `code` and `remark`, no header fields, no body.
    pub fn error(request: &Command, code: i32, remark: impl Into<String>) -> Command {
        Command::error_to_head(&request.head, request.serialize_type, code, remark)
    }

    /// An error reply to a request known only by its head and encoding (one that could not
    /// be decoded whole, or that was refused before it was).
    pub fn error_to_head(
        head: &Head,
        serialize_type: SerializeType,
        code: i32,
        remark: impl Into<String>,
    ) -> Command {
        let head = Head::response_to(head, code, Some(ByteString::from(remark.into())));
        Command::new(head, serialize_type, &EmptyHeader, Bytes::new())
    }

    /// Reads the typed header `H` from the extFields.
    pub fn header<H: CommandHeader>(&self) -> Result<H> {
        H::decode(&self.ext)
    }

    /// Appends the whole frame to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        encode_frame(&self.head, self.serialize_type, &self.ext, &self.body, out);
    }

    /// The whole frame as bytes.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(&mut out);
        out.freeze()
    }
}

/// Appends one frame to `out`, writing `fields` straight into it (no intermediate map).
pub fn encode_frame<F: WriteFields + ?Sized>(
    head: &Head,
    serialize_type: SerializeType,
    fields: &F,
    body: &[u8],
    out: &mut BytesMut,
) {
    let start = out.len();
    out.reserve(FRAME_PREFIX_BYTES + 128 + body.len());
    out.put_u64(0); // both prefix words, patched below
    match serialize_type {
        SerializeType::Json => header_json::encode(head, fields, out),
        SerializeType::RocketMq => header_binary::encode(head, fields, out),
    }
    let header_len = out.len() - start - FRAME_PREFIX_BYTES;
    out.put_slice(body);
    let total = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&total.to_be_bytes());
    out[start + 4..start + 8]
        .copy_from_slice(&header_word(serialize_type, header_len).to_be_bytes());
}
