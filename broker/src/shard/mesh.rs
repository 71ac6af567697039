//! What travels between shards, on three glommio channel meshes so that one kind can never
//! crowd out another: forwarded requests, their replies, and control (state copies,
//! notifications, closed connections). Every channel is bounded at
//! [`MESH_CHANNEL_DEPTH`]; how each kind behaves when a channel is full:
//!
//! - a **forward** is refused at once with SYSTEM_BUSY (the client retries);
//! - a **reply** waits for room in its own task, never in the inbox loop (the caller's
//!   deadline bounds the wait);
//! - **control** waits in the sender's [`ControlOut`] for its peer and is delivered by that
//!   peer's pump task: a full inbox delays it, never loses it. Topic copies coalesce there
//!   (the newest revision of each topic goes), so the backlog is bounded by the topic count.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, VecDeque};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

use glommio::channels::channel_mesh::{Full, MeshBuilder, Receivers, Senders};
use glommio::{GlommioError, ResourceType};
use shardmq_protocol::body::TopicConfig;
use shardmq_protocol::command::Command;
use shardmq_protocol::request::Request;
use tracing::warn;

use super::replicated::Revision;
use super::{Origin, Shard};
use crate::moves::QueueMove;

/// Depth of each shard-to-shard channel, per mesh.
pub const MESH_CHANNEL_DEPTH: usize = 1024;
/// Most control messages other than topic copies (notifications, closed connections) one
/// shard keeps for one peer whose inbox is full; past it the oldest notification is dropped
/// and logged (a consumer also rebalances every 20 s on its own).
pub const CONTROL_BACKLOG_MAX: usize = 65_536;

/// A request for something another shard owns, stamped with the shard it is meant for and
/// the move-table version the sender routed it by.
#[derive(Debug)]
pub struct Forward {
    pub token: u64,
    pub origin: Origin,
    pub target: usize,
    pub moves_version: u64,
    /// The request, as decoded (once) at the door.
    pub request: Request,
}

/// The reply to a [`Forward`] (`None`: the request was oneway).
#[derive(Debug)]
pub struct Reply {
    pub token: u64,
    pub reply: Option<Command>,
}

/// State copies and signals between shards.
#[derive(Debug)]
pub enum Control {
    /// A topic's config at a revision (`None`: deleted).
    Topic {
        name: String,
        config: Option<TopicConfig>,
        revision: Revision,
    },
    /// A queue moved to another shard; the consumer offsets committed for it go along.
    QueueMoved {
        queue_move: QueueMove,
        offsets: Vec<(String, i64)>,
    },
    /// A oneway command for a client on connection `connection` of the receiving shard.
    Push { connection: u64, command: Command },
    /// A connection of shard `shard` closed: group homes drop its clients.
    ConnectionClosed { shard: usize, connection: u64 },
}

/// The three meshes, as the runtime builds them before the shards start.
pub struct MeshBuilders {
    pub forwards: MeshBuilder<Forward, Full>,
    pub replies: MeshBuilder<Reply, Full>,
    pub control: MeshBuilder<Control, Full>,
}

impl MeshBuilders {
    pub fn new(shards: usize) -> MeshBuilders {
        MeshBuilders {
            forwards: MeshBuilder::full(shards, MESH_CHANNEL_DEPTH),
            replies: MeshBuilder::full(shards, MESH_CHANNEL_DEPTH),
            control: MeshBuilder::full(shards, MESH_CHANNEL_DEPTH),
        }
    }
}

impl Clone for MeshBuilders {
    fn clone(&self) -> Self {
        MeshBuilders {
            forwards: self.forwards.clone(),
            replies: self.replies.clone(),
            control: self.control.clone(),
        }
    }
}

/// One shard's receiving ends, read by its inbox loop.
pub struct Inbound {
    pub replies: Receivers<Reply>,
    pub control: Receivers<Control>,
    pub forwards: Receivers<Forward>,
}

/// One shard's sending ends.
pub struct Mesh {
    pub forwards: Senders<Forward>,
    pub replies: Senders<Reply>,
    control: Senders<Control>,
    /// Control waiting for each peer (the own shard's slot stays empty).
    control_out: Vec<Rc<ControlOut>>,
}

