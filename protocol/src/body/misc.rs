//! Small bodies: consumer id list (38), message queues and lock/unlock batch (41, 42),
//! topic list (206).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::JsonBody;

/// GET_CONSUMER_LIST_BY_GROUP (38) response body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerIdList {
    pub consumer_id_list: Vec<String>,
}

impl JsonBody for ConsumerIdList {
    const NAME: &'static str = "GetConsumerListByGroupResponseBody";
}

/// One queue of a topic on a broker.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MessageQueue {
    pub topic: String,
    pub broker_name: String,
    #[serde(deserialize_with = "crate::lenient::int")]
    pub queue_id: i32,
}

/// LOCK_BATCH_MQ (41) and UNLOCK_BATCH_MQ (42) request body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LockBatchRequestBody {
    pub consumer_group: String,
    pub client_id: String,
    pub only_this_broker: bool,
    pub mq_set: Vec<MessageQueue>,
}

impl JsonBody for LockBatchRequestBody {
    const NAME: &'static str = "LockBatchRequestBody";
}

/// UNLOCK_BATCH_MQ (42) has the same body as LOCK_BATCH_MQ.
pub type UnlockBatchRequestBody = LockBatchRequestBody;

/// LOCK_BATCH_MQ response body: the queues now locked by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LockBatchResponseBody {
    #[serde(rename = "lockOKMQSet")]
    pub lock_ok_mq_set: Vec<MessageQueue>,
}

impl JsonBody for LockBatchResponseBody {
    const NAME: &'static str = "LockBatchResponseBody";
}

/// GET_ALL_TOPIC_LIST_FROM_NAMESERVER (206) response body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicList {
    pub topic_list: BTreeSet<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_addr: Option<String>,
}

impl JsonBody for TopicList {
    const NAME: &'static str = "TopicList";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_batch_bodies_use_rocketmq_names() {
        let json = r#"{"consumerGroup":"G","clientId":"c1","onlyThisBroker":true,"mqSet":[{"topic":"T","brokerName":"b","queueId":3}]}"#;
        let body = LockBatchRequestBody::decode(json.as_bytes()).unwrap();
        assert_eq!(body.mq_set[0].queue_id, 3);
        assert!(body.only_this_broker);
        let reply = LockBatchResponseBody {
            lock_ok_mq_set: body.mq_set.clone(),
        };
        let text = String::from_utf8(reply.encode().to_vec()).unwrap();
        assert_eq!(
            text,
            r#"{"lockOKMQSet":[{"topic":"T","brokerName":"b","queueId":3}]}"#
        );
    }

    #[test]
    fn consumer_id_list_round_trips() {
        let list = ConsumerIdList {
            consumer_id_list: vec!["a@1".into(), "b@2".into()],
        };
        let text = list.encode();
        assert_eq!(&text[..], br#"{"consumerIdList":["a@1","b@2"]}"#);
        assert_eq!(ConsumerIdList::decode(&text).unwrap(), list);
    }
}

/// Offsets of one queue (`TopicOffset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicOffset {
    pub min_offset: i64,
    pub max_offset: i64,
    pub last_update_timestamp: i64,
}

/// GET_TOPIC_STATS_INFO (202) response body: offsets per queue. Java writes it with
/// fastjson, whose map keys here are objects (`{"offsetTable":{{"brokerName":..}:{..}}}`),
/// which is not standard JSON; this type reads and writes exactly that form.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicStatsTable {
    pub offset_table: Vec<(MessageQueue, TopicOffset)>,
}

impl TopicStatsTable {
    /// The fastjson form Java clients parse.
    pub fn encode(&self) -> bytes::Bytes {
        let mut out = String::from("{\"offsetTable\":{");
        for (i, (mq, offsets)) in self.offset_table.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&serde_json::to_string(mq).unwrap_or_default());
            out.push(':');
            out.push_str(&serde_json::to_string(offsets).unwrap_or_default());
        }
        out.push_str("}}");
        bytes::Bytes::from(out)
    }

    /// Reads the fastjson form.
    pub fn decode(bytes: &[u8]) -> crate::Result<TopicStatsTable> {
        let bad = |reason: String| crate::Error::Json {
            what: "TopicStatsTable",
            reason,
        };
        let text = std::str::from_utf8(bytes).map_err(|e| bad(e.to_string()))?;
        let start = text
            .find("\"offsetTable\"")
            .and_then(|at| text[at..].find('{').map(|b| at + b + 1))
            .ok_or_else(|| bad("no offsetTable object".into()))?;
        let mut rest = text[start..].trim_start();
        let mut table = TopicStatsTable::default();
        loop {
            if rest.starts_with('}') {
                return Ok(table);
            }
            let mut keys = serde_json::Deserializer::from_str(rest).into_iter::<MessageQueue>();
            let mq = keys
                .next()
                .ok_or_else(|| bad("expected a queue object".into()))?
                .map_err(|e| bad(e.to_string()))?;
            rest = rest[keys.byte_offset()..].trim_start();
            rest = rest
                .strip_prefix(':')
                .ok_or_else(|| bad("expected `:` after a queue".into()))?
                .trim_start();
            let mut values = serde_json::Deserializer::from_str(rest).into_iter::<TopicOffset>();
            let offsets = values
                .next()
                .ok_or_else(|| bad("expected offsets".into()))?
                .map_err(|e| bad(e.to_string()))?;
            rest = rest[values.byte_offset()..].trim_start();
            table.offset_table.push((mq, offsets));
            rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
        }
    }
}

#[cfg(test)]
mod stats_tests {
    use super::*;

    #[test]
    fn topic_stats_use_fastjson_object_keys_both_ways() {
        let table = TopicStatsTable {
            offset_table: vec![
                (
                    MessageQueue {
                        topic: "T".into(),
                        broker_name: "b".into(),
                        queue_id: 0,
                    },
                    TopicOffset {
                        min_offset: 0,
                        max_offset: 5,
                        last_update_timestamp: 7,
                    },
                ),
                (
                    MessageQueue {
                        topic: "T".into(),
                        broker_name: "b".into(),
                        queue_id: 1,
                    },
                    TopicOffset {
                        min_offset: 2,
                        max_offset: 3,
                        last_update_timestamp: 0,
                    },
                ),
            ],
        };
        let text = table.encode();
        assert_eq!(
            &text[..],
            br#"{"offsetTable":{{"topic":"T","brokerName":"b","queueId":0}:{"minOffset":0,"maxOffset":5,"lastUpdateTimestamp":7},{"topic":"T","brokerName":"b","queueId":1}:{"minOffset":2,"maxOffset":3,"lastUpdateTimestamp":0}}}"#
        );
        assert_eq!(TopicStatsTable::decode(&text).unwrap(), table);
        assert_eq!(
            TopicStatsTable::decode(br#"{"offsetTable":{}}"#).unwrap(),
            TopicStatsTable::default()
        );
        assert!(TopicStatsTable::decode(br#"{"offsetTable":{{"topic":1}:{}}}"#).is_err());
    }
}

/// GET_ALL_DELAY_OFFSET's reply body and RocketMQ's `delayOffset.json`
/// (`DelayOffsetSerializeWrapper`): delay level → how far its schedule queue was delivered.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DelayOffsetTable {
    #[serde(default)]
    pub offset_table: std::collections::BTreeMap<i32, i64>,
}

impl JsonBody for DelayOffsetTable {
    const NAME: &'static str = "DelayOffsetSerializeWrapper";
}
