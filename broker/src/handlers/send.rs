//! SEND_MESSAGE (10), SEND_MESSAGE_V2 (310) and SEND_BATCH_MESSAGE (320): store on the
//! owning shard, wait until durable (per the flush mode), reply with the offset msgId,
//! queue id and queue offset.

use std::rc::Rc;

use bytes::Bytes;
use shardmq_protocol::codes::{request_code, response_code};
use shardmq_protocol::command::Command;
use shardmq_protocol::header::{SendMessageResponseHeader, SendMessageView, PERM_WRITE};
use shardmq_protocol::message::{decode_batch, MessageId};
use shardmq_protocol::request::{Refusal, RequestKind};
use shardmq_protocol::ByteString;

use super::error;
use super::send_back::{DEFAULT_MAX_RECONSUME_TIMES, RETRY_QUEUE_NUMS};
use super::topic::{effective_queue_id, ensure_topic, topic_facts, topic_or_create};
use crate::outbox::{Outbox, PendingAck};
use crate::schedule::{self, waiting_properties, Plan};
use crate::shard::{Origin, Shard};
use crate::store::engine::{SCHEDULE_TOPIC, TIMER_TOPIC};
use crate::store::{AppendRef, AppendResult, StoreError};
use shardmq_protocol::names::{dlq_topic, RETRY_GROUP_TOPIC_PREFIX};

fn store_error(request: &Command, e: &StoreError) -> Command {
    let code = match e {
        StoreError::Invalid(_) => response_code::MESSAGE_ILLEGAL,
        _ => response_code::SERVICE_NOT_AVAILABLE,
    };
    error(request, code, format!("store: {e}"))
}

/// Stores a single-message send inline when this shard owns its queue and knows its topic
/// (the hot path): its acknowledgement goes to `outbox` to wait for durability, an error
/// reply goes there at once. Declines, having done nothing, anything else (batches, other
/// shards' queues, a topic's first send, responses): the caller routes it as usual.
pub fn store_inline(
    shard: &Rc<Shard>,
    origin: Origin,
    request: &Command,
    outbox: &Outbox,
) -> Inline {
    let head = &request.head;
    if head.is_response()
        || !matches!(
            head.code,
            request_code::SEND_MESSAGE | request_code::SEND_MESSAGE_V2
        )
    {
        return Inline::Declined(None);
    }
    let short_keys = head.code == request_code::SEND_MESSAGE_V2;
    let Ok(view) = SendMessageView::decode(&request.ext, short_keys) else {
        return Inline::Declined(None);
    };
    // Anything not stored here leaves with its kind decoded from this view: the header is
    // read once (a bad name or queue id is refused by the caller, with the field named).
    let declined = || Inline::Declined(Some(RequestKind::send(request, &view)));
    // A retry topic's sends may be dead letters: the task path decides.
    if view.batch || view.queue_id < 0 || view.topic.starts_with('%') {
        return declined();
    }
    let Some(facts) = topic_facts(shard, view.topic) else {
        return declined();
    };
    let queue_id = facts.effective_queue_id(view.queue_id);
    let owner = shard.moves().owner(view.topic, queue_id, facts.spread);
    if owner != shard.id {
        return declined();
    }
    let oneway = head.is_oneway();
    let message = append_ref(&view, queue_id, origin, &request.body);
    let stored = check(
        request,
        view.topic,
        facts.perm,
        shard.config.max_message_bytes,
    )
    .and_then(|()| {
        // A delayed or timed message waits in this shard's delay or timer queue; its
        // acknowledgement names the real queue, as RocketMQ's does.
        let waiting = wait_plan(shard, &message)
            .map_err(|remark| Box::new(error(request, response_code::MESSAGE_ILLEGAL, remark)))?;
        let stored = match &waiting {
            None => shard.store.append_ref(&message),
            Some((topic, queue, props)) => shard.store.append_ref(&AppendRef {
                topic,
                queue_id: *queue,
                properties: props,
                ..message
            }),
        };
        stored.map_err(|e| Box::new(store_error(request, &e)))
    });
    match stored {
        Ok(r) => outbox.ack(PendingAck {
            end: r.end,
            opaque: head.opaque,
            version: head.version,
            serialize_type: request.serialize_type,
            position: r.position,
            queue_id,
            queue_offset: r.queue_offset,
            reply: !oneway,
        }),
        Err(_) if oneway => outbox.release(),
        Err(reply) => outbox.reply(*reply),
    }
    Inline::Stored
}

