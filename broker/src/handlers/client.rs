//! Client requests kept by a consumer group's home shard: HEART_BEAT (34), UNREGISTER_CLIENT
//! (35), GET_CONSUMER_LIST_BY_GROUP (38), LOCK_BATCH_MQ (41), UNLOCK_BATCH_MQ (42).

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use shardmq_protocol::body::{
    ConsumerIdList, HeartbeatData, JsonBody, LockBatchRequestBody, LockBatchResponseBody,
};
use shardmq_protocol::codes::{request_code, response_code};
use shardmq_protocol::command::Command;
use shardmq_protocol::header::{
    GetConsumerListByGroupRequestHeader, UnregisterClientRequestHeader,
};

use super::{error, ok};
use crate::shard::{ConsumerClient, QueueLock, Shard, LOCK_MAX_LIVE_MS};

/// The consumer group a heartbeat or lock request is about (its home shard handles it).
pub fn group_of_body(request: &Command) -> Option<String> {
    match request.head.code {
        request_code::HEART_BEAT => {
            let hb = HeartbeatData::decode(&request.body).ok()?;
            hb.consumer_data_set.first().map(|c| c.group_name.clone())
        }
        _ => LockBatchRequestBody::decode(&request.body)
            .ok()
            .map(|b| b.consumer_group),
    }
}

pub fn handle(shard: &Rc<Shard>, request: &Command) -> Command {
    match request.head.code {
        request_code::HEART_BEAT => heartbeat(shard, request),
        request_code::UNREGISTER_CLIENT => {
            match request.header::<UnregisterClientRequestHeader>() {
                Ok(h) => {
                    if let Some(group) = &h.consumer_group {
                        if let Some(members) =
                            shard.groups.borrow_mut().get_mut(group.as_ref() as &str)
                        {
                            members.remove(h.client_id.as_ref() as &str);
                        }
                    }
                    ok(request, Bytes::new())
                }
                Err(e) => error(request, response_code::SYSTEM_ERROR, e.to_string()),
            }
        }
        request_code::GET_CONSUMER_LIST_BY_GROUP => {
            match request.header::<GetConsumerListByGroupRequestHeader>() {
                Ok(h) => {
                    let groups = shard.groups.borrow();
                    match groups
                        .get(h.consumer_group.as_ref() as &str)
                        .filter(|m| !m.is_empty())
                    {
                        Some(members) => {
                            let list = ConsumerIdList {
                                consumer_id_list: members.keys().cloned().collect(),
                            };
                            ok(request, list.encode())
                        }
                        None => error(
                            request,
                            response_code::SYSTEM_ERROR,
                            format!("no consumer for this group, {}", h.consumer_group),
                        ),
                    }
                }
                Err(e) => error(request, response_code::SYSTEM_ERROR, e.to_string()),
            }
        }
        request_code::LOCK_BATCH_MQ => lock(shard, request, true),
        _ => lock(shard, request, false),
    }
}

fn heartbeat(shard: &Shard, request: &Command) -> Command {
    let hb = match HeartbeatData::decode(&request.body) {
        Ok(hb) => hb,
        Err(e) => return error(request, response_code::SYSTEM_ERROR, e.to_string()),
    };
    let now = Instant::now();
    let mut groups = shard.groups.borrow_mut();
    for consumer in &hb.consumer_data_set {
        let subscriptions: BTreeMap<String, String> = consumer
            .subscription_data_set
            .iter()
            .map(|s| (s.topic.clone(), s.sub_string.clone()))
            .collect();
        groups
            .entry(consumer.group_name.clone())
            .or_default()
            .insert(
                hb.client_id.clone(),
                ConsumerClient {
                    last_seen: now,
                    subscriptions,
                },
            );
    }
    ok(request, Bytes::new())
}

fn lock(shard: &Shard, request: &Command, take: bool) -> Command {
    let body = match LockBatchRequestBody::decode(&request.body) {
        Ok(b) => b,
        Err(e) => return error(request, response_code::SYSTEM_ERROR, e.to_string()),
    };
    let now = Instant::now();
    let mut locks = shard.locks.borrow_mut();
    let mut granted = Vec::new();
    for mq in &body.mq_set {
        let key = (body.consumer_group.clone(), mq.topic.clone(), mq.queue_id);
        if take {
            let free = locks.get(&key).is_none_or(|l| {
                l.client_id == body.client_id
                    || now.duration_since(l.last_renewed).as_millis() > LOCK_MAX_LIVE_MS
            });
            if free {
                locks.insert(
                    key,
                    QueueLock {
                        client_id: body.client_id.clone(),
                        last_renewed: now,
                    },
                );
                granted.push(mq.clone());
            }
        } else if locks
            .get(&key)
            .is_some_and(|l| l.client_id == body.client_id)
        {
            locks.remove(&key);
        }
    }
    if take {
        ok(
            request,
            LockBatchResponseBody {
                lock_ok_mq_set: granted,
            }
            .encode(),
        )
    } else {
        ok(request, Bytes::new())
    }
}
