//! Administration, the calls behind `mqadmin`: cluster and topic listings from the name
//! servers, topic creation and deletion on every master of a cluster, queue offsets and a
//! consumer group's lag.
//!
//! Name-server calls go to the first name server that answers; a refusal from one (say,
//! TOPIC_NOT_EXIST) is reported in preference to another being unreachable. Calls that touch
//! many queues send every request first and then wait for the replies, so a topic's progress
//! costs one round trip per connection rather than one per queue.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use shardmq_protocol::body::{ClusterInfo, JsonBody, TopicList, TopicRouteData, TopicStatsTable};
use shardmq_protocol::codes::{request_code, response_code};
use shardmq_protocol::command::Command;
use shardmq_protocol::ext::WriteFields;
use shardmq_protocol::header::{
    CreateTopicRequestHeader, DeleteTopicFromNamesrvRequestHeader, DeleteTopicRequestHeader,
    EmptyHeader, GetMaxOffsetRequestHeader, GetRouteInfoRequestHeader,
    GetTopicStatsInfoRequestHeader, OffsetResponseHeader, QueryConsumerOffsetRequestHeader,
    PERM_READ, PERM_WRITE,
};

use crate::error::{ClientError, Result};
use crate::pool::Pool;
use crate::remoting::{expect, PendingReply};
use crate::route::read_queues;

/// The most queues a topic may have per broker (the broker refuses more write queues).
pub const QUEUES_MAX: i32 = 1024;
/// The longest topic name RocketMQ accepts (stored messages keep its length in one byte).
pub const TOPIC_NAME_BYTES_MAX: usize = 127;
/// The topic a broker copies new topics' settings from (RocketMQ's `TBW102`).
const DEFAULT_TOPIC: &str = "TBW102";

/// Offsets of one queue, as its broker reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStats {
    pub broker_name: String,
    pub queue_id: i32,
    /// The oldest offset still stored.
    pub min_offset: i64,
    /// The offset the next message will get.
    pub max_offset: i64,
}

/// How far a consumer group is behind on one queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueProgress {
    pub broker_name: String,
    pub queue_id: i32,
    /// The offset the next message will get.
    pub broker_offset: i64,
    /// The group's committed offset; `None` when the group never committed on this queue.
    pub consumer_offset: Option<i64>,
    /// Messages not yet consumed: `broker_offset - consumer_offset`, or `broker_offset` when
    /// nothing was committed (never negative).
    pub lag: i64,
}

/// What a consumer group has given back: messages waiting in its retry topic and messages
/// given up on in its dead-letter topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetryBacklog {
    /// The group's lag on `%RETRY%<group>`: retry copies delivered there and not yet
    /// consumed. Copies still waiting out their delay are in the broker's schedule, not yet
    /// here. 0 when the topic does not exist.
    pub retry_depth: i64,
    /// Messages in `%DLQ%<group>`: max minus min offset summed over its queues. 0 when the
    /// topic does not exist.
    pub dlq_depth: i64,
}

/// An administration client; blocking, safe to share between threads.
pub struct Admin {
    namesrv: Vec<SocketAddr>,
    timeout: Duration,
    pool: Pool,
}

impl Admin {
    /// An admin client for these name servers; `timeout` bounds each connect and each reply.
    pub fn new(namesrv: Vec<SocketAddr>, timeout: Duration) -> Result<Admin> {
        if namesrv.is_empty() {
            return Err(ClientError::Invalid(
                "admin needs at least one name server address (-n host:port)".into(),
            ));
        }
        Ok(Admin {
            namesrv,
            timeout,
            pool: Pool::new(timeout, None),
        })
    }

    /// The name servers.
    pub fn namesrv(&self) -> &[SocketAddr] {
        &self.namesrv
    }

    /// The clusters, their brokers and the brokers' addresses.
    pub fn cluster_info(&self) -> Result<ClusterInfo> {
        self.cluster_info_with_source().map(|(_, info)| info)
    }

    /// Every topic the name servers know.
    pub fn topic_list(&self) -> Result<BTreeSet<String>> {
        self.ask_namesrv(
            "GET_ALL_TOPIC_LIST_FROM_NAMESERVER",
            request_code::GET_ALL_TOPIC_LIST_FROM_NAMESERVER,
            &EmptyHeader,
            |addr, reply| decode::<TopicList>(addr, &reply).map(|list| list.topic_list),
        )
    }

