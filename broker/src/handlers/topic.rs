//! Topics: the table every shard keeps a copy of, auto-creation on first send, and the admin
//! requests that create, delete and list them.

use std::rc::Rc;

use bytes::Bytes;
use serde::Serialize;
use shardmq_protocol::body::TopicConfig;
use shardmq_protocol::codes::{request_code, response_code};
use shardmq_protocol::command::Command;
use shardmq_protocol::header::{
    CreateTopicRequestHeader, DeleteTopicRequestHeader, PERM_READ, PERM_WRITE,
};

use super::{error, ok};
use crate::shard::{Shard, ShardMsg};

/// RocketMQ's default topic: clients send to it when a topic has no route yet.
pub const DEFAULT_TOPIC: &str = "TBW102";

/// The config an auto-created topic gets on every shard (deterministic, so all agree).
pub fn default_topic_config(shard: &Shard, topic: &str) -> TopicConfig {
    TopicConfig {
        topic_name: topic.to_owned(),
        read_queue_nums: shard.config.default_topic_queue_nums,
        write_queue_nums: shard.config.default_topic_queue_nums,
        perm: PERM_READ | PERM_WRITE,
        ..Default::default()
    }
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
    let writes = shard
        .topics
        .borrow()
        .get(topic)
        .map_or(shard.config.default_topic_queue_nums, |t| {
            t.write_queue_nums
        });
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
            let config = TopicConfig {
                topic_name: h.topic.to_string(),
                read_queue_nums: h.read_queue_nums,
                write_queue_nums: h.write_queue_nums,
                perm: h.perm,
                topic_sys_flag: h.topic_sys_flag.unwrap_or(0),
                order: h.order,
                ..Default::default()
            };
            apply_topic(shard, config.clone());
            broadcast(shard, &config);
            ok(request, Bytes::new())
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
            ok(request, Bytes::new())
        }
        request_code::GET_ALL_TOPIC_CONFIG => {
            let topics = shard.topics.borrow();
            let body = serde_json::to_vec(&TopicConfigTable {
                topic_config_table: &topics,
            })
            .unwrap_or_default();
            ok(request, Bytes::from(body))
        }
        code => error(
            request,
            response_code::REQUEST_CODE_NOT_SUPPORTED,
            format!("request code {code} is not a topic request"),
        ),
    }
}
