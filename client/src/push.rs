//! The push consumer: subscribes to topics, heartbeats to their brokers, splits the group's
//! queues among its members (again on NOTIFY_CONSUMER_IDS_CHANGED and every 20 s), long-polls
//! each of its queues, and hands messages to a listener — concurrently on a bounded pool of
//! threads, or orderly (one queue at a time, in order). In clustering a member consumes a
//! queue only while it holds the queue's lock on the broker, so no two members of a group
//! consume one queue at once. Offsets are committed to the broker (clustering) or a local file (broadcasting)
//! periodically and on shutdown.
//!
//! **Retries (clustering).** The consumer also subscribes to its group's retry topic,
//! `%RETRY%<group>`. A concurrent listener's [`ConsumeResult::Later`] gives the message back
//! to the broker (CONSUMER_SEND_MSG_BACK), which delivers a copy to the retry topic after
//! delay level `3 + reconsume times`, or to `%DLQ%<group>` once the message was given back
//! [`PushConsumerConfig::max_reconsume_times`] times; if the broker refuses, the consumer
//! sends the copy to the retry topic itself; if that fails too, the message is consumed
//! again here after [`CONSUME_AGAIN_AFTER`]. A message given back counts as consumed: its
//! copy carries it on. An orderly listener's `Later` suspends its queue for
//! [`PushConsumerConfig::suspend_current_queue_time`] and tries the message again, up to
//! `max_reconsume_times` times; then the message goes to the dead-letter queue and the queue
//! moves on. Broadcasting has no retry topic: a concurrent listener's `Later` drops the
//! message (logged), as RocketMQ does.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use shardmq_protocol::body::{
    ConsumeFromWhere, ConsumeType, ConsumerData, ConsumerIdList, HeartbeatData, JsonBody,
    LockBatchRequestBody, LockBatchResponseBody, MessageModel as WireModel, MessageQueue,
    SubscriptionData,
};
use shardmq_protocol::codes::{request_code, response_code};
use shardmq_protocol::header::{
    ConsumerSendMsgBackRequestHeader, EmptyHeader, GetConsumerListByGroupRequestHeader,
    PullMessageRequestHeader, PullMessageResponseHeader, QueryConsumerOffsetRequestHeader,
    UnregisterClientRequestHeader, PULL_FLAG_SUBSCRIPTION, PULL_FLAG_SUSPEND,
};
use shardmq_protocol::message::StoredMessage;

use crate::consumer::{self, StartFrom, TagFilter};
use crate::error::{ClientError, Result};
use crate::message::{Message, ReceivedMessage};
use crate::pool::Pool;
use crate::producer::{Producer, ProducerConfig};
use crate::rebalance::{allocate, Allocation};
use crate::remoting::expect;
use crate::route::{read_queues, QueueAddr, Routes};

/// Clustering shares a group's queues among its members; broadcasting gives each member all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MessageModel {
    #[default]
    Clustering,
    Broadcasting,
}

/// What a listener did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumeResult {
    Success,
    /// Deliver it again later: concurrent listeners get it back from the group's retry topic
    /// after the broker's delay; orderly listeners after their queue's suspension (see the
    /// module's doc).
    Later,
}

/// The prefixes of a group's retry and dead-letter topics, and their names (RocketMQ's
/// `%RETRY%<group>`, `%DLQ%<group>`), as the protocol crate defines them.
pub use shardmq_protocol::names::{
    dlq_topic, retry_topic, DLQ_GROUP_TOPIC_PREFIX as DLQ_TOPIC_PREFIX,
    RETRY_GROUP_TOPIC_PREFIX as RETRY_TOPIC_PREFIX,
};
/// When a concurrent listener's `Later` could be given neither to the broker nor to the
/// retry topic, how long until the message is consumed again here (RocketMQ's 5 s).
pub const CONSUME_AGAIN_AFTER: Duration = Duration::from_secs(5);
/// How often a rebalance is tried again while the retry topic has no route yet (the broker
/// creates it on the group's first heartbeat and registers it with its name servers then).
const RETRY_ROUTE_WAIT: Duration = Duration::from_secs(1);
/// How often a queue's broker lock is renewed (it expires after 60 s).
const LOCK_RENEW_EVERY: Duration = Duration::from_secs(20);
/// The longest single sleep of a suspended orderly queue: it notices a stop, a rebalance
/// that takes the queue away, or a lock to renew within this.
const SUSPEND_SLICE: Duration = Duration::from_millis(50);
/// The producer group of the consumer's own producer (retry copies), as RocketMQ names it.
const INNER_PRODUCER_GROUP: &str = "CLIENT_INNER_PRODUCER";

/// A listener: called once per message.
pub type OnMessage = Arc<dyn Fn(&ReceivedMessage) -> ConsumeResult + Send + Sync>;

