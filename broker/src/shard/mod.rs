//! One shard: its store, its copy of the topic table, the consumer offsets and waiting pulls
//! of the queues it owns, the consumer groups whose home it is, and its ends of the channel
//! meshes. Everything lives on the shard's own executor (`Rc`/`RefCell`, no locks); other
//! shards reach it only through the messages of [`mesh`], read by its one [`inbox`] loop.
//!
//! - [`groups`]: members and orderly locks of the consumer groups whose home it is.
//! - [`mesh`]: what travels between shards (forwards, replies, control) and the meshes.
//! - [`inbox`]: the one loop that reads them, in a fixed priority.
//! - [`pending`]: forwards in flight, capped, each with a deadline.
//! - [`persist`]: the task that saves offsets, topics and moves off the executor thread.
//! - [`replicated`]: state every shard keeps a copy of (the topic table), by revision,
//!   copied to every peer until it has it.

pub mod groups;
pub mod inbox;
pub mod mesh;
pub mod pending;
pub mod persist;
pub mod replicated;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use futures_channel::oneshot;
use shardmq_protocol::codes::{response_code, SerializeType};
use shardmq_protocol::command::{Command, Head};
use shardmq_protocol::request::Request;
use tracing::{debug, warn};

use crate::config::BrokerConfig;
use crate::moves::QueueMoves;
use crate::outbox::Outbox;
use crate::store::metadata::ConsumerOffsets;
use crate::store::Store;
use groups::Groups;
use mesh::{Control, Forward, Mesh, Reply};
use pending::{Outcome, PendingForwards};
use replicated::Replicated;

/// Where a request came from: the client's address and the connection (shard, id) it
/// arrived on, so that a reply, a born host or a later notification finds its way back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub peer: SocketAddr,
    pub shard: usize,
    pub connection: u64,
    pub serialize_type: SerializeType,
}

/// Wakes one held pull.
pub type PullWaiter = oneshot::Sender<()>;

/// Most pulls one shard holds waiting for messages; past it a pull that finds nothing is
/// answered PULL_NOT_FOUND at once instead of being held.
pub const MAX_PULL_WAITERS: usize = 65_536;

/// Refusals and retries on this shard, by reason (what the metrics issue will export).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Forwards refused because the owner's inbox was full.
    pub forward_inbox_full: u64,
    /// Forwards refused because [`pending::MAX_FORWARDS_IN_FLIGHT`] were in flight.
    pub forward_cap: u64,
    /// Forwards that got no reply before their deadline.
    pub forward_timed_out: u64,
    /// Forwards that arrived at a shard that was not their target, or whose queue had moved.
    pub forward_misrouted: u64,
    /// Replies that found the caller's inbox full and waited for room.
    pub reply_delayed: u64,
    /// Control messages that found a peer's inbox full and waited for room.
    pub control_delayed: u64,
    /// Connections closed at accept: the shard had `maxConnectionsPerShard`.
    pub connection_refused: u64,
    /// Topic creations refused at `maxTopicCount`.
    pub topic_refused: u64,
    /// Pulls answered at once because [`MAX_PULL_WAITERS`] were held.
    pub pull_not_held: u64,
    /// Delayed, timed or retried messages that could never be delivered (logged each).
    pub schedule_dropped: u64,
    /// Deliveries of waiting messages tried again after a passing failure.
    pub schedule_retried: u64,
}