impl MeshBuilders {
    /// Joins all three meshes (every shard must call this).
    pub async fn join(self) -> Result<(Mesh, Inbound), String> {
        let (forwards, forwards_in) = self.forwards.join().await.map_err(|_| "forward mesh")?;
        let (replies, replies_in) = self.replies.join().await.map_err(|_| "reply mesh")?;
        let (control, control_in) = self.control.join().await.map_err(|_| "control mesh")?;
        let peers = forwards.nr_consumers();
        Ok((
            Mesh {
                forwards,
                replies,
                control,
                control_out: (0..peers).map(|_| Rc::new(ControlOut::default())).collect(),
            },
            Inbound {
                replies: replies_in,
                control: control_in,
                forwards: forwards_in,
            },
        ))
    }
}

impl Mesh {
    /// This shard's id.
    pub fn id(&self) -> usize {
        self.forwards.peer_id()
    }

    /// Control waiting for `peer`.
    pub fn control_out(&self, peer: usize) -> &ControlOut {
        &self.control_out[peer]
    }
}

/// Control messages waiting for one peer, and the doorbell of its pump.
#[derive(Default)]
pub struct ControlOut {
    /// Topics whose newest revision the peer has not been sent (coalesced: at most one entry
    /// per topic).
    topics: RefCell<BTreeSet<String>>,
    /// Other control, in order; at most [`CONTROL_BACKLOG_MAX`].
    queue: RefCell<VecDeque<Control>>,
    waker: Cell<Option<Waker>>,
}

impl ControlOut {
    /// Queues a control message (topic copies are better sent with [`ControlOut::topic`]).
    pub fn push(&self, msg: Control) {
        let mut queue = self.queue.borrow_mut();
        if queue.len() >= CONTROL_BACKLOG_MAX {
            let dropped = queue.iter().position(|m| matches!(m, Control::Push { .. }));
            match dropped {
                Some(i) => {
                    queue.remove(i);
                    warn!("a peer's control backlog is full: a notification was dropped");
                }
                None => warn!("a peer's control backlog is over its bound"),
            }
        }
        queue.push_back(msg);
        drop(queue);
        self.ring();
    }

    /// Marks a topic as changed: the pump sends its newest revision.
    pub fn topic(&self, name: &str) {
        if !self.topics.borrow().contains(name) {
            self.topics.borrow_mut().insert(name.to_owned());
        }
        self.ring();
    }

    fn ring(&self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.topics.borrow().is_empty() && self.queue.borrow().is_empty()
    }

    /// The next thing to send, waiting until there is one. Topic copies go first: state
    /// before the signals that may depend on it.
    async fn next(&self, shard: &Shard) -> Control {
        poll_fn(|cx| {
            let name = self.topics.borrow_mut().pop_first();
            if let Some(name) = name {
                let (config, revision) = shard.topics.get_with_revision(&name);
                return Poll::Ready(Control::Topic {
                    name,
                    config,
                    revision,
                });
            }
            if let Some(msg) = self.queue.borrow_mut().pop_front() {
                return Poll::Ready(msg);
            }
            self.waker.set(Some(cx.waker().clone()));
            Poll::Pending
        })
        .await
    }
}

/// Delivers `shard`'s control messages to `peer` for as long as the shard runs: each waits
/// for room in the peer's control inbox.
pub async fn pump(shard: Rc<Shard>, peer: usize) {
    let out = shard.mesh.control_out[peer].clone();
    loop {
        let msg = out.next(&shard).await;
        if let Err(e) = shard.mesh.control.try_send_to(peer, msg) {
            let Some(msg) = when_full(e) else {
                return; // the peer stopped
            };
            shard.count(|c| c.control_delayed += 1);
            if shard.mesh.control.send_to(peer, msg).await.is_err() {
                return;
            }
        }
    }
}

/// The message back from a failed `try_send` if the channel was only full (`None`: it is
/// closed, its shard stopped).
pub fn when_full<T>(e: GlommioError<T>) -> Option<T> {
    match e {
        GlommioError::WouldBlock(ResourceType::Channel(msg)) => Some(msg),
        _ => None,
    }
}
