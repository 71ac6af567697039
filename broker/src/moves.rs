//! Shard rebalance: queues moved away from the shard that `routing::shard_of` names. Each
//! move records the new owner and where the queue's history stays: offsets below the move's
//! boundary are read from the shard that wrote them (nothing is copied), offsets from the
//! boundary on go to the new owner. Every shard keeps a copy, versioned so a stale update is
//! ignored; shard 0 persists it as `queue-moves.json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::routing::shard_of;

/// One move of one queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueMove {
    pub topic: String,
    pub queue_id: i32,
    pub from_shard: u16,
    pub to_shard: u16,
    /// The first queue offset the new owner stores; lower offsets stay on `from_shard`.
    pub boundary: u64,
    pub version: u64,
}

/// Every move so far, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueMoves {
    pub version: u64,
    pub moves: Vec<QueueMove>,
    /// topic → queue → indexes into `moves`, oldest first. Rebuilt on load. Keyed by topic
    /// first so that a lookup by `&str` allocates nothing (it runs on every routed request).
    #[serde(skip)]
    by_queue: BTreeMap<String, BTreeMap<i32, Vec<usize>>>,
}

impl QueueMoves {
    /// Rebuilds the lookup after deserializing.
    pub fn reindex(&mut self) {
        self.by_queue.clear();
        for (i, m) in self.moves.iter().enumerate() {
            self.by_queue
                .entry(m.topic.clone())
                .or_default()
                .entry(m.queue_id)
                .or_default()
                .push(i);
        }
    }

    /// Records a move unless its queue already has a move at least as new. Staleness is per
    /// queue: two shards may each move a queue of their own before hearing of the other's
    /// move and so number both moves alike; both must be kept. (A queue's own moves are
    /// numbered in order: only its current owner, which has seen them all, moves it.)
    /// Returns whether it was applied.
    pub fn apply(&mut self, m: QueueMove) -> bool {
        if self
            .history(&m.topic, m.queue_id)
            .last()
            .is_some_and(|last| last.version >= m.version)
        {
            return false;
        }
        self.version = self.version.max(m.version);
        self.by_queue
            .entry(m.topic.clone())
            .or_default()
            .entry(m.queue_id)
            .or_default()
            .push(self.moves.len());
        self.moves.push(m);
        true
    }

    fn history(&self, topic: &str, queue_id: i32) -> impl Iterator<Item = &QueueMove> {
        self.by_queue
            .get(topic)
            .and_then(|queues| queues.get(&queue_id))
            .into_iter()
            .flatten()
            .map(|i| &self.moves[*i])
    }

    /// The shard that takes new messages for the queue.
    pub fn owner(&self, topic: &str, queue_id: i32, shards: usize) -> usize {
        self.history(topic, queue_id).last().map_or_else(
            || shard_of(topic, queue_id, shards),
            |m| m.to_shard as usize,
        )
    }

    /// The shard that holds queue offset `offset`: the writer of the history range it falls
    /// in, or the current owner.
    pub fn holder(&self, topic: &str, queue_id: i32, offset: u64, shards: usize) -> usize {
        for m in self.history(topic, queue_id) {
            if offset < m.boundary {
                return m.from_shard as usize;
            }
        }
        self.owner(topic, queue_id, shards)
    }

    /// The first shard that held the queue (where its lowest offsets are).
    pub fn first_holder(&self, topic: &str, queue_id: i32, shards: usize) -> usize {
        self.history(topic, queue_id).next().map_or_else(
            || shard_of(topic, queue_id, shards),
            |m| m.from_shard as usize,
        )
    }

    /// Moves into `shard`, for restoring the queues it took over.
    pub fn moves_to(&self, shard: usize) -> impl Iterator<Item = &QueueMove> {
        self.moves
            .iter()
            .filter(move |m| m.to_shard as usize == shard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mv(from: u16, to: u16, boundary: u64, version: u64) -> QueueMove {
        QueueMove {
            topic: "T".into(),
            queue_id: 3,
            from_shard: from,
            to_shard: to,
            boundary,
            version,
        }
    }

    #[test]
    fn reads_below_each_boundary_go_to_the_shard_that_wrote_them() {
        let mut m = QueueMoves::default();
        let home = shard_of("T", 3, 4);
        let a = ((home + 1) % 4) as u16;
        let b = ((home + 2) % 4) as u16;
        assert!(m.apply(mv(home as u16, a, 10, 1)));
        assert!(m.apply(mv(a, b, 25, 2)));
        assert_eq!(m.owner("T", 3, 4), b as usize);
        assert_eq!(m.holder("T", 3, 0, 4), home);
        assert_eq!(m.holder("T", 3, 9, 4), home);
        assert_eq!(m.holder("T", 3, 10, 4), a as usize);
        assert_eq!(m.holder("T", 3, 24, 4), a as usize);
        assert_eq!(m.holder("T", 3, 25, 4), b as usize);
        assert_eq!(m.first_holder("T", 3, 4), home);
        assert_eq!(
            m.owner("T", 2, 4),
            shard_of("T", 2, 4),
            "other queues are untouched"
        );
    }

    #[test]
    fn moves_of_two_queues_numbered_alike_are_both_kept_in_either_order() {
        let other = QueueMove {
            queue_id: 4,
            ..mv(1, 2, 8, 1)
        };
        for order in [
            [mv(0, 1, 5, 1), other.clone()],
            [other.clone(), mv(0, 1, 5, 1)],
        ] {
            let mut m = QueueMoves::default();
            for one in order {
                assert!(m.apply(one));
            }
            assert_eq!((m.owner("T", 3, 4), m.owner("T", 4, 4)), (1, 2));
            assert_eq!(m.version, 1);
        }
    }

    #[test]
    fn stale_versions_are_ignored_and_reindex_restores_lookups() {
        let mut m = QueueMoves::default();
        assert!(m.apply(mv(0, 1, 5, 2)));
        assert!(!m.apply(mv(1, 0, 7, 2)), "same version");
        assert!(!m.apply(mv(1, 0, 7, 1)), "older version");
        let json = serde_json::to_string(&m).unwrap();
        let mut back: QueueMoves = serde_json::from_str(&json).unwrap();
        back.reindex();
        assert_eq!(back.owner("T", 3, 2), 1);
        assert_eq!(back.holder("T", 3, 4, 2), 0);
    }
}
