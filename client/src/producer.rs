//! The producer: sync, async (a future any runtime can await) and oneway sends, batches,
//! queue selection (round robin, by key for order, or the caller's), and retries that move
//! to another broker after a failure.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use shardmq_protocol::codes::{request_code, response_code};
use shardmq_protocol::header::{SendMessageRequestHeaderV2, SendMessageResponseHeader};
use shardmq_protocol::message::properties::names;
use shardmq_protocol::message::{encode_batch, BatchEntry};

use crate::error::{ClientError, Result};
use crate::message::Message;
use crate::pool::Pool;
use crate::remoting::{expect, PendingReply};
use crate::route::{write_queues, QueueAddr, Routes, ROUTE_REFRESH};

/// A caller's queue choice: an index into the writable queues for a message.
pub type SelectQueue = Arc<dyn Fn(&[QueueAddr], &Message) -> usize + Send + Sync>;

/// How a send picks its queue.
#[derive(Clone)]
pub enum QueueSelector {
    /// The next queue in turn (the default).
    RoundRobin,
    /// The queue a key hashes to: messages with one key keep their order.
    ByKey(String),
    /// The caller's choice: an index into the writable queues.
    Custom(SelectQueue),
}

/// What a send returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    /// The client-side id (UNIQ_KEY): what RocketMQ users call the msgId.
    pub msg_id: String,
    /// The broker's offset msgId (store address and commit-log position).
    pub offset_msg_id: String,
    pub queue: QueueAddr,
    pub queue_offset: i64,
}

/// Producer settings.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    pub namesrv: Vec<SocketAddr>,
    pub group: String,
    pub send_timeout: Duration,
    /// Extra attempts after a failed send, each on another broker when there is one.
    pub retries: usize,
}

impl ProducerConfig {
    /// Defaults: 3 s timeout, 2 retries.
    pub fn new(namesrv: Vec<SocketAddr>, group: impl Into<String>) -> Self {
        ProducerConfig {
            namesrv,
            group: group.into(),
            send_timeout: Duration::from_secs(3),
            retries: 2,
        }
    }
}

/// A producer; cheap to clone and safe to share between threads.
#[derive(Clone)]
pub struct Producer {
    inner: Arc<Inner>,
}

struct Inner {
    config: ProducerConfig,
    routes: Routes,
    pool: Pool,
    next_queue: AtomicUsize,
    ids: UniqIds,
    /// Writable queues by topic, trusted for [`ROUTE_REFRESH`] or until a send fails.
    queues: Mutex<HashMap<String, CachedQueues>>,
}

/// When a topic's writable queues were fetched, and the queues.
type CachedQueues = (Instant, Arc<Vec<QueueAddr>>);

/// A send on its way: wait for the broker's acknowledgement, blocking or as a future.
pub struct InFlight {
    pending: PendingReply,
    queue: QueueAddr,
    msg_id: String,
}

impl InFlight {
    /// Blocks until acknowledged or `timeout` passes.
    pub fn wait(self, timeout: Duration) -> Result<SendResult> {
        let reply = self.pending.wait(timeout)?;
        Producer::finish(self.queue, self.msg_id, reply)
    }

    /// Whether the acknowledgement (or a failure) has arrived: `wait` won't block.
    pub fn is_done(&self) -> bool {
        self.pending.is_ready()
    }

    /// Waits as a future.
    pub async fn wait_async(self) -> Result<SendResult> {
        let reply = self.pending.wait_async().await?;
        Producer::finish(self.queue, self.msg_id, reply)
    }
}

/// Generates RocketMQ-style client ids: 32 hex digits of (IPv4, pid, random, time, counter).
struct UniqIds {
    prefix: String,
    counter: AtomicU16,
}

impl UniqIds {
    fn new() -> UniqIds {
        let pid = std::process::id() as u16;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        UniqIds {
            prefix: format!("7F000001{pid:04X}{nanos:08X}"),
            counter: AtomicU16::new(0),
        }
    }

    fn next(&self) -> String {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u32);
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{}{ms:08X}{n:04X}", self.prefix)
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn key_hash(key: &str) -> usize {
    key.bytes().fold(0usize, |h, b| {
        h.wrapping_mul(31).wrapping_add(usize::from(b))
    })
}

impl Producer {
    /// A producer; connections open on first use.
    pub fn new(config: ProducerConfig) -> Result<Producer> {
        if config.namesrv.is_empty() {
            return Err(ClientError::Invalid(
                "a producer needs at least one name server address".into(),
            ));
        }
        let routes = Routes::new(config.namesrv.clone(), config.send_timeout);
        let pool = Pool::new(config.send_timeout, None);
        Ok(Producer {
            inner: Arc::new(Inner {
                config,
                routes,
                pool,
                next_queue: AtomicUsize::new(0),
                ids: UniqIds::new(),
                queues: Mutex::default(),
            }),
        })
    }

