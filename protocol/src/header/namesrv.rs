//! Name-server headers: register / unregister broker (103, 104), route by topic (105),
//! delete topic in namesrv (216).

use bytestring::ByteString;

use super::command_header;

command_header! {
    /// REGISTER_BROKER (103) request header; the body is a register-broker body.
    pub struct RegisterBrokerRequestHeader {
        required broker_name: ByteString = "brokerName",
        required broker_addr: ByteString = "brokerAddr",
        required cluster_name: ByteString = "clusterName",
        required ha_server_addr: ByteString = "haServerAddr",
        required broker_id: i64 = "brokerId",
        optional heartbeat_timeout_millis: i64 = "heartbeatTimeoutMillis",
        optional enable_acting_master: bool = "enableActingMaster",
        optional compressed: bool = "compressed",
        optional body_crc32: i32 = "bodyCrc32",
    }
}

command_header! {
    /// REGISTER_BROKER response header.
    pub struct RegisterBrokerResponseHeader {
        optional ha_server_addr: ByteString = "haServerAddr",
        optional master_addr: ByteString = "masterAddr",
    }
}

command_header! {
    /// UNREGISTER_BROKER (104) request header.
    pub struct UnregisterBrokerRequestHeader {
        required broker_name: ByteString = "brokerName",
        required broker_addr: ByteString = "brokerAddr",
        required cluster_name: ByteString = "clusterName",
        required broker_id: i64 = "brokerId",
    }
}

command_header! {
    /// GET_ROUTEINFO_BY_TOPIC (105) request header.
    pub struct GetRouteInfoRequestHeader {
        required topic: ByteString = "topic",
        optional accept_standard_json_only: bool = "acceptStandardJsonOnly",
    }
}

command_header! {
    /// DELETE_TOPIC_IN_NAMESRV (216) request header.
    pub struct DeleteTopicFromNamesrvRequestHeader {
        required topic: ByteString = "topic",
        optional cluster_name: ByteString = "clusterName",
    }
}
