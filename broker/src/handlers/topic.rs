//! Topics: the table every shard keeps a copy of, auto-creation on first send, and the admin
//! requests that create, delete, list and move them, and report their offsets.

use std::rc::Rc;

use bytes::Bytes;
use serde::Serialize;
use shardmq_protocol::body::{MessageQueue, TopicConfig, TopicOffset, TopicStatsTable};
use shardmq_protocol::codes::{request_code, response_code, SerializeType};
use shardmq_protocol::command::{Command, Head};
use shardmq_protocol::header::{
    CreateTopicRequestHeader, DeleteTopicRequestHeader, GetMinOffsetRequestHeader,
    GetTopicStatsInfoRequestHeader, MoveQueueRequestHeader, OffsetResponseHeader, PERM_READ,
    PERM_WRITE,
};

use super::error;
use crate::moves::QueueMove;
use crate::shard::{Origin, Shard, ShardMsg};

/// RocketMQ's default topic: clients send to it when a topic has no route yet.
pub const DEFAULT_TOPIC: &str = "TBW102";

/// Topic attribute recording how many shards the topic's queues were spread over when it was
/// created. Ownership keeps following that count, so a restart with another `--shards` finds
/// every queue where its data is.
pub const SHARDS_ATTRIBUTE: &str = "shardmq.shards";

/// The shard count `topic`'s queues are spread over (the current one for a new topic).
pub fn spread_of(shard: &Shard, topic: &str) -> usize {
    topic_facts(shard, topic).map_or(shard.shards, |t| t.spread)
}

/// What a send needs of a known topic, read with one lookup and no copy of its config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicFacts {
    pub perm: i32,
    pub write_queue_nums: i32,
    /// The shard count its queues are spread over.
    pub spread: usize,
}

impl TopicFacts {
    /// The queue a send for `queue_id` really lands on (see [`effective_queue_id`]).
    pub fn effective_queue_id(&self, queue_id: i32) -> i32 {
        wrap_queue_id(queue_id, self.write_queue_nums)
    }
}

/// [`TopicFacts`] of `topic` if this shard knows it.
pub fn topic_facts(shard: &Shard, topic: &str) -> Option<TopicFacts> {
    let topics = shard.topics.borrow();
    let t = topics.get(topic)?;
    Some(TopicFacts {
        perm: t.perm,
        write_queue_nums: t.write_queue_nums,
        spread: t
            .attributes
            .get(SHARDS_ATTRIBUTE)
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(shard.shards),
    })
}

/// The config an auto-created topic gets on every shard (deterministic, so all agree).
pub fn default_topic_config(shard: &Shard, topic: &str) -> TopicConfig {
    let mut config = TopicConfig {
        topic_name: topic.to_owned(),
        read_queue_nums: shard.config.default_topic_queue_nums,
        write_queue_nums: shard.config.default_topic_queue_nums,
        perm: PERM_READ | PERM_WRITE,
        ..Default::default()
    };
    config
        .attributes
        .insert(SHARDS_ATTRIBUTE.into(), shard.shards.to_string());
    config
}

/// The topic's config, auto-creating it when allowed. `None`: it does not exist.
pub fn topic_or_create(shard: &Shard, topic: &str) -> Option<TopicConfig> {
    if let Some(t) = shard.topics.borrow().get(topic) {
        return Some(t.clone());
    }
    if !shard.config.auto_create_topic {
        return None;
    }
    let config = default_topic_config(shard, topic);
    shard
        .topics
        .borrow_mut()
        .insert(topic.to_owned(), config.clone());
    // Every shard keeps a copy: shard 0 registers it with the name servers.
    broadcast(shard, &config);
    Some(config)
}

/// The queue a request for `queue_id` of `topic` really lands on (RocketMQ wraps ids past
/// the write queue count).
pub fn effective_queue_id(shard: &Shard, topic: &str, queue_id: i32) -> i32 {
    let writes = topic_facts(shard, topic).map_or(shard.config.default_topic_queue_nums, |t| {
        t.write_queue_nums
    });
    wrap_queue_id(queue_id, writes)
}

