//! Topics: the table every shard keeps a copy of, auto-creation on first send, and the admin
//! requests that create, delete, list and move them, and report their offsets.

use std::rc::Rc;

use bytes::Bytes;
use serde::Serialize;
use shardmq_protocol::body::{MessageQueue, TopicConfig, TopicOffset, TopicStatsTable};
use shardmq_protocol::codes::{request_code, response_code, SerializeType};
use shardmq_protocol::command::{Command, Head};
use shardmq_protocol::header::{
    GetMinOffsetRequestHeader, OffsetResponseHeader, PERM_READ, PERM_WRITE,
};
use shardmq_protocol::names::{QueueId, TopicName};
use shardmq_protocol::request::{Request, RequestKind};

use super::error;
use crate::moves::QueueMove;
use crate::routing::TopicSpread;
use crate::shard::mesh::Control;
use crate::shard::replicated::TopicLimit;
use crate::shard::{Origin, Shard};

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

/// How `topic` is spread, for routing: its own spread and write-queue count if known, the
/// broker's defaults for a topic a send would create.
pub fn topic_spread(shard: &Shard, topic: &str) -> TopicSpread {
    topic_facts(shard, topic).map_or(
        TopicSpread {
            spread: shard.shards,
            write_queue_nums: shard.config.default_topic_queue_nums,
        },
        |t| TopicSpread {
            spread: t.spread,
            write_queue_nums: t.write_queue_nums,
        },
    )
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
        TopicSpread {
            spread: self.spread,
            write_queue_nums: self.write_queue_nums,
        }
        .effective_queue_id(queue_id)
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

/// Why a topic a request needs is not there.
pub enum Missing {
    /// It does not exist and `autoCreateTopicEnable` is off.
    NotExist,
    /// Creating it would pass `maxTopicCount`.
    Limit(TopicLimit),
}

impl Missing {
    /// The reply to `request` about `topic`.
    pub fn reply(&self, request: &Command, topic: &str) -> Command {
        match self {
            Missing::NotExist => error(
                request,
                response_code::TOPIC_NOT_EXIST,
                format!(
                    "topic[{topic}] not exist, apply first please! (autoCreateTopicEnable is off)"
                ),
            ),
            Missing::Limit(l) => {
                error(request, response_code::SYSTEM_ERROR, limit_remark(topic, l))
            }
        }
    }
}

fn limit_remark(topic: &str, l: &TopicLimit) -> String {
    format!(
        "topic[{topic}] not created: this broker already holds {} topics (maxTopicCount); delete topics or raise maxTopicCount",
        l.max_topic_count
    )
}

/// The topic's config, auto-creating it when allowed.
pub fn topic_or_create(shard: &Shard, topic: &str) -> Result<TopicConfig, Missing> {
    if let Some(t) = shard.topics.borrow().get(topic) {
        return Ok(t.clone());
    }
    if !shard.config.auto_create_topic {
        return Err(Missing::NotExist);
    }
    let config = default_topic_config(shard, topic);
    match shard.topics.set(config.clone()) {
        Ok(()) => {
            // Every shard keeps a copy: shard 0 registers it with the name servers.
            copy_to(shard, topic);
            Ok(config)
        }
        Err(limit) => {
            shard.count(|c| c.topic_refused += 1);
            Err(Missing::Limit(limit))
        }
    }
}

/// Makes sure a topic the broker itself writes exists (a group's retry or dead-letter
/// topic): created with `queues` queues and `perm` if missing, whatever
/// `autoCreateTopicEnable` says, as RocketMQ does.
pub fn ensure_topic(shard: &Shard, topic: &str, queues: i32, perm: i32) -> Result<(), Missing> {
    if shard.topics.borrow().get(topic).is_some() {
        return Ok(());
    }
    let mut config = TopicConfig {
        topic_name: topic.to_owned(),
        read_queue_nums: queues,
        write_queue_nums: queues,
        perm,
        ..Default::default()
    };
    config
        .attributes
        .insert(SHARDS_ATTRIBUTE.into(), shard.shards.to_string());
    match shard.topics.set(config) {
        Ok(()) => {
            copy_to(shard, topic);
            Ok(())
        }
        Err(limit) => {
            shard.count(|c| c.topic_refused += 1);
            Err(Missing::Limit(limit))
        }
    }
}

/// The queue a request for `queue_id` of `topic` really lands on (RocketMQ wraps ids past
/// the write queue count).
pub fn effective_queue_id(shard: &Shard, topic: &str, queue_id: i32) -> i32 {
    topic_spread(shard, topic).effective_queue_id(queue_id)
}

/// Records a topic config read from disk at start (every shard reads the same file).
pub fn apply_topic(shard: &Shard, config: TopicConfig) {
    shard.topics.load(config);
}

/// Queues a topic's newest revision for each peer's control pump.
fn copy_to(shard: &Shard, topic: &str) {
    for peer in (0..shard.shards).filter(|p| *p != shard.id) {
        shard.mesh().control_out(peer).topic(topic);
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TopicConfigTable<'a> {
    topic_config_table: &'a std::collections::BTreeMap<String, TopicConfig>,
}

/// Serves topic administration (`request.kind` says which; validated at the door).
pub fn handle(shard: &Rc<Shard>, request: &Request) -> Command {
    let command = &request.command;
    match &request.kind {
        RequestKind::CreateTopic { topic, header: h } => {
            let request = command;
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
                topic_name: topic.to_string(),
                read_queue_nums: h.read_queue_nums,
                write_queue_nums: h.write_queue_nums,
                perm: h.perm,
                topic_sys_flag: h.topic_sys_flag.unwrap_or(0),
                order: h.order,
                ..Default::default()
            };
            // An existing topic keeps the spread its data was written with.
            config
                .attributes
                .insert(SHARDS_ATTRIBUTE.into(), spread_of(shard, topic).to_string());
            match shard.topics.set(config) {
                Ok(()) => {
                    copy_to(shard, topic);
                    Command::ok(request, Bytes::new())
                }
                Err(limit) => {
                    shard.count(|c| c.topic_refused += 1);
                    error(
                        request,
                        response_code::SYSTEM_ERROR,
                        limit_remark(topic, &limit),
                    )
                }
            }
        }
        RequestKind::DeleteTopic { topic } => {
            shard.topics.remove(topic);
            // Its consumers' offsets go too, here and on every peer as the deletion arrives.
            shard.forget_offsets(topic);
            copy_to(shard, topic);
            Command::ok(command, Bytes::new())
        }
        RequestKind::AllTopicConfig => {
            let topics = shard.topics.borrow();
            let body = serde_json::to_vec(&TopicConfigTable {
                topic_config_table: &topics,
            })
            .unwrap_or_default();
            Command::ok(command, Bytes::from(body))
        }
        _ => error(
            command,
            response_code::SYSTEM_ERROR,
            "not a topic request (a routing bug)",
        ),
    }
}

/// SHARDMQ_MOVE_QUEUE on the queue's current owner: new messages go to `toShard` from the
/// queue's next offset on; what is stored here stays here and stays readable; committed
/// consumer offsets go along.
pub async fn move_queue(
    shard: &Rc<Shard>,
    request: &Command,
    topic: &TopicName,
    queue_id: QueueId,
    to_shard: i32,
) -> Command {
    let queue_id = queue_id.get();
    let to = match usize::try_from(to_shard).ok().filter(|t| *t < shard.shards) {
        Some(t) => t,
        None => {
            return error(
                request,
                response_code::SYSTEM_ERROR,
                format!(
                    "toShard {} is not a shard of this broker (0..{})",
                    to_shard, shard.shards
                ),
            )
        }
    };
    if let Err(missing) = topic_or_create(shard, topic) {
        return missing.reply(request, topic);
    }
    if to == shard.id {
        return Command::ok(request, Bytes::new());
    }
    // From here on, sends for the queue that reach this shard are refused (SYSTEM_BUSY).
    let boundary = shard.store.next_offset(topic, queue_id);
    let queue_move = QueueMove {
        topic: topic.to_string(),
        queue_id,
        from_shard: shard.id as u16,
        to_shard: to as u16,
        boundary,
        version: shard.moves().version + 1,
    };
    shard.apply_move(queue_move.clone());
    // Everything appended before the move must be durable (and so readable) here.
    let end = shard.store.commit_log().append_end();
    if let Err(e) = shard.store.wait_durable(end).await {
        return error(
            request,
            response_code::SERVICE_NOT_AVAILABLE,
            format!("store: {e}"),
        );
    }
    let offsets = shard.queue_offsets(topic, queue_id);
    // Each peer's control pump delivers it, waiting for room in a full inbox.
    for peer in (0..shard.shards).filter(|p| *p != shard.id) {
        shard.send_control(
            peer,
            Control::QueueMoved {
                queue_move: queue_move.clone(),
                offsets: offsets.clone(),
            },
        );
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
    if !shard.apply_move(queue_move) || !to_me {
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
pub async fn topic_stats(
    shard: &Rc<Shard>,
    origin: Origin,
    request: &Command,
    name: &TopicName,
) -> Command {
    let Some(topic) = shard.topics.borrow().get(name.as_str()).cloned() else {
        return error(
            request,
            response_code::TOPIC_NOT_EXIST,
            format!("topic[{name}] not exist"),
        );
    };
    let mut table = TopicStatsTable::default();
    for queue_id in 0..topic.read_queue_nums.max(topic.write_queue_nums) {
        // Asked of the owners as typed requests, through the same router as a client's.
        let ask = |code| {
            let header = GetMinOffsetRequestHeader {
                topic: name.clone().into_inner(),
                queue_id,
            };
            let command = Command::new(
                Head::request(code, 0),
                SerializeType::RocketMq,
                &header,
                Bytes::new(),
            );
            let (topic, queue_id) = (name.clone(), QueueId::parse("queueId", queue_id));
            queue_id.map(|queue_id| Request {
                command,
                kind: if code == request_code::GET_MIN_OFFSET {
                    RequestKind::MinOffset { topic, queue_id }
                } else {
                    RequestKind::MaxOffset { topic, queue_id }
                },
            })
        };
        let offset = |reply: Option<Command>| {
            reply
                .and_then(|r| r.header::<OffsetResponseHeader>().ok())
                .map_or(0, |o| o.offset)
        };
        let (Ok(min_request), Ok(max_request)) = (
            ask(request_code::GET_MIN_OFFSET),
            ask(request_code::GET_MAX_OFFSET),
        ) else {
            break; // past the largest queue id (a topic has at most 1024 queues)
        };
        let min = offset(super::route_boxed(shard, origin, min_request).await);
        let max = offset(super::route_boxed(shard, origin, max_request).await);
        let mq = MessageQueue {
            topic: name.to_string(),
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
