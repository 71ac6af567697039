//! Route bodies: GET_ROUTEINFO_BY_TOPIC (105) and GET_BROKER_CLUSTER_INFO (106).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::JsonBody;

/// The broker id of a master in `brokerAddrs`.
pub const MASTER_ID: i64 = 0;

/// A topic's route: its queues per broker and the brokers' addresses.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicRouteData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_topic_conf: Option<String>,
    pub queue_datas: Vec<QueueData>,
    pub broker_datas: Vec<BrokerData>,
    pub filter_server_table: BTreeMap<String, Vec<String>>,
}

impl JsonBody for TopicRouteData {
    const NAME: &'static str = "TopicRouteData";
}

/// A topic's queues on one broker.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueueData {
    pub broker_name: String,
    pub read_queue_nums: i32,
    pub write_queue_nums: i32,
    /// PERM_READ 4 | PERM_WRITE 2.
    pub perm: i32,
    pub topic_sys_flag: i32,
    /// ShardMQ extension: `shardPorts[q]` is the port of the core that owns queue `q`, so a
    /// shard-aware client connects straight to it. Other clients ignore the field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard_ports: Option<Vec<u16>>,
}

/// A broker group: its cluster, name and the address of each member by broker id.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BrokerData {
    pub cluster: String,
    pub broker_name: String,
    /// Broker id (0 = master) to `ip:port`.
    pub broker_addrs: BTreeMap<i64, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone_name: Option<String>,
    pub enable_acting_master: bool,
}

impl BrokerData {
    /// The master's address, if it is registered.
    pub fn master_addr(&self) -> Option<&str> {
        self.broker_addrs.get(&MASTER_ID).map(String::as_str)
    }
}

/// GET_BROKER_CLUSTER_INFO (106) body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterInfo {
    pub broker_addr_table: BTreeMap<String, BrokerData>,
    pub cluster_addr_table: BTreeMap<String, BTreeSet<String>>,
}

impl JsonBody for ClusterInfo {
    const NAME: &'static str = "ClusterInfo";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fastjson_route_with_bare_broker_id_keys_decodes() {
        let json = r#"{"brokerDatas":[{"brokerAddrs":{0:"127.0.0.1:10911",1:"127.0.0.1:10912"},"brokerName":"b","cluster":"DefaultCluster","enableActingMaster":false}],"filterServerTable":{},"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":8,"topicSysFlag":0,"writeQueueNums":8}]}"#;
        let route = TopicRouteData::decode(json.as_bytes()).unwrap();
        assert_eq!(route.broker_datas[0].master_addr(), Some("127.0.0.1:10911"));
        assert_eq!(route.broker_datas[0].broker_addrs.len(), 2);
        assert_eq!(route.queue_datas[0].write_queue_nums, 8);
        assert_eq!(route.queue_datas[0].shard_ports, None);
    }

    #[test]
    fn route_encodes_quoted_ids_and_shard_ports_only_when_present() {
        let mut route = TopicRouteData::default();
        route.broker_datas.push(BrokerData {
            cluster: "c".into(),
            broker_name: "b".into(),
            broker_addrs: [(0, "127.0.0.1:10911".to_owned())].into(),
            ..Default::default()
        });
        route.queue_datas.push(QueueData {
            broker_name: "b".into(),
            read_queue_nums: 2,
            write_queue_nums: 2,
            perm: 6,
            topic_sys_flag: 0,
            shard_ports: None,
        });
        let plain = String::from_utf8(route.encode().to_vec()).unwrap();
        assert!(
            plain.contains(r#""brokerAddrs":{"0":"127.0.0.1:10911"}"#),
            "{plain}"
        );
        assert!(!plain.contains("shardPorts"));
        route.queue_datas[0].shard_ports = Some(vec![10921, 10922]);
        let ext = String::from_utf8(route.encode().to_vec()).unwrap();
        assert!(ext.contains(r#""shardPorts":[10921,10922]"#), "{ext}");
        assert_eq!(TopicRouteData::decode(ext.as_bytes()).unwrap(), route);
    }
}
