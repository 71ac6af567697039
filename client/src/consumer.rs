//! The pull consumer (RocketMQ's lite pull): assign a topic's queues, `poll` for messages,
//! `commit` the offsets to the broker. Start position for a group with no committed offset:
//! the queue's first message or its end.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use shardmq_protocol::codes::{request_code, response_code};
use shardmq_protocol::ext::WriteFields;
use shardmq_protocol::header::{
    GetMaxOffsetRequestHeader, GetMinOffsetRequestHeader, OffsetResponseHeader,
    PullMessageRequestHeader, PullMessageResponseHeader, QueryConsumerOffsetRequestHeader,
    SearchOffsetRequestHeader, UpdateConsumerOffsetRequestHeader,
};
use shardmq_protocol::message::StoredMessage;

use crate::error::{ClientError, Result};
use crate::message::ReceivedMessage;
use crate::pool::Pool;
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
}

impl PullConsumerConfig {
    /// Defaults: 3 s timeout, start from the first message, 32 per pull.
    pub fn new(namesrv: Vec<SocketAddr>, group: impl Into<String>) -> Self {
        PullConsumerConfig {
            namesrv,
            group: group.into(),
            timeout: Duration::from_secs(3),
            start_from: StartFrom::First,
            batch: 32,
        }
    }
}

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
}

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
        let mut added = Vec::new();
        for queue in read_queues(&route) {
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
            added.push(Assigned {
                topic: topic.to_owned(),
                queue,
                offset,
                committed: offset,
            });
        }
        self.assigned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(added);
        Ok(())
    }

    /// Pulls once from every assigned queue (without waiting) and returns what arrived.
    pub fn poll(&self) -> Result<Vec<ReceivedMessage>> {
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
        for a in assigned.iter_mut().filter(|a| a.offset != a.committed) {
            let header = UpdateConsumerOffsetRequestHeader {
                consumer_group: self.config.group.as_str().into(),
                topic: a.topic.as_str().into(),
                queue_id: a.queue.queue_id,
                commit_offset: a.offset,
            };
            let addr = a.queue.addr;
            let reply = self
                .pool
                .get(addr)?
                .request(
                    "UPDATE_CONSUMER_OFFSET",
                    request_code::UPDATE_CONSUMER_OFFSET,
                    &header,
                    &[],
                )?
                .wait(self.config.timeout)?;
            expect(
                reply,
                addr,
                "UPDATE_CONSUMER_OFFSET",
                &[response_code::SUCCESS],
            )?;
            a.committed = a.offset;
        }
        Ok(())
    }
}
