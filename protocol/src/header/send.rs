//! Send headers: SEND_MESSAGE (10), SEND_MESSAGE_V2 (310, short keys `a`..`n`),
//! SEND_BATCH_MESSAGE (320, the V2 header with `m=true`), and the send response.

use bytestring::ByteString;

use super::command_header;

command_header! {
    /// SEND_MESSAGE (10) request header, long field names.
    pub struct SendMessageRequestHeader {
        required producer_group: ByteString = "producerGroup",
        required topic: ByteString = "topic",
        required default_topic: ByteString = "defaultTopic",
        required default_topic_queue_nums: i32 = "defaultTopicQueueNums",
        required queue_id: i32 = "queueId",
        required sys_flag: i32 = "sysFlag",
        required born_timestamp: i64 = "bornTimestamp",
        required flag: i32 = "flag",
        optional properties: ByteString = "properties",
        optional reconsume_times: i32 = "reconsumeTimes",
        optional unit_mode: bool = "unitMode",
        optional batch: bool = "batch",
        optional max_reconsume_times: i32 = "maxReconsumeTimes",
        /// RocketMQ 4.9.5+ RPC base field: the target broker's name.
        optional broker_name: ByteString = "bname",
    }
}

command_header! {
    /// SEND_MESSAGE_V2 (310) and SEND_BATCH_MESSAGE (320) request header: the same
    /// fields as [`SendMessageRequestHeader`] under one-letter keys.
    pub struct SendMessageRequestHeaderV2 {
        required producer_group: ByteString = "a",
        required topic: ByteString = "b",
        required default_topic: ByteString = "c",
        required default_topic_queue_nums: i32 = "d",
        required queue_id: i32 = "e",
        required sys_flag: i32 = "f",
        required born_timestamp: i64 = "g",
        required flag: i32 = "h",
        optional properties: ByteString = "i",
        optional reconsume_times: i32 = "j",
        optional unit_mode: bool = "k",
        optional max_reconsume_times: i32 = "l",
        optional batch: bool = "m",
        optional broker_name: ByteString = "n",
    }
}

impl From<SendMessageRequestHeaderV2> for SendMessageRequestHeader {
    fn from(v2: SendMessageRequestHeaderV2) -> Self {
        SendMessageRequestHeader {
            producer_group: v2.producer_group,
            topic: v2.topic,
            default_topic: v2.default_topic,
            default_topic_queue_nums: v2.default_topic_queue_nums,
            queue_id: v2.queue_id,
            sys_flag: v2.sys_flag,
            born_timestamp: v2.born_timestamp,
            flag: v2.flag,
            properties: v2.properties,
            reconsume_times: v2.reconsume_times,
            unit_mode: v2.unit_mode,
            batch: v2.batch,
            max_reconsume_times: v2.max_reconsume_times,
            broker_name: v2.broker_name,
        }
    }
}

impl From<SendMessageRequestHeader> for SendMessageRequestHeaderV2 {
    fn from(v1: SendMessageRequestHeader) -> Self {
        SendMessageRequestHeaderV2 {
            producer_group: v1.producer_group,
            topic: v1.topic,
            default_topic: v1.default_topic,
            default_topic_queue_nums: v1.default_topic_queue_nums,
            queue_id: v1.queue_id,
            sys_flag: v1.sys_flag,
            born_timestamp: v1.born_timestamp,
            flag: v1.flag,
            properties: v1.properties,
            reconsume_times: v1.reconsume_times,
            unit_mode: v1.unit_mode,
            max_reconsume_times: v1.max_reconsume_times,
            batch: v1.batch,
            broker_name: v1.broker_name,
        }
    }
}

command_header! {
    /// Response header of every send: the offset msgId (comma-joined for a batch), the
    /// queue and the queue offset of the (first) message.
    pub struct SendMessageResponseHeader {
        required msg_id: ByteString = "msgId",
        required queue_id: i32 = "queueId",
        required queue_offset: i64 = "queueOffset",
        optional transaction_id: ByteString = "transactionId",
        optional batch_uniq_id: ByteString = "batchUniqId",
    }
}