    /// The topic's route; `NoRoute` when the name servers do not know the topic.
    pub fn topic_route(&self, topic: &str) -> Result<TopicRouteData> {
        let header = GetRouteInfoRequestHeader {
            topic: topic.into(),
            accept_standard_json_only: Some(true),
        };
        let route = self.ask_namesrv(
            "GET_ROUTEINFO_BY_TOPIC",
            request_code::GET_ROUTEINFO_BY_TOPIC,
            &header,
            |addr, reply| decode::<TopicRouteData>(addr, &reply),
        );
        match route {
            Err(ClientError::Server {
                code: response_code::TOPIC_NOT_EXIST,
                ..
            }) => Err(ClientError::NoRoute {
                topic: topic.to_owned(),
                namesrv: self.namesrv.clone(),
            }),
            other => other,
        }
    }

    /// Creates or updates the topic on every master broker of `cluster` (from cluster info);
    /// returns the broker addresses it was created on. Stops at the first broker that
    /// refuses; running it again is harmless.
    pub fn create_topic(
        &self,
        cluster: &str,
        topic: &str,
        read_queues: i32,
        write_queues: i32,
    ) -> Result<Vec<SocketAddr>> {
        check_topic_name(topic)?;
        for (name, count) in [("read", read_queues), ("write", write_queues)] {
            if !(1..=QUEUES_MAX).contains(&count) {
                return Err(ClientError::Invalid(format!(
                    "{name} queue count {count} is out of range: use 1..={QUEUES_MAX}"
                )));
            }
        }
        let header = CreateTopicRequestHeader {
            topic: topic.into(),
            default_topic: DEFAULT_TOPIC.into(),
            read_queue_nums: read_queues,
            write_queue_nums: write_queues,
            perm: PERM_READ | PERM_WRITE,
            topic_filter_type: "SINGLE_TAG".into(),
            topic_sys_flag: Some(0),
            order: false,
            attributes: None,
            force: None,
        };
        let masters = self.masters(cluster)?;
        let mut created = Vec::with_capacity(masters.len());
        for (_, addr) in masters {
            self.call(
                addr,
                "UPDATE_AND_CREATE_TOPIC",
                request_code::UPDATE_AND_CREATE_TOPIC,
                &header,
            )?;
            created.push(addr);
        }
        Ok(created)
    }

