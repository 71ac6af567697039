//! The route registry as a plain state machine: brokers, clusters, topics' queues and broker
//! liveness. No I/O and no clock of its own: callers pass `now`, so tests drive time.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use shardmq_protocol::body::{
    BrokerData, ClusterInfo, QueueData, TopicConfig, TopicRouteData, MASTER_ID,
};

/// Identifies the connection a registration arrived on, so that closing it drops the broker.
pub type ConnectionId = u64;

/// What a broker sent in REGISTER_BROKER, already decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub cluster: String,
    pub broker_name: String,
    pub broker_addr: String,
    pub broker_id: i64,
    pub ha_server_addr: String,
    /// How long the broker may stay silent before it is dropped.
    pub timeout: Duration,
    /// The broker's whole topic table (a master's registration replaces what it had).
    pub topics: Vec<TopicConfig>,
}

/// What the name server tells a registering broker.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegisterOutcome {
    /// For a slave: its master's address and HA address.
    pub master_addr: Option<String>,
    pub ha_server_addr: Option<String>,
}

#[derive(Debug)]
struct LiveBroker {
    cluster: String,
    broker_name: String,
    broker_id: i64,
    ha_server_addr: String,
    last_seen: Instant,
    timeout: Duration,
    connection: ConnectionId,
}

/// All routes. Bounded by what brokers register; each broker's entries are replaced, not
/// accumulated, on every registration.
#[derive(Debug, Default)]
pub struct Registry {
    /// topic → broker name → its queues of that topic.
    topics: BTreeMap<String, BTreeMap<String, QueueData>>,
    /// broker name → cluster, name and member addresses by broker id.
    brokers: BTreeMap<String, BrokerData>,
    /// cluster → broker names.
    clusters: BTreeMap<String, BTreeSet<String>>,
    /// broker address → liveness.
    live: HashMap<String, LiveBroker>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Records a registration (or a heartbeat: brokers re-register periodically).
    pub fn register(
        &mut self,
        reg: Registration,
        connection: ConnectionId,
        now: Instant,
    ) -> RegisterOutcome {
        self.clusters
            .entry(reg.cluster.clone())
            .or_default()
            .insert(reg.broker_name.clone());
        let data = self
            .brokers
            .entry(reg.broker_name.clone())
            .or_insert_with(|| BrokerData {
                cluster: reg.cluster.clone(),
                broker_name: reg.broker_name.clone(),
                ..Default::default()
            });
        data.cluster = reg.cluster.clone();
        // One address holds one role: a slave promoted to master drops its old id.
        data.broker_addrs
            .retain(|id, addr| *id == reg.broker_id || *addr != reg.broker_addr);
        data.broker_addrs
            .insert(reg.broker_id, reg.broker_addr.clone());

        if reg.broker_id == MASTER_ID {
            self.replace_topics(&reg.broker_name, &reg.topics);
        }
        self.live.insert(
            reg.broker_addr.clone(),
            LiveBroker {
                cluster: reg.cluster.clone(),
                broker_name: reg.broker_name.clone(),
                broker_id: reg.broker_id,
                ha_server_addr: reg.ha_server_addr.clone(),
                last_seen: now,
                timeout: reg.timeout,
                connection,
            },
        );
        if reg.broker_id == MASTER_ID {
            return RegisterOutcome::default();
        }
        let master_addr = self
            .brokers
            .get(&reg.broker_name)
            .and_then(|b| b.master_addr())
            .map(str::to_owned);
        let ha_server_addr = master_addr
            .as_ref()
            .and_then(|m| self.live.get(m))
            .map(|l| l.ha_server_addr.clone());
        RegisterOutcome {
            master_addr,
            ha_server_addr,
        }
    }

    fn replace_topics(&mut self, broker_name: &str, topics: &[TopicConfig]) {
        let listed: BTreeSet<&str> = topics.iter().map(|t| t.topic_name.as_str()).collect();
        self.topics.retain(|topic, queues| {
            if !listed.contains(topic.as_str()) {
                queues.remove(broker_name);
            }
            !queues.is_empty()
        });
        for t in topics {
            let queue = QueueData {
                broker_name: broker_name.to_owned(),
                read_queue_nums: t.read_queue_nums,
                write_queue_nums: t.write_queue_nums,
                perm: t.perm,
                topic_sys_flag: t.topic_sys_flag,
                shard_ports: t.shard_ports.clone(),
            };
            self.topics
                .entry(t.topic_name.clone())
                .or_default()
                .insert(broker_name.to_owned(), queue);
        }
    }

