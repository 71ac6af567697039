//! Who owns what: the one place that maps what a request is about (its
//! [`OwnerKey`], read at the door by `protocol`) to the shard that handles it. Pure functions
//! of the key, the move table, the topic's spread and the shard count, so every shard agrees.

use shardmq_protocol::message::java_string_hash;
use shardmq_protocol::request::OwnerKey;

use crate::moves::QueueMoves;
use crate::store::Position;

/// What routing needs to know of a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicSpread {
    /// The shard count its queues are spread over.
    pub spread: usize,
    /// Its write-queue count (a send's queue id wraps around it).
    pub write_queue_nums: i32,
}

impl TopicSpread {
    /// The queue a send for `queue_id` really lands on (RocketMQ wraps ids past the write
    /// queue count).
    pub fn effective_queue_id(&self, queue_id: i32) -> i32 {
        if self.write_queue_nums > 0 && queue_id >= self.write_queue_nums {
            queue_id % self.write_queue_nums
        } else {
            queue_id
        }
    }
}

/// The shard that must handle a request about `key`; `None`: any shard (the one that has
/// it). `topic` says how a topic is spread; `shards` is this broker's shard count. A
/// heartbeat's several group homes are [`homes`]' business.
pub fn owner(
    key: &OwnerKey,
    moves: &QueueMoves,
    topic: impl Fn(&str) -> TopicSpread,
    shards: usize,
) -> Option<usize> {
    match key {
        OwnerKey::Any | OwnerKey::Groups(_) => None,
        OwnerKey::Send { topic: t, queue_id } => {
            let spread = topic(t);
            let q = spread.effective_queue_id(queue_id.get());
            Some(moves.owner(t, q, spread.spread))
        }
        OwnerKey::Queue { topic: t, queue_id } => {
            Some(moves.owner(t, queue_id.get(), topic(t).spread))
        }
        OwnerKey::Read {
            topic: t,
            queue_id,
            offset,
            ..
        } => Some(moves.holder(t, queue_id.get(), *offset, topic(t).spread)),
        OwnerKey::QueueStart { topic: t, queue_id } => {
            Some(moves.first_holder(t, queue_id.get(), topic(t).spread))
        }
        OwnerKey::Position(raw) => {
            let owner = Position::from_raw(*raw).shard() as usize;
            (owner < shards).then_some(owner)
        }
        OwnerKey::Group(group) => Some(group_home(group, shards)),
    }
}

/// The home shards of a heartbeat's groups, each once, in order.
pub fn homes(key: &OwnerKey, shards: usize) -> Vec<usize> {
    let OwnerKey::Groups(groups) = key else {
        return Vec::new();
    };
    let mut homes: Vec<usize> = groups.iter().map(|g| group_home(g, shards)).collect();
    homes.sort_unstable();
    homes.dedup();
    homes
}

/// The shard that owns queue `queue_id` of `topic`: `hash(topic) + queue_id` spread over the
/// shards (RocketMQ-style Java string hash, so the mapping is stable across builds).
pub fn shard_of(topic: &str, queue_id: i32, shards: usize) -> usize {
    debug_assert!(shards > 0);
    let h = i64::from(java_string_hash(topic)) + i64::from(queue_id);
    h.rem_euclid(shards as i64) as usize
}

/// The shard that keeps a consumer group's membership.
pub fn group_home(group: &str, shards: usize) -> usize {
    debug_assert!(shards > 0);
    i64::from(java_string_hash(group)).rem_euclid(shards as i64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_of_a_topic_spread_over_all_shards_in_turn() {
        let owners: Vec<usize> = (0..8).map(|q| shard_of("TopicTest", q, 4)).collect();
        let first = owners[0];
        for (q, owner) in owners.iter().enumerate() {
            assert_eq!(*owner, (first + q) % 4, "queue {q}");
        }
        assert!((0..8).all(|q| shard_of("TopicTest", q, 1) == 0));
    }

    #[test]
    fn owner_keys_map_to_the_shard_that_holds_what_they_name() {
        use shardmq_protocol::names::{GroupName, QueueId, TopicName};
        let t = || TopicName::parse("topic", "T").unwrap();
        let q = |n| QueueId::parse("queueId", n).unwrap();
        let spread = |_: &str| TopicSpread {
            spread: 4,
            write_queue_nums: 4,
        };
        let moves = QueueMoves::default();
        let base = shard_of("T", 0, 4);
        let table = [
            (OwnerKey::Any, None),
            (
                OwnerKey::Send {
                    topic: t(),
                    queue_id: q(5),
                },
                Some(shard_of("T", 1, 4)),
            ),
            (
                OwnerKey::Queue {
                    topic: t(),
                    queue_id: q(2),
                },
                Some((base + 2) % 4),
            ),
            (
                OwnerKey::Read {
                    topic: t(),
                    queue_id: q(3),
                    offset: 9,
                    hold_ms: 0,
                },
                Some((base + 3) % 4),
            ),
            (
                OwnerKey::QueueStart {
                    topic: t(),
                    queue_id: q(1),
                },
                Some((base + 1) % 4),
            ),
            (OwnerKey::Position(Position::new(3, 100).raw()), Some(3)),
            (OwnerKey::Position(Position::new(7, 100).raw()), None),
            (
                OwnerKey::Group(GroupName::parse("g", "G").unwrap()),
                Some(group_home("G", 4)),
            ),
        ];
        for (key, expected) in table {
            assert_eq!(owner(&key, &moves, spread, 4), expected, "{key:?}");
        }
    }

    #[test]
    fn ownership_is_a_pure_function_of_its_inputs() {
        // Negative hashes still land in range; the same input always gives the same shard.
        let t = "polygenelubricants"; // Java hashCode == i32::MIN
        for shards in 1..=5 {
            for q in 0..16 {
                let s = shard_of(t, q, shards);
                assert!(s < shards);
                assert_eq!(s, shard_of(t, q, shards));
            }
            assert!(group_home("G", shards) < shards);
        }
    }
}
