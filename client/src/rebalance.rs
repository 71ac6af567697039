//! Queue allocation among a group's consumers, as RocketMQ's strategies do it: every member
//! sorts the same queue list and the same member list, so they agree without talking.

use crate::route::QueueAddr;

/// How a group's queues are split among its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Allocation {
    /// Contiguous ranges, the first members taking one extra when it does not divide.
    #[default]
    Averagely,
    /// Queue i to member i mod n.
    AveragelyByCircle,
    /// Each queue to the member whose virtual node follows the queue's hash on a ring.
    ConsistentHash,
}

/// The queues `me` gets. `members` and `queues` need not be sorted; an unknown `me` gets
/// none.
pub fn allocate(
    strategy: Allocation,
    me: &str,
    members: &[String],
    queues: &[QueueAddr],
) -> Vec<QueueAddr> {
    let mut members: Vec<&String> = members.iter().collect();
    members.sort();
    members.dedup();
    let mut queues: Vec<&QueueAddr> = queues.iter().collect();
    queues.sort_by(|a, b| (&a.broker_name, a.queue_id).cmp(&(&b.broker_name, b.queue_id)));
    let Some(index) = members.iter().position(|m| m.as_str() == me) else {
        return Vec::new();
    };
    let (n, q) = (members.len(), queues.len());
    match strategy {
        Allocation::Averagely => {
            let base = q / n;
            let extra = q % n;
            let start = index * base + index.min(extra);
            let len = base + usize::from(index < extra);
            queues[start..start + len]
                .iter()
                .map(|x| (*x).clone())
                .collect()
        }
        Allocation::AveragelyByCircle => queues
            .iter()
            .enumerate()
            .filter(|(i, _)| i % n == index)
            .map(|(_, x)| (*x).clone())
            .collect(),
        Allocation::ConsistentHash => {
            const VIRTUAL_NODES: usize = 10;
            let mut ring: Vec<(u64, usize)> = members
                .iter()
                .enumerate()
                .flat_map(|(m, name)| {
                    (0..VIRTUAL_NODES).map(move |v| (fnv(&format!("{name}#{v}")), m))
                })
                .collect();
            ring.sort();
            queues
                .iter()
                .filter(|x| {
                    let h = fnv(&format!("{}@{}", x.broker_name, x.queue_id));
                    let owner = ring.iter().find(|(p, _)| *p >= h).unwrap_or(&ring[0]).1;
                    owner == index
                })
                .map(|x| (*x).clone())
                .collect()
        }
    }
}

/// FNV-1a: a stable hash every member computes alike.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queues(n: i32) -> Vec<QueueAddr> {
        (0..n)
            .map(|q| QueueAddr {
                broker_name: "b".into(),
                queue_id: q,
                addr: "127.0.0.1:1".parse().unwrap(),
                broker_addr: "127.0.0.1:1".parse().unwrap(),
            })
            .collect()
    }

    #[test]
    fn every_strategy_gives_each_queue_to_exactly_one_member() {
        let members: Vec<String> = ["c", "a", "b"].iter().map(|s| s.to_string()).collect();
        for strategy in [
            Allocation::Averagely,
            Allocation::AveragelyByCircle,
            Allocation::ConsistentHash,
        ] {
            let qs = queues(8);
            let mut all: Vec<i32> = members
                .iter()
                .flat_map(|m| allocate(strategy, m, &members, &qs))
                .map(|q| q.queue_id)
                .collect();
            all.sort();
            assert_eq!(all, (0..8).collect::<Vec<_>>(), "{strategy:?}");
        }
    }

    #[test]
    fn averagely_gives_contiguous_ranges_with_extras_first() {
        let members: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let ids = |m| {
            allocate(Allocation::Averagely, m, &members, &queues(8))
                .iter()
                .map(|q| q.queue_id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids("a"), [0, 1, 2]);
        assert_eq!(ids("b"), [3, 4, 5]);
        assert_eq!(ids("c"), [6, 7]);
        let circle: Vec<i32> = allocate(Allocation::AveragelyByCircle, "b", &members, &queues(8))
            .iter()
            .map(|q| q.queue_id)
            .collect();
        assert_eq!(circle, [1, 4, 7]);
        assert!(allocate(Allocation::Averagely, "stranger", &members, &queues(8)).is_empty());
    }
}