/// How messages reach the listener.
#[derive(Clone)]
pub enum Listener {
    /// On a bounded pool of threads, in any order.
    Concurrent(OnMessage),
    /// One queue at a time, in queue order, holding the queue's lock on the broker.
    Orderly(OnMessage),
}

/// Push consumer settings.
#[derive(Debug, Clone)]
pub struct PushConsumerConfig {
    pub namesrv: Vec<SocketAddr>,
    pub group: String,
    pub model: MessageModel,
    pub allocation: Allocation,
    pub start_from: StartFrom,
    /// Threads of a concurrent listener.
    pub consume_threads: usize,
    /// Messages fetched but not yet consumed, per queue, before pulling pauses.
    pub max_cached_per_queue: usize,
    /// How long a pull may wait on the broker for a message.
    pub suspend: Duration,
    /// Messages asked for per pull (RocketMQ's `pullBatchSize`, default 32; brokers cap it,
    /// ShardMQ's at 1024 messages and 256 KiB).
    pub pull_batch: i32,
    pub rebalance_every: Duration,
    pub commit_every: Duration,
    pub timeout: Duration,
    /// Where a broadcasting consumer keeps its offsets.
    pub offset_file: Option<PathBuf>,
    /// This client's id in the group (RocketMQ's `ip@instance`).
    pub client_id: String,
    /// How often a message may be given back with `Later` before it goes to the group's
    /// dead-letter queue `%DLQ%<group>` (RocketMQ's `maxReconsumeTimes`, default 16: the
    /// listener sees a message at most 17 times). Concurrent listeners send it to the broker,
    /// which decides; orderly ones count their own attempts. RocketMQ's Java client has no
    /// limit for orderly listeners unless one is set; here both use this one.
    pub max_reconsume_times: i32,
    /// How long an orderly listener's `Later` suspends its queue before the message is tried
    /// again (RocketMQ's `suspendCurrentQueueTimeMillis`, default 1 s). Other queues go on.
    pub suspend_current_queue_time: Duration,
}

impl PushConsumerConfig {
    pub fn new(namesrv: Vec<SocketAddr>, group: impl Into<String>) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        PushConsumerConfig {
            namesrv,
            group: group.into(),
            model: MessageModel::Clustering,
            allocation: Allocation::Averagely,
            start_from: StartFrom::First,
            consume_threads: 4,
            max_cached_per_queue: 1000,
            suspend: Duration::from_secs(2),
            pull_batch: 32,
            rebalance_every: Duration::from_secs(20),
            commit_every: Duration::from_secs(5),
            timeout: Duration::from_secs(3),
            offset_file: None,
            client_id: format!("127.0.0.1@{}#{nanos:x}", std::process::id()),
            max_reconsume_times: 16,
            suspend_current_queue_time: Duration::from_secs(1),
        }
    }
}

type QueueKey = (String, String, i32);

struct QueueState {
    topic: String,
    expression: String,
    /// The expression's tags, checked on every message pulled.
    filter: TagFilter,
    queue: QueueAddr,
    next_pull: AtomicI64,
    /// Offsets handed to the listener and not yet done.
    in_flight: Mutex<BTreeSet<i64>>,
    cached: AtomicUsize,
    dropped: AtomicBool,
    /// Messages of this queue inside the listener now (see `release`).
    executing: AtomicUsize,
    committed: AtomicI64,
}

impl QueueState {
    /// What may be committed: the lowest offset still in flight, or the next to pull.
    fn committable(&self) -> i64 {
        let in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        in_flight
            .first()
            .copied()
            .unwrap_or_else(|| self.next_pull.load(Ordering::Acquire))
    }
}

struct Shared {
    config: PushConsumerConfig,
    /// The caller's subscriptions and, in clustering, the retry topic's (`*`).
    subscriptions: Vec<(String, String)>,
    /// `%RETRY%<group>`.
    retry_topic: String,
    listener: Listener,
    routes: Routes,
    pool: Pool,
    /// Sends retry copies when the broker refuses a send-back (RocketMQ's inner producer).
    producer: Producer,
    stop: AtomicBool,
    queues: Mutex<HashMap<QueueKey, Arc<QueueState>>>,
    pullers: Mutex<Vec<JoinHandle<()>>>,
    work: flume::Sender<(Arc<QueueState>, ReceivedMessage)>,
    /// Messages a concurrent listener gave back that neither the broker nor the retry topic
    /// took, with when to consume them again. Each stays in flight and in its queue's
    /// `cached`, so `max_cached_per_queue` bounds them.
    again: Mutex<Vec<(Instant, Arc<QueueState>, ReceivedMessage)>>,
}

