//! PULL_MESSAGE (11): read from the owning shard's store with tag filtering; with the
//! SUSPEND flag and nothing to return, wait on the shard until a message lands in the queue
//! or `suspendTimeoutMillis` passes. A commit offset rides along when the flag says so.

use std::collections::HashSet;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_lite::future;
use shardmq_protocol::codes::response_code;
use shardmq_protocol::command::Command;
use shardmq_protocol::header::{
    PullMessageRequestHeader, PullMessageResponseHeader, PERM_READ, PULL_FLAG_COMMIT_OFFSET,
    PULL_FLAG_SUSPEND,
};

use super::error;
use super::topic::topic_or_create;
use crate::shard::Shard;
use crate::store::consume_queue::tag_hash;
use crate::store::{ReadResult, ReadStatus};

/// Most messages one pull returns, whatever the client asks.
const MAX_PULL_MESSAGES: usize = 1024;
/// Most bytes one pull returns (RocketMQ's default maxTransferBytesOnMessageInMemory).
const MAX_PULL_BYTES: usize = 256 * 1024;
/// Longest a pull may be held.
pub const MAX_SUSPEND_MS: i64 = 60_000;

/// Tag filter from a subscription expression: `*` (or empty) accepts all; `A || B` those
/// tags' hashes.
pub fn tag_filter(expression: &str) -> Option<HashSet<i64>> {
    let expression = expression.trim();
    if expression.is_empty() || expression == "*" {
        return None;
    }
    Some(
        expression
            .split("||")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(tag_hash)
            .collect(),
    )
}

fn read(
    shard: &Shard,
    h: &PullMessageRequestHeader,
    filter: &Option<HashSet<i64>>,
) -> Result<ReadResult, String> {
    let max = (h.max_msg_nums.max(1) as usize).min(MAX_PULL_MESSAGES);
    let max_bytes = h
        .max_msg_bytes
        .map_or(MAX_PULL_BYTES, |b| (b.max(1) as usize).min(MAX_PULL_BYTES));
    shard
        .store
        .read(
            &h.topic,
            h.queue_id,
            h.queue_offset.max(0) as u64,
            max,
            max_bytes,
            |hash| filter.as_ref().is_none_or(|f| f.contains(&hash)),
        )
        .map_err(|e| e.to_string())
}

/// Serves a pull whose header (`h`, names validated) was decoded at the door.
pub async fn handle(shard: &Rc<Shard>, request: &Command, h: &PullMessageRequestHeader) -> Command {
    let topic = match topic_or_create(shard, &h.topic) {
        Ok(topic) => topic,
        Err(missing) => return missing.reply(request, &h.topic),
    };
    if topic.perm & PERM_READ == 0 {
        return error(
            request,
            response_code::NO_PERMISSION,
            format!("the topic[{}] pulling message is forbidden", h.topic),
        );
    }
    if h.queue_id < 0 || h.queue_id >= topic.read_queue_nums {
        return error(
            request,
            response_code::SYSTEM_ERROR,
            format!(
                "queueId[{}] is illegal, topic:[{}] topicConfig.readQueueNums:[{}]",
                h.queue_id, h.topic, topic.read_queue_nums
            ),
        );
    }
    if h.sys_flag & PULL_FLAG_COMMIT_OFFSET != 0 && h.commit_offset >= 0 {
        super::offset::commit(
            shard,
            &h.topic,
            &h.consumer_group,
            h.queue_id,
            h.commit_offset,
        );
    }
    let filter = tag_filter(h.subscription.as_deref().unwrap_or("*"));
    let mut result = match read(shard, h, &filter) {
        Ok(r) => r,
        Err(e) => return error(request, response_code::SYSTEM_ERROR, e),
    };
    let suspend_ms = h.suspend_timeout_millis.clamp(0, MAX_SUSPEND_MS);
    let nothing_yet = matches!(
        result.status,
        ReadStatus::NoNewMessage | ReadStatus::NoQueue
    ) && h.queue_offset.max(0) as u64 >= result.max_offset;
    if nothing_yet && h.sys_flag & PULL_FLAG_SUSPEND != 0 && suspend_ms > 0 {
        // Past the shard's bound on held pulls, the pull is answered at once (not found).
        if let Some(arrival) = shard.wait_for_message(&h.topic, h.queue_id) {
            let timeout = glommio::timer::sleep(Duration::from_millis(suspend_ms as u64));
            future::or(
                async {
                    let _ = arrival.await;
                },
                timeout,
            )
            .await;
            result = match read(shard, h, &filter) {
                Ok(r) => r,
                Err(e) => return error(request, response_code::SYSTEM_ERROR, e),
            };
        }
    }
    respond(request, h, result)
}

fn respond(request: &Command, h: &PullMessageRequestHeader, r: ReadResult) -> Command {
    let offset = h.queue_offset.max(0) as u64;
    let (code, next) = match r.status {
        ReadStatus::Found => (response_code::SUCCESS, r.next_offset),
        ReadStatus::NoNewMessage => (response_code::PULL_NOT_FOUND, offset),
        ReadStatus::NoMatchedMessage => (response_code::PULL_RETRY_IMMEDIATELY, r.next_offset),
        ReadStatus::NoQueue if offset == 0 => (response_code::PULL_NOT_FOUND, 0),
        ReadStatus::NoQueue => (response_code::PULL_OFFSET_MOVED, 0),
        ReadStatus::OffsetTooSmall => (response_code::PULL_OFFSET_MOVED, r.min_offset),
        ReadStatus::OffsetOverflow => (response_code::PULL_OFFSET_MOVED, r.max_offset),
    };
    let header = PullMessageResponseHeader {
        suggest_which_broker_id: 0,
        next_begin_offset: next as i64,
        min_offset: r.min_offset as i64,
        max_offset: r.max_offset as i64,
        offset_delta: None,
        topic_sys_flag: None,
        group_sys_flag: None,
    };
    let body = if r.messages.len() == 1 {
        r.messages[0].clone()
    } else {
        let mut out = BytesMut::with_capacity(r.messages.iter().map(Bytes::len).sum());
        for m in &r.messages {
            out.extend_from_slice(m);
        }
        out.freeze()
    };
    Command::reply(request, code, None, &header, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_expressions_become_tag_hash_sets() {
        assert_eq!(tag_filter("*"), None);
        assert_eq!(tag_filter(" "), None);
        let f = tag_filter("TagA || TagB").unwrap();
        assert!(f.contains(&tag_hash("TagA")) && f.contains(&tag_hash("TagB")));
        assert_eq!(f.len(), 2);
        assert_eq!(tag_filter("TagA||").unwrap().len(), 1);
    }
}
