//! Request handlers with RocketMQ's semantics and codes, and the routing that sends each
//! request to the shard that owns its queue (or its consumer group): [`route`] reads what a
//! request is about once (`protocol::request::owner_key`, which also validates its names),
//! asks `routing` for the owner, and handles it here or forwards it over the mesh.

use std::rc::Rc;
use std::time::Duration;

use shardmq_protocol::codes::{request_code, response_code};
use shardmq_protocol::command::Command;
use shardmq_protocol::request::{owner_key, OwnerKey, Refusal};

use crate::routing;
use crate::shard::mesh::Control;
use crate::shard::{Origin, Shard};

mod client;
mod offset;
mod pull;
pub(crate) mod send;
mod topic;

pub use client::{connection_closed, expire_clients, CLIENT_SCAN_EVERY};
pub use topic::{
    apply_move, apply_topic, default_topic_config, spread_of, DEFAULT_TOPIC, SHARDS_ATTRIBUTE,
};

/// An error reply with a remark, logged at debug level.
pub fn error(request: &Command, code: i32, remark: impl Into<String>) -> Command {
    let remark = remark.into();
    tracing::debug!(request = request.head.code, code, %remark, "error reply");
    Command::error(request, code, remark)
}

/// The shard that must handle a request about `key` (`None`: this one will do).
pub fn owner(shard: &Shard, key: &OwnerKey) -> Option<usize> {
    routing::owner(
        key,
        &shard.moves.borrow(),
        |t| topic::topic_spread(shard, t),
        shard.shards,
    )
}

/// How long a forward about `key` may wait for its owner: the broker's forward timeout,
/// plus the time a pull may be held there.
fn forward_timeout(shard: &Shard, key: &OwnerKey) -> Duration {
    let hold_ms = match key {
        OwnerKey::Read { hold_ms, .. } => (*hold_ms).min(pull::MAX_SUSPEND_MS as u64),
        _ => 0,
    };
    shard.config.forward_timeout + Duration::from_millis(hold_ms)
}

/// A refusal at the door as a reply (`None` for a oneway request).
fn refuse(request: &Command, refusal: Refusal) -> Option<Command> {
    (!request.head.is_oneway()).then(|| error(request, refusal.code, refusal.remark))
}

/// Handles `request` here or on the shard that owns it. `None` for oneway requests.
/// What the request is about is read (and its names validated) once, here.
pub async fn route(shard: &Rc<Shard>, origin: Origin, request: Command) -> Option<Command> {
    if request.head.is_response() {
        return None;
    }
    let key = match owner_key(&request) {
        Ok(key) => key,
        Err(refusal) => return refuse(&request, refusal),
    };
    if matches!(key, OwnerKey::Groups(_)) {
        // A heartbeat: each consumer group's home records it, all of them at once.
        let copies: Vec<_> = routing::homes(&key, shard.shards)
            .into_iter()
            .filter(|home| *home != shard.id)
            .map(|home| {
                let (shard, key, request) = (shard.clone(), key.clone(), request.clone());
                glommio::spawn_local(async move {
                    let timeout = forward_timeout(&shard, &key);
                    shard.forward(home, origin, key, request, timeout).await
                })
            })
            .collect();
        let reply = handle(shard, origin, request).await;
        for copy in copies {
            copy.await;
        }
        return reply;
    }
    match owner(shard, &key) {
        Some(other) if other != shard.id => {
            let timeout = forward_timeout(shard, &key);
            shard.forward(other, origin, key, request, timeout).await
        }
        _ => handle(shard, origin, request).await,
    }
}

/// Handles a request another shard forwarded here. The owner re-checks on arrival: a
/// request for a queue that has just moved is refused (the client retries and reaches the
/// new owner) rather than bounced on.
pub async fn handle_forwarded(
    shard: &Rc<Shard>,
    origin: Origin,
    key: OwnerKey,
    moves_version: u64,
    request: Command,
) -> Option<Command> {
    if let Some(owner) = owner(shard, &key).filter(|o| *o != shard.id) {
        shard.count(|c| c.forward_misrouted += 1);
        tracing::debug!(
            shard = shard.id,
            owner,
            sender_moves = moves_version,
            own_moves = shard.moves.borrow().version,
            "a forwarded request's queue is not ours (moved)"
        );
        return (!request.head.is_oneway()).then(|| {
            error(
                &request,
                response_code::SYSTEM_BUSY,
                format!("the queue moved to shard {owner}; retry"),
            )
        });
    }
    handle(shard, origin, request).await
}

/// Applies a control message from a peer.
pub fn apply_control(shard: &Shard, msg: Control) {
    match msg {
        Control::Topic {
            name,
            config,
            revision,
        } => {
            shard.topics.apply(name, config, revision);
        }
        Control::QueueMoved {
            queue_move,
            offsets,
        } => apply_move(shard, queue_move, offsets),
        Control::Push {
            connection,
            command,
        } => shard.push(connection, command),
        Control::ConnectionClosed {
            shard: from,
            connection,
        } => connection_closed(shard, from, connection),
    }
}

/// [`route`] behind a box, for handlers that make requests of their own (which would
/// otherwise make the future's type infinite).
pub fn route_boxed(
    shard: &Rc<Shard>,
    origin: Origin,
    request: Command,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<Command>> + '_>> {
    Box::pin(route(shard, origin, request))
}

/// Handles a request on this shard (which owns what it touches).
pub async fn handle(shard: &Rc<Shard>, origin: Origin, request: Command) -> Option<Command> {
    let oneway = request.head.is_oneway();
    let reply = match request.head.code {
        request_code::SEND_MESSAGE
        | request_code::SEND_MESSAGE_V2
        | request_code::SEND_BATCH_MESSAGE => send::handle(shard, origin, &request).await,
        request_code::PULL_MESSAGE => pull::handle(shard, &request).await,
        request_code::QUERY_CONSUMER_OFFSET
        | request_code::UPDATE_CONSUMER_OFFSET
        | request_code::SEARCH_OFFSET_BY_TIMESTAMP
        | request_code::GET_MAX_OFFSET
        | request_code::GET_MIN_OFFSET
        | request_code::GET_EARLIEST_MSG_STORETIME
        | request_code::VIEW_MESSAGE_BY_ID => offset::handle(shard, &request),
        request_code::HEART_BEAT
        | request_code::UNREGISTER_CLIENT
        | request_code::GET_CONSUMER_LIST_BY_GROUP
        | request_code::LOCK_BATCH_MQ
        | request_code::UNLOCK_BATCH_MQ => client::handle(shard, origin, &request),
        request_code::SHARDMQ_MOVE_QUEUE => topic::move_queue(shard, &request).await,
        request_code::GET_TOPIC_STATS_INFO => topic::topic_stats(shard, origin, &request).await,
        request_code::UPDATE_AND_CREATE_TOPIC
        | request_code::DELETE_TOPIC_IN_BROKER
        | request_code::GET_ALL_TOPIC_CONFIG => topic::handle(shard, &request).await,
        code => error(
            &request,
            response_code::REQUEST_CODE_NOT_SUPPORTED,
            format!("request code {code} is not supported by this broker"),
        ),
    };
    (!oneway).then_some(reply)
}