/// Where a message that asks to wait is stored instead (this shard's delay queue of its
/// level, or its timer queue) and with which properties; `None` for one that does not
/// wait. The error is the remark of a MESSAGE_ILLEGAL refusal.
fn wait_plan(
    shard: &Shard,
    m: &AppendRef<'_>,
) -> Result<Option<(&'static str, i32, String)>, String> {
    if !schedule::may_wait(m.properties) {
        return Ok(None);
    }
    let now = schedule::now_ms_ceil();
    Ok(match schedule::plan(&shard.config, m.properties, now)? {
        Plan::Now => None,
        Plan::Level(level) => {
            let due = now + shard.config.delay_levels.delay(level).as_millis() as i64;
            let props = waiting_properties(m.properties, m.topic, m.queue_id, due, Some(level));
            Some((SCHEDULE_TOPIC, level - 1, props))
        }
        Plan::At(due) => {
            let props = waiting_properties(m.properties, m.topic, m.queue_id, due, None);
            Some((TIMER_TOPIC, 0, props))
        }
    })
}

/// Refuses a batch body holding a delayed or timed message (RocketMQ's clients refuse to
/// send one; a broker must not store it undelayed). The body is searched once as bytes;
/// only a batch that may hold one is decoded to look.
fn batch_waits(shard: &Shard, body: &Bytes) -> Result<(), String> {
    let maybe = memchr::memmem::find(body, b"DELAY\x01").is_some()
        || memchr::memmem::find(body, b"TIMER_DEL").is_some();
    if !maybe {
        return Ok(());
    }
    for entry in decode_batch(body).flatten() {
        if schedule::may_wait(&entry.properties) {
            match schedule::plan(&shard.config, &entry.properties, schedule::now_ms_ceil())? {
                Plan::Now => {}
                _ => {
                    return Err("a batch may not hold delayed or timed messages (DELAY, \
                                TIMER_*); send them one by one"
                        .to_owned())
                }
            }
        }
    }
    Ok(())
}

/// What [`store_inline`] did with a request.
pub enum Inline {
    /// Stored (its acknowledgement waits in the outbox) or answered.
    Stored,
    /// Not for the inline path; a send's kind comes along, decoded from the header already
    /// read (`None`: not a single-message send, or a header the typed decode must report).
    Declined(Option<Result<RequestKind, Refusal>>),
}

/// An error reply, boxed: it is the rare path.
type ErrorReply = Box<Command>;

/// Permission and size checks every send passes before anything is stored.
fn check(request: &Command, topic: &str, perm: i32, max_bytes: usize) -> Result<(), ErrorReply> {
    if perm & PERM_WRITE == 0 {
        return Err(Box::new(error(
            request,
            response_code::NO_PERMISSION,
            format!("the topic[{topic}] sending message is forbidden"),
        )));
    }
    if request.body.len() > max_bytes {
        return Err(Box::new(error(
            request,
            response_code::MESSAGE_ILLEGAL,
            format!(
                "message body of {} bytes exceeds maxMessageSize {max_bytes}",
                request.body.len()
            ),
        )));
    }
    Ok(())
}

/// What the store is given for a send (a batch entry overrides flag, body, properties).
fn append_ref<'a>(
    view: &SendMessageView<'a>,
    queue_id: i32,
    origin: Origin,
    body: &'a [u8],
) -> AppendRef<'a> {
    AppendRef {
        topic: view.topic,
        queue_id,
        flag: view.flag,
        sys_flag: view.sys_flag,
        born_timestamp: view.born_timestamp,
        born_host: origin.peer,
        body,
        properties: view.properties,
        reconsume_times: view.reconsume_times,
        prepared_transaction_offset: 0,
    }
}

