//! One shard: its store, its copy of the topic table, the consumer offsets and waiting pulls
//! of the queues it owns, the consumer groups whose home it is, and its end of the channel
//! mesh. Everything lives on the shard's own executor (`Rc`/`RefCell`, no locks); other
//! shards reach it only through [`ShardMsg`]s.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use futures_channel::oneshot;
use glommio::channels::channel_mesh::Senders;
use shardmq_protocol::body::TopicConfig;
use shardmq_protocol::codes::response_code;
use shardmq_protocol::command::Command;
use tracing::warn;

use crate::config::BrokerConfig;
use crate::store::metadata::ConsumerOffsets;
use crate::store::Store;

/// Messages between shards. Bounded channels: a full inbox refuses a forward (SYSTEM_BUSY)
/// rather than wait.
#[derive(Debug)]
pub enum ShardMsg {
    /// A request for something this shard owns, received by shard `from`.
    Forward {
        token: u64,
        from: usize,
        request: Command,
    },
    /// The reply to a forward (`None`: the request was oneway).
    Reply { token: u64, reply: Option<Command> },
    /// A topic was created or changed: every shard keeps a copy.
    TopicChanged(TopicConfig),
}

/// A consumer client as its heartbeats describe it.
#[derive(Debug, Clone)]
pub struct ConsumerClient {
    pub last_seen: Instant,
    /// Subscribed topics → subscription expression.
    pub subscriptions: BTreeMap<String, String>,
}

/// Who holds a queue's orderly-consume lock.
#[derive(Debug, Clone)]
pub struct QueueLock {
    pub client_id: String,
    pub last_renewed: Instant,
}

/// Wakes one held pull.
pub type PullWaiter = oneshot::Sender<()>;

/// How long a consumer lock lasts without renewal (RocketMQ's rebalance lock max live time).
pub const LOCK_MAX_LIVE_MS: u128 = 60_000;

pub struct Shard {
    pub id: usize,
    pub shards: usize,
    pub config: Rc<BrokerConfig>,
    pub store: Store,
    /// Where offset msgIds say messages are stored.
    pub store_addr: SocketAddr,
    pub mesh: Senders<ShardMsg>,
    pending: RefCell<HashMap<u64, oneshot::Sender<Option<Command>>>>,
    next_token: Cell<u64>,
    /// This shard's copy of the topic table.
    pub topics: RefCell<BTreeMap<String, TopicConfig>>,
    /// Committed offsets of the queues this shard owns.
    pub offsets: RefCell<ConsumerOffsets>,
    pub offsets_dirty: Cell<bool>,
    /// Pulls waiting for a message in (topic, queue).
    pub pull_waiters: RefCell<HashMap<(String, i32), Vec<PullWaiter>>>,
    /// Consumer groups whose home this shard is: group → client id → client.
    pub groups: RefCell<HashMap<String, BTreeMap<String, ConsumerClient>>>,
    /// Orderly locks of groups whose home this shard is: (group, topic, broker, queue) → holder.
    pub locks: RefCell<HashMap<(String, String, i32), QueueLock>>,
}

impl Shard {
    pub fn new(
        id: usize,
        config: Rc<BrokerConfig>,
        store: Store,
        mesh: Senders<ShardMsg>,
        offsets: ConsumerOffsets,
    ) -> Rc<Shard> {
        let store_addr = config.advertised_addr();
        Rc::new(Shard {
            id,
            shards: config.shards,
            config,
            store,
            store_addr,
            mesh,
            pending: RefCell::new(HashMap::new()),
            next_token: Cell::new(1),
            topics: RefCell::new(BTreeMap::new()),
            offsets: RefCell::new(offsets),
            offsets_dirty: Cell::new(false),
            pull_waiters: RefCell::new(HashMap::new()),
            groups: RefCell::new(HashMap::new()),
            locks: RefCell::new(HashMap::new()),
        })
    }

    /// Sends `request` to shard `owner` and waits for its reply. A full inbox answers
    /// SYSTEM_BUSY at once.
    pub async fn forward(&self, owner: usize, request: Command) -> Option<Command> {
        let token = self.next_token.get();
        self.next_token.set(token + 1);
        let (tx, rx) = oneshot::channel();
        let oneway = request.head.is_oneway();
        let head = request.head.clone();
        let serialize_type = request.serialize_type;
        self.pending.borrow_mut().insert(token, tx);
        let msg = ShardMsg::Forward {
            token,
            from: self.id,
            request,
        };
        if self.mesh.try_send_to(owner, msg).is_err() {
            self.pending.borrow_mut().remove(&token);
            return (!oneway).then(|| {
                crate::handlers::error_reply_to(
                    &head,
                    serialize_type,
                    response_code::SYSTEM_BUSY,
                    format!("shard {owner} is busy; retry"),
                )
            });
        }
        rx.await.unwrap_or(None)
    }

    /// Completes a forward this shard made.
    pub fn complete(&self, token: u64, reply: Option<Command>) {
        match self.pending.borrow_mut().remove(&token) {
            Some(tx) => {
                let _ = tx.send(reply);
            }
            None => warn!(
                shard = self.id,
                token, "reply for an unknown forward dropped"
            ),
        }
    }

    /// Wakes pulls waiting on (topic, queue).
    pub fn wake_pulls(&self, topic: &str, queue_id: i32) {
        let waiters = self
            .pull_waiters
            .borrow_mut()
            .remove(&(topic.to_owned(), queue_id));
        for w in waiters.into_iter().flatten() {
            let _ = w.send(());
        }
    }

    /// Registers a pull waiting on (topic, queue); resolves when a message lands there.
    pub fn wait_for_message(&self, topic: &str, queue_id: i32) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.pull_waiters
            .borrow_mut()
            .entry((topic.to_owned(), queue_id))
            .or_default()
            .push(tx);
        rx
    }
}
