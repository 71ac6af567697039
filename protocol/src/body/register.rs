//! REGISTER_BROKER (103) body: the broker's topic configs and their data version.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::JsonBody;
use crate::lenient::wire_enum;

wire_enum! {
    /// How a topic's tags are filtered.
    pub enum TopicFilterType { SINGLE_TAG, MULTI_TAG }
}

/// The register-broker body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RegisterBrokerBody {
    pub topic_config_serialize_wrapper: TopicConfigSerializeWrapper,
    pub filter_server_list: Vec<String>,
}

impl JsonBody for RegisterBrokerBody {
    const NAME: &'static str = "RegisterBrokerBody";
}

/// Topic configs by name, with the version they were read at.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfigSerializeWrapper {
    pub topic_config_table: BTreeMap<String, TopicConfig>,
    pub data_version: DataVersion,
}

/// One topic's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfig {
    pub topic_name: String,
    pub read_queue_nums: i32,
    pub write_queue_nums: i32,
    pub perm: i32,
    pub topic_filter_type: TopicFilterType,
    pub topic_sys_flag: i32,
    pub order: bool,
    pub attributes: BTreeMap<String, String>,
    /// ShardMQ extension: the port of the shard that owns each write queue, which the name
    /// server publishes as `QueueData::shard_ports`. Other name servers ignore it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard_ports: Option<Vec<u16>>,
}

impl Default for TopicConfig {
    /// RocketMQ's defaults: 16 read and write queues, read-write permission.
    fn default() -> Self {
        TopicConfig {
            topic_name: String::new(),
            read_queue_nums: 16,
            write_queue_nums: 16,
            perm: 6,
            topic_filter_type: TopicFilterType::SINGLE_TAG,
            topic_sys_flag: 0,
            order: false,
            attributes: BTreeMap::new(),
            shard_ports: None,
        }
    }
}

/// A data version: brokers bump it when their topic configs change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DataVersion {
    pub state_version: i64,
    pub timestamp: i64,
    pub counter: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_register_body_decodes_with_defaults_for_missing_fields() {
        let json = r#"{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":3,"timestamp":1700000000000},"topicConfigTable":{"T":{"order":false,"perm":6,"readQueueNums":8,"topicFilterType":"SINGLE_TAG","topicName":"T","topicSysFlag":0,"writeQueueNums":8}}}}"#;
        let body = RegisterBrokerBody::decode(json.as_bytes()).unwrap();
        let w = &body.topic_config_serialize_wrapper;
        assert_eq!(w.data_version.counter, 3);
        assert_eq!(w.data_version.state_version, 0);
        let t = &w.topic_config_table["T"];
        assert_eq!((t.read_queue_nums, t.perm), (8, 6));
        assert!(t.attributes.is_empty());
    }
}
