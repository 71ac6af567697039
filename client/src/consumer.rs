//! The pull consumer (RocketMQ's lite pull): assign a topic's queues or subscribe with a tag
//! expression, `poll` (or long-poll with `poll_timeout`: the brokers hold each queue's pull
//! until a message comes) for messages, `commit` the offsets to the broker. Start position
//! for a group with no committed offset: the queue's first message, its end, or a time.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shardmq_protocol::body::{
    ConsumeType, ConsumerData, ConsumerIdList, HeartbeatData, JsonBody, SubscriptionData,
};
use shardmq_protocol::codes::{request_code, response_code};
use shardmq_protocol::command::Command;
use shardmq_protocol::ext::WriteFields;
use shardmq_protocol::header::{
    EmptyHeader, GetConsumerListByGroupRequestHeader, GetMaxOffsetRequestHeader,
    GetMinOffsetRequestHeader, OffsetResponseHeader, PullMessageRequestHeader,
    PullMessageResponseHeader, QueryConsumerOffsetRequestHeader, SearchOffsetRequestHeader,
    UpdateConsumerOffsetRequestHeader, PULL_FLAG_SUBSCRIPTION, PULL_FLAG_SUSPEND,
};
use shardmq_protocol::message::StoredMessage;

use crate::error::{ClientError, Result};
use crate::message::ReceivedMessage;
use crate::pool::Pool;
use crate::rebalance::{allocate, Allocation};
use crate::remoting::{expect, Inbox};
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
    /// The tag expression the broker filters by (`*` for assigned topics).
    expression: String,
    filter: TagFilter,
    queue: QueueAddr,
    offset: i64,
    committed: i64,
    /// The pull on its way for this queue: at most one.
    pull: Option<Outstanding>,
    /// No pull before this: the broker answered a held pull early with nothing (it does not
    /// hold pulls), so the queue is not asked again at once.
    rest_until: Option<Instant>,
}

/// A pull sent and not yet answered.
#[derive(Debug, Clone, Copy)]
struct Outstanding {
    /// Its tag in the consumer's inbox.
    tag: u64,
    /// Whether the broker may hold it (long polling) rather than answer at once.
    held: bool,
    /// When the broker's hold ends.
    hold_ends: Instant,
    /// When to stop waiting for it: the hold plus the configured timeout. A reply after
    /// that finds no queue waiting for its tag and is dropped.
    give_up_at: Instant,
}

/// The longest a broker is asked to hold a pull (RocketMQ's lite pull consumer's
/// `brokerSuspendMaxTimeMillis`, 20 s); a longer `poll_timeout` sends another when it ends.
pub const LONG_POLL_MAX: Duration = Duration::from_secs(20);

/// A pull consumer; safe to share between threads.
#[derive(Clone)]
pub struct PullConsumer {
    config: Arc<PullConsumerConfig>,
    routes: Arc<Routes>,
    pool: Arc<Pool>,
    assigned: Arc<Mutex<Vec<Assigned>>>,
    /// Topics joined with `subscribe` and their tag expressions, and when the group was
    /// last rebalanced.
    subscribed: Arc<Mutex<Subscribed>>,
    /// Where the replies of pulls arrive, tagged. Bounded by the queues: at most one pull
    /// per assigned queue is on its way, plus those of queues given up or waited for too
    /// long, each of which ends within the broker's hold ([`LONG_POLL_MAX`]).
    inbox: Inbox,
    replies: flume::Receiver<(u64, Result<Command>)>,
    next_tag: Arc<AtomicU64>,
}

/// `subscribe`'s (topic, tag expression) pairs, and when the group was last rebalanced.
type Subscribed = (Vec<(String, String)>, Option<Instant>);

/// How often a subscribed pull consumer re-checks its group (heartbeat and allocation).
const SUBSCRIBE_REBALANCE_EVERY: Duration = Duration::from_secs(10);

/// How long a queue rests after its broker answered a held pull early with nothing.
const EARLY_EMPTY_REST: Duration = Duration::from_millis(20);

/// The reply codes of a pull that are no failure.
const PULL_OK: [i32; 4] = [
    response_code::SUCCESS,
    response_code::PULL_NOT_FOUND,
    response_code::PULL_RETRY_IMMEDIATELY,
    response_code::PULL_OFFSET_MOVED,
];

