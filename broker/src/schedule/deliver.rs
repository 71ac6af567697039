//! Putting a broker-made message into a queue: a delayed or timed message that fell due,
//! a consumer's retry, a dead letter. Stored here when this shard owns the queue (the common
//! case: the message waited on the shard that owns its real queue), else sent as a typed
//! SEND_MESSAGE_V2 through the spine's router to the owner, like any client's send.

use std::rc::Rc;

use bytes::Bytes;
use shardmq_protocol::codes::{request_code, response_code, SerializeType};
use shardmq_protocol::command::{Command, Head};
use shardmq_protocol::header::{SendMessageRequestHeaderV2, PERM_WRITE};
use shardmq_protocol::message::properties::{self, names};
use shardmq_protocol::message::StoredMessage;
use shardmq_protocol::request::Request;
use shardmq_protocol::ByteString;

use tracing::warn;

use crate::handlers::{route_boxed, topic_facts, DEFAULT_TOPIC};
use crate::shard::{Origin, Shard};
use crate::store::{AppendRef, Position, StoreError};

/// Why a message was not put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Worth trying again later (a busy or refusing store, a shard that did not answer).
    Retry(String),
    /// Never going to work (no such topic and no auto-creation, no write permission, a
    /// message that is not one): logged and counted, not retried.
    Drop(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Retry(why) => write!(f, "{why} (will retry)"),
            Failure::Drop(why) => write!(f, "{why} (dropped)"),
        }
    }
}

fn store_failure(e: &StoreError) -> Failure {
    match e {
        StoreError::Invalid(why) => Failure::Drop(format!("store: {why}")),
        other => Failure::Retry(format!("store: {other}")),
    }
}

/// Puts `m` (a message the broker itself stores) into its queue and waits until it is
/// durable there.
pub async fn put(shard: &Rc<Shard>, m: &AppendRef<'_>) -> Result<(), Failure> {
    if let Some(facts) = topic_facts(shard, m.topic) {
        let queue_id = facts.effective_queue_id(m.queue_id);
        let owner = shard.moves().owner(m.topic, queue_id, facts.spread);
        if owner == shard.id {
            if facts.perm & PERM_WRITE == 0 {
                return Err(Failure::Drop(format!(
                    "topic[{}] is not writable (perm {})",
                    m.topic, facts.perm
                )));
            }
            let stored = shard
                .store
                .append_ref(&AppendRef { queue_id, ..*m })
                .map_err(|e| store_failure(&e))?;
            return shard
                .store
                .wait_durable(stored.end)
                .await
                .map_err(|e| store_failure(&e));
        }
    }
    route_send(shard, m).await
}

/// `m` as a client's SEND_MESSAGE_V2, through the router (to the owner, auto-creating the
/// topic as a client's first send would).
async fn route_send(shard: &Rc<Shard>, m: &AppendRef<'_>) -> Result<(), Failure> {
    let header = SendMessageRequestHeaderV2 {
        producer_group: ByteString::from_static("SHARDMQ_SCHEDULE_PRODUCER"),
        topic: ByteString::from(m.topic),
        default_topic: ByteString::from_static(DEFAULT_TOPIC),
        default_topic_queue_nums: shard.config.default_topic_queue_nums,
        queue_id: m.queue_id,
        sys_flag: m.sys_flag,
        born_timestamp: m.born_timestamp,
        flag: m.flag,
        properties: Some(ByteString::from(m.properties)),
        reconsume_times: Some(m.reconsume_times),
        unit_mode: None,
        // Where this goes was decided already: never turned into a dead letter on the way.
        max_reconsume_times: Some(i32::MAX),
        batch: None,
        broker_name: None,
    };
    let command = Command::new(
        Head::request(request_code::SEND_MESSAGE_V2, 0),
        SerializeType::RocketMq,
        &header,
        Bytes::copy_from_slice(m.body),
    );
    let request = Request::decode(command).map_err(|refused| {
        let (_, refusal) = *refused;
        Failure::Drop(format!("send to {}: {}", m.topic, refusal.remark))
    })?;
    let origin = Origin {
        peer: m.born_host,
        shard: shard.id,
        connection: u64::MAX,
        serialize_type: SerializeType::RocketMq,
    };
    let Some(reply) = route_boxed(shard, origin, request).await else {
        return Err(Failure::Retry(format!("send to {}: no reply", m.topic)));
    };
    let remark = || {
        format!(
            "send to {}: code {} {}",
            m.topic,
            reply.head.code,
            reply.head.remark.as_deref().unwrap_or("")
        )
    };
    match reply.head.code {
        response_code::SUCCESS => Ok(()),
        response_code::SYSTEM_BUSY
        | response_code::SERVICE_NOT_AVAILABLE
        | response_code::FLUSH_DISK_TIMEOUT
        | response_code::SYSTEM_ERROR => Err(Failure::Retry(remark())),
        _ => Err(Failure::Drop(remark())),
    }
}

