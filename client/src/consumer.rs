//! The pull consumer (RocketMQ's lite pull): assign a topic's queues, `poll` for messages,
//! `commit` the offsets to the broker. Start position for a group with no committed offset:
//! the queue's first message or its end.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use shardmq_protocol::body::{
    ConsumeType, ConsumerData, ConsumerIdList, HeartbeatData, JsonBody, SubscriptionData,
};
use shardmq_protocol::codes::{request_code, response_code};
use shardmq_protocol::ext::WriteFields;
use shardmq_protocol::header::{
    EmptyHeader, GetConsumerListByGroupRequestHeader, GetMaxOffsetRequestHeader,
    GetMinOffsetRequestHeader, OffsetResponseHeader, PullMessageRequestHeader,
    PullMessageResponseHeader, QueryConsumerOffsetRequestHeader, SearchOffsetRequestHeader,
    UpdateConsumerOffsetRequestHeader,
};
use shardmq_protocol::message::StoredMessage;

use crate::error::{ClientError, Result};
use crate::message::ReceivedMessage;
use crate::pool::Pool;
use crate::rebalance::{allocate, Allocation};
use crate::remoting::expect;
use crate::route::{read_queues, QueueAddr, Routes};

/// Where a group with no committed offset starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    /// The oldest message still stored.
    First,
    /// Only messages sent from now on.
    Last,
    /// The first message stored at or after this time (ms since the epoch).
    Timestamp(i64),
}

/// Asks `pool`'s broker for an offset (`None` for QUERY_NOT_FOUND).
pub(crate) fn offset_request<H: WriteFields>(
    pool: &Pool,
    timeout: Duration,
    addr: SocketAddr,
    what: &'static str,
    code: i32,
    header: &H,
) -> Result<Option<i64>> {
    let reply = pool
        .get(addr)?
        .request(what, code, header, &[])?
        .wait(timeout)?;
    if reply.head.code == response_code::QUERY_NOT_FOUND {
        return Ok(None);
    }
    let reply = expect(reply, addr, what, &[response_code::SUCCESS])?;
    let h: OffsetResponseHeader = reply
        .header()
        .map_err(|source| ClientError::Protocol { addr, source })?;
    Ok(Some(h.offset))
}

/// Where a queue with no committed offset starts, asked of the queue's broker.
pub(crate) fn start_offset(
    pool: &Pool,
    timeout: Duration,
    q: &QueueAddr,
    topic: &str,
    start: StartFrom,
) -> Result<i64> {
    let offset = match start {
        StartFrom::First => {
            let h = GetMinOffsetRequestHeader {
                topic: topic.into(),
                queue_id: q.queue_id,
            };
            offset_request(
                pool,
                timeout,
                q.addr,
                "GET_MIN_OFFSET",
                request_code::GET_MIN_OFFSET,
                &h,
            )?
        }
        StartFrom::Last => {
            let h = GetMaxOffsetRequestHeader {
                topic: topic.into(),
                queue_id: q.queue_id,
                committed: None,
            };
            offset_request(
                pool,
                timeout,
                q.addr,
                "GET_MAX_OFFSET",
                request_code::GET_MAX_OFFSET,
                &h,
            )?
        }
        StartFrom::Timestamp(ms) => {
            let h = SearchOffsetRequestHeader {
                topic: topic.into(),
                queue_id: q.queue_id,
                timestamp: ms,
                boundary_type: None,
            };
            offset_request(
                pool,
                timeout,
                q.addr,
                "SEARCH_OFFSET_BY_TIMESTAMP",
                request_code::SEARCH_OFFSET_BY_TIMESTAMP,
                &h,
            )?
        }
    };
    Ok(offset.unwrap_or(0))
}

/// Pull consumer settings.
#[derive(Debug, Clone)]
pub struct PullConsumerConfig {
    pub namesrv: Vec<SocketAddr>,
    pub group: String,
    pub timeout: Duration,
    pub start_from: StartFrom,
    /// Messages one pull asks for per queue.
    pub batch: i32,
    /// Commit after every poll (RocketMQ's autoCommit); otherwise call `commit`.
    pub auto_commit: bool,
    /// This client's id in the group, for `subscribe` (RocketMQ's `ip@instance`).
    pub client_id: String,
}

impl PullConsumerConfig {
    /// Defaults: 3 s timeout, start from the first message, 32 per pull, manual commit.
    pub fn new(namesrv: Vec<SocketAddr>, group: impl Into<String>) -> Self {
        PullConsumerConfig {
            namesrv,
            group: group.into(),
            timeout: Duration::from_secs(3),
            start_from: StartFrom::First,
            batch: 32,
            auto_commit: false,
            client_id: format!(
                "127.0.0.1@{}#pull{:x}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos())
            ),
        }
    }
}

#[derive(Clone)]
struct Assigned {
    topic: String,
    queue: QueueAddr,
    offset: i64,
    committed: i64,
}

