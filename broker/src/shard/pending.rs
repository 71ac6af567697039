//! The forwards a shard has in flight to its peers: capped at [`MAX_FORWARDS_IN_FLIGHT`],
//! each with a deadline. A forward ends exactly once: by its reply, or by the sweep that
//! finds it past its deadline (its caller then answers SYSTEM_BUSY). So no request waits
//! forever on a peer that never answers, and no entry outlives its deadline.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_channel::oneshot;
use shardmq_protocol::command::Command;

/// Most forwards one shard may have in flight to all its peers together. A forward past it
/// is refused with SYSTEM_BUSY at once (the client retries). Held pulls count: a plain-port
/// consumer's long poll of another shard's queue holds one for up to its suspend time.
pub const MAX_FORWARDS_IN_FLIGHT: usize = 8192;

/// How a forward ended, for its caller.
#[derive(Debug)]
pub enum Outcome {
    /// The owner answered (`None`: a oneway request).
    Reply(Option<Command>),
    /// No reply before the deadline.
    TimedOut,
}

struct Entry {
    deadline: Instant,
    done: oneshot::Sender<Outcome>,
}

/// Forwards in flight, by token.
#[derive(Default)]
pub struct PendingForwards {
    entries: HashMap<u64, Entry>,
    next_token: u64,
}

/// The table is at [`MAX_FORWARDS_IN_FLIGHT`].
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

impl PendingForwards {
    /// Records a forward that must end by `now + timeout`; returns its token and where its
    /// outcome will arrive.
    pub fn insert(
        &mut self,
        now: Instant,
        timeout: Duration,
    ) -> Result<(u64, oneshot::Receiver<Outcome>), Full> {
        if self.entries.len() >= MAX_FORWARDS_IN_FLIGHT {
            return Err(Full);
        }
        self.next_token += 1;
        let token = self.next_token;
        let (done, rx) = oneshot::channel();
        self.entries.insert(
            token,
            Entry {
                deadline: now + timeout,
                done,
            },
        );
        Ok((token, rx))
    }

    /// Ends a forward with its reply. False: unknown token (it already timed out).
    pub fn complete(&mut self, token: u64, reply: Option<Command>) -> bool {
        match self.entries.remove(&token) {
            Some(e) => {
                let _ = e.done.send(Outcome::Reply(reply));
                true
            }
            None => false,
        }
    }

    /// Forgets a forward that was never sent (its inbox was full).
    pub fn cancel(&mut self, token: u64) {
        self.entries.remove(&token);
    }

    /// Ends every forward past its deadline; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let before = self.entries.len();
        self.entries.retain(|_, e| {
            if now < e.deadline {
                return true;
            }
            // The receiver may be gone (its connection closed): nothing to tell then.
            let _ = std::mem::replace(&mut e.done, oneshot::channel().0).send(Outcome::TimedOut);
            false
        });
        before - self.entries.len()
    }

    /// Forwards in flight.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is in flight.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forward_ends_once_by_reply_or_by_deadline() {
        let t0 = Instant::now();
        let mut p = PendingForwards::default();
        let (a, mut rx_a) = p.insert(t0, Duration::from_millis(100)).unwrap();
        let (_b, mut rx_b) = p.insert(t0, Duration::from_millis(300)).unwrap();
        assert!(p.complete(a, None));
        assert!(matches!(rx_a.try_recv(), Ok(Some(Outcome::Reply(None)))));
        assert!(!p.complete(a, None), "a second reply is not delivered");
        assert_eq!(p.expire(t0 + Duration::from_millis(200)), 0);
        assert_eq!(p.expire(t0 + Duration::from_millis(300)), 1);
        assert!(matches!(rx_b.try_recv(), Ok(Some(Outcome::TimedOut))));
        assert!(p.is_empty(), "nothing outlives its deadline");
    }

    #[test]
    fn the_table_refuses_past_its_cap_and_frees_slots() {
        let t0 = Instant::now();
        let mut p = PendingForwards::default();
        let mut tokens = Vec::new();
        for _ in 0..MAX_FORWARDS_IN_FLIGHT {
            tokens.push(p.insert(t0, Duration::from_secs(1)).unwrap().0);
        }
        assert_eq!(p.insert(t0, Duration::from_secs(1)).map(|_| ()), Err(Full));
        p.cancel(tokens[0]);
        assert!(p.insert(t0, Duration::from_secs(1)).is_ok());
        assert_eq!(p.len(), MAX_FORWARDS_IN_FLIGHT);
    }
}
