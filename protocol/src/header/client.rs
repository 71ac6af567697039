//! Client-management headers: unregister client (35), consumer list (38), notify consumer
//! ids changed (40), consumer send-back (36).

use bytestring::ByteString;

use super::command_header;

command_header! {
    /// UNREGISTER_CLIENT (35) request header.
    pub struct UnregisterClientRequestHeader {
        required client_id: ByteString = "clientID",
        optional producer_group: ByteString = "producerGroup",
        optional consumer_group: ByteString = "consumerGroup",
    }
}

command_header! {
    /// GET_CONSUMER_LIST_BY_GROUP (38) request header.
    pub struct GetConsumerListByGroupRequestHeader {
        required consumer_group: ByteString = "consumerGroup",
    }
}

command_header! {
    /// NOTIFY_CONSUMER_IDS_CHANGED (40) request header (broker to client, oneway).
    pub struct NotifyConsumerIdsChangedRequestHeader {
        required consumer_group: ByteString = "consumerGroup",
    }
}

command_header! {
    /// CONSUMER_SEND_MSG_BACK (36) request header: `offset` is the commit-log offset.
    pub struct ConsumerSendMsgBackRequestHeader {
        required offset: i64 = "offset",
        required group: ByteString = "group",
        required delay_level: i32 = "delayLevel",
        optional origin_msg_id: ByteString = "originMsgId",
        optional origin_topic: ByteString = "originTopic",
        optional unit_mode: bool = "unitMode",
        optional max_reconsume_times: i32 = "maxReconsumeTimes",
    }
}