    /// Removes the broker at `broker_addr` (UNREGISTER_BROKER, expiry or a closed
    /// connection). A broker name with no members left loses its clusters' entry and its
    /// topics' queues.
    pub fn unregister(&mut self, broker_addr: &str) -> bool {
        let Some(live) = self.live.remove(broker_addr) else {
            return false;
        };
        let mut name_gone = false;
        if let Some(data) = self.brokers.get_mut(&live.broker_name) {
            data.broker_addrs
                .retain(|id, addr| !(*id == live.broker_id && addr == broker_addr));
            name_gone = data.broker_addrs.is_empty();
        }
        if name_gone {
            self.brokers.remove(&live.broker_name);
            if let Some(names) = self.clusters.get_mut(&live.cluster) {
                names.remove(&live.broker_name);
                if names.is_empty() {
                    self.clusters.remove(&live.cluster);
                }
            }
            self.topics.retain(|_, queues| {
                queues.remove(&live.broker_name);
                !queues.is_empty()
            });
        }
        true
    }

    /// Drops brokers silent past their timeout; returns their addresses.
    pub fn expire(&mut self, now: Instant) -> Vec<String> {
        let expired: Vec<String> = self
            .live
            .iter()
            .filter(|(_, l)| now.saturating_duration_since(l.last_seen) > l.timeout)
            .map(|(addr, _)| addr.clone())
            .collect();
        for addr in &expired {
            self.unregister(addr);
        }
        expired
    }

    /// Drops every broker that registered over `connection`; returns their addresses.
    pub fn connection_closed(&mut self, connection: ConnectionId) -> Vec<String> {
        let gone: Vec<String> = self
            .live
            .iter()
            .filter(|(_, l)| l.connection == connection)
            .map(|(addr, _)| addr.clone())
            .collect();
        for addr in &gone {
            self.unregister(addr);
        }
        gone
    }

    /// The route of `topic`, if any live broker serves it.
    pub fn route(&self, topic: &str) -> Option<TopicRouteData> {
        let queues = self.topics.get(topic)?;
        let mut route = TopicRouteData::default();
        for (name, queue) in queues {
            if let Some(broker) = self.brokers.get(name) {
                route.queue_datas.push(queue.clone());
                route.broker_datas.push(broker.clone());
            }
        }
        (!route.queue_datas.is_empty()).then_some(route)
    }

    /// Every broker and cluster.
    pub fn cluster_info(&self) -> ClusterInfo {
        ClusterInfo {
            broker_addr_table: self.brokers.clone(),
            cluster_addr_table: self.clusters.clone(),
        }
    }

    /// Every topic with a route.
    pub fn topics(&self) -> BTreeSet<String> {
        self.topics.keys().cloned().collect()
    }

    /// Removes `topic` from the brokers of `cluster`, or from all brokers.
    pub fn delete_topic(&mut self, topic: &str, cluster: Option<&str>) -> bool {
        let Some(queues) = self.topics.get_mut(topic) else {
            return false;
        };
        match cluster.and_then(|c| self.clusters.get(c)) {
            Some(names) => queues.retain(|name, _| !names.contains(name)),
            None if cluster.is_some() => return false,
            None => queues.clear(),
        }
        if queues.is_empty() {
            self.topics.remove(topic);
        }
        true
    }

