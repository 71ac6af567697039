//! Client requests kept by a consumer group's home shard: HEART_BEAT (34), UNREGISTER_CLIENT
//! (35), GET_CONSUMER_LIST_BY_GROUP (38), LOCK_BATCH_MQ (41), UNLOCK_BATCH_MQ (42); and the
//! consumer rebalance signal: when a group's members change (a new client, an unregister, a
//! closed connection, 120 s without a heartbeat), every member gets a oneway
//! NOTIFY_CONSUMER_IDS_CHANGED (40) on its own connection, whichever shard holds it.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use shardmq_protocol::body::{
    ConsumerIdList, HeartbeatData, JsonBody, LockBatchRequestBody, LockBatchResponseBody,
};
use shardmq_protocol::codes::{request_code, response_code, FLAG_ONEWAY};
use shardmq_protocol::command::{Command, Head};
use shardmq_protocol::header::NotifyConsumerIdsChangedRequestHeader;
use shardmq_protocol::request::{Request, RequestKind};

use super::error;
use crate::routing::group_home;
use crate::shard::{
    ConsumerClient, Origin, QueueLock, Shard, LOCK_MAX_LIVE_MS, MAX_GROUPS, MAX_LOCKS,
};

/// A client silent this long is dropped from its groups (RocketMQ's channel expiry).
pub const CLIENT_EXPIRY: Duration = Duration::from_secs(120);
/// How often group homes look for expired clients.
pub const CLIENT_SCAN_EVERY: Duration = Duration::from_secs(10);

/// Serves the client requests (`request.kind` says which; bodies decoded at the door).
pub fn handle(shard: &Rc<Shard>, origin: Origin, request: &Request) -> Command {
    let command = &request.command;
    match &request.kind {
        RequestKind::Heartbeat(hb) => heartbeat(shard, origin, command, hb),
        RequestKind::Unregister { client_id, group } => {
            if let Some(group) = group {
                let removed = shard
                    .groups
                    .borrow_mut()
                    .get_mut(group.as_str())
                    .and_then(|members| members.remove(client_id.as_ref() as &str));
                if removed.is_some() {
                    notify_group(shard, group);
                }
            }
            Command::ok(command, Bytes::new())
        }
        RequestKind::ConsumerList { group } => {
            let groups = shard.groups.borrow();
            match groups.get(group.as_str()).filter(|m| !m.is_empty()) {
                Some(members) => {
                    let list = ConsumerIdList {
                        consumer_id_list: members.keys().cloned().collect(),
                    };
                    Command::ok(command, list.encode())
                }
                None => error(
                    command,
                    response_code::SYSTEM_ERROR,
                    format!("no consumer for this group, {group}"),
                ),
            }
        }
        RequestKind::Lock {
            body, lock: take, ..
        } => lock(shard, command, body, *take),
        _ => error(
            command,
            response_code::SYSTEM_ERROR,
            "not a client request (a routing bug)",
        ),
    }
}

fn heartbeat(shard: &Shard, origin: Origin, request: &Command, hb: &HeartbeatData) -> Command {
    let now = Instant::now();
    let mut changed = Vec::new();
    {
        let mut groups = shard.groups.borrow_mut();
        // Only the groups whose home this is; the route sent copies to the other homes.
        let mine = hb
            .consumer_data_set
            .iter()
            .filter(|c| group_home(&c.group_name, shard.shards) == shard.id);
        for consumer in mine {
            let subscriptions: BTreeMap<String, String> = consumer
                .subscription_data_set
                .iter()
                .map(|s| (s.topic.clone(), s.sub_string.clone()))
                .collect();
            if !groups.contains_key(&consumer.group_name) && groups.len() >= MAX_GROUPS {
                return error(
                    request,
                    response_code::SYSTEM_ERROR,
                    format!(
                        "consumer group {} not registered: shard {} is home to {MAX_GROUPS} groups already",
                        consumer.group_name, shard.id
                    ),
                );
            }
            let members = groups.entry(consumer.group_name.clone()).or_default();
            let client = ConsumerClient {
                last_seen: now,
                origin,
                subscriptions,
            };
            if members.insert(hb.client_id.clone(), client).is_none() {
                changed.push(consumer.group_name.clone());
            }
        }
    }
    for group in changed {
        notify_group(shard, &group);
    }
    Command::ok(request, Bytes::new())
}

/// Tells every member of `group` that its membership changed.
fn notify_group(shard: &Shard, group: &str) {
    let members: Vec<Origin> = shard
        .groups
        .borrow()
        .get(group)
        .map(|m| m.values().map(|c| c.origin).collect())
        .unwrap_or_default();
    for origin in members {
        let mut head = Head::request(request_code::NOTIFY_CONSUMER_IDS_CHANGED, 0);
        head.flag = FLAG_ONEWAY;
        let header = NotifyConsumerIdsChangedRequestHeader {
            consumer_group: group.into(),
        };
        shard.push_to(
            origin,
            Command::new(head, origin.serialize_type, &header, Bytes::new()),
        );
    }
}

/// Drops the clients of a closed connection from the groups whose home this shard is.
pub fn connection_closed(shard: &Shard, from_shard: usize, connection: u64) {
    let changed = remove_clients(shard, |c| {
        c.origin.shard == from_shard && c.origin.connection == connection
    });
    for group in changed {
        notify_group(shard, &group);
    }
}

/// Drops clients silent for longer than [`CLIENT_EXPIRY`].
pub fn expire_clients(shard: &Shard) {
    let now = Instant::now();
    let changed = remove_clients(shard, |c| now.duration_since(c.last_seen) > CLIENT_EXPIRY);
    for group in changed {
        notify_group(shard, &group);
    }
}

fn remove_clients(shard: &Shard, doomed: impl Fn(&ConsumerClient) -> bool) -> Vec<String> {
    let mut changed = Vec::new();
    let mut groups = shard.groups.borrow_mut();
    for (group, members) in groups.iter_mut() {
        let before = members.len();
        members.retain(|_, c| !doomed(c));
        if members.len() != before {
            changed.push(group.clone());
        }
    }
    groups.retain(|_, m| !m.is_empty());
    changed
}

fn lock(shard: &Shard, request: &Command, body: &LockBatchRequestBody, take: bool) -> Command {
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
            if free && (locks.len() < MAX_LOCKS || locks.contains_key(&key)) {
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
        Command::ok(
            request,
            LockBatchResponseBody {
                lock_ok_mq_set: granted,
            }
            .encode(),
        )
    } else {
        Command::ok(request, Bytes::new())
    }
}
