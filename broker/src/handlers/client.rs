//! Client requests kept by a consumer group's home shard: HEART_BEAT (34), UNREGISTER_CLIENT
//! (35), GET_CONSUMER_LIST_BY_GROUP (38), LOCK_BATCH_MQ (41), UNLOCK_BATCH_MQ (42); and the
//! consumer rebalance signal: when a group's members change (a new client, an unregister, a
//! closed connection, 120 s without a heartbeat), every member gets a oneway
//! NOTIFY_CONSUMER_IDS_CHANGED (40) on its own connection, whichever shard holds it.

use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use shardmq_protocol::body::{
    ConsumerIdList, HeartbeatData, JsonBody, LockBatchRequestBody, LockBatchResponseBody,
};
use shardmq_protocol::codes::{request_code, response_code, FLAG_ONEWAY};
use shardmq_protocol::command::{Command, Head};
use shardmq_protocol::header::{NotifyConsumerIdsChangedRequestHeader, PERM_READ, PERM_WRITE};
use shardmq_protocol::request::{Request, RequestKind};

use super::error;
use super::send_back::RETRY_QUEUE_NUMS;
use super::topic::ensure_topic;
use crate::routing::group_home;
use crate::shard::groups::{TooManyGroups, MAX_GROUPS};
use crate::shard::{Origin, Shard};

/// A client silent this long is dropped from its groups (RocketMQ's channel expiry).
pub const CLIENT_EXPIRY: Duration = Duration::from_secs(120);
/// How often group homes look for expired clients.
pub const CLIENT_SCAN_EVERY: Duration = Duration::from_secs(10);

/// Serves the client requests (`request.kind` says which; bodies decoded at the door).
pub fn handle(shard: &Rc<Shard>, origin: Origin, request: &Request) -> Command {
    let command = &request.command;
    match &request.kind {
        RequestKind::Heartbeat { body, .. } => heartbeat(shard, origin, command, body),
        RequestKind::Unregister { client_id, group } => {
            if let Some(group) = group {
                if shard.groups().unregister(group, client_id) {
                    notify_group(shard, group);
                }
            }
            Command::ok(command, Bytes::new())
        }
        RequestKind::ConsumerList { group } => match shard.groups().member_ids(group) {
            Some(ids) => {
                let list = ConsumerIdList {
                    consumer_id_list: ids,
                };
                Command::ok(command, list.encode())
            }
            None => error(
                command,
                response_code::SYSTEM_ERROR,
                format!("no consumer for this group, {group}"),
            ),
        },
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
    // Only the groups whose home this is; the route sent copies to the other homes.
    let mine = hb
        .consumer_data_set
        .iter()
        .filter(|c| group_home(&c.group_name, shard.shards) == shard.id);
    // A consumer group's retry topic exists from its first heartbeat, so that clients that
    // subscribe to it find a route (RocketMQ does the same).
    for consumer in mine.clone() {
        let retry = shardmq_protocol::names::retry_topic(&consumer.group_name);
        if ensure_topic(shard, &retry, RETRY_QUEUE_NUMS, PERM_READ | PERM_WRITE).is_err() {
            tracing::warn!(topic = %retry, "retry topic not created: maxTopicCount reached");
        }
    }
    match shard
        .groups()
        .heartbeat(&hb.client_id, origin, mine, Instant::now())
    {
        Ok(changed) => {
            for group in changed {
                notify_group(shard, &group);
            }
            Command::ok(request, Bytes::new())
        }
        Err(TooManyGroups { group }) => error(
            request,
            response_code::SYSTEM_ERROR,
            format!(
                "consumer group {group} not registered: shard {} is home to {MAX_GROUPS} groups already",
                shard.id
            ),
        ),
    }
}

/// Tells every member of `group` that its membership changed.
fn notify_group(shard: &Shard, group: &str) {
    for origin in shard.groups().member_origins(group) {
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
    let changed = shard
        .groups()
        .remove_clients(|c| c.origin.shard == from_shard && c.origin.connection == connection);
    for group in changed {
        notify_group(shard, &group);
    }
}

/// Drops clients silent for longer than `CLIENT_EXPIRY` (120 s).
pub fn expire_clients(shard: &Shard) {
    let now = Instant::now();
    let changed = shard
        .groups()
        .remove_clients(|c| now.duration_since(c.last_seen) > CLIENT_EXPIRY);
    for group in changed {
        notify_group(shard, &group);
    }
}

fn lock(shard: &Shard, request: &Command, body: &LockBatchRequestBody, take: bool) -> Command {
    let groups = shard.groups();
    if take {
        let granted = groups.lock(
            &body.consumer_group,
            &body.client_id,
            &body.mq_set,
            Instant::now(),
        );
        Command::ok(
            request,
            LockBatchResponseBody {
                lock_ok_mq_set: granted,
            }
            .encode(),
        )
    } else {
        groups.unlock(&body.consumer_group, &body.client_id, &body.mq_set);
        Command::ok(request, Bytes::new())
    }
}