fn wrap_queue_id(queue_id: i32, writes: i32) -> i32 {
    if writes > 0 && queue_id >= writes {
        queue_id % writes
    } else {
        queue_id
    }
}

/// Records a topic config on this shard.
pub fn apply_topic(shard: &Shard, config: TopicConfig) {
    shard
        .topics
        .borrow_mut()
        .insert(config.topic_name.clone(), config);
}

fn broadcast(shard: &Shard, config: &TopicConfig) {
    for peer in 0..shard.shards {
        if peer != shard.id {
            // Topic changes are rare; a full inbox only delays the copy until auto-create.
            let _ = shard
                .mesh
                .try_send_to(peer, ShardMsg::TopicChanged(config.clone()));
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TopicConfigTable<'a> {
    topic_config_table: &'a std::collections::BTreeMap<String, TopicConfig>,
}

pub async fn handle(shard: &Rc<Shard>, request: &Command) -> Command {
    match request.head.code {
        request_code::UPDATE_AND_CREATE_TOPIC => {
            let h: CreateTopicRequestHeader = match request.header() {
                Ok(h) => h,
                Err(e) => return error(request, response_code::SYSTEM_ERROR, e.to_string()),
            };
            if h.read_queue_nums <= 0 || h.write_queue_nums <= 0 || h.write_queue_nums > 1024 {
                return error(
                    request,
                    response_code::SYSTEM_ERROR,
                    format!(
                        "queue counts must be 1..=1024 (read {}, write {})",
                        h.read_queue_nums, h.write_queue_nums
                    ),
                );
            }
            let mut config = TopicConfig {
                topic_name: h.topic.to_string(),
                read_queue_nums: h.read_queue_nums,
                write_queue_nums: h.write_queue_nums,
                perm: h.perm,
                topic_sys_flag: h.topic_sys_flag.unwrap_or(0),
                order: h.order,
                ..Default::default()
            };
            // An existing topic keeps the spread its data was written with.
            config.attributes.insert(
                SHARDS_ATTRIBUTE.into(),
                spread_of(shard, &h.topic).to_string(),
            );
            apply_topic(shard, config.clone());
            broadcast(shard, &config);
            Command::ok(request, Bytes::new())
        }
        request_code::DELETE_TOPIC_IN_BROKER => {
            let h: DeleteTopicRequestHeader = match request.header() {
                Ok(h) => h,
                Err(e) => return error(request, response_code::SYSTEM_ERROR, e.to_string()),
            };
            shard.topics.borrow_mut().remove(h.topic.as_ref() as &str);
            for peer in (0..shard.shards).filter(|p| *p != shard.id) {
                let _ = shard
                    .mesh
                    .try_send_to(peer, ShardMsg::TopicDeleted(h.topic.to_string()));
            }
            Command::ok(request, Bytes::new())
        }
        request_code::GET_ALL_TOPIC_CONFIG => {
            let topics = shard.topics.borrow();
            let body = serde_json::to_vec(&TopicConfigTable {
                topic_config_table: &topics,
            })
            .unwrap_or_default();
            Command::ok(request, Bytes::from(body))
        }
        code => error(
            request,
            response_code::REQUEST_CODE_NOT_SUPPORTED,
            format!("request code {code} is not a topic request"),
        ),
    }
}

/// SHARDMQ_MOVE_QUEUE on the queue's current owner: new messages go to `toShard` from the
/// queue's next offset on; what is stored here stays here and stays readable; committed
/// consumer offsets go along.
pub async fn move_queue(shard: &Rc<Shard>, request: &Command) -> Command {
    let h: MoveQueueRequestHeader = match request.header() {
        Ok(h) => h,
        Err(e) => return error(request, response_code::SYSTEM_ERROR, e.to_string()),
    };
    let to = match usize::try_from(h.to_shard)
        .ok()
        .filter(|t| *t < shard.shards)
    {
        Some(t) => t,
        None => {
            return error(
                request,
                response_code::SYSTEM_ERROR,
                format!(
                    "toShard {} is not a shard of this broker (0..{})",
                    h.to_shard, shard.shards
                ),
            )
        }
    };
    if topic_or_create(shard, &h.topic).is_none() {
        return error(
            request,
            response_code::TOPIC_NOT_EXIST,
            format!("topic[{}] not exist", h.topic),
        );
    }
    if to == shard.id {
        return Command::ok(request, Bytes::new());
    }
    // From here on, sends for the queue that reach this shard are refused (SYSTEM_BUSY).
    let boundary = shard.store.next_offset(&h.topic, h.queue_id);
    let queue_move = {
        let mut moves = shard.moves.borrow_mut();
        let m = QueueMove {
            topic: h.topic.to_string(),
            queue_id: h.queue_id,
            from_shard: shard.id as u16,
            to_shard: to as u16,
            boundary,
            version: moves.version + 1,
        };
        moves.apply(m.clone());
        m
    };
    // Everything appended before the move must be durable (and so readable) here.
    let end = shard.store.commit_log().append_end();
    if let Err(e) = shard.store.wait_durable(end).await {
        return error(
            request,
            response_code::SERVICE_NOT_AVAILABLE,
            format!("store: {e}"),
        );
    }
    let offsets = shard.offsets.borrow().queue_offsets(&h.topic, h.queue_id);
    for peer in (0..shard.shards).filter(|p| *p != shard.id) {
        let msg = ShardMsg::QueueMoved {
            queue_move: queue_move.clone(),
            offsets: offsets.clone(),
        };
        if shard.mesh.send_to(peer, msg).await.is_err() {
            return error(
                request,
                response_code::SYSTEM_ERROR,
                format!("shard {peer} is gone"),
            );
        }
    }
    Command::ok(request, Bytes::new())
}

/// Applies a move announced by another shard; the new owner continues the queue's numbering.
pub fn apply_move(shard: &Shard, queue_move: QueueMove, offsets: Vec<(String, i64)>) {
    let to_me = queue_move.to_shard as usize == shard.id;
    let (topic, queue_id, boundary) = (
        queue_move.topic.clone(),
        queue_move.queue_id,
        queue_move.boundary,
    );
    if !shard.moves.borrow_mut().apply(queue_move) || !to_me {
        return;
    }
    if let Err(e) = shard.store.start_queue_at(&topic, queue_id, boundary) {
        tracing::warn!(shard = shard.id, %topic, queue_id, "taking over a moved queue: {e}");
    }
    for (group, offset) in offsets {
        super::offset::commit(shard, &topic, &group, queue_id, offset);
    }
}

/// GET_TOPIC_STATS_INFO: min and max offset of every queue, asked of the shards that hold
/// them (the first holder for min, the owner for max).
pub async fn topic_stats(shard: &Rc<Shard>, origin: Origin, request: &Command) -> Command {
    let h: GetTopicStatsInfoRequestHeader = match request.header() {
        Ok(h) => h,
        Err(e) => return error(request, response_code::SYSTEM_ERROR, e.to_string()),
    };
    let Some(topic) = shard.topics.borrow().get(&*h.topic).cloned() else {
        return error(
            request,
            response_code::TOPIC_NOT_EXIST,
            format!("topic[{}] not exist", h.topic),
        );
    };
    let mut table = TopicStatsTable::default();
    for queue_id in 0..topic.read_queue_nums.max(topic.write_queue_nums) {
        let ask = |code| {
            let header = GetMinOffsetRequestHeader {
                topic: h.topic.clone(),
                queue_id,
            };
            Command::new(
                Head::request(code, 0),
                SerializeType::RocketMq,
                &header,
                Bytes::new(),
            )
        };
        let offset = |reply: Option<Command>| {
            reply
                .and_then(|r| r.header::<OffsetResponseHeader>().ok())
                .map_or(0, |o| o.offset)
        };
        let min =
            offset(super::route_boxed(shard, origin, ask(request_code::GET_MIN_OFFSET)).await);
        let max =
            offset(super::route_boxed(shard, origin, ask(request_code::GET_MAX_OFFSET)).await);
        let mq = MessageQueue {
            topic: h.topic.to_string(),
            broker_name: shard.config.broker_name.clone(),
            queue_id,
        };
        table.offset_table.push((
            mq,
            TopicOffset {
                min_offset: min,
                max_offset: max,
                last_update_timestamp: 0,
            },
        ));
    }
    Command::ok(request, table.encode())
}
