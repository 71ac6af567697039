//! Validated names: [`TopicName`], [`GroupName`] and [`QueueId`], checked once at the door
//! with RocketMQ's rules, so code further in never sees a name that the store, the topic
//! table or a file path would have to refuse.
//!
//! RocketMQ's rules (its `TopicValidator` and the client `Validators`): a topic is 1 to 127
//! characters of `[%|a-zA-Z0-9_-]`; a consumer or producer group is 1 to 255 characters of
//! the same set. A few topics are the broker's own: clients may not send to those that hold
//! scheduled or transactional messages ([`TopicName::is_send_forbidden`]) and may not
//! create or delete any of them ([`TopicName::is_system`]).

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use bytestring::ByteString;

/// Longest topic name (RocketMQ's `TOPIC_MAX_LENGTH`).
pub const TOPIC_NAME_MAX_CHARS: usize = 127;
/// Longest group name (RocketMQ's `CHARACTER_MAX_LENGTH`).
pub const GROUP_NAME_MAX_CHARS: usize = 255;
/// Most queues one topic may have: queue ids are `0..QUEUE_ID_MAX`.
pub const QUEUE_ID_MAX: i32 = 65_535;

/// The characters RocketMQ allows in topic and group names, as a sentence for remarks.
pub const NAME_RULE: &str = "only characters of ^[%|a-zA-Z0-9_-]+$";

/// Topics the broker creates and uses for itself (RocketMQ's system topic set). Their
/// messages are stored like any other, but clients may not create or delete them.
pub const SYSTEM_TOPICS: [&str; 9] = [
    "TBW102",
    "SCHEDULE_TOPIC_XXXX",
    "BenchmarkTest",
    "RMQ_SYS_TRANS_HALF_TOPIC",
    "RMQ_SYS_TRACE_TOPIC",
    "RMQ_SYS_TRANS_OP_HALF_TOPIC",
    "TRANS_CHECK_MAX_TIME_TOPIC",
    "SELF_TEST_TOPIC",
    "OFFSET_MOVED_EVENT",
];
/// Prefix of the broker's other system topics.
pub const SYSTEM_TOPIC_PREFIX: &str = "rmq_sys_";
/// System topics no client may send to: the broker writes them itself (delayed and timed
/// messages, transaction halves and their op log).
pub const SEND_FORBIDDEN_TOPICS: [&str; 5] = [
    "SCHEDULE_TOPIC_XXXX",
    "rmq_sys_wheel_timer",
    "RMQ_SYS_TRANS_HALF_TOPIC",
    "RMQ_SYS_TRANS_OP_HALF_TOPIC",
    "TRANS_CHECK_MAX_TIME_TOPIC",
];

/// The prefix of a consumer group's retry topic.
pub const RETRY_GROUP_TOPIC_PREFIX: &str = "%RETRY%";
/// The prefix of a consumer group's dead-letter topic.
pub const DLQ_GROUP_TOPIC_PREFIX: &str = "%DLQ%";

/// The retry topic of `group` (`%RETRY%<group>`).
pub fn retry_topic(group: &str) -> String {
    format!("{RETRY_GROUP_TOPIC_PREFIX}{group}")
}

/// The dead-letter topic of `group` (`%DLQ%<group>`).
pub fn dlq_topic(group: &str) -> String {
    format!("{DLQ_GROUP_TOPIC_PREFIX}{group}")
}

/// Why a name was refused: which field, what it held (shortened), which rule it broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameError {
    /// The request field the name came from (`topic`, `consumerGroup`, ...).
    pub field: &'static str,
    /// The refused value, cut to 64 characters for the remark.
    pub value: String,
    /// The rule, as a sentence.
    pub rule: String,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.is_empty() {
            write!(f, "the specified {} is blank: {}", self.field, self.rule)
        } else {
            write!(
                f,
                "the specified {} `{}` is not allowed: {}",
                self.field, self.value, self.rule
            )
        }
    }
}

impl std::error::Error for NameError {}

fn allowed_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'%' | b'|' | b'_' | b'-')
}

fn check_name(field: &'static str, value: &str, max_chars: usize) -> Result<(), NameError> {
    let refuse = |rule: String| NameError {
        field,
        value: value.chars().take(64).collect(),
        rule,
    };
    if value.is_empty() {
        return Err(refuse(format!("1 to {max_chars} characters, {NAME_RULE}")));
    }
    if !value.bytes().all(allowed_char) {
        return Err(refuse(NAME_RULE.to_owned()));
    }
    // Only ASCII is allowed, so bytes are characters.
    if value.len() > max_chars {
        return Err(refuse(format!(
            "{} characters, longer than the limit of {max_chars}",
            value.len()
        )));
    }
    Ok(())
}