/// A pull consumer; safe to share between threads.
#[derive(Clone)]
pub struct PullConsumer {
    config: Arc<PullConsumerConfig>,
    routes: Arc<Routes>,
    pool: Arc<Pool>,
    assigned: Arc<Mutex<Vec<Assigned>>>,
    /// Topics joined with `subscribe`, and when the group was last rebalanced.
    subscribed: Arc<Mutex<(Vec<String>, Option<std::time::Instant>)>>,
}

/// How often a subscribed pull consumer re-checks its group (heartbeat and allocation).
const SUBSCRIBE_REBALANCE_EVERY: Duration = Duration::from_secs(10);

impl PullConsumer {
    pub fn new(config: PullConsumerConfig) -> Result<PullConsumer> {
        if config.namesrv.is_empty() {
            return Err(ClientError::Invalid(
                "a consumer needs at least one name server address".into(),
            ));
        }
        Ok(PullConsumer {
            routes: Arc::new(Routes::new(config.namesrv.clone(), config.timeout)),
            pool: Arc::new(Pool::new(config.timeout, None)),
            config: Arc::new(config),
            assigned: Arc::default(),
            subscribed: Arc::default(),
        })
    }

    fn offset_call<H: WriteFields>(
        &self,
        addr: SocketAddr,
        what: &'static str,
        code: i32,
        header: &H,
    ) -> Result<Option<i64>> {
        offset_request(&self.pool, self.config.timeout, addr, what, code, header)
    }

    /// Takes every readable queue of `topic`, each from the group's committed offset (or
    /// the configured start).
    pub fn assign(&self, topic: &str) -> Result<()> {
        let route = self.routes.route(&self.pool, topic)?;
        let added = read_queues(&route)
            .into_iter()
            .map(|q| self.open_queue(topic, q))
            .collect::<Result<Vec<_>>>()?;
        self.assigned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(added);
        Ok(())
    }

    /// Joins the group on `topic`: its queues are split among the group's members (the
    /// averagely strategy), re-checked every 10 s as members come and go.
    pub fn subscribe(&self, topic: &str) -> Result<()> {
        {
            let mut s = self.subscribed.lock().unwrap_or_else(|p| p.into_inner());
            if !s.0.iter().any(|t| t == topic) {
                s.0.push(topic.to_owned());
            }
        }
        // Subscribing again re-checks the group at once.
        self.rebalance()
    }

