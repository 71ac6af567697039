//! Messages as a producer builds them and as a consumer receives them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use shardmq_protocol::message::properties::{
    names, KEY_SEPARATOR, NAME_VALUE_SEPARATOR, PROPERTY_SEPARATOR,
};
use shardmq_protocol::message::{Properties, StoredMessage};

/// A message to send.
#[derive(Debug, Clone, Default)]
pub struct Message {
    pub topic: String,
    pub body: Bytes,
    properties: Properties,
}

impl Message {
    /// A message for `topic` with `body`.
    pub fn new(topic: impl Into<String>, body: impl Into<Bytes>) -> Message {
        Message {
            topic: topic.into(),
            body: body.into(),
            properties: Properties::new(),
        }
    }

    /// Sets the tag consumers filter on.
    pub fn with_tags(mut self, tags: &str) -> Message {
        let _ = self.properties.set(names::TAGS, tags);
        self
    }

    /// Sets the keys (space-separated) the broker indexes.
    pub fn with_keys<'a>(mut self, keys: impl IntoIterator<Item = &'a str>) -> Message {
        let joined: Vec<&str> = keys.into_iter().collect();
        let _ = self
            .properties
            .set(names::KEYS, &joined.join(&KEY_SEPARATOR.to_string()));
        self
    }

    /// Sets a user property. Names and values may not contain `\u{1}` or `\u{2}`.
    pub fn with_property(mut self, name: &str, value: &str) -> crate::Result<Message> {
        self.properties
            .set(name, value)
            .map_err(|e| crate::ClientError::Invalid(e.to_string()))?;
        Ok(self)
    }

    /// Delivers the message after delay level `level` (RocketMQ's `DELAY` property; the
    /// broker's `messageDelayLevel` says how long each level is, by default `1s 5s 10s 30s
    /// 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h`; a level past the last is the last).
    /// Replaces any earlier [`Message::with_deliver_at`] or [`Message::with_delay`]: a
    /// broker refuses a message that asks for both a level and a timer.
    pub fn with_delay_level(mut self, level: u32) -> Message {
        self.clear_schedule();
        let _ = self
            .properties
            .set(names::DELAY_TIME_LEVEL, &level.to_string());
        self
    }

    /// Delivers the message at `at`, to the millisecond (RocketMQ 5's `TIMER_DELIVER_MS`);
    /// a time already past means at once. The broker refuses times further ahead than its
    /// `timerMaxDelaySec` (3 days by default). Replaces any earlier delay or delay level.
    pub fn with_deliver_at(mut self, at: SystemTime) -> Message {
        self.clear_schedule();
        let ms = at.duration_since(UNIX_EPOCH).map_or(0, ceil_ms);
        let _ = self
            .properties
            .set(names::TIMER_DELIVER_MS, &ms.to_string());
        self
    }

    /// Delivers the message `delay` after the broker stores it (RocketMQ 5's
    /// `TIMER_DELAY_MS`; rounded up to whole milliseconds, so never early). Replaces any
    /// earlier delivery time or delay level.
    pub fn with_delay(mut self, delay: Duration) -> Message {
        self.clear_schedule();
        let _ = self
            .properties
            .set(names::TIMER_DELAY_MS, &ceil_ms(delay).to_string());
        self
    }

    /// Removes every delayed-delivery property: one message asks for one schedule.
    fn clear_schedule(&mut self) {
        for name in [
            names::DELAY_TIME_LEVEL,
            names::TIMER_DELIVER_MS,
            names::TIMER_DELAY_SEC,
            names::TIMER_DELAY_MS,
        ] {
            self.properties.remove(name);
        }
    }

    /// A property's value.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.get(name)
    }

    /// Every property, in order.
    pub fn properties(&self) -> impl Iterator<Item = (&str, &str)> {
        self.properties.iter()
    }

    /// The properties' wire form.
    pub(crate) fn encoded(&self) -> String {
        self.properties.encode()
    }

    /// The copy of `received` a consumer sends to its group's retry topic itself when the
    /// broker refused CONSUMER_SEND_MSG_BACK (what RocketMQ's Java client does): every
    /// property kept (its UNIQ_KEY too), `RETRY_TOPIC` = the original topic unless already
    /// set, `ORIGIN_MESSAGE_ID` unless already set, and delay level `delay_level`. The
    /// reconsume times travel in the send's header, not here.
    pub(crate) fn retry_copy(
        retry_topic: &str,
        received: &ReceivedMessage,
        delay_level: i32,
    ) -> Message {
        let mut copy = Message {
            topic: retry_topic.to_owned(),
            body: received.stored.body.clone(),
            properties: Properties::decode(&received.stored.properties),
        };
        // Names and values copied from a stored message (or topic names and ids) are valid.
        if copy.properties.get(names::RETRY_TOPIC).is_none() {
            let _ = copy.properties.set(names::RETRY_TOPIC, received.topic());
        }
        if copy.properties.get(names::ORIGIN_MESSAGE_ID).is_none() {
            let origin = received
                .msg_id()
                .map_or_else(|| received.offset_msg_id(), str::to_owned);
            let _ = copy.properties.set(names::ORIGIN_MESSAGE_ID, &origin);
        }
        for name in [
            names::TRANSACTION_PREPARED,
            names::RECONSUME_TIME,
            names::MAX_RECONSUME_TIMES,
        ] {
            copy.properties.remove(name);
        }
        copy.clear_schedule();
        if delay_level > 0 {
            let _ = copy
                .properties
                .set(names::DELAY_TIME_LEVEL, &delay_level.to_string());
        }
        copy
    }

    #[cfg(test)]
    pub(crate) fn properties_mut(&mut self) -> &mut Properties {
        &mut self.properties
    }

    #[cfg(test)]
    pub(crate) fn encoded_properties(&self) -> String {
        self.properties.encode()
    }

    /// Appends the properties' wire form with `name` set to `value` (replacing its first
    /// occurrence in place, else appended), without changing the message: the bytes
    /// `properties_mut().set(name, value)` then `encoded_properties()` would give. `value`
    /// must be valid (the producer's hex ids are).
    pub(crate) fn encode_properties_with(&self, name: &str, value: &str, out: &mut String) {
        let mut replaced = false;
        out.reserve(self.properties.encoded_len() + name.len() + value.len() + 2);
        for (k, v) in self.properties.iter() {
            let v = if !replaced && k == name {
                replaced = true;
                value
            } else {
                v
            };
            push_property(out, k, v);
        }
        if !replaced {
            push_property(out, name, value);
        }
    }
}

