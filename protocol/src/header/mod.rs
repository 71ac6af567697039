//! Typed request and response headers: each reads itself from [`ExtFields`] in one pass and
//! writes itself through a [`FieldSink`], under RocketMQ's field names.

use crate::error::Result;
use crate::ext::{ExtFields, FieldSpec, WriteFields};

mod client;
mod namesrv;
mod offset;
mod pull;
mod send;
mod topic;
mod transaction;

pub use client::*;
pub use namesrv::*;
pub use offset::*;
pub use pull::*;
pub use send::*;
pub use topic::*;
pub use transaction::*;

/// A typed view of a command's extFields.
pub trait CommandHeader: WriteFields + Sized {
    /// The RocketMQ class name, used in error messages.
    const NAME: &'static str;
    /// Every field: key, value type, required or not, in the order they are written.
    const FIELDS: &'static [FieldSpec];
    /// Reads the header; unknown keys are ignored, required keys must be present.
    fn decode(ext: &ExtFields) -> Result<Self>;
}

/// Declares a header struct. Each field is `required` (a `T`) or `optional` (an
/// `Option<T>`), with the wire key it travels under.
macro_rules! command_header {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* $kind:ident $field:ident : $ty:ty = $key:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: command_header!(@type $kind $ty), )*
        }

        impl $crate::header::CommandHeader for $name {
            const NAME: &'static str = stringify!($name);
            const FIELDS: &'static [$crate::ext::FieldSpec] = &[$(
                $crate::ext::FieldSpec {
                    key: $key,
                    kind: <$ty as $crate::ext::FieldValue>::KIND,
                    required: command_header!(@required $kind),
                },
            )*];

            fn decode(ext: &$crate::ext::ExtFields) -> $crate::error::Result<Self> {
                $( let mut $field: Option<$ty> = None; )*
                for f in ext.fields() {
                    match f.key {
                        // The first occurrence of a key wins, as with `ExtFields::get`.
                        $( $key if $field.is_none() => {
                            $field = Some(
                                <$ty as $crate::ext::FieldValue>::parse_field(&f).map_err(
                                    |reason| $crate::error::Error::BadField {
                                        header: stringify!($name),
                                        field: $key,
                                        reason,
                                    },
                                )?,
                            );
                        } )*
                        _ => {}
                    }
                }
                Ok($name {
                    $( $field: command_header!(@take $kind $field, $name, $key), )*
                })
            }
        }

        impl $crate::ext::WriteFields for $name {
            fn write_fields<S: $crate::ext::FieldSink>(&self, sink: &mut S) {
                $( command_header!(@write $kind self.$field, $key, sink); )*
            }
        }
    };
    (@required required) => { true };
    (@required optional) => { false };
    (@type required $ty:ty) => { $ty };
    (@type optional $ty:ty) => { Option<$ty> };
    (@take required $field:ident, $name:ident, $key:literal) => {
        $field.ok_or($crate::error::Error::MissingField {
            header: stringify!($name),
            field: $key,
        })?
    };
    (@take optional $field:ident, $name:ident, $key:literal) => { $field };
    (@write required $value:expr, $key:literal, $sink:ident) => {
        $crate::ext::FieldValue::write_field(&$value, $key, $sink)
    };
    (@write optional $value:expr, $key:literal, $sink:ident) => {
        if let Some(v) = &$value {
            $crate::ext::FieldValue::write_field(v, $key, $sink)
        }
    };
}

pub(crate) use command_header;

/// Headers for commands that carry none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EmptyHeader;

impl WriteFields for EmptyHeader {
    fn write_fields<S: crate::ext::FieldSink>(&self, _sink: &mut S) {}
}

impl CommandHeader for EmptyHeader {
    const NAME: &'static str = "EmptyHeader";
    const FIELDS: &'static [FieldSpec] = &[];
    fn decode(_ext: &ExtFields) -> Result<Self> {
        Ok(EmptyHeader)
    }
}