macro_rules! validated_name {
    ($(#[$doc:meta])* $name:ident, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(ByteString);

        impl $name {
            /// Checks `value`, naming `field` in the error.
            pub fn parse(field: &'static str, value: impl Into<ByteString>) -> Result<Self, NameError> {
                let value = value.into();
                check_name(field, &value, $max)?;
                Ok($name(value))
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The name, shared (cloning a `ByteString` copies no bytes).
            pub fn into_inner(self) -> ByteString {
                self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

validated_name!(
    /// A topic name that follows RocketMQ's rule: 1 to 127 characters of `[%|a-zA-Z0-9_-]`.
    TopicName,
    TOPIC_NAME_MAX_CHARS
);
validated_name!(
    /// A consumer or producer group name: 1 to 255 characters of `[%|a-zA-Z0-9_-]`.
    GroupName,
    GROUP_NAME_MAX_CHARS
);

impl TopicName {
    /// Whether this is one of the broker's own topics (clients may not create or delete it).
    pub fn is_system(&self) -> bool {
        SYSTEM_TOPICS.contains(&self.as_str()) || self.starts_with(SYSTEM_TOPIC_PREFIX)
    }

    /// Whether clients are refused when they send to it.
    pub fn is_send_forbidden(&self) -> bool {
        SEND_FORBIDDEN_TOPICS.contains(&self.as_str())
    }
}

/// Checks a topic name without keeping it (the send hot path borrows its topic).
pub fn check_topic(field: &'static str, value: &str) -> Result<(), NameError> {
    check_name(field, value, TOPIC_NAME_MAX_CHARS)
}

/// A queue id: `0..QUEUE_ID_MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueId(i32);

impl QueueId {
    /// Checks `value`, naming `field` in the error.
    pub fn parse(field: &'static str, value: i32) -> Result<QueueId, NameError> {
        if (0..QUEUE_ID_MAX).contains(&value) {
            Ok(QueueId(value))
        } else {
            Err(NameError {
                field,
                value: value.to_string(),
                rule: format!("a queue id is 0 to {}", QUEUE_ID_MAX - 1),
            })
        }
    }

    /// The id as RocketMQ's wire carries it.
    pub fn get(self) -> i32 {
        self.0
    }
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_rocketmqs_rule() {
        let long_ok = "a".repeat(127);
        let too_long = "a".repeat(128);
        let table: [(&str, bool); 11] = [
            ("TopicTest", true),
            ("%RETRY%group_1", true),
            ("a|b-c_d", true),
            ("0", true),
            (&long_ok, true),
            ("", false),
            (&too_long, false),
            ("with space", false),
            ("dot.ted", false),
            ("slash/../x", false),
            ("ünïcode", false),
        ];
        for (name, ok) in table {
            assert_eq!(TopicName::parse("topic", name).is_ok(), ok, "{name:?}");
            assert_eq!(check_topic("topic", name).is_ok(), ok, "{name:?}");
        }
    }

    #[test]
    fn refusals_name_the_field_the_value_and_the_rule() {
        let e = TopicName::parse("topic", "bad name").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("topic"), "{text}");
        assert!(text.contains("`bad name`"), "{text}");
        assert!(text.contains("[%|a-zA-Z0-9_-]"), "{text}");
        let e = GroupName::parse("consumerGroup", "").unwrap_err();
        assert!(e.to_string().contains("consumerGroup is blank"), "{e}");
        let e = TopicName::parse("topic", "x".repeat(300)).unwrap_err();
        assert!(e.to_string().contains("300 characters"), "{e}");
        assert_eq!(e.value.len(), 64, "the remark quotes at most 64 characters");
    }

    #[test]
    fn groups_may_be_longer_than_topics() {
        assert!(GroupName::parse("group", "g".repeat(255)).is_ok());
        assert!(GroupName::parse("group", "g".repeat(256)).is_err());
    }

    #[test]
    fn system_topics_are_recognised() {
        let t = |s: &str| TopicName::parse("topic", s).unwrap();
        assert!(t("SCHEDULE_TOPIC_XXXX").is_system());
        assert!(t("SCHEDULE_TOPIC_XXXX").is_send_forbidden());
        assert!(t("TBW102").is_system());
        assert!(!t("TBW102").is_send_forbidden());
        assert!(t("rmq_sys_anything").is_system());
        assert!(!t("TopicTest").is_system());
    }

    #[test]
    fn queue_ids_are_bounded() {
        assert_eq!(QueueId::parse("queueId", 0).unwrap().get(), 0);
        assert!(QueueId::parse("queueId", QUEUE_ID_MAX - 1).is_ok());
        assert!(QueueId::parse("queueId", QUEUE_ID_MAX).is_err());
        let e = QueueId::parse("queueId", -1).unwrap_err();
        assert!(e.to_string().contains("queueId `-1`"), "{e}");
    }
}
