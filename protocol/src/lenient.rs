//! Serde helpers for values that different RocketMQ clients write differently: integers as
//! numbers or strings, enums as names or ordinals.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, Visitor};

/// An integer that may arrive as a JSON number or as a string of digits.
pub(crate) fn int<'de, D: Deserializer<'de>, T: TryFrom<i64>>(d: D) -> Result<T, D::Error> {
    struct IntVisitor<T>(PhantomData<T>);
    impl<T: TryFrom<i64>> Visitor<'_> for IntVisitor<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an integer (number or string)")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
            T::try_from(v).map_err(|_| E::custom(format!("integer {v} out of range")))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
            let v = i64::try_from(v).map_err(|_| E::custom(format!("integer {v} out of range")))?;
            self.visit_i64(v)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            let n: i64 = v
                .trim()
                .parse()
                .map_err(|_| E::custom(format!("`{v}` is not an integer")))?;
            self.visit_i64(n)
        }
    }
    d.deserialize_any(IntVisitor(PhantomData))
}

/// Declares an enum that serializes as its RocketMQ name and deserializes from the name or
/// from the ordinal (C++ clients send ordinals). The first variant is the default.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $first:ident $(, $variant:ident)* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        #[allow(non_camel_case_types)]
        pub enum $name {
            #[default]
            $first,
            $($variant,)*
        }

        impl $name {
            const ALL: &'static [$name] = &[$name::$first $(, $name::$variant)*];

            /// The RocketMQ name.
            pub fn name(self) -> &'static str {
                match self {
                    $name::$first => stringify!($first),
                    $($name::$variant => stringify!($variant),)*
                }
            }

            /// The Java ordinal.
            pub fn ordinal(self) -> usize {
                Self::ALL.iter().position(|v| *v == self).unwrap_or(0)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        write!(f, "a {} name or ordinal", stringify!($name))
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        $name::ALL
                            .iter()
                            .copied()
                            .find(|x| x.name() == v)
                            .ok_or_else(|| E::custom(format!(
                                "unknown {} `{}`", stringify!($name), v
                            )))
                    }
                    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<$name, E> {
                        usize::try_from(v)
                            .ok()
                            .and_then(|i| $name::ALL.get(i).copied())
                            .ok_or_else(|| E::custom(format!(
                                "{} ordinal {} out of range", stringify!($name), v
                            )))
                    }
                    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<$name, E> {
                        let v = u64::try_from(v).map_err(|_| E::custom(format!(
                            "{} ordinal {} out of range", stringify!($name), v
                        )))?;
                        self.visit_u64(v)
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

pub(crate) use wire_enum;