    /// The writable queues of `topic`, fetching the route (or TBW102's, for a topic the
    /// broker will create on first send).
    pub fn queues(&self, topic: &str) -> Result<Arc<Vec<QueueAddr>>> {
        if let Some((at, queues)) = self
            .inner
            .queues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(topic)
        {
            if at.elapsed() < ROUTE_REFRESH {
                return Ok(queues.clone());
            }
        }
        let queues = Arc::new(self.fetch_queues(topic)?);
        self.inner
            .queues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(topic.to_owned(), (Instant::now(), queues.clone()));
        Ok(queues)
    }

    fn forget_queues(&self, topic: &str) {
        self.inner
            .queues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(topic);
        self.inner.routes.invalidate(topic);
    }

    /// Sends without waiting and without retries: the caller keeps many in flight and
    /// collects each acknowledgement (what a load generator does).
    pub fn start_send(&self, msg: Message) -> Result<InFlight> {
        let queues = self.queues(&msg.topic)?;
        let queue = self.pick(&queues, &msg, &QueueSelector::RoundRobin, None);
        let mut m = msg;
        let (pending, msg_id) = self.request(&mut m, &queue, None)?;
        Ok(InFlight {
            pending,
            queue,
            msg_id,
        })
    }

    fn fetch_queues(&self, topic: &str) -> Result<Vec<QueueAddr>> {
        let inner = &self.inner;
        let route = match inner.routes.route(&inner.pool, topic) {
            Ok(r) => r,
            Err(ClientError::NoRoute { .. }) => inner.routes.route(&inner.pool, "TBW102")?,
            Err(e) => return Err(e),
        };
        let queues = write_queues(&route);
        if queues.is_empty() {
            return Err(ClientError::NoRoute {
                topic: topic.to_owned(),
                namesrv: inner.routes.namesrv().to_vec(),
            });
        }
        Ok(queues)
    }

    fn pick(
        &self,
        queues: &[QueueAddr],
        msg: &Message,
        selector: &QueueSelector,
        avoid: Option<&str>,
    ) -> QueueAddr {
        let n = queues.len();
        let start = match selector {
            QueueSelector::RoundRobin => self.inner.next_queue.fetch_add(1, Ordering::Relaxed),
            QueueSelector::ByKey(key) => key_hash(key),
            QueueSelector::Custom(f) => f(queues, msg),
        } % n;
        // A retry avoids the broker that just failed, when another one exists.
        (0..n)
            .map(|i| &queues[(start + i) % n])
            .find(|q| {
                avoid.is_none_or(|b| q.broker_name != b)
                    || !matches!(selector, QueueSelector::RoundRobin)
            })
            .unwrap_or(&queues[start])
            .clone()
    }

    fn request(
        &self,
        msg: &mut Message,
        queue: &QueueAddr,
        batch: Option<&[Message]>,
    ) -> Result<(PendingReply, String)> {
        let uniq = self.inner.ids.next();
        let _ = msg
            .properties_mut()
            .set(names::UNIQ_CLIENT_MESSAGE_ID_KEYIDX, &uniq);
        let header = SendMessageRequestHeaderV2 {
            producer_group: self.inner.config.group.as_str().into(),
            topic: msg.topic.as_str().into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: queue.queue_id,
            sys_flag: 0,
            born_timestamp: now_ms(),
            flag: 0,
            properties: Some(msg.encoded_properties().as_str().into()),
            reconsume_times: Some(0),
            unit_mode: Some(false),
            max_reconsume_times: None,
            batch: Some(batch.is_some()),
            broker_name: Some(queue.broker_name.as_str().into()),
        };
        let conn = self.inner.pool.get(queue.addr)?;
        let pending = match batch {
            None => conn.request(
                "SEND_MESSAGE_V2",
                request_code::SEND_MESSAGE_V2,
                &header,
                &msg.body,
            )?,
            Some(messages) => {
                let mut ids = Vec::new();
                let entries: Vec<BatchEntry> = messages
                    .iter()
                    .map(|m| {
                        let mut m = m.clone();
                        let id = self.inner.ids.next();
                        let _ = m
                            .properties_mut()
                            .set(names::UNIQ_CLIENT_MESSAGE_ID_KEYIDX, &id);
                        ids.push(id);
                        BatchEntry {
                            flag: 0,
                            body: m.body.clone(),
                            properties: m.encoded_properties().as_str().into(),
                        }
                    })
                    .collect();
                let mut body = BytesMut::new();
                encode_batch(&entries, &mut body)
                    .map_err(|e| ClientError::Invalid(e.to_string()))?;
                let reply = conn.request(
                    "SEND_BATCH_MESSAGE",
                    request_code::SEND_BATCH_MESSAGE,
                    &header,
                    &body,
                )?;
                return Ok((reply, ids.join(",")));
            }
        };
        Ok((pending, uniq))
    }

