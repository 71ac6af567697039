//! The crate's one error type: every decoder says what was wrong and at which byte.

use std::borrow::Cow;

/// Why decoding (or, rarely, encoding) failed.
///
/// `Incomplete` means "the bytes so far are a valid prefix: read more". Every other variant
/// means the input is wrong and reading more will not help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The input ends before the item does; `needed` more bytes would let decoding go on.
    #[error("incomplete {what}: {needed} more bytes needed")]
    Incomplete { what: &'static str, needed: usize },

    /// A frame announces more bytes than the configured limit.
    #[error("frame of {len_bytes} bytes exceeds the limit of {limit_bytes} bytes")]
    FrameTooLarge {
        len_bytes: usize,
        limit_bytes: usize,
    },

    /// The bytes cannot be what they claim to be.
    #[error("corrupt {what} at byte {offset}: {reason}")]
    Corrupt {
        what: &'static str,
        offset: usize,
        reason: Cow<'static, str>,
    },

    /// A typed header lacks a field RocketMQ marks as required.
    #[error("{header}: missing required field `{field}`")]
    MissingField {
        header: &'static str,
        field: &'static str,
    },

    /// A typed header field is present but its value does not parse.
    #[error("{header}: bad value for field `{field}`: {reason}")]
    BadField {
        header: &'static str,
        field: &'static str,
        reason: Cow<'static, str>,
    },

    /// A JSON body does not match the structure RocketMQ defines for it.
    #[error("bad JSON {what}: {reason}")]
    Json { what: &'static str, reason: String },
}

impl Error {
    pub(crate) fn corrupt(
        what: &'static str,
        offset: usize,
        reason: impl Into<Cow<'static, str>>,
    ) -> Self {
        Error::Corrupt {
            what,
            offset,
            reason: reason.into(),
        }
    }

    /// True when more input could complete the item (a torn tail rather than garbage).
    pub fn is_incomplete(&self) -> bool {
        matches!(self, Error::Incomplete { .. })
    }
}

impl From<Box<Error>> for Error {
    fn from(boxed: Box<Error>) -> Self {
        *boxed
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
