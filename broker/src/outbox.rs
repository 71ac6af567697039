//! What one connection owes its client: finished replies, send acknowledgements waiting for
//! their bytes to be durable, and commands the broker pushes (notifications). The reader
//! counts every request in ([`Outbox::reserve`], bounded), the writer takes out everything
//! that may go and writes it with one write; a request leaves the count when its reply is
//! taken out (or, without a reply, when it finished).
//!
//! Acknowledgements are the hot path: a send stored by the receiving shard is not a task of
//! its own, only a [`PendingAck`] here (a few integers), encoded straight into the write
//! buffer once the commit log says its end is durable.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::task::{Poll, Waker};

use bytes::BytesMut;
use shardmq_protocol::codes::{response_code, SerializeType};
use shardmq_protocol::command::{encode_frame, Command, Head};
use shardmq_protocol::header::SendMessageResponseFields;
use shardmq_protocol::message::MessageId;

use crate::store::Position;

/// Requests one connection may have in flight (reader waits beyond it: backpressure).
pub const MAX_IN_FLIGHT_PER_CONNECTION: usize = 1024;
/// Pushed commands (notifications) queued on one connection beyond its replies; more are
/// dropped (the client re-checks membership on its own schedule anyway).
pub const MAX_PUSHED_PER_CONNECTION: usize = 256;

/// A stored send whose acknowledgement waits until the log is durable up to `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingAck {
    /// Commit-log offset just past the message.
    pub end: u64,
    pub opaque: i32,
    pub version: i32,
    pub serialize_type: SerializeType,
    pub position: Position,
    pub queue_id: i32,
    pub queue_offset: u64,
    /// False for a oneway send: it stays counted in flight until durable (so a oneway
    /// producer gets the same backpressure), then leaves without a reply.
    pub reply: bool,
}

impl PendingAck {
    /// What a reply needs of the request's head.
    fn request_head(&self) -> Head {
        Head {
            opaque: self.opaque,
            version: self.version,
            ..Head::default()
        }
    }

    /// Appends the SUCCESS reply (offset msgId, queue id, queue offset) to `out`.
    pub fn encode(&self, store_host: SocketAddr, out: &mut BytesMut) {
        let id = MessageId {
            store_host,
            commit_log_offset: self.position.raw() as i64,
        };
        let mut hex = [0u8; 56];
        let fields = SendMessageResponseFields {
            msg_id: id.write_hex(&mut hex),
            queue_id: self.queue_id,
            queue_offset: self.queue_offset as i64,
        };
        let head = Head::response_to(&self.request_head(), response_code::SUCCESS, None);
        encode_frame(&head, self.serialize_type, &fields, &[], out);
    }

    /// The reply when the store failed before the message became durable.
    pub fn failed(&self, reason: &str) -> Command {
        Command::error_to_head(
            &self.request_head(),
            self.serialize_type,
            response_code::SERVICE_NOT_AVAILABLE,
            format!("store: {reason}"),
        )
    }
}

#[derive(Default)]
struct State {
    replies: VecDeque<Command>,
    /// In append order, so `end`s ascend.
    acks: VecDeque<PendingAck>,
    pushed: usize,
    in_flight: usize,
    closed: bool,
    writer: Option<Waker>,
    reader: Option<Waker>,
}

/// One connection's outgoing side, shared by its reader, its request tasks and its writer
/// (all on one shard's executor: `RefCell`, no borrow across an await).
#[derive(Default)]
pub struct Outbox {
    state: RefCell<State>,
}

/// What the writer should do next.
pub enum Next {
    /// Replies are ready: take them with [`Outbox::take`].
    Write,
    /// Only acknowledgements wait, the oldest for the log to be durable up to this end.
    WaitDurable(u64),
    /// Closed and nothing left.
    Done,
}

impl Outbox {
    pub fn new() -> Outbox {
        Outbox::default()
    }