    fn rebalance(&self) -> Result<()> {
        let topics = {
            let mut s = self.subscribed.lock().unwrap_or_else(|p| p.into_inner());
            s.1 = Some(std::time::Instant::now());
            s.0.clone()
        };
        for topic in topics {
            let route = self.routes.refresh(&self.pool, &topic)?;
            let brokers: Vec<SocketAddr> = route
                .broker_datas
                .iter()
                .filter_map(|b| b.master_addr()?.parse().ok())
                .collect();
            let heartbeat = HeartbeatData {
                client_id: self.config.client_id.clone(),
                consumer_data_set: vec![ConsumerData {
                    group_name: self.config.group.clone(),
                    consume_type: ConsumeType::CONSUME_ACTIVELY,
                    subscription_data_set: vec![SubscriptionData {
                        topic: topic.clone(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            };
            let mut members = Vec::new();
            for addr in &brokers {
                let conn = self.pool.get(*addr)?;
                conn.request(
                    "HEART_BEAT",
                    request_code::HEART_BEAT,
                    &EmptyHeader,
                    &heartbeat.encode(),
                )?
                .wait(self.config.timeout)?;
                let header = GetConsumerListByGroupRequestHeader {
                    consumer_group: self.config.group.as_str().into(),
                };
                let reply = conn
                    .request(
                        "GET_CONSUMER_LIST_BY_GROUP",
                        request_code::GET_CONSUMER_LIST_BY_GROUP,
                        &header,
                        &[],
                    )?
                    .wait(self.config.timeout)?;
                let reply = expect(
                    reply,
                    *addr,
                    "GET_CONSUMER_LIST_BY_GROUP",
                    &[response_code::SUCCESS],
                )?;
                members = ConsumerIdList::decode(&reply.body)
                    .map_err(|source| ClientError::Protocol {
                        addr: *addr,
                        source,
                    })?
                    .consumer_id_list;
            }
            let mine = allocate(
                Allocation::Averagely,
                &self.config.client_id,
                &members,
                &read_queues(&route),
            );
            // Commit what is given up, open what is new, then swap in one step: a failure
            // on the way leaves the assignment as it was.
            let mut gone: Vec<Assigned> = self
                .assigned
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .filter(|a| a.topic == topic && !mine.contains(&a.queue))
                .cloned()
                .collect();
            self.commit_queues(&mut gone)?;
            let mut opened = Vec::new();
            for q in mine.iter().filter(|q| {
                !self
                    .assigned
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .any(|a| a.topic == topic && a.queue == **q)
            }) {
                opened.push(self.open_queue(&topic, q.clone())?);
            }
            let mut assigned = self.assigned.lock().unwrap_or_else(|p| p.into_inner());
            assigned.retain(|a| a.topic != topic || mine.contains(&a.queue));
            assigned.extend(opened);
        }
        Ok(())
    }

    /// Polls until some messages arrive or `timeout` passes.
    pub fn poll_timeout(&self, timeout: Duration) -> Result<Vec<ReceivedMessage>> {
        let end = std::time::Instant::now() + timeout;
        loop {
            let messages = self.poll()?;
            if !messages.is_empty() || std::time::Instant::now() >= end {
                return Ok(messages);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn open_queue(&self, topic: &str, queue: QueueAddr) -> Result<Assigned> {
        {
            let query = QueryConsumerOffsetRequestHeader {
                consumer_group: self.config.group.as_str().into(),
                topic: topic.into(),
                queue_id: queue.queue_id,
                set_zero_if_not_found: Some(false),
            };
            let committed = self.offset_call(
                queue.addr,
                "QUERY_CONSUMER_OFFSET",
                request_code::QUERY_CONSUMER_OFFSET,
                &query,
            )?;
            let offset = match committed {
                Some(o) => o,
                None => start_offset(
                    &self.pool,
                    self.config.timeout,
                    &queue,
                    topic,
                    self.config.start_from,
                )?,
            };
            Ok(Assigned {
                topic: topic.to_owned(),
                queue,
                offset,
                committed: offset,
            })
        }
    }

    /// Pulls once from every assigned queue (without waiting) and returns what arrived.
    pub fn poll(&self) -> Result<Vec<ReceivedMessage>> {
        let due = {
            let s = self.subscribed.lock().unwrap_or_else(|p| p.into_inner());
            !s.0.is_empty() && s.1.is_none_or(|t| t.elapsed() >= SUBSCRIBE_REBALANCE_EVERY)
        };
        if due {
            self.rebalance()?;
        }
        let messages = self.pull_assigned()?;
        if self.config.auto_commit {
            self.commit()?;
        }
        Ok(messages)
    }

    fn pull_assigned(&self) -> Result<Vec<ReceivedMessage>> {
        let mut assigned = self.assigned.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for a in assigned.iter_mut() {
            let header = PullMessageRequestHeader {
                consumer_group: self.config.group.as_str().into(),
                topic: a.topic.as_str().into(),
                queue_id: a.queue.queue_id,
                queue_offset: a.offset,
                max_msg_nums: self.config.batch,
                sys_flag: 0,
                commit_offset: 0,
                suspend_timeout_millis: 0,
                subscription: Some("*".into()),
                sub_version: 0,
                expression_type: Some("TAG".into()),
                max_msg_bytes: None,
                request_source: None,
            };
            let addr = a.queue.addr;
            let reply = self
                .pool
                .get(addr)?
                .request("PULL_MESSAGE", request_code::PULL_MESSAGE, &header, &[])?
                .wait(self.config.timeout)?;
            let ok = [
                response_code::SUCCESS,
                response_code::PULL_NOT_FOUND,
                response_code::PULL_RETRY_IMMEDIATELY,
                response_code::PULL_OFFSET_MOVED,
            ];
            let reply = expect(reply, addr, "PULL_MESSAGE", &ok)?;
            let h: PullMessageResponseHeader = reply
                .header()
                .map_err(|source| ClientError::Protocol { addr, source })?;
            let body: Bytes = reply.body.clone();
            for m in StoredMessage::iter(&body, true) {
                let stored = m.map_err(|source| ClientError::Protocol { addr, source })?;
                out.push(ReceivedMessage { stored });
            }
            a.offset = h.next_begin_offset;
        }
        Ok(out)
    }

    /// Commits each queue's position to its broker.
    pub fn commit(&self) -> Result<()> {
        let mut assigned = self.assigned.lock().unwrap_or_else(|p| p.into_inner());
        self.commit_queues(&mut assigned)
    }

    fn commit_queues(&self, queues: &mut [Assigned]) -> Result<()> {
        for a in queues.iter_mut().filter(|a| a.offset != a.committed) {
            update_offset(
                &self.pool,
                self.config.timeout,
                &self.config.group,
                &a.topic,
                &a.queue,
                a.offset,
            )?;
            a.committed = a.offset;
        }
        Ok(())
    }
}

/// Stores a group's consumed position of a queue on the queue's broker.
pub(crate) fn update_offset(
    pool: &Pool,
    timeout: Duration,
    group: &str,
    topic: &str,
    queue: &QueueAddr,
    offset: i64,
) -> Result<()> {
    let header = UpdateConsumerOffsetRequestHeader {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id: queue.queue_id,
        commit_offset: offset,
    };
    let what = "UPDATE_CONSUMER_OFFSET";
    let reply = pool
        .get(queue.addr)?
        .request(what, request_code::UPDATE_CONSUMER_OFFSET, &header, &[])?
        .wait(timeout)?;
    expect(reply, queue.addr, what, &[response_code::SUCCESS]).map(|_| ())
}
