//! The one loop that reads a shard's inbox. Each turn takes one message in a fixed
//! priority: replies first (they finish work this shard started and free its forward
//! slots), then control (state copies before the requests that may need them), then
//! forwarded requests. A forward is checked (stopping? meant for this shard?) and handled in
//! a task of its own; replies and control are applied in the loop, which never waits on
//! anything but its inbox.
//!
//! Each mesh channel has a small feeder task that moves what arrives into the loop's lane
//! for its kind (at most [`LANE_DEPTH`] waiting; a full lane stops its feeders, so the mesh
//! channels fill and senders see it). Why not poll every channel from the loop itself:
//! glommio keeps one waker clone per pending poll of a channel until that channel sees
//! traffic, so a loop that re-polled idle channels on every turn piled up clones of its own
//! task's waker until the task's reference count overflowed and the shard panicked (seen at
//! ~300,000 forwards/s). A feeder polls its channel again only when woken.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

use glommio::channels::shared_channel::ConnectedReceiver;

use super::mesh::{Control, Forward, Inbound, Reply};
use super::{busy_reply, Shard};

/// Most messages of one kind waiting for the loop, past those in the mesh channels.
pub const LANE_DEPTH: usize = 256;

/// What a broker's shards share besides the meshes: test and diagnostic hooks, and how
/// many shards accept connections yet.
#[derive(Debug, Default)]
pub struct Hooks {
    /// Shard k's inbox loop takes nothing while `paused[k]` is set.
    pub paused: Vec<AtomicBool>,
    /// Shards whose listeners are up. Shard 0 registers with the name servers only once all
    /// are, so no client gets a route to a shard port that refuses connections.
    pub accepting: std::sync::atomic::AtomicUsize,
}

