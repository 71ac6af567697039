//! The consumer groups whose home a shard is: their members (as heartbeats describe them)
//! and the orderly-consume locks of their queues. Both tables are private and bounded;
//! handlers change them only through these methods, and learn which groups changed so
//! their members can be told.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use shardmq_protocol::body::{ConsumerData, MessageQueue};

use super::Origin;

/// Most consumer groups one shard is home to; a heartbeat that would add another is refused.
pub const MAX_GROUPS: usize = 65_536;
/// Most orderly-consume locks one shard keeps; past it a lock request is not granted.
pub const MAX_LOCKS: usize = 1_000_000;
/// How long a consumer lock lasts without renewal (RocketMQ's rebalance lock max live time).
pub const LOCK_MAX_LIVE_MS: u128 = 60_000;

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
struct QueueLock {
    client_id: String,
    last_renewed: Instant,
}

/// A heartbeat named a new group past [`MAX_GROUPS`].
#[derive(Debug, PartialEq, Eq)]
pub struct TooManyGroups {
    pub group: String,
}

/// Members and locks of the groups whose home this shard is.
#[derive(Default)]
pub struct Groups {
    /// group → client id → client; at most [`MAX_GROUPS`] groups, none empty.
    members: RefCell<HashMap<String, BTreeMap<String, ConsumerClient>>>,
    /// (group, topic, queue id) → holder; at most [`MAX_LOCKS`].
    locks: RefCell<HashMap<(String, String, i32), QueueLock>>,
}

