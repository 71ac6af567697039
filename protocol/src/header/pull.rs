//! PULL_MESSAGE (11) request and response headers, and the pull sysFlag bits.

use bytestring::ByteString;

use super::command_header;

/// Pull sysFlag: the request carries a consumer offset to commit.
pub const PULL_FLAG_COMMIT_OFFSET: i32 = 0x1;
/// Pull sysFlag: hold the request until a message arrives or `suspendTimeoutMillis` passes.
pub const PULL_FLAG_SUSPEND: i32 = 0x2;
/// Pull sysFlag: the request carries a subscription expression.
pub const PULL_FLAG_SUBSCRIPTION: i32 = 0x4;
/// Pull sysFlag: class filter mode.
pub const PULL_FLAG_CLASS_FILTER: i32 = 0x8;
/// Pull sysFlag: a lite pull consumer.
pub const PULL_FLAG_LITE_PULL: i32 = 0x10;

command_header! {
    /// PULL_MESSAGE (11) request header.
    pub struct PullMessageRequestHeader {
        required consumer_group: ByteString = "consumerGroup",
        required topic: ByteString = "topic",
        required queue_id: i32 = "queueId",
        required queue_offset: i64 = "queueOffset",
        required max_msg_nums: i32 = "maxMsgNums",
        required sys_flag: i32 = "sysFlag",
        required commit_offset: i64 = "commitOffset",
        required suspend_timeout_millis: i64 = "suspendTimeoutMillis",
        optional subscription: ByteString = "subscription",
        required sub_version: i64 = "subVersion",
        optional expression_type: ByteString = "expressionType",
        optional max_msg_bytes: i32 = "maxMsgBytes",
        optional request_source: i32 = "requestSource",
    }
}

command_header! {
    /// PULL_MESSAGE response header (codes FOUND 0, PULL_NOT_FOUND 19,
    /// PULL_RETRY_IMMEDIATELY 20, PULL_OFFSET_MOVED 21).
    pub struct PullMessageResponseHeader {
        required suggest_which_broker_id: i64 = "suggestWhichBrokerId",
        required next_begin_offset: i64 = "nextBeginOffset",
        required min_offset: i64 = "minOffset",
        required max_offset: i64 = "maxOffset",
        optional offset_delta: i64 = "offsetDelta",
        optional topic_sys_flag: i32 = "topicSysFlag",
        optional group_sys_flag: i32 = "groupSysFlag",
    }
}