/// A running push consumer. Call [`PushConsumer::shutdown`] to stop it (dropping it does too).
pub struct PushConsumer {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

fn key(topic: &str, q: &QueueAddr) -> QueueKey {
    (topic.to_owned(), q.broker_name.clone(), q.queue_id)
}

impl PushConsumer {
    /// Starts consuming `subscriptions` (topic, `*` or `TagA || TagB`) with `listener`.
    pub fn start(
        config: PushConsumerConfig,
        subscriptions: Vec<(String, String)>,
        listener: Listener,
    ) -> Result<PushConsumer> {
        if config.namesrv.is_empty() || subscriptions.is_empty() {
            return Err(ClientError::Invalid(
                "a push consumer needs name servers and at least one subscription".into(),
            ));
        }
        if config.model == MessageModel::Broadcasting && config.offset_file.is_none() {
            return Err(ClientError::Invalid(
                "a broadcasting consumer keeps offsets locally: set offset_file".into(),
            ));
        }
        if config.max_reconsume_times < 0 {
            return Err(ClientError::Invalid(format!(
                "max_reconsume_times is {}; it must be 0 or more",
                config.max_reconsume_times
            )));
        }
        let retry_topic = retry_topic(&config.group);
        let mut subscriptions = subscriptions;
        if config.model == MessageModel::Clustering
            && !subscriptions.iter().any(|(topic, _)| *topic == retry_topic)
        {
            subscriptions.push((retry_topic.clone(), "*".to_owned()));
        }
        let producer = Producer::new(ProducerConfig {
            send_timeout: config.timeout,
            ..ProducerConfig::new(config.namesrv.clone(), INNER_PRODUCER_GROUP)
        })?;
        let (notify_tx, notify_rx) = flume::bounded(64);
        let (work_tx, work_rx) =
            flume::bounded::<(Arc<QueueState>, ReceivedMessage)>(config.consume_threads * 64);
        let shared = Arc::new(Shared {
            routes: Routes::new(config.namesrv.clone(), config.timeout),
            pool: Pool::new(config.timeout, Some(notify_tx)),
            config,
            subscriptions,
            retry_topic,
            listener,
            producer,
            stop: AtomicBool::new(false),
            queues: Mutex::default(),
            pullers: Mutex::default(),
            work: work_tx,
            again: Mutex::default(),
        });
        let mut threads = Vec::new();
        if let Listener::Concurrent(on_message) = &shared.listener {
            for _ in 0..shared.config.consume_threads {
                let (rx, on_message, shared) =
                    (work_rx.clone(), on_message.clone(), shared.clone());
                threads.push(std::thread::spawn(move || {
                    consume_worker(&shared, &rx, &on_message)
                }));
            }
        }
        let s = shared.clone();
        threads.push(std::thread::spawn(move || control_loop(&s, &notify_rx)));
        Ok(PushConsumer { shared, threads })
    }

    /// Queues this member consumes now (its group's retry queue too, in clustering).
    pub fn assigned(&self) -> Vec<(String, i32)> {
        let queues = self.shared.queues.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<_> = queues
            .values()
            .map(|q| (q.topic.clone(), q.queue.queue_id))
            .collect();
        out.sort();
        out
    }