    /// Deletes the topic from every master broker of `cluster`, then from every name server.
    /// Stops at the first broker that refuses (the name servers keep routing to the others
    /// until it is run again); every name server is asked even if one fails, and the first
    /// failure is returned.
    pub fn delete_topic(&self, cluster: &str, topic: &str) -> Result<()> {
        check_topic_name(topic)?;
        for (_, addr) in self.masters(cluster)? {
            let header = DeleteTopicRequestHeader {
                topic: topic.into(),
            };
            self.call(
                addr,
                "DELETE_TOPIC_IN_BROKER",
                request_code::DELETE_TOPIC_IN_BROKER,
                &header,
            )?;
        }
        let header = DeleteTopicFromNamesrvRequestHeader {
            topic: topic.into(),
            cluster_name: Some(cluster.into()),
        };
        let mut first_error = None;
        for addr in &self.namesrv {
            let deleted = self.call(
                *addr,
                "DELETE_TOPIC_IN_NAMESRV",
                request_code::DELETE_TOPIC_IN_NAMESRV,
                &header,
            );
            if let Err(e) = deleted {
                tracing::warn!(namesrv = %addr, "deleting topic `{topic}`: {e}");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Min/max offset of every queue: GET_TOPIC_STATS_INFO to each broker in the topic's
    /// route. Sorted by broker name, then queue id.
    pub fn topic_stats(&self, topic: &str) -> Result<Vec<QueueStats>> {
        let route = self.topic_route(topic)?;
        let header = GetTopicStatsInfoRequestHeader {
            topic: topic.into(),
        };
        let mut pending = Vec::new();
        for broker in &route.broker_datas {
            if !route
                .queue_datas
                .iter()
                .any(|q| q.broker_name == broker.broker_name)
            {
                continue;
            }
            let Some(master) = broker.master_addr() else {
                // A broker group without a master serves no offsets; its slaves are not asked.
                continue;
            };
            let addr = parse_addr(master, "TopicRouteData", self.namesrv[0])?;
            let reply = self.pool.get(addr)?.request(
                "GET_TOPIC_STATS_INFO",
                request_code::GET_TOPIC_STATS_INFO,
                &header,
                &[],
            )?;
            pending.push((addr, reply));
        }
        let mut stats = Vec::new();
        for (addr, reply) in pending {
            let reply = self.wait(addr, "GET_TOPIC_STATS_INFO", reply)?;
            let table = TopicStatsTable::decode(&reply.body)
                .map_err(|source| ClientError::Protocol { addr, source })?;
            stats.extend(
                table
                    .offset_table
                    .into_iter()
                    .filter(|(mq, _)| mq.topic == topic)
                    .map(|(mq, offsets)| QueueStats {
                        broker_name: mq.broker_name,
                        queue_id: mq.queue_id,
                        min_offset: offsets.min_offset,
                        max_offset: offsets.max_offset,
                    }),
            );
        }
        stats.sort_by(|a, b| (&a.broker_name, a.queue_id).cmp(&(&b.broker_name, b.queue_id)));
        Ok(stats)
    }

    /// Per-queue lag of a consumer group on a topic: each readable queue's max offset
    /// against the group's committed offset, both asked of the queue's own address (the
    /// owning shard's port when the route publishes one). In route order.
    pub fn consumer_progress(&self, group: &str, topic: &str) -> Result<Vec<QueueProgress>> {
        if group.is_empty() {
            return Err(ClientError::Invalid(
                "the consumer group name is empty (-g GROUP)".into(),
            ));
        }
        let route = self.topic_route(topic)?;
        let queues = read_queues(&route);
        let mut pending = Vec::with_capacity(queues.len());
        for queue in &queues {
            let connection = self.pool.get(queue.addr)?;
            let max = GetMaxOffsetRequestHeader {
                topic: topic.into(),
                queue_id: queue.queue_id,
                committed: None,
            };
            let max =
                connection.request("GET_MAX_OFFSET", request_code::GET_MAX_OFFSET, &max, &[])?;
            let committed = QueryConsumerOffsetRequestHeader {
                consumer_group: group.into(),
                topic: topic.into(),
                queue_id: queue.queue_id,
                // Otherwise a group that never committed reads as committed at 0.
                set_zero_if_not_found: Some(false),
            };
            let committed = connection.request(
                "QUERY_CONSUMER_OFFSET",
                request_code::QUERY_CONSUMER_OFFSET,
                &committed,
                &[],
            )?;
            pending.push((max, committed));
        }
        let mut progress = Vec::with_capacity(queues.len());
        for (queue, (max, committed)) in queues.into_iter().zip(pending) {
            let addr = queue.addr;
            let reply = self.wait(addr, "GET_MAX_OFFSET", max)?;
            let broker_offset = offset(addr, &reply)?;
            let reply = committed.wait(self.timeout)?;
            let consumer_offset = if reply.head.code == response_code::QUERY_NOT_FOUND {
                None
            } else {
                let reply = expect(
                    reply,
                    addr,
                    "QUERY_CONSUMER_OFFSET",
                    &[response_code::SUCCESS],
                )?;
                Some(offset(addr, &reply)?)
            };
            let lag = broker_offset
                .saturating_sub(consumer_offset.unwrap_or(0))
                .max(0);
            progress.push(QueueProgress {
                broker_name: queue.broker_name,
                queue_id: queue.queue_id,
                broker_offset,
                consumer_offset,
                lag,
            });
        }
        Ok(progress)
    }

    /// How many of `group`'s messages wait in its retry topic and how many are in its
    /// dead-letter topic (see [`RetryBacklog`]); a topic that does not exist counts 0.
    pub fn retry_backlog(&self, group: &str) -> Result<RetryBacklog> {
        let absent_is_zero = |result: Result<i64>| match result {
            Err(ClientError::NoRoute { .. }) => Ok(0),
            other => other,
        };
        let retry_depth = absent_is_zero(
            self.consumer_progress(group, &crate::push::retry_topic(group))
                .map(|queues| queues.iter().map(|q| q.lag).sum()),
        )?;
        let dlq_depth = absent_is_zero(self.topic_stats(&crate::push::dlq_topic(group)).map(
            |queues| {
                queues
                    .iter()
                    .map(|q| q.max_offset.saturating_sub(q.min_offset).max(0))
                    .sum()
            },
        ))?;
        Ok(RetryBacklog {
            retry_depth,
            dlq_depth,
        })
    }

    /// Cluster info and the name server that gave it.
    fn cluster_info_with_source(&self) -> Result<(SocketAddr, ClusterInfo)> {
        self.ask_namesrv(
            "GET_BROKER_CLUSTER_INFO",
            request_code::GET_BROKER_CLUSTER_INFO,
            &EmptyHeader,
            |addr, reply| decode::<ClusterInfo>(addr, &reply).map(|info| (addr, info)),
        )
    }

    /// The master address of every broker group in `cluster`, by broker name.
    fn masters(&self, cluster: &str) -> Result<Vec<(String, SocketAddr)>> {
        let (namesrv, info) = self.cluster_info_with_source()?;
        let Some(names) = info.cluster_addr_table.get(cluster) else {
            let known: Vec<&str> = info.cluster_addr_table.keys().map(String::as_str).collect();
            let known = if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            };
            return Err(ClientError::Invalid(format!(
                "cluster `{cluster}` is not registered with name server {namesrv} \
                 (known clusters: {known}); check -c"
            )));
        };
        let mut masters = Vec::with_capacity(names.len());
        for name in names {
            let master = info
                .broker_addr_table
                .get(name)
                .and_then(|broker| broker.master_addr());
            if let Some(master) = master {
                masters.push((name.clone(), parse_addr(master, "ClusterInfo", namesrv)?));
            }
        }
        if masters.is_empty() {
            return Err(ClientError::Invalid(format!(
                "cluster `{cluster}` has no master broker registered with name server {namesrv}; \
                 start a master (brokerId 0) or wait for it to register"
            )));
        }
        Ok(masters)
    }

    /// Asks the name servers in turn until one answers SUCCESS and `decode` accepts the
    /// reply. When none does, a server's refusal is returned in preference to a failure to
    /// reach one, since it is an answer.
    fn ask_namesrv<H: WriteFields, T>(
        &self,
        what: &'static str,
        code: i32,
        header: &H,
        decode: impl Fn(SocketAddr, Command) -> Result<T>,
    ) -> Result<T> {
        let mut refused = None;
        let mut failed = None;
        for addr in &self.namesrv {
            match self
                .call(*addr, what, code, header)
                .and_then(|reply| decode(*addr, reply))
            {
                Ok(value) => return Ok(value),
                Err(e @ ClientError::Server { .. }) => {
                    refused.get_or_insert(e);
                }
                Err(e) => {
                    tracing::debug!(namesrv = %addr, "{what}: {e}");
                    failed = Some(e);
                }
            }
        }
        Err(refused.or(failed).unwrap_or_else(|| {
            ClientError::Invalid("admin needs at least one name server address".into())
        }))
    }

    /// One request to `addr` whose reply must be SUCCESS.
    fn call<H: WriteFields>(
        &self,
        addr: SocketAddr,
        what: &'static str,
        code: i32,
        header: &H,
    ) -> Result<Command> {
        let reply = self.pool.get(addr)?.request(what, code, header, &[])?;
        self.wait(addr, what, reply)
    }

    /// Waits for a reply that must be SUCCESS.
    fn wait(&self, addr: SocketAddr, what: &'static str, reply: PendingReply) -> Result<Command> {
        expect(
            reply.wait(self.timeout)?,
            addr,
            what,
            &[response_code::SUCCESS],
        )
    }
}

impl Drop for Admin {
    fn drop(&mut self) {
        self.pool.close_all();
    }
}

/// RocketMQ's topic name rule: 1 to 127 characters from `%|a-zA-Z0-9_-`.
fn check_topic_name(topic: &str) -> Result<()> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '%' | '|' | '_' | '-');
    if topic.is_empty() || topic.len() > TOPIC_NAME_BYTES_MAX || !topic.chars().all(allowed) {
        return Err(ClientError::Invalid(format!(
            "topic name `{topic}` is not valid: \
             use 1 to {TOPIC_NAME_BYTES_MAX} characters from a-z A-Z 0-9 _ - % |"
        )));
    }
    Ok(())
}

fn decode<T: JsonBody>(addr: SocketAddr, reply: &Command) -> Result<T> {
    T::decode(&reply.body).map_err(|source| ClientError::Protocol { addr, source })
}

fn offset(addr: SocketAddr, reply: &Command) -> Result<i64> {
    reply
        .header::<OffsetResponseHeader>()
        .map(|h| h.offset)
        .map_err(|source| ClientError::Protocol { addr, source })
}

/// A broker address from a name server's body; `from` is the server that sent it.
fn parse_addr(text: &str, what: &'static str, from: SocketAddr) -> Result<SocketAddr> {
    text.parse().map_err(|_| ClientError::Protocol {
        addr: from,
        source: shardmq_protocol::Error::Json {
            what,
            reason: format!("broker address `{text}` is not ip:port"),
        },
    })
}
