//! RocketMQ's remoting wire format, byte-exact, for every ShardMQ component.
//!
//! This crate knows nothing of sockets, runtimes or files: it turns bytes into typed values
//! and back, and never panics or over-allocates on bytes from a peer.
//!
//! - [`frame`]: the length-prefixed frame and a streaming decoder with a size limit.
//! - [`command`]: a command's head (code, opaque, flags, ...), extFields and body; the JSON
//!   (type 0) and binary (type 1) header encodings.
//! - [`ext`]: extFields without a hash map; [`header`]: typed request/response headers.
//! - [`codes`]: request, response and language codes.
//! - [`body`]: JSON bodies (heartbeat, route, register broker, lock batch, ...).
//! - [`message`]: the stored-message layout pull responses carry, properties, batch bodies
//!   and the offset msgId.
//! - [`names`]: validated topic, group and queue-id newtypes (RocketMQ's naming rules);
//!   [`request`]: what a request is about (its owner key), read and validated once.
//! - [`error`]: one error type; `Incomplete` (read more) is separate from corrupt input.
//!
//! ```
//! use bytes::BytesMut;
//! use shardmq_protocol::codes::{request_code, SerializeType};
//! use shardmq_protocol::command::{Command, Head};
//! use shardmq_protocol::frame::FrameDecoder;
//! use shardmq_protocol::header::GetMaxOffsetRequestHeader;
//!
//! let header = GetMaxOffsetRequestHeader { topic: "T".into(), queue_id: 3, committed: None };
//! let request = Command::new(
//!     Head::request(request_code::GET_MAX_OFFSET, 7),
//!     SerializeType::RocketMq,
//!     &header,
//!     Default::default(),
//! );
//! let mut wire = BytesMut::from(&request.to_bytes()[..]);
//! let frame = FrameDecoder::default().decode(&mut wire).unwrap().unwrap();
//! let decoded = Command::decode(frame).unwrap();
//! assert_eq!(decoded.head.opaque, 7);
//! assert_eq!(decoded.header::<GetMaxOffsetRequestHeader>().unwrap(), header);
//! ```

// Unsafe code is denied everywhere but two audited spots in `ext` that skip re-checking
// UTF-8 the decoders have already checked.
#![deny(unsafe_code)]

pub mod body;
pub mod codes;
pub mod command;
pub mod error;
pub mod ext;
pub mod frame;
pub mod header;
mod header_binary;
mod header_json;
mod json_scan;
mod lenient;
pub mod message;
pub mod names;
mod read;
pub mod request;

pub use bytestring::ByteString;
pub use error::{Error, Result};