/// Appends the waiting message at `position` to its real queue when this shard owns it,
/// returning the log end to wait for (`Ok(None)`: another shard owns it, use
/// [`deliver_waiting`]). Lets a scheduler append a batch and wait for durability once.
pub fn append_local(shard: &Shard, position: Position) -> Result<Option<u64>, Failure> {
    let (message, real_queue) = read_waiting(shard, position)?;
    let real_topic = real_topic(&message);
    let Some(facts) = topic_facts(shard, real_topic) else {
        return Ok(None);
    };
    let queue_id = facts.effective_queue_id(real_queue);
    if shard.moves().owner(real_topic, queue_id, facts.spread) != shard.id {
        return Ok(None);
    }
    if facts.perm & PERM_WRITE == 0 {
        return Err(Failure::Drop(format!(
            "topic[{real_topic}] is not writable (perm {})",
            facts.perm
        )));
    }
    let delivered = super::delivered_properties(&message.properties);
    shard
        .store
        .append_ref(&delivered_copy(&message, real_topic, queue_id, &delivered))
        .map(|r| Some(r.end))
        .map_err(|e| store_failure(&e))
}

/// How long a delivery that failed for a passing reason waits before it is tried again.
pub const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// Delivers one waiting message, retrying passing failures until it is stored or the shard
/// stops. `true` when it is done with (delivered, or dropped with a warning).
pub async fn deliver_until_done(shard: &Rc<Shard>, position: crate::store::Position) -> bool {
    loop {
        match deliver_waiting(shard, position).await {
            Ok(()) => return true,
            Err(Failure::Drop(why)) => {
                shard.count(|c| c.schedule_dropped += 1);
                warn!(shard = shard.id, position = position.raw(), %why, "a waiting message could not be delivered");
                return true;
            }
            Err(Failure::Retry(why)) => {
                if shard.is_stopping() {
                    return false;
                }
                shard.count(|c| c.schedule_retried += 1);
                tracing::debug!(shard = shard.id, %why, "delivery of a waiting message failed; retrying");
                glommio::timer::sleep(RETRY_AFTER).await;
            }
        }
    }
}

/// Delivers the waiting message stored at `position` (this shard's) to its real topic and
/// queue, without the properties that made it wait.
pub async fn deliver_waiting(shard: &Rc<Shard>, position: Position) -> Result<(), Failure> {
    let (message, real_queue) = read_waiting(shard, position)?;
    let real_topic = real_topic(&message);
    let delivered = super::delivered_properties(&message.properties);
    put(
        shard,
        &delivered_copy(&message, real_topic, real_queue, &delivered),
    )
    .await
}

/// The waiting message at `position` (this shard's) and its real queue; one without
/// `REAL_TOPIC` is not a waiting message.
fn read_waiting(shard: &Shard, position: Position) -> Result<(StoredMessage, i32), Failure> {
    let bytes = shard
        .store
        .message_at(position)
        .map_err(|e| store_failure(&e))?;
    let (message, _) = StoredMessage::decode(&bytes, 0, false).map_err(|e| {
        Failure::Drop(format!(
            "waiting message at position {}: {e}",
            position.raw()
        ))
    })?;
    if properties::find(&message.properties, names::REAL_TOPIC).is_none() {
        return Err(Failure::Drop(format!(
            "waiting message at position {} has no REAL_TOPIC",
            position.raw()
        )));
    }
    let real_queue = properties::find(&message.properties, names::REAL_QUEUE_ID)
        .and_then(|q| q.parse::<i32>().ok())
        .unwrap_or(0);
    Ok((message, real_queue))
}

/// The `REAL_TOPIC` of a message [`read_waiting`] returned.
fn real_topic(message: &StoredMessage) -> &str {
    properties::find(&message.properties, names::REAL_TOPIC).unwrap_or_default()
}

/// The copy of a waiting `message` put into `topic`:`queue_id`, with `properties`.
fn delivered_copy<'a>(
    message: &'a StoredMessage,
    topic: &'a str,
    queue_id: i32,
    properties: &'a str,
) -> AppendRef<'a> {
    AppendRef {
        topic,
        queue_id,
        flag: message.flag,
        sys_flag: message.sys_flag,
        born_timestamp: message.born_timestamp,
        born_host: message.born_host,
        body: &message.body,
        properties,
        reconsume_times: message.reconsume_times,
        prepared_transaction_offset: 0,
    }
}
