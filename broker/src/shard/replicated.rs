//! The topic table: every shard keeps a copy, and every change reaches every copy.
//!
//! Any shard may change a topic (an admin request or an auto-creating send can arrive on any
//! of them). Each change gets a [`Revision`]: a Lamport clock (one more than the newest
//! revision this shard has seen) with the changing shard's id to break ties. A copy applies
//! a change only if it is newer than the revision it holds for that topic, so copies agree
//! whatever order changes arrive in, and a stale change never undoes a newer one. A deleted
//! topic keeps its revision as a tombstone, so a late copy of its creation does not revive
//! it. Changes reach peers through each peer's control pump (see [`super::mesh`]).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};

use shardmq_protocol::body::TopicConfig;

/// When a topic last changed: (clock, shard), ordered by clock, then shard.
pub type Revision = (u64, u16);

/// Revision of what was loaded from disk at start (the same on every shard).
pub const LOADED: Revision = (0, 0);

/// Why a topic cannot be created.
#[derive(Debug, PartialEq, Eq)]
pub struct TopicLimit {
    pub max_topic_count: usize,
}

/// One shard's copy of the topic table.
pub struct Replicated {
    shard: usize,
    /// At most `max_topic_count` live topics.
    topics: RefCell<BTreeMap<String, TopicConfig>>,
    /// Each topic's revision, deleted ones included (tombstones; bounded by the topics ever
    /// named here, which a restart clears).
    revisions: RefCell<HashMap<String, Revision>>,
    clock: Cell<u64>,
    /// Counts every change this copy took (its own and peers'), for "changed since saved".
    changes: Cell<u64>,
    max_topic_count: usize,
}

impl Replicated {
    pub fn new(shard: usize, max_topic_count: usize) -> Replicated {
        Replicated {
            shard,
            topics: RefCell::new(BTreeMap::new()),
            revisions: RefCell::new(HashMap::new()),
            clock: Cell::new(0),
            changes: Cell::new(0),
            max_topic_count,
        }
    }

    /// The table, to read (never held across an await).
    pub fn borrow(&self) -> std::cell::Ref<'_, BTreeMap<String, TopicConfig>> {
        self.topics.borrow()
    }

    /// Loads a topic from disk at start, on every shard alike: nothing is copied.
    pub fn load(&self, config: TopicConfig) {
        self.revisions
            .borrow_mut()
            .insert(config.topic_name.clone(), LOADED);
        self.topics
            .borrow_mut()
            .insert(config.topic_name.clone(), config);
    }

    /// Creates or changes a topic here with a new revision (the caller copies it to every
    /// peer). A new topic past `maxTopicCount` is refused.
    pub fn set(&self, config: TopicConfig) -> Result<(), TopicLimit> {
        let name = config.topic_name.clone();
        {
            let mut topics = self.topics.borrow_mut();
            if !topics.contains_key(&name) && topics.len() >= self.max_topic_count {
                return Err(TopicLimit {
                    max_topic_count: self.max_topic_count,
                });
            }
            topics.insert(name.clone(), config);
        }
        self.stamp(name);
        Ok(())
    }

    /// Deletes a topic here with a new revision (the caller copies it to every peer).
    pub fn remove(&self, name: &str) {
        self.topics.borrow_mut().remove(name);
        self.stamp(name.to_owned());
    }

    /// How many changes this copy has taken since start (load excluded).
    pub fn changes(&self) -> u64 {
        self.changes.get()
    }

    fn stamp(&self, name: String) {
        self.changes.set(self.changes.get() + 1);
        let clock = self.clock.get() + 1;
        self.clock.set(clock);
        self.revisions
            .borrow_mut()
            .insert(name, (clock, self.shard as u16));
    }

    /// Applies a peer's change if it is newer than what this copy holds. A copy is applied
    /// even past `maxTopicCount`: the shard that made it checked the limit, and copies must
    /// agree. Returns whether it was applied.
    pub fn apply(&self, name: String, config: Option<TopicConfig>, revision: Revision) -> bool {
        self.clock.set(self.clock.get().max(revision.0));
        let mut revisions = self.revisions.borrow_mut();
        if revisions.get(&name).is_some_and(|held| *held >= revision) {
            return false;
        }
        match config {
            Some(config) => self.topics.borrow_mut().insert(name.clone(), config),
            None => self.topics.borrow_mut().remove(&name),
        };
        revisions.insert(name, revision);
        self.changes.set(self.changes.get() + 1);
        true
    }

    /// A topic's config (`None`: deleted or unknown) and revision, for a copy.
    pub fn get_with_revision(&self, name: &str) -> (Option<TopicConfig>, Revision) {
        (
            self.topics.borrow().get(name).cloned(),
            self.revisions.borrow().get(name).copied().unwrap_or(LOADED),
        )
    }

    /// Whether this copy holds `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.topics.borrow().contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str, queues: i32) -> TopicConfig {
        TopicConfig {
            topic_name: name.into(),
            read_queue_nums: queues,
            write_queue_nums: queues,
            ..Default::default()
        }
    }

    /// Two shards change the same topic, each applies the other's change: both end with
    /// the same config, in either order of arrival.
    #[test]
    fn copies_agree_whatever_order_changes_arrive_in() {
        let a = Replicated::new(0, 10);
        let b = Replicated::new(1, 10);
        a.set(topic("T", 4)).unwrap();
        b.set(topic("T", 8)).unwrap();
        let (ca, ra) = a.get_with_revision("T");
        let (cb, rb) = b.get_with_revision("T");
        assert!(
            a.apply("T".into(), cb, rb),
            "b's change (same clock, higher shard) wins"
        );
        assert!(!b.apply("T".into(), ca, ra), "a's older change is ignored");
        assert_eq!(a.borrow()["T"].write_queue_nums, 8);
        assert_eq!(b.borrow()["T"].write_queue_nums, 8);
    }

    #[test]
    fn a_deletion_is_not_undone_by_a_late_copy_of_the_creation() {
        let a = Replicated::new(0, 10);
        let b = Replicated::new(1, 10);
        a.set(topic("T", 4)).unwrap();
        let created = a.get_with_revision("T");
        assert!(b.apply("T".into(), created.0.clone(), created.1));
        b.remove("T");
        let deleted = b.get_with_revision("T");
        assert!(a.apply("T".into(), deleted.0, deleted.1));
        assert!(!a.contains("T"));
        assert!(!a.apply("T".into(), created.0, created.1), "stale creation");
        assert!(!a.contains("T"));
    }

    #[test]
    fn new_topics_stop_at_the_limit_but_changes_and_copies_do_not() {
        let a = Replicated::new(0, 2);
        a.set(topic("A", 1)).unwrap();
        a.set(topic("B", 1)).unwrap();
        assert_eq!(
            a.set(topic("C", 1)).map(|_| ()),
            Err(TopicLimit { max_topic_count: 2 })
        );
        assert!(!a.contains("C"), "nothing is created");
        assert!(
            a.set(topic("A", 2)).is_ok(),
            "changing a topic is not creating one"
        );
        assert!(a.apply("D".into(), Some(topic("D", 1)), (9, 1)));
        a.remove("A");
        assert!(!a.contains("A"));
    }
}