/// Whole milliseconds in `d`, rounded up.
fn ceil_ms(d: Duration) -> u128 {
    d.as_nanos().div_ceil(1_000_000)
}

fn push_property(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push(NAME_VALUE_SEPARATOR);
    out.push_str(value);
    out.push(PROPERTY_SEPARATOR);
}

/// A message as a consumer receives it. A message a consumer gets from its group's retry
/// topic (`%RETRY%<group>`) shows its original topic (from its `RETRY_TOPIC` property), as
/// RocketMQ clients show it; [`ReceivedMessage::reconsume_times`] says how often it failed.
#[derive(Debug, Clone)]
pub struct ReceivedMessage {
    pub stored: StoredMessage,
}

impl ReceivedMessage {
    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.stored.body
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.stored.topic
    }

    /// A property's value.
    pub fn property(&self, name: &str) -> Option<&str> {
        shardmq_protocol::message::properties::find(&self.stored.properties, name)
    }

    /// The tags.
    pub fn tags(&self) -> Option<&str> {
        self.property(names::TAGS)
    }

    /// The client-side message id (UNIQ_KEY) — what RocketMQ users call the msgId.
    pub fn msg_id(&self) -> Option<&str> {
        self.property(names::UNIQ_CLIENT_MESSAGE_ID_KEYIDX)
    }

    /// The queue offset.
    pub fn queue_offset(&self) -> i64 {
        self.stored.queue_offset
    }

    /// The queue id.
    pub fn queue_id(&self) -> i32 {
        self.stored.queue_id
    }

    /// Where the broker stored the message in its commit log (RocketMQ's
    /// `commitLogOffset`): what CONSUMER_SEND_MSG_BACK names it by.
    pub fn commit_log_offset(&self) -> i64 {
        self.stored.physical_offset
    }

    /// How many times consumers gave this message back before (0 for a first delivery).
    pub fn reconsume_times(&self) -> i32 {
        self.stored.reconsume_times
    }

    /// Every property, in order (user properties and RocketMQ's own: `TAGS`, `KEYS`,
    /// `UNIQ_KEY`, `RETRY_TOPIC`, `ORIGIN_MESSAGE_ID`, `TIMER_OUT_MS`, ...).
    pub fn properties(&self) -> impl Iterator<Item = (&str, &str)> {
        shardmq_protocol::message::properties::iter(&self.stored.properties)
    }

    /// The id of the message this one is a retry copy of (`ORIGIN_MESSAGE_ID`).
    pub fn origin_msg_id(&self) -> Option<&str> {
        self.property(names::ORIGIN_MESSAGE_ID)
    }

    /// When the producer made the message (ms since the epoch, the producer's clock).
    pub fn born_timestamp(&self) -> i64 {
        self.stored.born_timestamp
    }

    /// When the broker stored it (ms since the epoch, the broker's clock): for a delayed or
    /// retried message, when it was delivered to this topic.
    pub fn store_timestamp(&self) -> i64 {
        self.stored.store_timestamp
    }

    /// The broker's offset msgId (store address and commit-log offset, 32 hex digits).
    pub fn offset_msg_id(&self) -> String {
        shardmq_protocol::message::MessageId {
            store_host: self.stored.store_host,
            commit_log_offset: self.stored.physical_offset,
        }
        .to_string()
    }

    /// A message pulled from `retry_topic` (the consumer's group's) shows the topic it was
    /// first sent to, from its `RETRY_TOPIC` property, as RocketMQ clients show it.
    pub(crate) fn restore_retry_topic(&mut self, retry_topic: &str) {
        if self.stored.topic != retry_topic {
            return;
        }
        if let Some(original) = self.property(names::RETRY_TOPIC) {
            self.stored.topic = original.into();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(topic: &str, properties: &str) -> ReceivedMessage {
        ReceivedMessage {
            stored: StoredMessage {
                topic: topic.into(),
                properties: properties.into(),
                body: Bytes::from_static(b"body"),
                reconsume_times: 2,
                physical_offset: 4096,
                ..StoredMessage::default()
            },
        }
    }

    #[test]
    fn schedules_replace_each_other_and_never_round_early() {
        let table: &[(Message, &str, &str)] = &[
            (Message::new("T", "b").with_delay_level(3), "DELAY", "3"),
            (
                Message::new("T", "b").with_delay(Duration::from_micros(1500)),
                "TIMER_DELAY_MS",
                "2",
            ),
            (
                Message::new("T", "b").with_delay(Duration::from_secs(2)),
                "TIMER_DELAY_MS",
                "2000",
            ),
            (
                Message::new("T", "b")
                    .with_deliver_at(UNIX_EPOCH + Duration::from_micros(1_700_000_000_000_001)),
                "TIMER_DELIVER_MS",
                "1700000000001",
            ),
            (
                Message::new("T", "b").with_deliver_at(UNIX_EPOCH - Duration::from_secs(1)),
                "TIMER_DELIVER_MS",
                "0",
            ),
            (
                Message::new("T", "b")
                    .with_delay_level(2)
                    .with_delay(Duration::from_millis(5)),
                "TIMER_DELAY_MS",
                "5",
            ),
            (
                Message::new("T", "b")
                    .with_delay(Duration::from_millis(5))
                    .with_deliver_at(UNIX_EPOCH + Duration::from_millis(9)),
                "TIMER_DELIVER_MS",
                "9",
            ),
            (
                Message::new("T", "b")
                    .with_deliver_at(UNIX_EPOCH)
                    .with_delay_level(1),
                "DELAY",
                "1",
            ),
        ];
        for (message, name, value) in table {
            let schedule: Vec<(&str, &str)> = message
                .properties()
                .filter(|(k, _)| {
                    [
                        "DELAY",
                        "TIMER_DELIVER_MS",
                        "TIMER_DELAY_MS",
                        "TIMER_DELAY_SEC",
                    ]
                    .contains(k)
                })
                .collect();
            assert_eq!(schedule, vec![(*name, *value)], "{message:?}");
        }
    }

    #[test]
    fn a_retry_topics_message_shows_its_original_topic_and_others_are_left_alone() {
        let mut m = received("%RETRY%G", "RETRY_TOPIC\u{1}Orders\u{2}");
        m.restore_retry_topic("%RETRY%G");
        assert_eq!(m.topic(), "Orders");
        let mut other_group = received("%RETRY%H", "RETRY_TOPIC\u{1}Orders\u{2}");
        other_group.restore_retry_topic("%RETRY%G");
        assert_eq!(other_group.topic(), "%RETRY%H");
        let mut no_property = received("%RETRY%G", "TAGS\u{1}a\u{2}");
        no_property.restore_retry_topic("%RETRY%G");
        assert_eq!(no_property.topic(), "%RETRY%G");
        assert_eq!((m.reconsume_times(), m.commit_log_offset()), (2, 4096));
        assert_eq!(m.properties().count(), 1);
    }

    #[test]
    fn a_retry_copy_keeps_the_id_and_properties_and_names_its_origin() {
        let m = received(
            "Orders",
            "UNIQ_KEY\u{1}U1\u{2}TAGS\u{1}a\u{2}DELAY\u{1}2\u{2}RECONSUME_TIME\u{1}1\u{2}",
        );
        let copy = Message::retry_copy("%RETRY%G", &m, 5);
        assert_eq!(copy.topic, "%RETRY%G");
        assert_eq!(copy.body, m.stored.body);
        assert_eq!(copy.property("UNIQ_KEY"), Some("U1"));
        assert_eq!(copy.property("TAGS"), Some("a"));
        assert_eq!(copy.property("RETRY_TOPIC"), Some("Orders"));
        assert_eq!(copy.property("ORIGIN_MESSAGE_ID"), Some("U1"));
        assert_eq!(copy.property("DELAY"), Some("5"));
        assert_eq!(copy.property("RECONSUME_TIME"), None);
        // A copy of a copy keeps the first topic and id.
        let mut again = received(
            "%RETRY%G",
            "UNIQ_KEY\u{1}U1\u{2}RETRY_TOPIC\u{1}Orders\u{2}ORIGIN_MESSAGE_ID\u{1}X\u{2}",
        );
        again.restore_retry_topic("%RETRY%G");
        let copy = Message::retry_copy("%RETRY%G", &again, 0);
        assert_eq!(copy.property("RETRY_TOPIC"), Some("Orders"));
        assert_eq!(copy.property("ORIGIN_MESSAGE_ID"), Some("X"));
        assert_eq!(copy.property("DELAY"), None);
        // Without a UNIQ_KEY the origin is the offset msgId.
        let bare = received("Orders", "");
        let copy = Message::retry_copy("%RETRY%G", &bare, 3);
        assert_eq!(
            copy.property("ORIGIN_MESSAGE_ID"),
            Some(bare.offset_msg_id().as_str())
        );
    }
}