impl Groups {
    /// Records a heartbeat's consumers (those of `consumers` whose home this is, as the
    /// caller filters); returns the groups that gained a member.
    pub fn heartbeat<'a>(
        &self,
        client_id: &str,
        origin: Origin,
        consumers: impl Iterator<Item = &'a ConsumerData>,
        now: Instant,
    ) -> Result<Vec<String>, TooManyGroups> {
        let mut changed = Vec::new();
        let mut groups = self.members.borrow_mut();
        for consumer in consumers {
            if !groups.contains_key(&consumer.group_name) && groups.len() >= MAX_GROUPS {
                return Err(TooManyGroups {
                    group: consumer.group_name.clone(),
                });
            }
            let client = ConsumerClient {
                last_seen: now,
                origin,
                subscriptions: consumer
                    .subscription_data_set
                    .iter()
                    .map(|s| (s.topic.clone(), s.sub_string.clone()))
                    .collect(),
            };
            let members = groups.entry(consumer.group_name.clone()).or_default();
            if members.insert(client_id.to_owned(), client).is_none() {
                changed.push(consumer.group_name.clone());
            }
        }
        Ok(changed)
    }

    /// Removes a client from a group; returns whether it was a member.
    pub fn unregister(&self, group: &str, client_id: &str) -> bool {
        let mut groups = self.members.borrow_mut();
        let removed = groups
            .get_mut(group)
            .is_some_and(|members| members.remove(client_id).is_some());
        if groups.get(group).is_some_and(BTreeMap::is_empty) {
            groups.remove(group);
        }
        removed
    }

    /// A group's member ids, sorted (`None`: no member).
    pub fn member_ids(&self, group: &str) -> Option<Vec<String>> {
        self.members
            .borrow()
            .get(group)
            .filter(|m| !m.is_empty())
            .map(|m| m.keys().cloned().collect())
    }

    /// Where a group's members are connected.
    pub fn member_origins(&self, group: &str) -> Vec<Origin> {
        self.members
            .borrow()
            .get(group)
            .map(|m| m.values().map(|c| c.origin).collect())
            .unwrap_or_default()
    }

    /// Drops the clients `doomed` picks; returns the groups that lost a member.
    pub fn remove_clients(&self, doomed: impl Fn(&ConsumerClient) -> bool) -> Vec<String> {
        let mut changed = Vec::new();
        let mut groups = self.members.borrow_mut();
        for (group, members) in groups.iter_mut() {
            let before = members.len();
            members.retain(|_, c| !doomed(c));
            if members.len() != before {
                changed.push(group.clone());
            }
        }
        groups.retain(|_, m| !m.is_empty());
        changed
    }

    /// Takes (or renews) the locks of `queues` for `client_id`; returns those granted: free,
    /// already its own, or expired, and within [`MAX_LOCKS`].
    pub fn lock(
        &self,
        group: &str,
        client_id: &str,
        queues: &[MessageQueue],
        now: Instant,
    ) -> Vec<MessageQueue> {
        let mut locks = self.locks.borrow_mut();
        let mut granted = Vec::new();
        for mq in queues {
            let key = (group.to_owned(), mq.topic.clone(), mq.queue_id);
            let held = locks.get(&key);
            let free = held.is_none_or(|l| {
                l.client_id == client_id
                    || now.duration_since(l.last_renewed).as_millis() > LOCK_MAX_LIVE_MS
            });
            if free && (held.is_some() || locks.len() < MAX_LOCKS) {
                locks.insert(
                    key,
                    QueueLock {
                        client_id: client_id.to_owned(),
                        last_renewed: now,
                    },
                );
                granted.push(mq.clone());
            }
        }
        granted
    }

    /// Releases the locks of `queues` that `client_id` holds.
    pub fn unlock(&self, group: &str, client_id: &str, queues: &[MessageQueue]) {
        let mut locks = self.locks.borrow_mut();
        for mq in queues {
            let key = (group.to_owned(), mq.topic.clone(), mq.queue_id);
            if locks.get(&key).is_some_and(|l| l.client_id == client_id) {
                locks.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardmq_protocol::codes::SerializeType;
    use std::time::Duration;

    fn origin(connection: u64) -> Origin {
        Origin {
            peer: "127.0.0.1:1".parse().unwrap(),
            shard: 0,
            connection,
            serialize_type: SerializeType::RocketMq,
        }
    }

    fn consumer(group: &str) -> ConsumerData {
        ConsumerData {
            group_name: group.into(),
            ..Default::default()
        }
    }

    fn mq(queue_id: i32) -> MessageQueue {
        MessageQueue {
            topic: "T".into(),
            broker_name: "b".into(),
            queue_id,
        }
    }

    #[test]
    fn members_join_once_and_leave_by_unregister_or_by_removal() {
        let g = Groups::default();
        let now = Instant::now();
        let c = [consumer("G")];
        assert_eq!(
            g.heartbeat("a", origin(1), c.iter(), now),
            Ok(vec!["G".into()])
        );
        assert_eq!(
            g.heartbeat("a", origin(1), c.iter(), now),
            Ok(vec![]),
            "a renewal"
        );
        assert_eq!(
            g.heartbeat("b", origin(2), c.iter(), now),
            Ok(vec!["G".into()])
        );
        assert_eq!(g.member_ids("G"), Some(vec!["a".into(), "b".into()]));
        assert!(g.unregister("G", "a"));
        assert!(!g.unregister("G", "a"));
        assert_eq!(
            g.remove_clients(|c| c.origin.connection == 2),
            vec!["G".to_string()]
        );
        assert_eq!(g.member_ids("G"), None, "an empty group is gone");
    }

    #[test]
    fn a_lock_is_exclusive_until_released_or_expired() {
        let g = Groups::default();
        let t0 = Instant::now();
        assert_eq!(g.lock("G", "a", &[mq(0), mq(1)], t0).len(), 2);
        assert!(g.lock("G", "b", &[mq(0)], t0).is_empty(), "held by a");
        assert_eq!(g.lock("G", "a", &[mq(0)], t0).len(), 1, "a renews its own");
        g.unlock("G", "b", &[mq(1)]);
        assert!(
            g.lock("G", "b", &[mq(1)], t0).is_empty(),
            "only the holder unlocks"
        );
        g.unlock("G", "a", &[mq(1)]);
        assert_eq!(g.lock("G", "b", &[mq(1)], t0).len(), 1);
        let later = t0 + Duration::from_millis(LOCK_MAX_LIVE_MS as u64 + 1);
        assert_eq!(
            g.lock("G", "b", &[mq(0)], later).len(),
            1,
            "a's lock expired"
        );
    }
}
