//! Who owns what: the one place that maps a queue to its shard and a consumer group to its
//! home shard. Pure functions of the key and the shard count, so every shard agrees.

use crate::store::consume_queue::java_string_hash;

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