    /// Stops pulling, waits for listeners, commits offsets and leaves the group.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if self.shared.stop.swap(true, Ordering::SeqCst) {
            return;
        }
        let pullers: Vec<_> = std::mem::take(
            &mut *self
                .shared
                .pullers
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        for t in pullers {
            let _ = t.join();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        // Commit and unlock every queue, so the rest of the group takes them over at once.
        let queues: Vec<Arc<QueueState>> =
            std::mem::take(&mut *self.shared.queues.lock().unwrap_or_else(|p| p.into_inner()))
                .into_values()
                .collect();
        for q in queues {
            release(&self.shared, &q);
        }
        unregister(&self.shared);
        self.shared.producer.shutdown();
        self.shared.pool.close_all();
    }
}

impl Drop for PushConsumer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn consume_worker(
    shared: &Shared,
    rx: &flume::Receiver<(Arc<QueueState>, ReceivedMessage)>,
    on_message: &OnMessage,
) {
    loop {
        let (queue, msg) = match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(item) => item,
            Err(flume::RecvTimeoutError::Timeout)
                if shared.stop.load(Ordering::Acquire) && rx.is_empty() =>
            {
                return
            }
            Err(flume::RecvTimeoutError::Timeout) => continue,
            Err(flume::RecvTimeoutError::Disconnected) => return,
        };
        // Announce before looking at `dropped` (both SeqCst): `release` either sees this
        // message executing and waits, or this worker sees the drop and skips it.
        queue.executing.fetch_add(1, Ordering::SeqCst);
        if queue.dropped.load(Ordering::SeqCst) {
            // The queue went to another member: leave the message to it (its offset stays
            // in flight, so the committed offset stays below it).
            queue.executing.fetch_sub(1, Ordering::SeqCst);
            queue.cached.fetch_sub(1, Ordering::AcqRel);
            continue;
        }
        let done = match on_message(&msg) {
            ConsumeResult::Success => true,
            ConsumeResult::Later => match shared.config.model {
                MessageModel::Clustering => give_back(shared, &queue, &msg, GiveBack::Retry),
                MessageModel::Broadcasting => {
                    // No retry topic serves a broadcasting member (RocketMQ drops it too).
                    tracing::warn!(
                        "{} queue {} offset {}: a broadcasting listener asked for later; \
                         dropped (broadcasting has no retries)",
                        msg.topic(),
                        queue.queue.queue_id,
                        msg.queue_offset()
                    );
                    true
                }
            },
        };
        if done {
            queue
                .in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&msg.queue_offset());
            queue.cached.fetch_sub(1, Ordering::AcqRel);
        } else {
            // Still in flight and cached: consumed again later, never slept on here.
            shared
                .again
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((Instant::now() + CONSUME_AGAIN_AFTER, queue.clone(), msg));
        }
        queue.executing.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Where a message a listener gave up on goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GiveBack {
    /// The retry topic, after the broker's delay for its reconsume times.
    Retry,
    /// The dead-letter queue, at once.
    DeadLetter,
}

/// Gives a message back to the broker (CONSUMER_SEND_MSG_BACK to the queue's address; the
/// broker routes it to the shard whose log holds the message), or, when that fails, sends
/// the copy to the retry topic itself, as RocketMQ's Java client does. True when one of the
/// two was acknowledged: the message then counts as consumed here.
fn give_back(shared: &Shared, q: &QueueState, msg: &ReceivedMessage, how: GiveBack) -> bool {
    let delay_level = match how {
        // The broker picks level 3 + reconsume times.
        GiveBack::Retry => 0,
        GiveBack::DeadLetter => -1,
    };
    let refused = match send_back(shared, q, msg, delay_level) {
        Ok(()) => return true,
        Err(e) => e,
    };
    let max = shared.config.max_reconsume_times;
    let times = msg.reconsume_times();
    // A RocketMQ broker dead-letters a retry-topic send whose reconsume times reached the
    // limit: the dead-letter copy says so.
    let reconsume_times = match how {
        GiveBack::Retry => times + 1,
        GiveBack::DeadLetter => (times + 1).max(max),
    };
    let copy = Message::retry_copy(&shared.retry_topic, msg, 3 + times.max(0));
    match shared.producer.send_retry_copy(&copy, reconsume_times, max) {
        Ok(_) => {
            tracing::debug!(
                "{} offset {}: send-back refused ({refused}); sent a copy to {} instead",
                msg.topic(),
                msg.queue_offset(),
                shared.retry_topic
            );
            true
        }
        Err(e) => {
            tracing::warn!(
                "{} queue {} offset {}: send-back refused ({refused}) and the copy to {} \
                 failed ({e}); consuming it again later",
                msg.topic(),
                q.queue.queue_id,
                msg.queue_offset(),
                shared.retry_topic
            );
            false
        }
    }
}

/// CONSUMER_SEND_MSG_BACK for `msg` (named by its commit-log offset) at `delay_level` (0:
/// the broker's choice, 3 + reconsume times; negative: the dead-letter queue).
fn send_back(
    shared: &Shared,
    q: &QueueState,
    msg: &ReceivedMessage,
    delay_level: i32,
) -> Result<()> {
    let header = ConsumerSendMsgBackRequestHeader {
        offset: msg.commit_log_offset(),
        group: shared.config.group.as_str().into(),
        delay_level,
        origin_msg_id: msg.msg_id().map(Into::into),
        origin_topic: Some(msg.topic().into()),
        unit_mode: Some(false),
        max_reconsume_times: Some(shared.config.max_reconsume_times),
    };
    let what = "CONSUMER_SEND_MSG_BACK";
    let addr = q.queue.addr;
    let reply = shared
        .pool
        .get(addr)?
        .request(what, request_code::CONSUMER_SEND_MSG_BACK, &header, &[])?
        .wait(shared.config.timeout)?;
    expect(reply, addr, what, &[response_code::SUCCESS]).map(|_| ())
}

/// Hands the messages whose time to be consumed again has come back to the listener
/// threads (without blocking: what does not fit waits for the next turn).
fn consume_again(shared: &Shared) {
    let now = Instant::now();
    let due: Vec<(Instant, Arc<QueueState>, ReceivedMessage)> = {
        let mut again = shared.again.lock().unwrap_or_else(|p| p.into_inner());
        let (due, later) = std::mem::take(&mut *again)
            .into_iter()
            .partition(|(at, _, _)| *at <= now);
        *again = later;
        due
    };
    for (at, queue, msg) in due {
        if let Err(flume::TrySendError::Full((queue, msg))) = shared.work.try_send((queue, msg)) {
            shared
                .again
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((at, queue, msg));
        }
    }
}

fn control_loop(
    shared: &Arc<Shared>,
    notify: &flume::Receiver<shardmq_protocol::command::Command>,
) {
    let mut next_rebalance = Instant::now();
    let mut last_commit = Instant::now();
    while !shared.stop.load(Ordering::Acquire) {
        let notified = notify.try_recv().is_ok();
        if notified || Instant::now() >= next_rebalance {
            while notify.try_recv().is_ok() {}
            heartbeat(shared);
            let every = shared.config.rebalance_every;
            let wait = match rebalance(shared) {
                Ok(true) => every,
                // The retry topic has no route yet: look again soon.
                Ok(false) => every.min(RETRY_ROUTE_WAIT),
                Err(e) => {
                    tracing::warn!("rebalance of {}: {e}", shared.config.group);
                    every
                }
            };
            next_rebalance = Instant::now() + wait;
        }
        if last_commit.elapsed() >= shared.config.commit_every {
            commit_all(shared);
            last_commit = Instant::now();
        }
        consume_again(shared);
        let _ = notify.recv_timeout(Duration::from_millis(100)).map(|_| {
            // Put it back in spirit: rebalance on the next turn.
            next_rebalance = Instant::now();
        });
    }
}

fn brokers(shared: &Shared) -> Vec<SocketAddr> {
    let mut addrs = BTreeSet::new();
    for (topic, _) in &shared.subscriptions {
        if let Ok(route) = shared.routes.route(&shared.pool, topic) {
            addrs.extend(
                route
                    .broker_datas
                    .iter()
                    .filter_map(|b| b.master_addr()?.parse::<SocketAddr>().ok()),
            );
        }
    }
    addrs.into_iter().collect()
}

fn heartbeat(shared: &Shared) {
    let c = &shared.config;
    let data = HeartbeatData {
        client_id: c.client_id.clone(),
        consumer_data_set: vec![ConsumerData {
            group_name: c.group.clone(),
            consume_type: ConsumeType::CONSUME_PASSIVELY,
            message_model: match c.model {
                MessageModel::Clustering => WireModel::CLUSTERING,
                MessageModel::Broadcasting => WireModel::BROADCASTING,
            },
            consume_from_where: match c.start_from {
                StartFrom::First => ConsumeFromWhere::CONSUME_FROM_FIRST_OFFSET,
                StartFrom::Last => ConsumeFromWhere::CONSUME_FROM_LAST_OFFSET,
                StartFrom::Timestamp(_) => ConsumeFromWhere::CONSUME_FROM_TIMESTAMP,
            },
            subscription_data_set: shared
                .subscriptions
                .iter()
                .map(|(topic, expr)| SubscriptionData {
                    topic: topic.clone(),
                    sub_string: expr.clone(),
                    ..Default::default()
                })
                .collect(),
            unit_mode: false,
        }],
        ..Default::default()
    };
    let body = data.encode();
    for addr in brokers(shared) {
        let sent = shared.pool.get(addr).and_then(|conn| {
            conn.request("HEART_BEAT", request_code::HEART_BEAT, &EmptyHeader, &body)?
                .wait(c.timeout)
        });
        if let Err(e) = sent {
            tracing::debug!("heartbeat to {addr}: {e}");
        }
    }
}

fn members(shared: &Shared) -> Result<Vec<String>> {
    let header = GetConsumerListByGroupRequestHeader {
        consumer_group: shared.config.group.as_str().into(),
    };
    let mut last = None;
    for addr in brokers(shared) {
        let reply = shared
            .pool
            .get(addr)
            .and_then(|conn| {
                conn.request(
                    "GET_CONSUMER_LIST_BY_GROUP",
                    request_code::GET_CONSUMER_LIST_BY_GROUP,
                    &header,
                    &[],
                )?
                .wait(shared.config.timeout)
            })
            .and_then(|r| {
                expect(
                    r,
                    addr,
                    "GET_CONSUMER_LIST_BY_GROUP",
                    &[response_code::SUCCESS],
                )
            });
        match reply {
            Ok(r) => {
                return ConsumerIdList::decode(&r.body)
                    .map(|l| l.consumer_id_list)
                    .map_err(|source| ClientError::Protocol { addr, source })
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last
        .unwrap_or_else(|| ClientError::Invalid("no broker to ask for the group's members".into())))
}

/// Takes this member's share of every subscribed topic's queues and gives up the rest.
/// `Ok(false)` when the retry topic had no route (yet): its queues are left as they were.
fn rebalance(shared: &Arc<Shared>) -> Result<bool> {
    let ids = match shared.config.model {
        MessageModel::Clustering => members(shared)?,
        MessageModel::Broadcasting => vec![shared.config.client_id.clone()],
    };
    let mut wanted: BTreeMap<QueueKey, (String, String, QueueAddr)> = BTreeMap::new();
    let mut unrouted: Option<&str> = None;
    for (topic, expr) in &shared.subscriptions {
        let route = match shared.routes.refresh(&shared.pool, topic) {
            Ok(route) => route,
            Err(e) if *topic == shared.retry_topic => {
                tracing::debug!("no route for {topic} yet: {e}");
                unrouted = Some(topic);
                continue;
            }
            Err(e) => return Err(e),
        };
        for q in allocate(
            shared.config.allocation,
            &shared.config.client_id,
            &ids,
            &read_queues(&route),
        ) {
            wanted.insert(key(topic, &q), (topic.clone(), expr.clone(), q));
        }
    }
    let mut queues = shared.queues.lock().unwrap_or_else(|p| p.into_inner());
    let gone: Vec<QueueKey> = queues
        .keys()
        .filter(|k| !wanted.contains_key(*k) && unrouted != Some(k.0.as_str()))
        .cloned()
        .collect();
    for k in gone {
        if let Some(q) = queues.remove(&k) {
            release(shared, &q);
        }
    }
    for (k, (topic, expression, queue)) in wanted {
        if queues.contains_key(&k) {
            continue;
        }
        let start = start_offset(shared, &topic, &queue)?;
        let state = Arc::new(QueueState {
            topic,
            filter: TagFilter::parse(&expression),
            expression,
            queue,
            next_pull: AtomicI64::new(start),
            in_flight: Mutex::default(),
            cached: AtomicUsize::new(0),
            dropped: AtomicBool::new(false),
            executing: AtomicUsize::new(0),
            committed: AtomicI64::new(start),
        });
        queues.insert(k, state.clone());
        let s = shared.clone();
        shared
            .pullers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(std::thread::spawn(move || pull_loop(&s, &state)));
    }
    Ok(unrouted.is_none())
}

fn offset_request<H: shardmq_protocol::ext::WriteFields>(
    shared: &Shared,
    addr: SocketAddr,
    what: &'static str,
    code: i32,
    header: &H,
) -> Result<Option<i64>> {
    consumer::offset_request(
        &shared.pool,
        shared.config.timeout,
        addr,
        what,
        code,
        header,
    )
}

fn local_offsets(shared: &Shared) -> BTreeMap<String, i64> {
    shared
        .config
        .offset_file
        .as_ref()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn local_key(topic: &str, q: &QueueAddr) -> String {
    format!("{topic}@{}@{}", q.broker_name, q.queue_id)
}

fn start_offset(shared: &Shared, topic: &str, q: &QueueAddr) -> Result<i64> {
    let stored = match shared.config.model {
        MessageModel::Broadcasting => local_offsets(shared).get(&local_key(topic, q)).copied(),
        MessageModel::Clustering => {
            let h = QueryConsumerOffsetRequestHeader {
                consumer_group: shared.config.group.as_str().into(),
                topic: topic.into(),
                queue_id: q.queue_id,
                set_zero_if_not_found: Some(false),
            };
            offset_request(
                shared,
                q.addr,
                "QUERY_CONSUMER_OFFSET",
                request_code::QUERY_CONSUMER_OFFSET,
                &h,
            )?
        }
    };
    if let Some(o) = stored {
        return Ok(o);
    }
    consumer::start_offset(
        &shared.pool,
        shared.config.timeout,
        q,
        topic,
        shared.config.start_from,
    )
}

/// Whether this member must hold a queue's broker lock to consume it: in clustering, so that
/// no two members of the group consume one queue at once (a queue moves only after its old
/// holder has stopped, committed and unlocked it, or after the lock expires).
fn exclusive(shared: &Shared) -> bool {
    shared.config.model == MessageModel::Clustering
}

/// Gives a queue up: no new message of it reaches the listener; once the ones inside have
/// finished (waiting at most [`RELEASE_WAIT`]), commits and unlocks it. A listener still busy
/// after that keeps the lock held until the broker expires it.
fn release(shared: &Shared, q: &QueueState) {
    q.dropped.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + RELEASE_WAIT;
    while q.executing.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    commit_one(shared, q);
    if exclusive(shared) && q.executing.load(Ordering::SeqCst) == 0 {
        lock_queue(shared, q, false);
    }
}

/// How long giving a queue up waits for its messages already in the listener.
const RELEASE_WAIT: Duration = Duration::from_secs(10);

fn lock_queue(shared: &Shared, q: &QueueState, lock: bool) -> bool {
    let body = LockBatchRequestBody {
        consumer_group: shared.config.group.clone(),
        client_id: shared.config.client_id.clone(),
        only_this_broker: true,
        mq_set: vec![MessageQueue {
            topic: q.topic.clone(),
            broker_name: q.queue.broker_name.clone(),
            queue_id: q.queue.queue_id,
        }],
    };
    let code = if lock {
        request_code::LOCK_BATCH_MQ
    } else {
        request_code::UNLOCK_BATCH_MQ
    };
    let reply = shared.pool.get(q.queue.addr).and_then(|c| {
        c.request("LOCK_BATCH_MQ", code, &EmptyHeader, &body.encode())?
            .wait(shared.config.timeout)
    });
    match reply {
        Ok(r) if lock => {
            LockBatchResponseBody::decode(&r.body).is_ok_and(|b| !b.lock_ok_mq_set.is_empty())
        }
        Ok(_) => true,
        Err(_) => false,
    }
}

fn pull_loop(shared: &Shared, q: &Arc<QueueState>) {
    let orderly = match &shared.listener {
        Listener::Orderly(f) => Some(f.clone()),
        Listener::Concurrent(_) => None,
    };
    let mut locked_at: Option<Instant> = None;
    let mut ever_locked = false;
    while !shared.stop.load(Ordering::Acquire) && !q.dropped.load(Ordering::Acquire) {
        if exclusive(shared) && locked_at.is_none_or(|t| t.elapsed() > LOCK_RENEW_EVERY) {
            if lock_queue(shared, q, true) {
                locked_at = Some(Instant::now());
                if !ever_locked {
                    // The previous holder committed before unlocking: start from there,
                    // not from what the broker said before the lock was ours (asked again
                    // on the next turn if this fails).
                    match start_offset(shared, &q.topic, &q.queue) {
                        Ok(start) => {
                            ever_locked = true;
                            q.next_pull.store(start, Ordering::Release);
                            q.committed.store(start, Ordering::Release);
                        }
                        Err(_) => {
                            locked_at = None;
                            std::thread::sleep(Duration::from_millis(200));
                            continue;
                        }
                    }
                }
            } else {
                locked_at = None;
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
        }
        if q.cached.load(Ordering::Acquire) >= shared.config.max_cached_per_queue {
            // Flow control: let the listener catch up.
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let header = PullMessageRequestHeader {
            consumer_group: shared.config.group.as_str().into(),
            topic: q.topic.as_str().into(),
            queue_id: q.queue.queue_id,
            queue_offset: q.next_pull.load(Ordering::Acquire),
            max_msg_nums: shared.config.pull_batch.max(1),
            sys_flag: PULL_FLAG_SUSPEND | PULL_FLAG_SUBSCRIPTION,
            commit_offset: 0,
            suspend_timeout_millis: shared.config.suspend.as_millis() as i64,
            subscription: Some(q.expression.as_str().into()),
            sub_version: 0,
            expression_type: Some("TAG".into()),
            max_msg_bytes: None,
            request_source: None,
        };
        let addr = q.queue.addr;
        let reply = shared.pool.get(addr).and_then(|c| {
            c.request("PULL_MESSAGE", request_code::PULL_MESSAGE, &header, &[])?
                .wait(shared.config.suspend + shared.config.timeout)
        });
        let reply = match reply {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!("pull from {addr}: {e}");
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
        };
        let Ok(h) = reply.header::<PullMessageResponseHeader>() else {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        let messages: Vec<ReceivedMessage> = StoredMessage::iter(&reply.body, true)
            .filter_map(|m| {
                m.map_err(|e| tracing::warn!("undecodable message from {addr}: {e}; skipped"))
                    .ok()
            })
            .map(|stored| {
                let mut msg = ReceivedMessage { stored };
                msg.restore_retry_topic(&shared.retry_topic);
                msg
            })
            // The broker matched tag hash codes; the tags themselves are checked here.
            .filter(|msg| q.filter.accepts(msg.tags()))
            .collect();
        if q.dropped.load(Ordering::Acquire) {
            break;
        }
        match &orderly {
            Some(on_message) => {
                // As in `consume_worker`: announce, then check the drop; stop between
                // messages once the queue is given up, committing only what was consumed.
                q.executing.fetch_add(1, Ordering::SeqCst);
                let whole_batch = consume_orderly(shared, q, on_message, messages, &mut locked_at);
                if whole_batch {
                    q.next_pull.store(h.next_begin_offset, Ordering::Release);
                }
                q.executing.fetch_sub(1, Ordering::SeqCst);
            }
            None => {
                {
                    let mut in_flight = q.in_flight.lock().unwrap_or_else(|p| p.into_inner());
                    in_flight.extend(messages.iter().map(ReceivedMessage::queue_offset));
                }
                q.cached.fetch_add(messages.len(), Ordering::AcqRel);
                q.next_pull.store(h.next_begin_offset, Ordering::Release);
                for msg in messages {
                    if shared.work.send((q.clone(), msg)).is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// Consumes an orderly queue's pulled messages one by one, in order. `Later` suspends the
/// queue for `suspend_current_queue_time` and tries the message again; after
/// `max_reconsume_times` such tries the message goes to the dead-letter queue and the queue
/// moves on. Returns whether every message was consumed; false when the queue was given up,
/// the consumer stops or the queue's lock could not be renewed (what is left is pulled
/// again from the first message not consumed).
fn consume_orderly(
    shared: &Shared,
    q: &QueueState,
    on_message: &OnMessage,
    messages: Vec<ReceivedMessage>,
    locked_at: &mut Option<Instant>,
) -> bool {
    'messages: for mut msg in messages {
        loop {
            if q.dropped.load(Ordering::SeqCst) || shared.stop.load(Ordering::Acquire) {
                return false;
            }
            if on_message(&msg) == ConsumeResult::Success {
                break;
            }
            if msg.reconsume_times() >= shared.config.max_reconsume_times {
                // Tried often enough: to the dead-letter queue (not consumed again; if
                // neither the broker nor the retry topic takes it, tried again after a
                // suspension), then on with the queue.
                while !give_back(shared, q, &msg, GiveBack::DeadLetter) {
                    if !suspend(shared, q, locked_at) {
                        return false;
                    }
                }
                q.next_pull.store(msg.queue_offset() + 1, Ordering::Release);
                continue 'messages;
            }
            // The listener sees how many times it was tried, as RocketMQ's does.
            msg.stored.reconsume_times += 1;
            if !suspend(shared, q, locked_at) {
                return false;
            }
        }
        q.next_pull.store(msg.queue_offset() + 1, Ordering::Release);
    }
    true
}

/// Suspends an orderly queue for `suspend_current_queue_time`, renewing its lock when due;
/// false when cut short: the queue was given up, the consumer stops, or the lock was lost.
fn suspend(shared: &Shared, q: &QueueState, locked_at: &mut Option<Instant>) -> bool {
    let end = Instant::now() + shared.config.suspend_current_queue_time;
    loop {
        if q.dropped.load(Ordering::SeqCst) || shared.stop.load(Ordering::Acquire) {
            return false;
        }
        if exclusive(shared) && locked_at.is_none_or(|t| t.elapsed() > LOCK_RENEW_EVERY) {
            if !lock_queue(shared, q, true) {
                *locked_at = None;
                return false;
            }
            *locked_at = Some(Instant::now());
        }
        let now = Instant::now();
        if now >= end {
            return true;
        }
        std::thread::sleep((end - now).min(SUSPEND_SLICE));
    }
}

fn commit_one(shared: &Shared, q: &QueueState) {
    let offset = q.committable();
    if offset == q.committed.load(Ordering::Acquire) {
        return;
    }
    match shared.config.model {
        MessageModel::Clustering => {
            let done = consumer::update_offset(
                &shared.pool,
                shared.config.timeout,
                &shared.config.group,
                &q.topic,
                &q.queue,
                offset,
            );
            match done {
                Ok(()) => q.committed.store(offset, Ordering::Release),
                Err(e) => tracing::warn!("committing {}: {e}", q.topic),
            }
        }
        MessageModel::Broadcasting => {
            let mut offsets = local_offsets(shared);
            offsets.insert(local_key(&q.topic, &q.queue), offset);
            if let Some(path) = &shared.config.offset_file {
                if let Ok(json) = serde_json::to_vec(&offsets) {
                    let tmp = path.with_extension("tmp");
                    if std::fs::write(&tmp, json)
                        .and_then(|()| std::fs::rename(&tmp, path))
                        .is_ok()
                    {
                        q.committed.store(offset, Ordering::Release);
                    }
                }
            }
        }
    }
}

fn commit_all(shared: &Shared) {
    let queues: Vec<Arc<QueueState>> = shared
        .queues
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .cloned()
        .collect();
    for q in queues {
        commit_one(shared, &q);
    }
}

fn unregister(shared: &Shared) {
    let header = UnregisterClientRequestHeader {
        client_id: shared.config.client_id.as_str().into(),
        producer_group: None,
        consumer_group: Some(shared.config.group.as_str().into()),
    };
    for addr in brokers(shared) {
        let _ = shared.pool.get(addr).and_then(|c| {
            c.request(
                "UNREGISTER_CLIENT",
                request_code::UNREGISTER_CLIENT,
                &header,
                &[],
            )?
            .wait(shared.config.timeout)
        });
    }
}