/// The fields of a [`SendMessageRequestHeaderV2`], borrowed: what a client writes for every
/// send with no allocation. Writes exactly the owned header's bytes (keys `a`..`n`, in that
/// order, optional ones only when set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendMessageRequestHeaderV2Fields<'a> {
    pub producer_group: &'a str,
    pub topic: &'a str,
    pub default_topic: &'a str,
    pub default_topic_queue_nums: i32,
    pub queue_id: i32,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub flag: i32,
    pub properties: Option<&'a str>,
    pub reconsume_times: Option<i32>,
    pub unit_mode: Option<bool>,
    pub max_reconsume_times: Option<i32>,
    pub batch: Option<bool>,
    pub broker_name: Option<&'a str>,
}

impl crate::ext::WriteFields for SendMessageRequestHeaderV2Fields<'_> {
    fn write_fields<S: crate::ext::FieldSink>(&self, sink: &mut S) {
        use crate::ext::FieldValue;
        sink.field("a", self.producer_group);
        sink.field("b", self.topic);
        sink.field("c", self.default_topic);
        self.default_topic_queue_nums.write_field("d", sink);
        self.queue_id.write_field("e", sink);
        self.sys_flag.write_field("f", sink);
        self.born_timestamp.write_field("g", sink);
        self.flag.write_field("h", sink);
        if let Some(v) = self.properties {
            sink.field("i", v);
        }
        if let Some(v) = self.reconsume_times {
            v.write_field("j", sink);
        }
        if let Some(v) = self.unit_mode {
            v.write_field("k", sink);
        }
        if let Some(v) = self.max_reconsume_times {
            v.write_field("l", sink);
        }
        if let Some(v) = self.batch {
            v.write_field("m", sink);
        }
        if let Some(v) = self.broker_name {
            sink.field("n", v);
        }
    }
}

/// The fields of a single message's [`SendMessageResponseHeader`], borrowed: what a broker
/// writes straight into its output buffer for every acknowledged send, with no allocation.
/// Writes the same keys in the same order as the owned header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendMessageResponseFields<'a> {
    pub msg_id: &'a str,
    pub queue_id: i32,
    pub queue_offset: i64,
}

impl crate::ext::WriteFields for SendMessageResponseFields<'_> {
    fn write_fields<S: crate::ext::FieldSink>(&self, sink: &mut S) {
        use crate::ext::FieldValue;
        sink.field("msgId", self.msg_id);
        self.queue_id.write_field("queueId", sink);
        self.queue_offset.write_field("queueOffset", sink);
    }
}

/// What a broker stores of a single send, borrowed from the request's extFields: one pass,
/// no allocation, for SEND_MESSAGE (long keys, `short_keys = false`) and SEND_MESSAGE_V2 /
/// SEND_BATCH_MESSAGE (keys `a`..`n`). The same rules as decoding
/// [`SendMessageRequestHeader`] / [`SendMessageRequestHeaderV2`]: every required field must
/// be present and parse, the first occurrence of a key wins; absent optional fields read as
/// RocketMQ's defaults (no properties, 0 reconsume times, not a batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendMessageView<'a> {
    pub topic: &'a str,
    pub queue_id: i32,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub flag: i32,
    pub properties: &'a str,
    pub reconsume_times: i32,
    /// `maxReconsumeTimes` when the header has it (a send to a retry topic).
    pub max_reconsume_times: Option<i32>,
    pub batch: bool,
}