pub struct Shard {
    pub id: usize,
    pub shards: usize,
    pub config: Rc<BrokerConfig>,
    pub store: Store,
    /// Where offset msgIds say messages are stored.
    pub store_addr: SocketAddr,
    mesh: Mesh,
    /// Forwards this shard made that wait for a reply: at most
    /// [`pending::MAX_FORWARDS_IN_FLIGHT`].
    pending: RefCell<PendingForwards>,
    /// The topic table (this shard's copy, revisioned; at most `maxTopicCount` topics).
    pub topics: Replicated,
    /// Committed offsets of the queues this shard owns (bounded by the queues it owns times
    /// the groups that commit).
    offsets: RefCell<ConsumerOffsets>,
    /// Whether `offsets` changed since the last save.
    offsets_dirty: Cell<bool>,
    /// Pulls waiting for a message in (topic, queue); at most [`MAX_PULL_WAITERS`] in all.
    pull_waiters: RefCell<HashMap<String, HashMap<i32, Vec<PullWaiter>>>>,
    pull_waiter_count: Cell<usize>,
    /// Members and orderly locks of the consumer groups whose home this shard is (at most
    /// [`groups::MAX_GROUPS`] groups and [`groups::MAX_LOCKS`] locks).
    groups: Groups,
    /// Queues moved between shards (every shard keeps a copy, versioned; bounded by the
    /// moves an administrator makes).
    moves: RefCell<QueueMoves>,
    /// This shard's open connections (where pushed commands go): at most
    /// `maxConnectionsPerShard`.
    connections: RefCell<HashMap<u64, Rc<Outbox>>>,
    next_connection: Cell<u64>,
    /// Set when the broker stops: the inbox refuses new forwards.
    stopping: Cell<bool>,
    counters: Cell<Counters>,
    /// How far each delay level's queue on this shard was delivered (level 1 first), as the
    /// delay task last published it.
    delay_offsets: RefCell<Vec<u64>>,
}

impl Shard {
    pub fn new(
        id: usize,
        config: Rc<BrokerConfig>,
        store: Store,
        mesh: Mesh,
        offsets: ConsumerOffsets,
    ) -> Rc<Shard> {
        let store_addr = config.advertised_addr();
        let shards = config.shards;
        Rc::new(Shard {
            id,
            shards,
            topics: Replicated::new(id, config.max_topic_count),
            config,
            store,
            store_addr,
            mesh,
            pending: RefCell::new(PendingForwards::default()),
            offsets: RefCell::new(offsets),
            offsets_dirty: Cell::new(false),
            pull_waiters: RefCell::new(HashMap::new()),
            pull_waiter_count: Cell::new(0),
            groups: Groups::default(),
            moves: RefCell::new(QueueMoves::default()),
            connections: RefCell::new(HashMap::new()),
            next_connection: Cell::new(1),
            stopping: Cell::new(false),
            delay_offsets: RefCell::new(Vec::new()),
            counters: Cell::new(Counters::default()),
        })
    }

    /// The consumer groups whose home this shard is.
    pub fn groups(&self) -> &Groups {
        &self.groups
    }