    /// Counts one request in, waiting while [`MAX_IN_FLIGHT_PER_CONNECTION`] are. False
    /// once the outbox is closed (the writer failed): stop reading.
    pub async fn reserve(&self) -> bool {
        poll_fn(|cx| {
            let mut s = self.state.borrow_mut();
            if s.closed {
                Poll::Ready(false)
            } else if s.in_flight < MAX_IN_FLIGHT_PER_CONNECTION {
                s.in_flight += 1;
                Poll::Ready(true)
            } else {
                s.reader = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    /// A counted request finished without a reply (oneway).
    pub fn release(&self) {
        let mut s = self.state.borrow_mut();
        leave(&mut s, 1);
        // A closed connection's writer waits for the last request in flight.
        wake(&mut s.writer);
    }

    /// A counted request's reply.
    pub fn reply(&self, reply: Command) {
        let mut s = self.state.borrow_mut();
        s.replies.push_back(reply);
        wake(&mut s.writer);
    }

    /// A counted send's acknowledgement, once durable. Only the first of a run wakes the
    /// writer: while acks wait, the writer waits for the oldest one's durability and then
    /// takes every durable one, so a wake per ack would only re-register its wait.
    pub fn ack(&self, ack: PendingAck) {
        let mut s = self.state.borrow_mut();
        debug_assert!(s.acks.back().is_none_or(|last| last.end <= ack.end));
        let first = s.acks.is_empty();
        s.acks.push_back(ack);
        if first {
            wake(&mut s.writer);
        }
    }

    /// A command the broker sends on its own (not counted); false when dropped.
    pub fn push(&self, command: Command) -> bool {
        let mut s = self.state.borrow_mut();
        if s.closed || s.pushed >= MAX_PUSHED_PER_CONNECTION {
            return false;
        }
        // Pushed commands are requests, never responses: that is how `take` tells them from
        // counted replies.
        debug_assert!(!command.head.is_response());
        s.pushed += 1;
        s.replies.push_back(command);
        wake(&mut s.writer);
        true
    }

    /// No more requests (the reader stopped, or the writer failed): the writer finishes
    /// what is owed and stops; a waiting reader stops.
    pub fn close(&self) {
        let mut s = self.state.borrow_mut();
        s.closed = true;
        wake(&mut s.writer);
        wake(&mut s.reader);
    }

    /// Waits until there is something to do, given the log's durable end now.
    pub async fn next(&self, durable_end: impl Fn() -> u64) -> Next {
        poll_fn(|cx| {
            let mut s = self.state.borrow_mut();
            if !s.replies.is_empty() || s.acks.front().is_some_and(|a| a.end <= durable_end()) {
                return Poll::Ready(Next::Write);
            }
            if let Some(first) = s.acks.front() {
                return Poll::Ready(Next::WaitDurable(first.end));
            }
            if s.closed && s.in_flight == 0 {
                return Poll::Ready(Next::Done);
            }
            s.writer = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Resolves when a reply arrives (while the writer also waits for durability).
    pub async fn reply_arrived(&self) {
        poll_fn(|cx| {
            let mut s = self.state.borrow_mut();
            if !s.replies.is_empty() {
                return Poll::Ready(());
            }
            s.writer = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Encodes into `out` every reply and every acknowledgement whose end is at most
    /// `durable_end`.
    pub fn take(&self, durable_end: u64, store_host: SocketAddr, out: &mut BytesMut) {
        let mut s = self.state.borrow_mut();
        let mut answered = 0;
        while let Some(reply) = s.replies.pop_front() {
            reply.encode(out);
            if reply.head.is_response() {
                answered += 1;
            } else {
                s.pushed = s.pushed.saturating_sub(1);
            }
        }
        while s.acks.front().is_some_and(|a| a.end <= durable_end) {
            if let Some(ack) = s.acks.pop_front() {
                if ack.reply {
                    ack.encode(store_host, out);
                }
                answered += 1;
            }
        }
        leave(&mut s, answered);
    }

    /// The store failed: every waiting acknowledgement becomes an error reply (a oneway
    /// send's just leaves the count).
    pub fn fail_acks(&self, reason: &str) {
        let mut s = self.state.borrow_mut();
        let mut released = 0;
        while let Some(ack) = s.acks.pop_front() {
            if ack.reply {
                let reply = ack.failed(reason);
                s.replies.push_back(reply);
            } else {
                released += 1;
            }
        }
        leave(&mut s, released);
    }
}

/// `n` counted requests left: the reader may read on.
fn leave(s: &mut State, n: usize) {
    if n > 0 {
        s.in_flight = s.in_flight.saturating_sub(n);
        wake(&mut s.reader);
    }
}

fn wake(waker: &mut Option<Waker>) {
    if let Some(w) = waker.take() {
        w.wake();
    }
}