    fn finish(
        queue: QueueAddr,
        msg_id: String,
        reply: shardmq_protocol::command::Command,
    ) -> Result<SendResult> {
        let reply = expect(reply, queue.addr, "send", &[response_code::SUCCESS])?;
        let h: SendMessageResponseHeader =
            reply.header().map_err(|source| ClientError::Protocol {
                addr: queue.addr,
                source,
            })?;
        Ok(SendResult {
            msg_id,
            offset_msg_id: h.msg_id.to_string(),
            queue,
            queue_offset: h.queue_offset,
        })
    }

    fn send_with(
        &self,
        msg: Message,
        selector: &QueueSelector,
        batch: Option<&[Message]>,
    ) -> Result<SendResult> {
        let mut avoid: Option<String> = None;
        let mut last = None;
        for _ in 0..=self.inner.config.retries {
            let queues = self.queues(&msg.topic)?;
            let queue = self.pick(&queues, &msg, selector, avoid.as_deref());
            let mut m = msg.clone();
            let attempt = self
                .request(&mut m, &queue, batch)
                .and_then(|(pending, id)| {
                    Self::finish(
                        queue.clone(),
                        id,
                        pending.wait(self.inner.config.send_timeout)?,
                    )
                });
            match attempt {
                Ok(r) => return Ok(r),
                Err(e) => {
                    tracing::debug!("send to {} failed: {e}; retrying elsewhere", queue.addr);
                    self.forget_queues(&msg.topic);
                    avoid = Some(queue.broker_name.clone());
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Invalid("no attempt made".into())))
    }

    /// Sends and waits for the broker's acknowledgement.
    pub fn send(&self, msg: Message) -> Result<SendResult> {
        self.send_with(msg, &QueueSelector::RoundRobin, None)
    }

    /// Sends to the queue `selector` picks (e.g. [`QueueSelector::ByKey`] for order).
    pub fn send_to(&self, msg: Message, selector: &QueueSelector) -> Result<SendResult> {
        self.send_with(msg, selector, None)
    }

    /// Sends several messages of one topic in one request.
    pub fn send_batch(&self, messages: Vec<Message>) -> Result<SendResult> {
        let Some(first) = messages.first().cloned() else {
            return Err(ClientError::Invalid("an empty batch".into()));
        };
        if messages.iter().any(|m| m.topic != first.topic) {
            return Err(ClientError::Invalid(
                "a batch holds messages of one topic".into(),
            ));
        }
        self.send_with(first, &QueueSelector::RoundRobin, Some(&messages))
    }

    /// Sends without waiting: the future resolves with the acknowledgement. Any executor
    /// (tokio, async-std, glommio, a plain `block_on`) can await it.
    pub async fn send_async(&self, msg: Message) -> Result<SendResult> {
        let mut avoid: Option<String> = None;
        let mut last = None;
        for _ in 0..=self.inner.config.retries {
            let queues = self.queues(&msg.topic)?;
            let queue = self.pick(&queues, &msg, &QueueSelector::RoundRobin, avoid.as_deref());
            let mut m = msg.clone();
            let attempt = match self.request(&mut m, &queue, None) {
                Ok((pending, id)) => match pending.wait_async().await {
                    Ok(reply) => Self::finish(queue.clone(), id, reply),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            match attempt {
                Ok(r) => return Ok(r),
                Err(e) => {
                    self.forget_queues(&msg.topic);
                    avoid = Some(queue.broker_name.clone());
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Invalid("no attempt made".into())))
    }

    /// Sends and does not wait for anything (the broker does not answer).
    pub fn send_oneway(&self, msg: Message) -> Result<()> {
        let queues = self.queues(&msg.topic)?;
        let queue = self.pick(&queues, &msg, &QueueSelector::RoundRobin, None);
        let mut m = msg;
        let uniq = self.inner.ids.next();
        let _ = m
            .properties_mut()
            .set(names::UNIQ_CLIENT_MESSAGE_ID_KEYIDX, &uniq);
        let header = SendMessageRequestHeaderV2 {
            producer_group: self.inner.config.group.as_str().into(),
            topic: m.topic.as_str().into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: queue.queue_id,
            born_timestamp: now_ms(),
            properties: Some(m.encoded_properties().as_str().into()),
            ..Default::default()
        };
        self.inner.pool.get(queue.addr)?.oneway(
            "SEND_MESSAGE_V2",
            request_code::SEND_MESSAGE_V2,
            &header,
            &m.body,
        )
    }

    /// Closes the producer's connections.
    pub fn shutdown(&self) {
        self.inner.pool.close_all();
    }
}
