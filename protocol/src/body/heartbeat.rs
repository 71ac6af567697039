//! HEART_BEAT (34) body: the client's producer and consumer groups and subscriptions.

use serde::{Deserialize, Serialize};

use super::JsonBody;
use crate::lenient::wire_enum;

wire_enum! {
    /// How a consumer gets messages.
    pub enum ConsumeType { CONSUME_ACTIVELY, CONSUME_PASSIVELY, CONSUME_POP }
}

wire_enum! {
    /// Clustering shares a group's queues among its members; broadcasting gives each all.
    pub enum MessageModel { BROADCASTING, CLUSTERING }
}

wire_enum! {
    /// Where a consumer group with no committed offset starts.
    pub enum ConsumeFromWhere {
        CONSUME_FROM_LAST_OFFSET,
        CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST,
        CONSUME_FROM_MIN_OFFSET,
        CONSUME_FROM_MAX_OFFSET,
        CONSUME_FROM_FIRST_OFFSET,
        CONSUME_FROM_TIMESTAMP,
    }
}

/// The heartbeat body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatData {
    #[serde(rename = "clientID")]
    pub client_id: String,
    #[serde(default)]
    pub producer_data_set: Vec<ProducerData>,
    #[serde(default)]
    pub consumer_data_set: Vec<ConsumerData>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_int"
    )]
    pub heartbeat_fingerprint: Option<i32>,
    #[serde(
        default,
        rename = "withoutSub",
        alias = "isWithoutSub",
        skip_serializing_if = "Option::is_none"
    )]
    pub without_sub: Option<bool>,
}

fn opt_int<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    crate::lenient::int(d).map(Some)
}

impl JsonBody for HeartbeatData {
    const NAME: &'static str = "HeartbeatData";
}

/// A producer group the client belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProducerData {
    pub group_name: String,
}

/// A consumer group the client belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerData {
    pub group_name: String,
    pub consume_type: ConsumeType,
    pub message_model: MessageModel,
    pub consume_from_where: ConsumeFromWhere,
    pub subscription_data_set: Vec<SubscriptionData>,
    pub unit_mode: bool,
}

/// One subscription: a topic and a tag expression (`*`, or `TagA || TagB`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionData {
    pub class_filter_mode: bool,
    pub topic: String,
    pub sub_string: String,
    pub tags_set: Vec<String>,
    pub code_set: Vec<i32>,
    #[serde(deserialize_with = "crate::lenient::int")]
    pub sub_version: i64,
    pub expression_type: String,
}

impl Default for SubscriptionData {
    fn default() -> Self {
        SubscriptionData {
            class_filter_mode: false,
            topic: String::new(),
            sub_string: "*".to_owned(),
            tags_set: Vec::new(),
            code_set: Vec::new(),
            sub_version: 0,
            expression_type: "TAG".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_heartbeat_with_enum_names_decodes() {
        let json = r#"{"clientID":"10.0.0.1@123","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"G","messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[2598919],"expressionType":"TAG","subString":"TagA","subVersion":1700000000000,"tagsSet":["TagA"],"topic":"T"}],"unitMode":false}],"producerDataSet":[{"groupName":"CLIENT_INNER_PRODUCER"}]}"#;
        let hb = HeartbeatData::decode(json.as_bytes()).unwrap();
        assert_eq!(hb.client_id, "10.0.0.1@123");
        let c = &hb.consumer_data_set[0];
        assert_eq!(c.consume_type, ConsumeType::CONSUME_PASSIVELY);
        assert_eq!(c.message_model, MessageModel::CLUSTERING);
        assert_eq!(c.subscription_data_set[0].tags_set, ["TagA"]);
        assert_eq!(c.subscription_data_set[0].sub_version, 1_700_000_000_000);
        assert_eq!(hb.producer_data_set[0].group_name, "CLIENT_INNER_PRODUCER");
    }

    #[test]
    fn cpp_heartbeat_with_enum_ordinals_decodes() {
        let json = r#"{"clientID":"127.0.0.1@9","consumerDataSet":[{"consumeFromWhere":4,"consumeType":1,"groupName":"G","messageModel":0,"subscriptionDataSet":[{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":"42","tagsSet":[],"topic":"T"}],"unitMode":false}],"producerDataSet":[]}"#;
        let hb = HeartbeatData::decode(json.as_bytes()).unwrap();
        let c = &hb.consumer_data_set[0];
        assert_eq!(
            c.consume_from_where,
            ConsumeFromWhere::CONSUME_FROM_FIRST_OFFSET
        );
        assert_eq!(c.consume_type, ConsumeType::CONSUME_PASSIVELY);
        assert_eq!(c.message_model, MessageModel::BROADCASTING);
        assert_eq!(c.subscription_data_set[0].sub_version, 42);
    }

    #[test]
    fn out_of_range_ordinal_and_unknown_name_are_errors() {
        for bad in [
            r#"{"clientID":"x","consumerDataSet":[{"messageModel":7}]}"#,
            r#"{"clientID":"x","consumerDataSet":[{"consumeType":"PUSHY"}]}"#,
        ] {
            let err = HeartbeatData::decode(bad.as_bytes()).unwrap_err();
            assert!(
                matches!(
                    err,
                    crate::Error::Json {
                        what: "HeartbeatData",
                        ..
                    }
                ),
                "{err}"
            );
        }
    }

    #[test]
    fn enums_encode_as_names() {
        let json = serde_json::to_string(&ConsumeFromWhere::CONSUME_FROM_TIMESTAMP).unwrap();
        assert_eq!(json, "\"CONSUME_FROM_TIMESTAMP\"");
        assert_eq!(ConsumeFromWhere::CONSUME_FROM_TIMESTAMP.ordinal(), 5);
    }
}
