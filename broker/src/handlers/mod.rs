//! Request handlers with RocketMQ's semantics and codes, and the routing that sends each
//! request to the shard that owns its queue (or its consumer group): the connection decodes
//! each request once into a `protocol::request::Request` (typed, names validated); [`route`]
//! asks `routing` for the owner of its `OwnerKey` and handles it here or forwards it, typed,
//! over the mesh.

use std::rc::Rc;
use std::time::Duration;

use shardmq_protocol::codes::response_code;
use shardmq_protocol::command::Command;
use shardmq_protocol::request::{OwnerKey, Refusal, Request, RequestKind};

use crate::routing;
use crate::shard::mesh::Control;
use crate::shard::{Origin, Shard};

mod client;
mod offset;
mod pull;
pub(crate) mod send;
mod send_back;
mod topic;

pub use client::{connection_closed, expire_clients, CLIENT_SCAN_EVERY};
pub use topic::{
    apply_move, apply_topic, default_topic_config, ensure_topic, spread_of, topic_facts,
    DEFAULT_TOPIC, SHARDS_ATTRIBUTE,
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
        &shard.moves(),
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
pub fn refuse(request: &Command, refusal: Refusal) -> Option<Command> {
    (!request.head.is_oneway()).then(|| error(request, refusal.code, refusal.remark))
}

/// Handles `request` here or on the shard that owns it. `None` for oneway requests.
pub async fn route(shard: &Rc<Shard>, origin: Origin, request: Request) -> Option<Command> {
    let key = request.owner_key();
    if matches!(key, OwnerKey::Groups(_)) {
        // A heartbeat: each consumer group's home records it, all of them at once.
        let copies: Vec<_> = routing::homes(&key, shard.shards)
            .into_iter()
            .filter(|home| *home != shard.id)
            .map(|home| {
                let (shard, request) = (shard.clone(), request.clone());
                let timeout = forward_timeout(&shard, &key);
                glommio::spawn_local(
                    async move { shard.forward(home, origin, request, timeout).await },
                )
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
            shard.forward(other, origin, request, timeout).await
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
    moves_version: u64,
    request: Request,
) -> Option<Command> {
    // A heartbeat's copy is for this shard's groups only; anything else must be owned here.
    let key = request.owner_key();
    if let Some(owner) = owner(shard, &key).filter(|o| *o != shard.id) {
        shard.count(|c| c.forward_misrouted += 1);
        tracing::debug!(
            shard = shard.id,
            owner,
            sender_moves = moves_version,
            own_moves = shard.moves().version,
            "a forwarded request's queue is not ours (moved)"
        );
        return (!request.is_oneway()).then(|| {
            error(
                &request.command,
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
            let deleted = config.is_none().then(|| name.clone());
            if shard.topics.apply(name, config, revision) {
                if let Some(topic) = deleted {
                    shard.forget_offsets(&topic);
                }
            }
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
    request: Request,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<Command>> + '_>> {
    Box::pin(route(shard, origin, request))
}

/// Handles a request on this shard (which owns what it touches).
pub async fn handle(shard: &Rc<Shard>, origin: Origin, request: Request) -> Option<Command> {
    use RequestKind as K;
    let oneway = request.is_oneway();
    let command = &request.command;
    let reply = match &request.kind {
        K::Send { .. } => send::handle(shard, origin, command).await,
        K::Pull { header, .. } => pull::handle(shard, command, header).await,
        K::QueryConsumerOffset { .. }
        | K::UpdateConsumerOffset { .. }
        | K::SearchOffset { .. }
        | K::MaxOffset { .. }
        | K::MinOffset { .. }
        | K::EarliestStoreTime { .. }
        | K::ViewMessage { .. } => offset::handle(shard, &request),
        K::Heartbeat { .. } | K::Unregister { .. } | K::ConsumerList { .. } | K::Lock { .. } => {
            client::handle(shard, origin, &request)
        }
        K::MoveQueue {
            topic,
            queue_id,
            to_shard,
        } => topic::move_queue(shard, command, topic, *queue_id, *to_shard).await,
        K::TopicStats { topic } => topic::topic_stats(shard, origin, command, topic).await,
        K::CreateTopic { .. } | K::DeleteTopic { .. } | K::AllTopicConfig => {
            topic::handle(shard, &request)
        }
        K::SendBack { group, header } => send_back::handle(shard, command, group, header).await,
        K::DelayOffsets => send_back::delay_offsets(shard, origin, &request).await,
        K::Unsupported => error(
            command,
            response_code::REQUEST_CODE_NOT_SUPPORTED,
            format!(
                "request code {} is not supported by this broker",
                command.head.code
            ),
        ),
    };
    (!oneway).then_some(reply)
}
