//! Messages as a producer builds them and as a consumer receives them.

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

    /// Delay level for delayed delivery (RocketMQ's `DELAY` property).
    pub fn with_delay_level(mut self, level: u32) -> Message {
        let _ = self
            .properties
            .set(names::DELAY_TIME_LEVEL, &level.to_string());
        self
    }

    /// A property's value.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.get(name)
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

fn push_property(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push(NAME_VALUE_SEPARATOR);
    out.push_str(value);
    out.push(PROPERTY_SEPARATOR);
}

/// A message as a consumer receives it.
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
}