    /// The move table (never held across an await).
    pub fn moves(&self) -> std::cell::Ref<'_, QueueMoves> {
        self.moves.borrow()
    }

    /// Records a move unless the queue already has one at least as new; returns whether it
    /// was applied.
    pub fn apply_move(&self, queue_move: crate::moves::QueueMove) -> bool {
        self.moves.borrow_mut().apply(queue_move)
    }

    /// Replaces the move table (at start, with what was saved).
    pub fn load_moves(&self, moves: QueueMoves) {
        *self.moves.borrow_mut() = moves;
    }

    /// A group's committed offset of a queue this shard owns.
    pub fn committed_offset(&self, topic: &str, group: &str, queue_id: i32) -> Option<i64> {
        self.offsets.borrow().get(topic, group, queue_id)
    }

    /// Records a group's committed offset of a queue this shard owns (saved within
    /// [`persist::PERSIST_EVERY`]).
    pub fn commit_offset(&self, topic: &str, group: &str, queue_id: i32, offset: i64) {
        self.offsets
            .borrow_mut()
            .set(topic, group, queue_id, offset);
        self.offsets_dirty.set(true);
    }

    /// Forgets every group's committed offsets of a deleted topic (saved with the rest).
    pub fn forget_offsets(&self, topic: &str) {
        if self.offsets.borrow_mut().remove_topic(topic) {
            self.offsets_dirty.set(true);
        }
    }

    /// Every group's committed offset of a queue (they go along when it moves).
    pub fn queue_offsets(&self, topic: &str, queue_id: i32) -> Vec<(String, i64)> {
        self.offsets.borrow().queue_offsets(topic, queue_id)
    }

    /// The committed offsets encoded for saving, if they changed since the last call (or
    /// always when `force`). A failed save calls [`Shard::offsets_not_saved`].
    pub fn offsets_to_save(&self, force: bool) -> Option<serde_json::Result<Vec<u8>>> {
        (self.offsets_dirty.replace(false) || force)
            .then(|| serde_json::to_vec_pretty(&*self.offsets.borrow()))
    }

    /// The last offsets save failed: try again next time.
    pub fn offsets_not_saved(&self) {
        self.offsets_dirty.set(true);
    }

    /// Counts one refusal or retry.
    pub fn count(&self, reason: impl FnOnce(&mut Counters)) {
        let mut c = self.counters.get();
        reason(&mut c);
        self.counters.set(c);
    }

    /// This shard's refusal and retry counts so far.
    pub fn counters(&self) -> Counters {
        self.counters.get()
    }

    /// Publishes how far each delay level was delivered (GET_ALL_DELAY_OFFSET reads it).
    pub fn set_delay_offsets(&self, offsets: &[u64]) {
        let mut mine = self.delay_offsets.borrow_mut();
        mine.clear();
        mine.extend_from_slice(offsets);
    }

    /// How far each delay level was delivered, level 1 first.
    pub fn delay_offsets(&self) -> Vec<u64> {
        self.delay_offsets.borrow().clone()
    }

    /// Whether the broker is stopping.
    pub fn is_stopping(&self) -> bool {
        self.stopping.get()
    }

    /// Marks the shard as stopping: forwards that arrive from now on are refused.
    pub fn set_stopping(&self) {
        self.stopping.set(true);
    }

    /// Sends `request` to shard `owner` and waits for its reply, at most
    /// `timeout`. Every way it can fail answers SYSTEM_BUSY with a remark saying why (the
    /// client retries): the owner's inbox is full, this shard has
    /// [`pending::MAX_FORWARDS_IN_FLIGHT`] forwards in flight, or no reply came in time.
    /// `None` for a oneway request.
    pub async fn forward(
        &self,
        owner: usize,
        origin: Origin,
        request: Request,
        timeout: std::time::Duration,
    ) -> Option<Command> {
        debug_assert_ne!(owner, self.id, "a shard forwards only to its peers");
        let head = request.command.head.clone();
        let serialize_type = request.command.serialize_type;
        let busy = |remark: String| busy_reply(&head, serialize_type, remark);
        let inserted = self.pending.borrow_mut().insert(Instant::now(), timeout);
        let Ok((token, done)) = inserted else {
            self.count(|c| c.forward_cap += 1);
            return busy(format!(
                "shard {} has {} forwards in flight; retry",
                self.id,
                pending::MAX_FORWARDS_IN_FLIGHT
            ));
        };
        let forward = Forward {
            token,
            origin,
            target: owner,
            moves_version: self.moves().version,
            request,
        };
        if self.mesh.forwards.try_send_to(owner, forward).is_err() {
            self.pending.borrow_mut().cancel(token);
            self.count(|c| c.forward_inbox_full += 1);
            return busy(format!("shard {owner}'s inbox is full; retry"));
        }
        match done.await {
            Ok(Outcome::Reply(reply)) => reply,
            Ok(Outcome::TimedOut) | Err(_) => {
                self.count(|c| c.forward_timed_out += 1);
                busy(format!(
                    "shard {owner} did not answer within {} ms; retry",
                    timeout.as_millis()
                ))
            }
        }
    }

    /// Completes a forward this shard made with its reply.
    pub fn complete(&self, reply: Reply) {
        if !self.pending.borrow_mut().complete(reply.token, reply.reply) {
            debug!(
                shard = self.id,
                token = reply.token,
                "reply for a forward that timed out dropped"
            );
        }
    }

    /// Ends the forwards past their deadline (called by the shard's periodic tick).
    pub fn expire_forwards(&self) {
        self.pending.borrow_mut().expire(Instant::now());
    }

    /// Sends the reply to a forward back to the shard that made it. Never blocks the shard:
    /// a full inbox there makes this task (the forward's own) wait for room; the caller's
    /// deadline bounds how long anyone waits for it.
    pub async fn reply_to(&self, origin_shard: usize, reply: Reply) {
        if let Err(e) = self.mesh.replies.try_send_to(origin_shard, reply) {
            if let Some(reply) = mesh::when_full(e) {
                self.count(|c| c.reply_delayed += 1);
                let _ = self.mesh.replies.send_to(origin_shard, reply).await;
            }
        }
    }

    /// Queues a control message for a peer; its pump delivers it, waiting for room in the
    /// peer's inbox when that is full (a delay, never a loss).
    pub fn send_control(&self, peer: usize, msg: Control) {
        self.mesh.control_out(peer).push(msg);
    }

    /// The meshes (the runtime starts their pumps).
    pub fn mesh(&self) -> &Mesh {
        &self.mesh
    }

    /// Registers a connection's outgoing queue; returns its id, or `None` when the shard
    /// already has `maxConnectionsPerShard` connections.
    pub fn add_connection(&self, out: Rc<Outbox>) -> Option<u64> {
        let mut connections = self.connections.borrow_mut();
        if connections.len() >= self.config.max_connections_per_shard {
            drop(connections);
            self.count(|c| c.connection_refused += 1);
            return None;
        }
        let id = self.next_connection.get();
        self.next_connection.set(id + 1);
        connections.insert(id, out);
        Some(id)
    }

    /// Forgets a closed connection and tells every group home.
    pub fn remove_connection(&self, connection: u64) {
        self.connections.borrow_mut().remove(&connection);
        for peer in 0..self.shards {
            if peer == self.id {
                crate::handlers::connection_closed(self, self.id, connection);
            } else {
                self.send_control(
                    peer,
                    Control::ConnectionClosed {
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
            self.send_control(
                origin.shard,
                Control::Push {
                    connection: origin.connection,
                    command,
                },
            );
        }
    }

    /// Wakes pulls waiting on (topic, queue). Runs on every append: no allocation.
    pub fn wake_pulls(&self, topic: &str, queue_id: i32) {
        let waiters = self
            .pull_waiters
            .borrow_mut()
            .get_mut(topic)
            .and_then(|queues| queues.remove(&queue_id));
        if let Some(waiters) = waiters {
            self.pull_waiter_count
                .set(self.pull_waiter_count.get().saturating_sub(waiters.len()));
            for w in waiters {
                let _ = w.send(());
            }
        }
    }

    /// Registers a pull waiting on (topic, queue); resolves when a message lands there.
    /// Waiters whose pull already timed out are dropped here, so an idle queue's list stays
    /// as long as the pulls waiting on it now. `None`: [`MAX_PULL_WAITERS`] are held already.
    pub fn wait_for_message(&self, topic: &str, queue_id: i32) -> Option<oneshot::Receiver<()>> {
        let mut waiters = self.pull_waiters.borrow_mut();
        let queues = match waiters.get_mut(topic) {
            Some(queues) => queues,
            None => waiters.entry(topic.to_owned()).or_default(),
        };
        let list = queues.entry(queue_id).or_default();
        let before = list.len();
        list.retain(|w| !w.is_canceled());
        let mut count = self.pull_waiter_count.get() - (before - list.len());
        if count >= MAX_PULL_WAITERS {
            // Long-idle queues may hold cancelled waiters: sweep them all once before refusing.
            for queues in waiters.values_mut() {
                for list in queues.values_mut() {
                    list.retain(|w| !w.is_canceled());
                }
                queues.retain(|_, l| !l.is_empty());
            }
            waiters.retain(|_, q| !q.is_empty());
            count = waiters
                .values()
                .flat_map(|q| q.values())
                .map(Vec::len)
                .sum();
            self.pull_waiter_count.set(count);
            if count >= MAX_PULL_WAITERS {
                drop(waiters);
                self.count(|c| c.pull_not_held += 1);
                return None;
            }
        }
        let (tx, rx) = oneshot::channel();
        waiters
            .entry(topic.to_owned())
            .or_default()
            .entry(queue_id)
            .or_default()
            .push(tx);
        self.pull_waiter_count.set(count + 1);
        Some(rx)
    }
}

/// A SYSTEM_BUSY reply to `head` (`None` when it was oneway).
pub fn busy_reply(head: &Head, serialize_type: SerializeType, remark: String) -> Option<Command> {
    (!head.is_oneway())
        .then(|| Command::error_to_head(head, serialize_type, response_code::SYSTEM_BUSY, remark))
}

/// Logged at stop: the refusals and retries a shard counted.
pub fn log_counters(shard: &Shard) {
    let c = shard.counters();
    if c != Counters::default() {
        warn!(shard = shard.id, counters = ?c, "refusals and retries since start");
    }
}
