//! CONSUMER_SEND_MSG_BACK (36): a consumer that failed a message gives it back. The shard
//! whose log holds the message stores a copy for `%RETRY%<group>`, waiting in its delay
//! queue of level `3 + reconsumeTimes` (or the level asked for), with reconsume times + 1,
//! RETRY_TOPIC (the original topic) and ORIGIN_MESSAGE_ID; past `maxReconsumeTimes` (the
//! header's, else 16) or when the level asked for is negative, the copy goes to
//! `%DLQ%<group>` at once. Both topics are created on first use with one queue (the retry
//! topic read-write, the DLQ write-only, as RocketMQ does).
//!
//! GET_ALL_DELAY_OFFSET (45): how far each delay level was delivered, summed over shards.

use std::rc::Rc;

use bytes::Bytes;
use shardmq_protocol::body::{DelayOffsetTable, JsonBody};
use shardmq_protocol::codes::response_code;
use shardmq_protocol::command::Command;
use shardmq_protocol::header::{
    ConsumerSendMsgBackRequestHeader, EmptyHeader, PERM_READ, PERM_WRITE,
};
use shardmq_protocol::message::properties::{names, Properties};
use shardmq_protocol::message::{MessageId, StoredMessage};
use shardmq_protocol::names::{dlq_topic, retry_topic, GroupName};
use shardmq_protocol::request::Request;

use super::error;
use super::topic::ensure_topic;
use crate::schedule::deliver::{put, Failure};
use crate::schedule::{now_ms_ceil, waiting_properties};
use crate::shard::{Origin, Shard};
use crate::store::engine::SCHEDULE_TOPIC;
use crate::store::{AppendRef, Position};

/// `maxReconsumeTimes` when the request does not say (RocketMQ's subscription-group
/// default, `retryMaxTimes`).
pub const DEFAULT_MAX_RECONSUME_TIMES: i32 = 16;
/// Queues of a retry topic (RocketMQ's `retryQueueNums` default) and of a DLQ.
pub const RETRY_QUEUE_NUMS: i32 = 1;

