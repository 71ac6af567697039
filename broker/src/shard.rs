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
use shardmq_protocol::codes::{response_code, SerializeType};
use shardmq_protocol::command::Command;
use tracing::warn;

use crate::config::BrokerConfig;
use crate::moves::{QueueMove, QueueMoves};
use crate::outbox::Outbox;
use crate::store::metadata::ConsumerOffsets;
use crate::store::Store;

/// Where a request came from: the client's address and the connection (shard, id) it
/// arrived on, so that a reply, a born host or a later notification finds its way back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub peer: SocketAddr,
    pub shard: usize,
    pub connection: u64,
    pub serialize_type: SerializeType,
}

/// Messages between shards. Bounded channels: a full inbox refuses a forward (SYSTEM_BUSY)
/// rather than wait.
#[derive(Debug)]
pub enum ShardMsg {
    /// A request for something this shard owns, received on `origin`'s shard.
    Forward {
        token: u64,
        origin: Origin,
        request: Command,
    },
    /// The reply to a forward (`None`: the request was oneway).
    Reply { token: u64, reply: Option<Command> },
    /// A topic was created or changed: every shard keeps a copy.
    TopicChanged(TopicConfig),
    /// A topic was deleted.
    TopicDeleted(String),
    /// A queue moved to another shard; the consumer offsets committed for it go along.
    QueueMoved {
        queue_move: QueueMove,
        offsets: Vec<(String, i64)>,
    },
    /// Send a oneway command to a client on connection `connection` of the receiving shard.
    Push { connection: u64, command: Command },
    /// A connection of shard `shard` closed: group homes drop its clients.
    ConnectionClosed { shard: usize, connection: u64 },
}

/// A consumer client as its heartbeats describe it.
#[derive(Debug, Clone)]
pub struct ConsumerClient {
    pub last_seen: Instant,
    /// The connection its heartbeats arrive on (notifications go back there).
    pub origin: Origin,
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
    pub pull_waiters: RefCell<HashMap<String, HashMap<i32, Vec<PullWaiter>>>>,
    /// Consumer groups whose home this shard is: group → client id → client.
    pub groups: RefCell<HashMap<String, BTreeMap<String, ConsumerClient>>>,
    /// Orderly locks of groups whose home this shard is: (group, topic, broker, queue) → holder.
    pub locks: RefCell<HashMap<(String, String, i32), QueueLock>>,
    /// Queues moved between shards (every shard keeps a copy).
    pub moves: RefCell<QueueMoves>,
    /// This shard's open connections: where pushed commands (notifications) go.
    connections: RefCell<HashMap<u64, Rc<Outbox>>>,
    next_connection: Cell<u64>,
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
            moves: RefCell::new(QueueMoves::default()),
            connections: RefCell::new(HashMap::new()),
            next_connection: Cell::new(1),
        })
    }

    /// Sends `request` to shard `owner` and waits for its reply. A full inbox answers
    /// SYSTEM_BUSY at once.
    pub async fn forward(&self, owner: usize, origin: Origin, request: Command) -> Option<Command> {
        let token = self.next_token.get();
        self.next_token.set(token + 1);
        let (tx, rx) = oneshot::channel();
        let oneway = request.head.is_oneway();
        let head = request.head.clone();
        let serialize_type = request.serialize_type;
        self.pending.borrow_mut().insert(token, tx);
        let msg = ShardMsg::Forward {
            token,
            origin,
            request,
        };
        if self.mesh.try_send_to(owner, msg).is_err() {
            self.pending.borrow_mut().remove(&token);
            return (!oneway).then(|| {
                Command::error_to_head(
                    &head,
                    serialize_type,
                    response_code::SYSTEM_BUSY,
                    format!("shard {owner} is busy; retry"),
                )
            });
        }
        rx.await.unwrap_or(None)
    }

    /// Registers a connection's outgoing queue; returns its id.
    pub fn add_connection(&self, out: Rc<Outbox>) -> u64 {
        let id = self.next_connection.get();
        self.next_connection.set(id + 1);
        self.connections.borrow_mut().insert(id, out);
        id
    }

    /// Forgets a closed connection and tells every group home.
    pub fn remove_connection(&self, connection: u64) {
        self.connections.borrow_mut().remove(&connection);
        for peer in 0..self.shards {
            if peer == self.id {
                crate::handlers::connection_closed(self, self.id, connection);
            } else {
                let _ = self.mesh.try_send_to(
                    peer,
                    ShardMsg::ConnectionClosed {
                        shard: self.id,
                        connection,
                    },
                );
            }
        }
    }

    /// Queues `command` on one of this shard's connections (dropped if it closed or is full).
    pub fn push(&self, connection: u64, command: Command) {
        let out = self.connections.borrow().get(&connection).cloned();
        if let Some(out) = out {
            let _ = out.push(command);
        }
    }

    /// Sends `command` to the client connection `origin`, on whichever shard holds it.
    pub fn push_to(&self, origin: Origin, command: Command) {
        if origin.shard == self.id {
            self.push(origin.connection, command);
        } else {
            let _ = self.mesh.try_send_to(
                origin.shard,
                ShardMsg::Push {
                    connection: origin.connection,
                    command,
                },
            );
        }
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

    /// Wakes pulls waiting on (topic, queue). Runs on every append: no allocation.
    pub fn wake_pulls(&self, topic: &str, queue_id: i32) {
        let waiters = self
            .pull_waiters
            .borrow_mut()
            .get_mut(topic)
            .and_then(|queues| queues.remove(&queue_id));
        for w in waiters.into_iter().flatten() {
            let _ = w.send(());
        }
    }

    /// Registers a pull waiting on (topic, queue); resolves when a message lands there.
    /// Waiters whose pull already timed out are dropped here, so an idle queue's list stays
    /// as long as the pulls waiting on it now.
    pub fn wait_for_message(&self, topic: &str, queue_id: i32) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let mut waiters = self.pull_waiters.borrow_mut();
        let queues = match waiters.get_mut(topic) {
            Some(queues) => queues,
            None => waiters.entry(topic.to_owned()).or_default(),
        };
        let list = queues.entry(queue_id).or_default();
        list.retain(|w| !w.is_canceled());
        list.push(tx);
        rx
    }
}