impl Hooks {
    pub fn new(shards: usize) -> Hooks {
        Hooks {
            paused: (0..shards).map(|_| AtomicBool::new(false)).collect(),
            accepting: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn is_paused(&self, shard: usize) -> bool {
        self.paused
            .get(shard)
            .is_some_and(|p| p.load(Ordering::Relaxed))
    }
}

/// How often a paused inbox looks whether it may go on.
const PAUSED_POLL: Duration = Duration::from_millis(5);

/// Messages of one kind waiting for the loop, and the feeders waiting for room.
struct Lane<T> {
    queue: RefCell<VecDeque<T>>,
    /// Feeders blocked on a full lane (at most one each: a feeder re-polls only when woken).
    blocked: RefCell<Vec<Waker>>,
    /// Feeders still connected (their peers have not stopped).
    open: Cell<usize>,
}

impl<T> Lane<T> {
    fn new(feeders: usize) -> Lane<T> {
        Lane {
            queue: RefCell::new(VecDeque::with_capacity(LANE_DEPTH)),
            blocked: RefCell::new(Vec::new()),
            open: Cell::new(feeders),
        }
    }

    fn pop(&self) -> Option<T> {
        let msg = self.queue.borrow_mut().pop_front()?;
        for w in self.blocked.borrow_mut().drain(..) {
            w.wake();
        }
        Some(msg)
    }
}

/// The lanes and the loop's waker.
struct Lanes {
    replies: Lane<Reply>,
    control: Lane<Control>,
    forwards: Lane<Forward>,
    /// The loop, when it waits for a message (replaced, never accumulated).
    loop_waker: Cell<Option<Waker>>,
}

impl Lanes {
    fn wake_loop(&self) {
        if let Some(w) = self.loop_waker.take() {
            w.wake();
        }
    }
}

// Not boxed: a message lives for one turn on the loop's stack, and a box would cost an
// allocation per forward on the plain-port send path.
#[allow(clippy::large_enum_variant)]
enum Message {
    Reply(Reply),
    Control(Control),
    Forward(Forward),
}

/// Moves what arrives on `rx` into `lane` until the peer stops.
async fn feed<T: Send + 'static>(
    lanes: Rc<Lanes>,
    rx: ConnectedReceiver<T>,
    lane: impl Fn(&Lanes) -> &Lane<T> + 'static,
) {
    loop {
        poll_fn(|cx| {
            let l = lane(&lanes);
            if l.queue.borrow().len() < LANE_DEPTH {
                Poll::Ready(())
            } else {
                l.blocked.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
        match rx.recv().await {
            Some(msg) => {
                lane(&lanes).queue.borrow_mut().push_back(msg);
                lanes.wake_loop();
            }
            None => {
                let l = lane(&lanes);
                l.open.set(l.open.get() - 1);
                lanes.wake_loop();
                return;
            }
        }
    }
}

/// Runs `shard`'s inbox until every peer has stopped.
pub async fn run(shard: Rc<Shard>, mut inbound: Inbound, hooks: Arc<Hooks>) {
    let replies = inbound.replies.streams();
    let control = inbound.control.streams();
    let forwards = inbound.forwards.streams();
    let lanes = Rc::new(Lanes {
        replies: Lane::new(replies.len()),
        control: Lane::new(control.len()),
        forwards: Lane::new(forwards.len()),
        loop_waker: Cell::new(None),
    });
    for (_, rx) in replies {
        glommio::spawn_local(feed(lanes.clone(), rx, |l: &Lanes| &l.replies)).detach();
    }
    for (_, rx) in control {
        glommio::spawn_local(feed(lanes.clone(), rx, |l: &Lanes| &l.control)).detach();
    }
    for (_, rx) in forwards {
        glommio::spawn_local(feed(lanes.clone(), rx, |l: &Lanes| &l.forwards)).detach();
    }
    loop {
        let next = poll_fn(|cx| {
            if let Some(m) = lanes.replies.pop() {
                return Poll::Ready(Some(Message::Reply(m)));
            }
            if let Some(m) = lanes.control.pop() {
                return Poll::Ready(Some(Message::Control(m)));
            }
            if let Some(m) = lanes.forwards.pop() {
                return Poll::Ready(Some(Message::Forward(m)));
            }
            let open =
                lanes.replies.open.get() + lanes.control.open.get() + lanes.forwards.open.get();
            if open == 0 {
                return Poll::Ready(None);
            }
            lanes.loop_waker.set(Some(cx.waker().clone()));
            Poll::Pending
        })
        .await;
        // A paused inbox holds what it took until it may go on.
        while hooks.is_paused(shard.id) {
            glommio::timer::sleep(PAUSED_POLL).await;
        }
        match next {
            None => return,
            Some(Message::Reply(reply)) => shard.complete(reply),
            Some(Message::Control(msg)) => crate::handlers::apply_control(&shard, msg),
            Some(Message::Forward(forward)) => take_forward(&shard, forward),
        }
    }
}

/// Checks a forward and starts its handling; its reply goes back as a [`Reply`].
fn take_forward(shard: &Rc<Shard>, forward: Forward) {
    let Forward {
        token,
        origin,
        target,
        moves_version,
        request,
    } = forward;
    let refusal = if shard.is_stopping() {
        Some(format!("shard {} is stopping; retry", shard.id))
    } else if target != shard.id {
        // A sender's bug, not a race: counted and refused, never handled by the wrong shard.
        shard.count(|c| c.forward_misrouted += 1);
        tracing::error!(
            shard = shard.id,
            target,
            code = request.code(),
            "a forward meant for another shard arrived here"
        );
        Some(format!(
            "request meant for shard {target} reached shard {}; retry",
            shard.id
        ))
    } else {
        None
    };
    let shard = shard.clone();
    glommio::spawn_local(async move {
        let reply = match refusal {
            Some(remark) => busy_reply(
                &request.command.head,
                request.command.serialize_type,
                remark,
            ),
            None => crate::handlers::handle_forwarded(&shard, origin, moves_version, request).await,
        };
        shard.reply_to(origin.shard, Reply { token, reply }).await;
    })
    .detach();
}