impl PullConsumer {
    pub fn new(config: PullConsumerConfig) -> Result<PullConsumer> {
        if config.namesrv.is_empty() {
            return Err(ClientError::Invalid(
                "a consumer needs at least one name server address".into(),
            ));
        }
        let (inbox, replies) = flume::unbounded();
        Ok(PullConsumer {
            routes: Arc::new(Routes::new(config.namesrv.clone(), config.timeout)),
            pool: Arc::new(Pool::new(config.timeout, None)),
            config: Arc::new(config),
            assigned: Arc::default(),
            subscribed: Arc::default(),
            inbox,
            replies,
            next_tag: Arc::default(),
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

    /// Takes every readable queue of `topic` (all its messages), each from the group's
    /// committed offset (or the configured start).
    pub fn assign(&self, topic: &str) -> Result<()> {
        let route = self.routes.route(&self.pool, topic)?;
        let added = read_queues(&route)
            .into_iter()
            .map(|q| self.open_queue(topic, "*", q))
            .collect::<Result<Vec<_>>>()?;
        self.assigned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(added);
        Ok(())
    }

    /// Joins the group on `topic`, taking the messages whose tag `expression` matches (`*`,
    /// `TagA`, `TagA || TagB`, as for the push consumer): the topic's queues are split among
    /// the group's members (the averagely strategy), re-checked every 10 s as members come
    /// and go. Subscribing again to a topic replaces its expression for queues taken from
    /// then on.
    pub fn subscribe(&self, topic: &str, expression: &str) -> Result<()> {
        {
            let mut s = self.subscribed.lock().unwrap_or_else(|p| p.into_inner());
            match s.0.iter_mut().find(|(t, _)| t == topic) {
                Some(existing) => existing.1 = expression.to_owned(),
                None => s.0.push((topic.to_owned(), expression.to_owned())),
            }
        }
        // Subscribing again re-checks the group at once.
        self.rebalance()
    }

    fn rebalance(&self) -> Result<()> {
        let topics = {
            let mut s = self.subscribed.lock().unwrap_or_else(|p| p.into_inner());
            s.1 = Some(Instant::now());
            s.0.clone()
        };
        let subscription_data_set: Vec<SubscriptionData> = topics
            .iter()
            .map(|(topic, expression)| SubscriptionData {
                topic: topic.clone(),
                sub_string: expression.clone(),
                ..Default::default()
            })
            .collect();
        for (topic, expression) in &topics {
            let route = self.routes.refresh(&self.pool, topic)?;
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
                    subscription_data_set: subscription_data_set.clone(),
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
                .filter(|a| a.topic == *topic && !mine.contains(&a.queue))
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
                    .any(|a| a.topic == *topic && a.queue == **q)
            }) {
                opened.push(self.open_queue(topic, expression, q.clone())?);
            }
            let mut assigned = self.assigned.lock().unwrap_or_else(|p| p.into_inner());
            assigned.retain(|a| a.topic != *topic || mine.contains(&a.queue));
            assigned.extend(opened);
        }
        Ok(())
    }

    /// Long-polls: returns as soon as messages arrive, or with none once `timeout` passed.
    /// Each queue's pull waits on its broker (PULL_MESSAGE with the suspend flag, held up to
    /// the time left, at most [`LONG_POLL_MAX`]) and the first replies with messages end the
    /// call; pulls still held then stay on their way and their messages come with a later
    /// poll (nothing is skipped: a queue's position moves only with the messages returned).
    pub fn poll_timeout(&self, timeout: Duration) -> Result<Vec<ReceivedMessage>> {
        self.poll_for(timeout)
    }

    fn open_queue(&self, topic: &str, expression: &str, queue: QueueAddr) -> Result<Assigned> {
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
            expression: expression.to_owned(),
            filter: TagFilter::parse(expression),
            queue,
            offset,
            committed: offset,
            pull: None,
            rest_until: None,
        })
    }

    /// Pulls once from every assigned queue without waiting on the brokers, and returns
    /// what arrived (with what pulls held by an earlier `poll_timeout` brought meanwhile).
    pub fn poll(&self) -> Result<Vec<ReceivedMessage>> {
        self.poll_for(Duration::ZERO)
    }

    /// Every queue gets a pull (held by the broker for the time left, or answered at once
    /// when none is); returns when messages came and no unheld pull is still out, or when
    /// the time is up. A failure is returned only when no message came with it (the failed
    /// queue is pulled again on the next call); otherwise it is logged.
    fn poll_for(&self, timeout: Duration) -> Result<Vec<ReceivedMessage>> {
        let due = {
            let s = self.subscribed.lock().unwrap_or_else(|p| p.into_inner());
            !s.0.is_empty() && s.1.is_none_or(|t| t.elapsed() >= SUBSCRIBE_REBALANCE_EVERY)
        };
        if due {
            self.rebalance()?;
        }
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        let mut failure: Option<ClientError> = None;
        let mut first_turn = true;
        loop {
            let now = Instant::now();
            self.give_up_overdue(now, &mut failure);
            let hold = deadline.saturating_duration_since(now).min(LONG_POLL_MAX);
            if first_turn || !hold.is_zero() {
                self.start_pulls(hold, now, &mut failure);
            }
            first_turn = false;
            let (unheld_until, rest_until) = self.next_wakes();
            if unheld_until.is_none() && (!out.is_empty() || hold.is_zero() || failure.is_some()) {
                break;
            }
            let wake = [unheld_until, rest_until]
                .into_iter()
                .flatten()
                .fold(deadline, Instant::min);
            match self.replies.recv_deadline(wake) {
                Ok(reply) => {
                    self.take(reply, &mut out, &mut failure);
                    while let Ok(reply) = self.replies.try_recv() {
                        self.take(reply, &mut out, &mut failure);
                    }
                }
                Err(flume::RecvTimeoutError::Timeout) => {}
                // The consumer holds a sender itself.
                Err(flume::RecvTimeoutError::Disconnected) => break,
            }
        }
        match failure {
            Some(e) if out.is_empty() => return Err(e),
            Some(e) => tracing::warn!("pull: {e}; the queue is pulled again on the next poll"),
            None => {}
        }
        if self.config.auto_commit {
            if let Err(e) = self.commit() {
                // The messages are returned all the same; the commit is tried again.
                if out.is_empty() {
                    return Err(e);
                }
                tracing::warn!("auto-commit: {e}");
            }
        }
        Ok(out)
    }

    /// Sends a pull to every assigned queue that has none on its way, held up to `hold`.
    fn start_pulls(&self, hold: Duration, now: Instant, failure: &mut Option<ClientError>) {
        let hold_ms = hold.as_millis() as i64;
        let held = hold_ms > 0;
        let mut assigned = self.assigned.lock().unwrap_or_else(|p| p.into_inner());
        for a in assigned
            .iter_mut()
            .filter(|a| a.pull.is_none() && a.rest_until.is_none_or(|t| t <= now))
        {
            let header = PullMessageRequestHeader {
                consumer_group: self.config.group.as_str().into(),
                topic: a.topic.as_str().into(),
                queue_id: a.queue.queue_id,
                queue_offset: a.offset,
                max_msg_nums: self.config.batch,
                sys_flag: if held { PULL_FLAG_SUSPEND } else { 0 } | PULL_FLAG_SUBSCRIPTION,
                commit_offset: 0,
                suspend_timeout_millis: hold_ms,
                subscription: Some(a.expression.as_str().into()),
                sub_version: 0,
                expression_type: Some("TAG".into()),
                max_msg_bytes: None,
                request_source: None,
            };
            let tag = self.next_tag.fetch_add(1, Ordering::Relaxed);
            let sent = self.pool.get(a.queue.addr).and_then(|conn| {
                conn.request_into(
                    "PULL_MESSAGE",
                    request_code::PULL_MESSAGE,
                    &header,
                    &[],
                    &self.inbox,
                    tag,
                )
            });
            match sent {
                Ok(()) => {
                    a.rest_until = None;
                    a.pull = Some(Outstanding {
                        tag,
                        held,
                        hold_ends: now + hold,
                        give_up_at: now + hold + self.config.timeout,
                    })
                }
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
    }

    /// When the first unheld pull still out must have its answer by (`None`: none is out),
    /// and when the first resting queue may be pulled again.
    fn next_wakes(&self) -> (Option<Instant>, Option<Instant>) {
        let assigned = self.assigned.lock().unwrap_or_else(|p| p.into_inner());
        let unheld = assigned
            .iter()
            .filter_map(|a| a.pull.filter(|p| !p.held).map(|p| p.give_up_at))
            .min();
        let rest = assigned
            .iter()
            .filter(|a| a.pull.is_none())
            .filter_map(|a| a.rest_until)
            .min();
        (unheld, rest)
    }

    /// Stops waiting for pulls past their time (a timeout failure); their queues get new ones.
    fn give_up_overdue(&self, now: Instant, failure: &mut Option<ClientError>) {
        let mut assigned = self.assigned.lock().unwrap_or_else(|p| p.into_inner());
        for a in assigned.iter_mut() {
            if a.pull.is_some_and(|p| p.give_up_at <= now) {
                a.pull = None;
                failure.get_or_insert(ClientError::Timeout {
                    addr: a.queue.addr,
                    what: "PULL_MESSAGE",
                    timeout_ms: self.config.timeout.as_millis() as u64,
                });
            }
        }
    }

    /// A pull's reply: its queue's messages (those its tags match) go to `out` and its
    /// position moves past them. A reply no queue waits for any more is dropped.
    fn take(
        &self,
        (tag, reply): (u64, Result<Command>),
        out: &mut Vec<ReceivedMessage>,
        failure: &mut Option<ClientError>,
    ) {
        let mut assigned = self.assigned.lock().unwrap_or_else(|p| p.into_inner());
        let Some(a) = assigned
            .iter_mut()
            .find(|a| a.pull.is_some_and(|p| p.tag == tag))
        else {
            return;
        };
        let Some(pull) = a.pull.take() else {
            return;
        };
        match read_pull(a, reply) {
            Ok(messages) => {
                let now = Instant::now();
                if messages.is_empty() && pull.held && now < pull.hold_ends {
                    a.rest_until = Some(now + EARLY_EMPTY_REST);
                }
                out.extend(messages);
            }
            Err(e) => {
                failure.get_or_insert(e);
            }
        }
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

/// Reads a pull's reply for `a`: the messages its filter takes; moves `a` to the next offset
/// the broker gave. Nothing moves on a failure.
fn read_pull(a: &mut Assigned, reply: Result<Command>) -> Result<Vec<ReceivedMessage>> {
    let addr = a.queue.addr;
    let reply = expect(reply?, addr, "PULL_MESSAGE", &PULL_OK)?;
    let h: PullMessageResponseHeader = reply
        .header()
        .map_err(|source| ClientError::Protocol { addr, source })?;
    let mut messages = Vec::new();
    for m in StoredMessage::iter(&reply.body, true) {
        let stored = m.map_err(|source| ClientError::Protocol { addr, source })?;
        let msg = ReceivedMessage { stored };
        if a.filter.accepts(msg.tags()) {
            messages.push(msg);
        }
    }
    a.offset = h.next_begin_offset;
    Ok(messages)
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

/// A subscription's tag expression (`*`, `TagA`, `TagA || TagB`) as RocketMQ clients apply
/// it to what a pull returns: brokers match the tags' hash codes, so two tags with one hash
/// code both pass there; the client checks the tags themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TagFilter {
    /// `None`: every message.
    tags: Option<Vec<String>>,
}

impl TagFilter {
    /// `*` or an empty expression takes every message; otherwise the tags between `||`.
    pub(crate) fn parse(expression: &str) -> TagFilter {
        let tags: Vec<String> = expression
            .split("||")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
        let every = tags.is_empty() || tags.iter().any(|t| t == "*");
        TagFilter {
            tags: (!every).then_some(tags),
        }
    }

    /// Whether a message with `tags` matches.
    pub(crate) fn accepts(&self, tags: Option<&str>) -> bool {
        match &self.tags {
            None => true,
            Some(wanted) => tags.is_some_and(|t| wanted.iter().any(|w| w == t)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_expressions_take_what_rocketmq_clients_take() {
        let table: &[(&str, Option<&str>, bool)] = &[
            ("*", Some("a"), true),
            ("*", None, true),
            ("", None, true),
            ("  ", Some("a"), true),
            ("a", Some("a"), true),
            ("a", Some("b"), false),
            ("a", None, false),
            ("a || b", Some("b"), true),
            ("a||b", Some("a"), true),
            (" a ||  b ", Some("c"), false),
            ("a || *", Some("z"), true),
            ("A", Some("a"), false),
        ];
        for (expression, tags, accepted) in table {
            assert_eq!(
                TagFilter::parse(expression).accepts(*tags),
                *accepted,
                "{expression:?} on {tags:?}"
            );
        }
    }
}