    /// Number of live broker addresses.
    pub fn live_brokers(&self) -> usize {
        self.live.len()
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

    fn reg(name: &str, addr: &str, id: i64, topics: Vec<TopicConfig>) -> Registration {
        Registration {
            cluster: "DefaultCluster".into(),
            broker_name: name.into(),
            broker_addr: addr.into(),
            broker_id: id,
            ha_server_addr: format!("{addr}-ha"),
            timeout: Duration::from_secs(120),
            topics,
        }
    }

    #[test]
    fn master_registration_publishes_its_topics_with_the_master_at_id_0() {
        let mut r = Registry::new();
        let now = Instant::now();
        r.register(reg("b1", "127.0.0.1:10911", 0, vec![topic("T", 8)]), 1, now);
        let route = r.route("T").unwrap();
        assert_eq!(route.queue_datas[0].write_queue_nums, 8);
        assert_eq!(route.broker_datas[0].master_addr(), Some("127.0.0.1:10911"));
        assert_eq!(r.route("U"), None);
        assert_eq!(r.topics().into_iter().collect::<Vec<_>>(), ["T"]);
    }

    #[test]
    fn slave_learns_its_master_and_does_not_change_topics() {
        let mut r = Registry::new();
        let now = Instant::now();
        r.register(reg("b1", "m:1", 0, vec![topic("T", 4)]), 1, now);
        let out = r.register(reg("b1", "s:1", 1, vec![topic("Other", 4)]), 2, now);
        assert_eq!(out.master_addr.as_deref(), Some("m:1"));
        assert_eq!(out.ha_server_addr.as_deref(), Some("m:1-ha"));
        assert_eq!(r.route("Other"), None);
        assert_eq!(r.route("T").unwrap().broker_datas[0].broker_addrs.len(), 2);
    }

    #[test]
    fn reregistration_replaces_the_brokers_topic_set() {
        let mut r = Registry::new();
        let now = Instant::now();
        r.register(
            reg("b1", "a:1", 0, vec![topic("T", 4), topic("U", 4)]),
            1,
            now,
        );
        r.register(reg("b2", "a:2", 0, vec![topic("U", 2)]), 2, now);
        r.register(reg("b1", "a:1", 0, vec![topic("T", 4)]), 1, now);
        let u = r.route("U").unwrap();
        assert_eq!(u.queue_datas.len(), 1);
        assert_eq!(u.queue_datas[0].broker_name, "b2");
    }

    #[test]
    fn silent_brokers_expire_after_their_own_timeout() {
        let mut r = Registry::new();
        let t0 = Instant::now();
        let mut quick = reg("b1", "a:1", 0, vec![topic("T", 1)]);
        quick.timeout = Duration::from_millis(100);
        r.register(quick, 1, t0);
        r.register(reg("b2", "a:2", 0, vec![topic("T", 1)]), 2, t0);
        assert!(r.expire(t0 + Duration::from_millis(100)).is_empty());
        assert_eq!(r.expire(t0 + Duration::from_millis(101)), ["a:1"]);
        let route = r.route("T").unwrap();
        assert_eq!(route.broker_datas.len(), 1);
        assert_eq!(route.broker_datas[0].broker_name, "b2");
        assert!(!r.cluster_info().broker_addr_table.contains_key("b1"));
    }

    #[test]
    fn closing_a_connection_drops_the_brokers_it_registered() {
        let mut r = Registry::new();
        let now = Instant::now();
        r.register(reg("b1", "a:1", 0, vec![topic("T", 1)]), 7, now);
        r.register(reg("b2", "a:2", 0, vec![topic("U", 1)]), 8, now);
        assert_eq!(r.connection_closed(7), ["a:1"]);
        assert_eq!(r.route("T"), None);
        assert!(r.route("U").is_some());
        assert!(r.connection_closed(7).is_empty());
    }

    #[test]
    fn delete_topic_by_cluster_keeps_other_clusters() {
        let mut r = Registry::new();
        let now = Instant::now();
        r.register(reg("b1", "a:1", 0, vec![topic("T", 1)]), 1, now);
        let mut other = reg("b2", "a:2", 0, vec![topic("T", 1)]);
        other.cluster = "C2".into();
        r.register(other, 2, now);
        assert!(r.delete_topic("T", Some("DefaultCluster")));
        assert_eq!(r.route("T").unwrap().queue_datas[0].broker_name, "b2");
        assert!(!r.delete_topic("T", Some("NoSuchCluster")));
        assert!(r.delete_topic("T", None));
        assert_eq!(r.route("T"), None);
        assert!(!r.delete_topic("T", None));
    }

    #[test]
    fn unregistering_the_last_member_removes_broker_and_cluster() {
        let mut r = Registry::new();
        let now = Instant::now();
        r.register(reg("b1", "a:1", 0, vec![topic("T", 1)]), 1, now);
        assert!(r.unregister("a:1"));
        assert!(!r.unregister("a:1"));
        let info = r.cluster_info();
        assert!(info.broker_addr_table.is_empty() && info.cluster_addr_table.is_empty());
        assert_eq!(r.live_brokers(), 0);
    }
}
