//! Request handlers with RocketMQ's semantics and codes, and the routing that sends each
//! request to the shard that owns its queue (or its consumer group).

use std::rc::Rc;

use shardmq_protocol::codes::{request_code, response_code};
use shardmq_protocol::command::Command;

use crate::routing::group_home;
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

/// Which shard must handle `request`: the owner of its queue, its consumer group's home, or
/// the shard whose log holds its message. `None`: any shard (this one).
fn owner(shard: &Shard, request: &Command) -> Option<usize> {
    let ext = &request.ext;
    let moves = shard.moves.borrow();
    let queue_of = |topic_key: &str, queue_key: &str| -> Option<(&str, i32)> {
        let topic = ext.get(topic_key)?;
        let queue_id: i32 = ext.get(queue_key)?.parse().ok()?;
        Some((topic, queue_id))
    };
    // Only a send's queue id wraps around the write-queue count (as the send handler does);
    // reads and offsets name the read queue itself, which may be beyond it.
    let send_queue_of = |topic_key: &str, queue_key: &str| {
        queue_of(topic_key, queue_key)
            .map(|(topic, q)| (topic, topic::effective_queue_id(shard, topic, q)))
    };
    let owner_of = |(topic, q): (&str, i32)| moves.owner(topic, q, topic::spread_of(shard, topic));
    match request.head.code {
        request_code::SEND_MESSAGE => send_queue_of("topic", "queueId").map(owner_of),
        request_code::SEND_MESSAGE_V2 | request_code::SEND_BATCH_MESSAGE => {
            send_queue_of("b", "e").map(owner_of)
        }
        // A read goes to the shard holding that offset: history stays where it was written.
        request_code::PULL_MESSAGE => {
            let (topic, q) = queue_of("topic", "queueId")?;
            let offset: i64 = ext.get("queueOffset")?.parse().ok()?;
            Some(moves.holder(
                topic,
                q,
                offset.max(0) as u64,
                topic::spread_of(shard, topic),
            ))
        }
        request_code::GET_MIN_OFFSET | request_code::GET_EARLIEST_MSG_STORETIME => {
            let (topic, q) = queue_of("topic", "queueId")?;
            Some(moves.first_holder(topic, q, topic::spread_of(shard, topic)))
        }
        request_code::QUERY_CONSUMER_OFFSET
        | request_code::UPDATE_CONSUMER_OFFSET
        | request_code::SEARCH_OFFSET_BY_TIMESTAMP
        | request_code::GET_MAX_OFFSET
        | request_code::SHARDMQ_MOVE_QUEUE => queue_of("topic", "queueId").map(owner_of),
        request_code::VIEW_MESSAGE_BY_ID => {
            let offset: i64 = ext.get("offset")?.parse().ok()?;
            let owner = crate::store::Position::from_raw(offset as u64).shard() as usize;
            (owner < shard.shards).then_some(owner)
        }
        request_code::GET_CONSUMER_LIST_BY_GROUP | request_code::UNREGISTER_CLIENT => ext
            .get("consumerGroup")
            .map(|g| group_home(g, shard.shards)),
        request_code::LOCK_BATCH_MQ | request_code::UNLOCK_BATCH_MQ => {
            client::group_of_body(request).map(|g| group_home(&g, shard.shards))
        }
        _ => None,
    }
}

/// Handles `request` here or on the shard that owns it. `None` for oneway requests.
pub async fn route(shard: &Rc<Shard>, origin: Origin, request: Command) -> Option<Command> {
    if request.head.code == request_code::HEART_BEAT {
        // Each consumer group's home records it: a copy goes to every other home.
        for home in client::homes(shard, &request)
            .into_iter()
            .filter(|h| *h != shard.id)
        {
            shard.forward(home, origin, request.clone()).await;
        }
        return handle(shard, origin, request).await;
    }
    match owner(shard, &request) {
        Some(other) if other != shard.id => shard.forward(other, origin, request).await,
        _ => handle(shard, origin, request).await,
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
    if request.head.is_response() {
        return None;
    }
    let oneway = request.head.is_oneway();
    // The owner re-checks on arrival: a forwarded request for a queue that has just moved
    // is refused (the client retries and reaches the new owner) rather than bounced on.
    if origin.shard != shard.id {
        if let Some(owner) = owner(shard, &request).filter(|o| *o != shard.id) {
            return (!oneway).then(|| {
                error(
                    &request,
                    response_code::SYSTEM_BUSY,
                    format!("the queue moved to shard {owner}; retry"),
                )
            });
        }
    }
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