/// Every send [`store_inline`] leaves to a task: batches, a topic's first send, sends
/// forwarded from another shard.
pub async fn handle(shard: &Rc<Shard>, origin: Origin, request: &Command) -> Command {
    let short_keys = request.head.code != request_code::SEND_MESSAGE;
    let view = match SendMessageView::decode(&request.ext, short_keys) {
        Ok(v) => v,
        Err(e) => return error(request, response_code::SYSTEM_ERROR, e.to_string()),
    };
    let batch = request.head.code == request_code::SEND_BATCH_MESSAGE || view.batch;
    let topic = match topic_or_create(shard, view.topic) {
        Ok(topic) => topic,
        Err(missing) => return missing.reply(request, view.topic),
    };
    if let Err(reply) = check(
        request,
        view.topic,
        topic.perm,
        shard.config.max_message_bytes,
    ) {
        return *reply;
    }
    let queue_id = effective_queue_id(shard, view.topic, view.queue_id);
    let mut base = append_ref(&view, queue_id, origin, &request.body);
    // A client's own retry copy (its send-back failed) that has used up its retries is a
    // dead letter: RocketMQ stores it in the group's DLQ instead, undelayed.
    let dead_letter;
    let undelayed;
    if let Some(group) = view.topic.strip_prefix(RETRY_GROUP_TOPIC_PREFIX) {
        let max = view
            .max_reconsume_times
            .unwrap_or(DEFAULT_MAX_RECONSUME_TIMES);
        if !batch && view.reconsume_times >= max {
            dead_letter = dlq_topic(group);
            if let Err(missing) = ensure_topic(shard, &dead_letter, RETRY_QUEUE_NUMS, PERM_WRITE) {
                return missing.reply(request, &dead_letter);
            }
            let mut props = shardmq_protocol::message::Properties::decode(view.properties);
            props.remove(shardmq_protocol::message::properties::names::DELAY_TIME_LEVEL);
            undelayed = props.encode();
            base = AppendRef {
                topic: &dead_letter,
                queue_id: 0,
                properties: &undelayed,
                ..base
            };
        }
    }
    let mut results: Vec<AppendResult> = Vec::new();
    if batch {
        // Checked before anything is appended: a refused batch leaves nothing behind.
        if let Err(remark) = batch_waits(shard, &request.body) {
            return error(request, response_code::MESSAGE_ILLEGAL, remark);
        }
        for entry in decode_batch(&request.body) {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    return error(
                        request,
                        response_code::MESSAGE_ILLEGAL,
                        format!("batch body: {e}"),
                    )
                }
            };
            let req = AppendRef {
                flag: entry.flag,
                body: &entry.body,
                properties: &entry.properties,
                ..base
            };
            match shard.store.append_ref(&req) {
                Ok(r) => results.push(r),
                Err(e) => return store_error(request, &e),
            }
        }
        if results.is_empty() {
            return error(request, response_code::MESSAGE_ILLEGAL, "empty batch");
        }
    } else {
        let waiting = match wait_plan(shard, &base) {
            Ok(waiting) => waiting,
            Err(remark) => return error(request, response_code::MESSAGE_ILLEGAL, remark),
        };
        let req = match &waiting {
            None => base,
            Some((topic, queue, props)) => AppendRef {
                topic,
                queue_id: *queue,
                properties: props,
                ..base
            },
        };
        match shard.store.append_ref(&req) {
            Ok(r) => results.push(r),
            Err(e) => return store_error(request, &e),
        }
    }
    let last_end = results.iter().map(|r| r.end).max().unwrap_or(0);
    if let Err(e) = shard.store.wait_durable(last_end).await {
        return store_error(request, &e);
    }
    let ids: Vec<String> = results
        .iter()
        .map(|r| {
            MessageId {
                store_host: shard.store_addr,
                commit_log_offset: r.position.raw() as i64,
            }
            .to_string()
        })
        .collect();
    let response = SendMessageResponseHeader {
        msg_id: ByteString::from(ids.join(",")),
        queue_id,
        queue_offset: results[0].queue_offset as i64,
        transaction_id: None,
        batch_uniq_id: None,
    };
    Command::reply(
        request,
        response_code::SUCCESS,
        None,
        &response,
        Bytes::new(),
    )
}