impl<'a> SendMessageView<'a> {
    /// Reads the view; errors name the header and the field as the typed headers do.
    pub fn decode(ext: &'a crate::ext::ExtFields, short_keys: bool) -> crate::error::Result<Self> {
        use crate::error::Error;
        use crate::ext::FieldValue;
        let (keys, header) = if short_keys {
            (&SHORT_KEYS, "SendMessageRequestHeaderV2")
        } else {
            (&LONG_KEYS, "SendMessageRequestHeader")
        };
        let mut seen = [false; 12];
        let mut view = SendMessageView {
            topic: "",
            queue_id: 0,
            sys_flag: 0,
            born_timestamp: 0,
            flag: 0,
            properties: "",
            reconsume_times: 0,
            max_reconsume_times: None,
            batch: false,
        };
        for f in ext.fields() {
            let Some(i) = send_field_slot(f.key, short_keys) else {
                continue;
            };
            if seen[i] {
                continue;
            }
            seen[i] = true;
            let bad = |reason| Error::BadField {
                header,
                field: keys[i],
                reason,
            };
            match i {
                1 => view.topic = f.value,
                3 => {
                    i32::parse_field(&f).map_err(bad)?;
                }
                4 => view.queue_id = i32::parse_field(&f).map_err(bad)?,
                5 => view.sys_flag = i32::parse_field(&f).map_err(bad)?,
                6 => view.born_timestamp = i64::parse_field(&f).map_err(bad)?,
                7 => view.flag = i32::parse_field(&f).map_err(bad)?,
                8 => view.properties = f.value,
                9 => view.reconsume_times = i32::parse_field(&f).map_err(bad)?,
                10 => view.batch = bool::parse_field(&f).map_err(bad)?,
                11 => view.max_reconsume_times = Some(i32::parse_field(&f).map_err(bad)?),
                _ => {}
            }
        }
        // producerGroup .. flag are required.
        if let Some(missing) = (0..8).find(|i| !seen[*i]) {
            return Err(Error::MissingField {
                header,
                field: keys[missing],
            });
        }
        Ok(view)
    }
}

/// Wire keys of the fields [`SendMessageView`] reads or checks, by slot; slots 0..8 are the
/// required ones.
const LONG_KEYS: [&str; 12] = [
    "producerGroup",
    "topic",
    "defaultTopic",
    "defaultTopicQueueNums",
    "queueId",
    "sysFlag",
    "bornTimestamp",
    "flag",
    "properties",
    "reconsumeTimes",
    "batch",
    "maxReconsumeTimes",
];
const SHORT_KEYS: [&str; 12] = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "m", "l"];

/// The slot of `key` in [`LONG_KEYS`] or [`SHORT_KEYS`]. A `match`, not a search: this runs
/// for every field of every send.
fn send_field_slot(key: &str, short_keys: bool) -> Option<usize> {
    if short_keys {
        return match key.as_bytes() {
            [c @ b'a'..=b'j'] => Some(usize::from(c - b'a')),
            [b'm'] => Some(10),
            [b'l'] => Some(11),
            _ => None,
        };
    }
    match key {
        "producerGroup" => Some(0),
        "topic" => Some(1),
        "defaultTopic" => Some(2),
        "defaultTopicQueueNums" => Some(3),
        "queueId" => Some(4),
        "sysFlag" => Some(5),
        "bornTimestamp" => Some(6),
        "flag" => Some(7),
        "properties" => Some(8),
        "reconsumeTimes" => Some(9),
        "batch" => Some(10),
        "maxReconsumeTimes" => Some(11),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_slots_match_the_key_tables_and_nothing_else() {
        for (slot, key) in LONG_KEYS.iter().enumerate() {
            assert_eq!(send_field_slot(key, false), Some(slot), "{key}");
            assert_eq!(send_field_slot(key, true), None, "{key} is not a short key");
        }
        for (slot, key) in SHORT_KEYS.iter().enumerate() {
            assert_eq!(send_field_slot(key, true), Some(slot), "{key}");
        }
        for other in ["k", "n", "bname", "", "unitMode", "aa", "B"] {
            assert_eq!(send_field_slot(other, true), None, "{other}");
            assert_eq!(send_field_slot(other, false), None, "{other}");
        }
    }
}
