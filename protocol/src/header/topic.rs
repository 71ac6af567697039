//! Topic administration headers: create/update (17) and delete in broker (215).

use bytestring::ByteString;

use super::command_header;

/// Topic permission: readable.
pub const PERM_READ: i32 = 4;
/// Topic permission: writable.
pub const PERM_WRITE: i32 = 2;
/// Topic permission: inherit.
pub const PERM_INHERIT: i32 = 1;

command_header! {
    /// UPDATE_AND_CREATE_TOPIC (17) request header.
    pub struct CreateTopicRequestHeader {
        required topic: ByteString = "topic",
        required default_topic: ByteString = "defaultTopic",
        required read_queue_nums: i32 = "readQueueNums",
        required write_queue_nums: i32 = "writeQueueNums",
        required perm: i32 = "perm",
        required topic_filter_type: ByteString = "topicFilterType",
        optional topic_sys_flag: i32 = "topicSysFlag",
        required order: bool = "order",
        optional attributes: ByteString = "attributes",
        optional force: bool = "force",
    }
}

command_header! {
    /// DELETE_TOPIC_IN_BROKER (215) request header.
    pub struct DeleteTopicRequestHeader {
        required topic: ByteString = "topic",
    }
}

command_header! {
    /// SHARDMQ_MOVE_QUEUE (9101, a ShardMQ extension): new messages of the queue go to
    /// shard `toShard`; its history stays readable where it was written.
    pub struct MoveQueueRequestHeader {
        required topic: ByteString = "topic",
        required queue_id: i32 = "queueId",
        required to_shard: i32 = "toShard",
    }
}

command_header! {
    /// GET_TOPIC_STATS_INFO (202) request header.
    pub struct GetTopicStatsInfoRequestHeader {
        required topic: ByteString = "topic",
    }
}
