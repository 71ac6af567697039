//! Offset headers: query/update consumer offset (14, 15), search by time (29), max/min
//! offset (30, 31), earliest store time (32), view message by id (33), and their responses.

use bytestring::ByteString;

use super::command_header;

command_header! {
    /// QUERY_CONSUMER_OFFSET (14) request header.
    pub struct QueryConsumerOffsetRequestHeader {
        required consumer_group: ByteString = "consumerGroup",
        required topic: ByteString = "topic",
        required queue_id: i32 = "queueId",
        optional set_zero_if_not_found: bool = "setZeroIfNotFound",
    }
}

command_header! {
    /// UPDATE_CONSUMER_OFFSET (15) request header.
    pub struct UpdateConsumerOffsetRequestHeader {
        required consumer_group: ByteString = "consumerGroup",
        required topic: ByteString = "topic",
        required queue_id: i32 = "queueId",
        required commit_offset: i64 = "commitOffset",
    }
}

command_header! {
    /// SEARCH_OFFSET_BY_TIMESTAMP (29) request header; `boundaryType` is `lower` or `upper`.
    pub struct SearchOffsetRequestHeader {
        required topic: ByteString = "topic",
        required queue_id: i32 = "queueId",
        required timestamp: i64 = "timestamp",
        optional boundary_type: ByteString = "boundaryType",
    }
}

command_header! {
    /// GET_MAX_OFFSET (30) request header.
    pub struct GetMaxOffsetRequestHeader {
        required topic: ByteString = "topic",
        required queue_id: i32 = "queueId",
        optional committed: bool = "committed",
    }
}

command_header! {
    /// GET_MIN_OFFSET (31) request header.
    pub struct GetMinOffsetRequestHeader {
        required topic: ByteString = "topic",
        required queue_id: i32 = "queueId",
    }
}

command_header! {
    /// GET_EARLIEST_MSG_STORETIME (32) request header.
    pub struct GetEarliestMsgStoretimeRequestHeader {
        required topic: ByteString = "topic",
        required queue_id: i32 = "queueId",
    }
}

command_header! {
    /// VIEW_MESSAGE_BY_ID (33) request header: `offset` is the commit-log offset.
    pub struct ViewMessageRequestHeader {
        optional topic: ByteString = "topic",
        required offset: i64 = "offset",
    }
}

command_header! {
    /// Response of QUERY_CONSUMER_OFFSET, SEARCH_OFFSET_BY_TIMESTAMP, GET_MAX_OFFSET and
    /// GET_MIN_OFFSET: one offset.
    pub struct OffsetResponseHeader {
        required offset: i64 = "offset",
    }
}

command_header! {
    /// GET_EARLIEST_MSG_STORETIME response header.
    pub struct GetEarliestMsgStoretimeResponseHeader {
        required timestamp: i64 = "timestamp",
    }
}
