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
