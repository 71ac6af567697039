//! The one loop that reads a shard's inbox. Each turn takes one message in a fixed
//! priority: replies first (they finish work this shard started and free its forward
//! slots), then control (state copies before the requests that may need them), then
//! forwarded requests. Within a kind, peers take turns. A forward is checked (stopping?
//! meant for this shard?) and handled in a task of its own; replies and control are applied
//! in the loop, which never waits on anything but its inbox.

use std::future::poll_fn;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::Stream;
use glommio::channels::shared_channel::ConnectedReceiver;

use super::mesh::{Control, Forward, Inbound, Reply};
use super::{busy_reply, Shard};

/// Test and diagnostic hooks shared by a broker's shards.
#[derive(Debug, Default)]
pub struct Hooks {
    /// Shard k's inbox loop takes nothing while `paused[k]` is set.
    pub paused: Vec<AtomicBool>,
}

impl Hooks {
    pub fn new(shards: usize) -> Hooks {
        Hooks {
            paused: (0..shards).map(|_| AtomicBool::new(false)).collect(),
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

enum Message {
    Reply(Reply),
    Control(Control),
    /// Boxed: a forward carries a whole decoded request.
    Forward(Box<Forward>),
}

/// The receivers of one kind, and which have closed (their peer stopped).
struct Kind<T: Send> {
    receivers: Vec<(ConnectedReceiver<T>, bool)>,
}

impl<T: Send> Kind<T> {
    /// Polls each open receiver once, starting at `start`.
    fn poll(&mut self, cx: &mut Context<'_>, start: usize) -> Poll<Option<T>> {
        let n = self.receivers.len();
        let mut open = false;
        for i in 0..n {
            let (rx, closed) = &mut self.receivers[(start + i) % n];
            if *closed {
                continue;
            }
            match Pin::new(rx).poll_next(cx) {
                Poll::Ready(Some(msg)) => return Poll::Ready(Some(msg)),
                Poll::Ready(None) => *closed = true,
                Poll::Pending => open = true,
            }
        }
        if open {
            Poll::Pending
        } else {
            Poll::Ready(None)
        }
    }
}

/// Runs `shard`'s inbox until every peer has stopped.
pub async fn run(shard: Rc<Shard>, mut inbound: Inbound, hooks: Arc<Hooks>) {
    let mut replies = Kind {
        receivers: inbound
            .replies
            .streams()
            .into_iter()
            .map(|(_, rx)| (rx, false))
            .collect(),
    };
    let mut control = Kind {
        receivers: inbound
            .control
            .streams()
            .into_iter()
            .map(|(_, rx)| (rx, false))
            .collect(),
    };
    let mut forwards = Kind {
        receivers: inbound
            .forwards
            .streams()
            .into_iter()
            .map(|(_, rx)| (rx, false))
            .collect(),
    };
    let mut turn = 0usize;
    loop {
        turn = turn.wrapping_add(1);
        let next = poll_fn(|cx| {
            let mut all_closed = true;
            match replies.poll(cx, turn) {
                Poll::Ready(Some(m)) => return Poll::Ready(Some(Message::Reply(m))),
                Poll::Ready(None) => {}
                Poll::Pending => all_closed = false,
            }
            match control.poll(cx, turn) {
                Poll::Ready(Some(m)) => return Poll::Ready(Some(Message::Control(m))),
                Poll::Ready(None) => {}
                Poll::Pending => all_closed = false,
            }
            match forwards.poll(cx, turn) {
                Poll::Ready(Some(m)) => return Poll::Ready(Some(Message::Forward(Box::new(m)))),
                Poll::Ready(None) => {}
                Poll::Pending => all_closed = false,
            }
            if all_closed {
                Poll::Ready(None)
            } else {
                Poll::Pending
            }
        })
        .await;
        // A paused inbox holds what it took until it may go on (the loop may have been
        // waiting in its poll when the pause began).
        while hooks.is_paused(shard.id) {
            glommio::timer::sleep(PAUSED_POLL).await;
        }
        match next {
            None => return,
            Some(Message::Reply(reply)) => shard.complete(reply),
            Some(Message::Control(msg)) => crate::handlers::apply_control(&shard, msg),
            Some(Message::Forward(forward)) => take_forward(&shard, *forward),
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
