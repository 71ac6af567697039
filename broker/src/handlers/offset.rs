//! Offsets: query/update consumer offset (14, 15, with RocketMQ's behaviour for a new
//! group), max/min offset (30, 31), search by time (29), earliest store time (32), and view
//! message by offset msgId (33).

use std::rc::Rc;

use bytes::Bytes;
use shardmq_protocol::codes::{request_code, response_code};
use shardmq_protocol::command::Command;
use shardmq_protocol::header::{
    EmptyHeader, GetEarliestMsgStoretimeRequestHeader, GetEarliestMsgStoretimeResponseHeader,
    GetMaxOffsetRequestHeader, GetMinOffsetRequestHeader, OffsetResponseHeader,
    QueryConsumerOffsetRequestHeader, SearchOffsetRequestHeader, UpdateConsumerOffsetRequestHeader,
    ViewMessageRequestHeader,
};

use super::error;
use crate::shard::Shard;
use crate::store::Position;

/// Records a consumer's committed offset for a queue this shard owns.
pub fn commit(shard: &Shard, topic: &str, group: &str, queue_id: i32, offset: i64) {
    shard
        .offsets
        .borrow_mut()
        .set(topic, group, queue_id, offset);
    shard.offsets_dirty.set(true);
}

fn offset_reply(request: &Command, offset: i64) -> Command {
    Command::reply(
        request,
        response_code::SUCCESS,
        None,
        &OffsetResponseHeader { offset },
        Bytes::new(),
    )
}

pub fn handle(shard: &Rc<Shard>, request: &Command) -> Command {
    let bad =
        |e: shardmq_protocol::Error| error(request, response_code::SYSTEM_ERROR, e.to_string());
    match request.head.code {
        request_code::QUERY_CONSUMER_OFFSET => {
            let h: QueryConsumerOffsetRequestHeader = match request.header() {
                Ok(h) => h,
                Err(e) => return bad(e),
            };
            if let Some(offset) =
                shard
                    .offsets
                    .borrow()
                    .get(&h.topic, &h.consumer_group, h.queue_id)
            {
                return offset_reply(request, offset);
            }
            // A new group: RocketMQ answers 0 while the queue still starts at 0, so that the
            // group reads what was sent before it started; otherwise QUERY_NOT_FOUND.
            let (min, _) = shard.store.offsets(&h.topic, h.queue_id);
            if min == 0 && h.set_zero_if_not_found != Some(false) {
                offset_reply(request, 0)
            } else {
                error(
                    request,
                    response_code::QUERY_NOT_FOUND,
                    "Not found, do not set to zero, maybe this group boot first",
                )
            }
        }
        request_code::UPDATE_CONSUMER_OFFSET => {
            let h: UpdateConsumerOffsetRequestHeader = match request.header() {
                Ok(h) => h,
                Err(e) => return bad(e),
            };
            commit(
                shard,
                &h.topic,
                &h.consumer_group,
                h.queue_id,
                h.commit_offset,
            );
            Command::reply(
                request,
                response_code::SUCCESS,
                None,
                &EmptyHeader,
                Bytes::new(),
            )
        }
        request_code::GET_MAX_OFFSET => match request.header::<GetMaxOffsetRequestHeader>() {
            Ok(h) => offset_reply(request, shard.store.offsets(&h.topic, h.queue_id).1 as i64),
            Err(e) => bad(e),
        },
        request_code::GET_MIN_OFFSET => match request.header::<GetMinOffsetRequestHeader>() {
            Ok(h) => offset_reply(request, shard.store.offsets(&h.topic, h.queue_id).0 as i64),
            Err(e) => bad(e),
        },
        request_code::SEARCH_OFFSET_BY_TIMESTAMP => {
            match request.header::<SearchOffsetRequestHeader>() {
                Ok(h) => match shard
                    .store
                    .offset_by_time(&h.topic, h.queue_id, h.timestamp)
                {
                    Ok(offset) => offset_reply(request, offset as i64),
                    Err(e) => error(request, response_code::SYSTEM_ERROR, e.to_string()),
                },
                Err(e) => bad(e),
            }
        }
        request_code::GET_EARLIEST_MSG_STORETIME => {
            match request.header::<GetEarliestMsgStoretimeRequestHeader>() {
                Ok(h) => match shard.store.earliest_store_time(&h.topic, h.queue_id) {
                    Ok(t) => Command::reply(
                        request,
                        response_code::SUCCESS,
                        None,
                        &GetEarliestMsgStoretimeResponseHeader {
                            timestamp: t.unwrap_or(-1),
                        },
                        Bytes::new(),
                    ),
                    Err(e) => error(request, response_code::SYSTEM_ERROR, e.to_string()),
                },
                Err(e) => bad(e),
            }
        }
        _ => match request.header::<ViewMessageRequestHeader>() {
            Ok(h) => match shard.store.message_at(Position::from_raw(h.offset as u64)) {
                Ok(message) => Command::ok(request, message),
                Err(e) => error(
                    request,
                    response_code::SYSTEM_ERROR,
                    format!("no message at offset {}: {e}", h.offset),
                ),
            },
            Err(e) => bad(e),
        },
    }
}
