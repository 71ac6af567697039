//! Offsets: query/update consumer offset (14, 15, with RocketMQ's behaviour for a new
//! group), max/min offset (30, 31), search by time (29), earliest store time (32), and view
//! message by offset msgId (33).

use std::rc::Rc;

use bytes::Bytes;
use shardmq_protocol::codes::response_code;
use shardmq_protocol::command::Command;
use shardmq_protocol::header::{
    EmptyHeader, GetEarliestMsgStoretimeResponseHeader, OffsetResponseHeader,
};
use shardmq_protocol::request::{Request, RequestKind};

use super::error;
use crate::shard::Shard;
use crate::store::Position;

/// Records a consumer's committed offset for a queue this shard owns.
pub fn commit(shard: &Shard, topic: &str, group: &str, queue_id: i32, offset: i64) {
    shard.commit_offset(topic, group, queue_id, offset);
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

/// Serves the offset requests (`request.kind` says which; decoded and validated at the door).
pub fn handle(shard: &Rc<Shard>, request: &Request) -> Command {
    use RequestKind as K;
    let command = &request.command;
    match &request.kind {
        K::QueryConsumerOffset {
            topic,
            group,
            queue_id,
            set_zero_if_not_found,
        } => {
            let queue_id = queue_id.get();
            if let Some(offset) = shard.committed_offset(topic, group, queue_id) {
                return offset_reply(command, offset);
            }
            // A new group: RocketMQ answers 0 while the queue still starts at 0, so that the
            // group reads what was sent before it started; otherwise QUERY_NOT_FOUND.
            let (min, _) = shard.store.offsets(topic, queue_id);
            if min == 0 && *set_zero_if_not_found != Some(false) {
                offset_reply(command, 0)
            } else {
                error(
                    command,
                    response_code::QUERY_NOT_FOUND,
                    "Not found, do not set to zero, maybe this group boot first",
                )
            }
        }
        K::UpdateConsumerOffset {
            topic,
            group,
            queue_id,
            offset,
        } => {
            commit(shard, topic, group, queue_id.get(), *offset);
            Command::reply(
                command,
                response_code::SUCCESS,
                None,
                &EmptyHeader,
                Bytes::new(),
            )
        }
        K::MaxOffset { topic, queue_id } => {
            offset_reply(command, shard.store.offsets(topic, queue_id.get()).1 as i64)
        }
        K::MinOffset { topic, queue_id } => {
            offset_reply(command, shard.store.offsets(topic, queue_id.get()).0 as i64)
        }
        K::SearchOffset {
            topic,
            queue_id,
            timestamp,
        } => match shard
            .store
            .offset_by_time(topic, queue_id.get(), *timestamp)
        {
            Ok(offset) => offset_reply(command, offset as i64),
            Err(e) => error(command, response_code::SYSTEM_ERROR, e.to_string()),
        },
        K::EarliestStoreTime { topic, queue_id } => {
            match shard.store.earliest_store_time(topic, queue_id.get()) {
                Ok(t) => Command::reply(
                    command,
                    response_code::SUCCESS,
                    None,
                    &GetEarliestMsgStoretimeResponseHeader {
                        timestamp: t.unwrap_or(-1),
                    },
                    Bytes::new(),
                ),
                Err(e) => error(command, response_code::SYSTEM_ERROR, e.to_string()),
            }
        }
        K::ViewMessage { position } => {
            match shard.store.message_at(Position::from_raw(*position)) {
                Ok(message) => Command::ok(command, message),
                Err(e) => error(
                    command,
                    response_code::SYSTEM_ERROR,
                    format!("no message at offset {position}: {e}"),
                ),
            }
        }
        _ => error(
            command,
            response_code::SYSTEM_ERROR,
            "not an offset request (a routing bug)",
        ),
    }
}