/// Serves CONSUMER_SEND_MSG_BACK on the shard whose log holds `header.offset`.
pub async fn handle(
    shard: &Rc<Shard>,
    request: &Command,
    group: &GroupName,
    header: &ConsumerSendMsgBackRequestHeader,
) -> Command {
    let failed = |code: i32, remark: String| error(request, code, remark);
    let position = Position::from_raw(header.offset as u64);
    let message = match shard.store.message_at(position).and_then(|bytes| {
        StoredMessage::decode(&bytes, 0, false)
            .map(|(m, _)| m)
            .map_err(|e| crate::store::StoreError::Invalid(e.to_string()))
    }) {
        Ok(m) => m,
        Err(e) => {
            return failed(
                response_code::SYSTEM_ERROR,
                format!(
                    "look message by offset failed, offset {}: {e}",
                    header.offset
                ),
            )
        }
    };
    let mut props = Properties::decode(&message.properties);
    // Names and values here are topic names, ids and numbers: always valid properties.
    if props.get(names::RETRY_TOPIC).is_none() {
        let _ = props.set(names::RETRY_TOPIC, &message.topic);
    }
    if props.get(names::ORIGIN_MESSAGE_ID).is_none() {
        let id = header
            .origin_msg_id
            .as_deref()
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| {
                MessageId {
                    store_host: message.store_host,
                    commit_log_offset: message.physical_offset,
                }
                .to_string()
            });
        let _ = props.set(names::ORIGIN_MESSAGE_ID, &id);
    }
    let _ = props.set(names::WAIT_STORE_MSG_OK, "false");
    let max = header
        .max_reconsume_times
        .unwrap_or(DEFAULT_MAX_RECONSUME_TIMES);
    let reconsume_times = message.reconsume_times;
    tracing::debug!(topic = %message.topic, keys = shardmq_protocol::message::properties::find(&message.properties, "KEYS").unwrap_or(""), reconsume_times, level = header.delay_level, max, "send back");
    let dead = reconsume_times >= max || header.delay_level < 0;
    if dead {
        let dlq = dlq_topic(group);
        // Write-only, as RocketMQ makes it: an operator opens it for reading
        // (updateTopicPerm, perm 6) to reprocess dead letters.
        if let Err(missing) = ensure_topic(shard, &dlq, RETRY_QUEUE_NUMS, PERM_WRITE) {
            return missing.reply(request, &dlq);
        }
        props.remove(names::DELAY_TIME_LEVEL);
        let encoded = props.encode();
        let stored = put(
            shard,
            &AppendRef {
                topic: &dlq,
                queue_id: 0,
                flag: message.flag,
                sys_flag: message.sys_flag,
                born_timestamp: message.born_timestamp,
                born_host: message.born_host,
                body: &message.body,
                properties: &encoded,
                reconsume_times: reconsume_times + 1,
                prepared_transaction_offset: 0,
            },
        )
        .await;
        return match stored {
            Ok(()) => success(request),
            Err(Failure::Retry(why)) => failed(response_code::SYSTEM_BUSY, why),
            Err(Failure::Drop(why)) => failed(response_code::SYSTEM_ERROR, why),
        };
    }
    let retry = retry_topic(group);
    if let Err(missing) = ensure_topic(shard, &retry, RETRY_QUEUE_NUMS, PERM_READ | PERM_WRITE) {
        return missing.reply(request, &retry);
    }
    let levels = &shard.config.delay_levels;
    let asked = if header.delay_level == 0 {
        3 + reconsume_times.max(0)
    } else {
        header.delay_level
    };
    let level = levels.clamp(asked).unwrap_or(1);
    let due = now_ms_ceil() + levels.delay(level).as_millis() as i64;
    let waiting = waiting_properties(&props.encode(), &retry, 0, due, Some(level));
    let appended = shard.store.append_ref(&AppendRef {
        topic: SCHEDULE_TOPIC,
        queue_id: level - 1,
        flag: message.flag,
        sys_flag: message.sys_flag,
        born_timestamp: message.born_timestamp,
        born_host: message.born_host,
        body: &message.body,
        properties: &waiting,
        reconsume_times: reconsume_times + 1,
        prepared_transaction_offset: 0,
    });
    let durable = match appended {
        Ok(r) => shard.store.wait_durable(r.end).await,
        Err(e) => Err(e),
    };
    match durable {
        Ok(()) => success(request),
        Err(e) => failed(response_code::SYSTEM_ERROR, format!("store: {e}")),
    }
}

fn success(request: &Command) -> Command {
    Command::reply(
        request,
        response_code::SUCCESS,
        None,
        &EmptyHeader,
        Bytes::new(),
    )
}

/// GET_ALL_DELAY_OFFSET: each level's delivered offset, summed over the shards (each shard
/// has its own delay queues). The shard a client asked gathers the others' through the
/// router; a copy forwarded to a shard answers for that shard alone.
pub async fn delay_offsets(shard: &Rc<Shard>, origin: Origin, request: &Request) -> Command {
    let mut sums = shard.delay_offsets();
    if origin.shard == shard.id {
        for peer in (0..shard.shards).filter(|p| *p != shard.id) {
            let reply = shard
                .forward(peer, origin, request.clone(), shard.config.forward_timeout)
                .await;
            let Some(table) = reply
                .filter(|r| r.head.code == response_code::SUCCESS)
                .and_then(|r| DelayOffsetTable::decode(&r.body).ok())
            else {
                return error(
                    &request.command,
                    response_code::SYSTEM_BUSY,
                    format!("shard {peer} did not report its delay offsets; retry"),
                );
            };
            for (level, offset) in table.offset_table {
                let index = (level.max(1) - 1) as usize;
                if index >= sums.len() {
                    sums.resize(index + 1, 0);
                }
                sums[index] += offset.max(0) as u64;
            }
        }
    }
    let table = DelayOffsetTable {
        offset_table: sums
            .iter()
            .enumerate()
            .map(|(i, o)| (i as i32 + 1, *o as i64))
            .collect(),
    };
    Command::reply(
        &request.command,
        response_code::SUCCESS,
        None,
        &EmptyHeader,
        table.encode(),
    )
}
