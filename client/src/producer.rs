//! The producer: sync, async (a future any runtime can await) and oneway sends, batches,
//! queue selection (round robin, by key for order, or the caller's), and retries that move
//! to another broker after a failure.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use rustc_hash::FxHashMap;
use shardmq_protocol::codes::{request_code, response_code};
use shardmq_protocol::command::Command;
use shardmq_protocol::header::{SendMessageRequestHeaderV2Fields, SendMessageResponseHeader};
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
    /// Send each queue's messages to the shard port its route publishes (ShardMQ's
    /// `shardPorts`), so they reach the owning shard with no hop. `false`: send everything to
    /// the broker's main address, as any RocketMQ client does (the broker forwards between
    /// its shards).
    pub shard_ports: bool,
}

impl ProducerConfig {
    /// Defaults: 3 s timeout, 2 retries, shard ports used.
    pub fn new(namesrv: Vec<SocketAddr>, group: impl Into<String>) -> Self {
        ProducerConfig {
            namesrv,
            group: group.into(),
            send_timeout: Duration::from_secs(3),
            retries: 2,
            shard_ports: true,
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
    queues: Mutex<FxHashMap<String, CachedQueues>>,
}

/// When a topic's writable queues were fetched (ms since the epoch), how long they are
/// trusted (ms), and the queues.
type CachedQueues = (i64, i64, Arc<Vec<QueueAddr>>);

/// How long a topic that had no route is sent through TBW102's queues before its own route
/// is asked for again. The broker creates the topic on the first send; its own route can
/// then differ from TBW102's (on ShardMQ, in which shard port owns each queue: sends
/// through TBW102's ports would all be forwarded between shards).
const PROVISIONAL_ROUTE_MS: i64 = 1_000;

/// The topic a broker creates unknown topics from.
const DEFAULT_TOPIC: &str = "TBW102";

/// What [`InFlight::wait_ack`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acked {
    pub queue_offset: i64,
    /// When the connection's reader received the acknowledgement, not when the caller
    /// looked: where a send's latency ends.
    pub received: Instant,
}

/// A send on its way: wait for the broker's acknowledgement, blocking or as a future.
pub struct InFlight {
    pending: PendingReply,
    queues: Arc<Vec<QueueAddr>>,
    index: usize,
    msg_id: UniqId,
}

impl InFlight {
    /// Blocks until acknowledged or `timeout` passes.
    pub fn wait(self, timeout: Duration) -> Result<SendResult> {
        let reply = self.pending.wait(timeout)?;
        Producer::finish(
            self.queues[self.index].clone(),
            uniq_str(&self.msg_id).to_owned(),
            reply,
        )
    }

    /// Like [`InFlight::wait`], with the same checks, but returns only the queue offset and
    /// when the acknowledgement arrived: no [`SendResult`] is built (a load generator's hot
    /// path).
    pub fn wait_ack(self, timeout: Duration) -> Result<Acked> {
        let (reply, received) = self.pending.wait_received(timeout)?;
        Producer::ack(self.queues[self.index].addr, reply).map(|h| Acked {
            queue_offset: h.queue_offset,
            received,
        })
    }

    /// Whether the acknowledgement (or a failure) has arrived: `wait` won't block.
    pub fn is_done(&self) -> bool {
        self.pending.is_ready()
    }

    /// Waits as a future.
    pub async fn wait_async(self) -> Result<SendResult> {
        let reply = self.pending.wait_async().await?;
        Producer::finish(
            self.queues[self.index].clone(),
            uniq_str(&self.msg_id).to_owned(),
            reply,
        )
    }
}

/// A client id: 32 upper-case hex digits.
type UniqId = [u8; 32];

/// The id as text (it is ASCII hex).
fn uniq_str(id: &UniqId) -> &str {
    std::str::from_utf8(id).unwrap_or_default()
}

/// Writes `value`'s low `out.len() * 4` bits as upper-case hex digits.
fn put_hex(mut value: u64, out: &mut [u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for digit in out.iter_mut().rev() {
        *digit = HEX[(value & 0xf) as usize];
        value >>= 4;
    }
}

/// Generates RocketMQ-style client ids: 32 hex digits of (IPv4, pid, random, time, counter).
struct UniqIds {
    /// `7F000001`, the pid and a random part: 20 hex digits.
    prefix: [u8; 20],
    counter: AtomicU16,
}

impl UniqIds {
    fn new() -> UniqIds {
        let pid = std::process::id() as u16;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let mut prefix = *b"7F000001000000000000";
        put_hex(u64::from(pid), &mut prefix[8..12]);
        put_hex(u64::from(nanos), &mut prefix[12..20]);
        UniqIds {
            prefix,
            counter: AtomicU16::new(0),
        }
    }

    /// The next id, with the send's clock reading `now_ms` (its low 32 bits).
    fn next(&self, now_ms: i64) -> UniqId {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut id = [0u8; 32];
        id[..20].copy_from_slice(&self.prefix);
        put_hex(u64::from(now_ms as u32), &mut id[20..28]);
        put_hex(u64::from(n), &mut id[28..32]);
        id
    }
}

/// Milliseconds since the Unix epoch: read once per send (born timestamp, client id, route
/// cache age).
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Whether something fetched at `at` (ms) and trusted for `trusted_ms` is still fresh at
/// `now`; a clock that went back counts as stale.
fn fresh(at: i64, trusted_ms: i64, now: i64) -> bool {
    (0..trusted_ms).contains(&(now - at))
}

thread_local! {
    /// Where a send encodes its message's properties (reused: no allocation per send).
    static PROPERTIES: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Calls `f` with `msg`'s encoded properties, UNIQ_KEY set to `uniq`.
fn with_properties<R>(msg: &Message, uniq: &str, f: impl FnOnce(&str) -> R) -> R {
    let encode = |text: &mut String| {
        text.clear();
        msg.encode_properties_with(names::UNIQ_CLIENT_MESSAGE_ID_KEYIDX, uniq, text);
    };
    PROPERTIES.with(|cell| match cell.try_borrow_mut() {
        Ok(mut text) => {
            encode(&mut text);
            f(&text)
        }
        // Only if `f` sent again on this thread: that send gets a buffer of its own.
        Err(_) => {
            let mut text = String::new();
            encode(&mut text);
            f(&text)
        }
    })
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
        self.queues_at(topic, now_ms())
    }

    /// [`Producer::queues`] with the caller's clock reading.
    fn queues_at(&self, topic: &str, now: i64) -> Result<Arc<Vec<QueueAddr>>> {
        if let Some((at, trusted_ms, queues)) = self
            .inner
            .queues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(topic)
        {
            if fresh(*at, *trusted_ms, now) {
                return Ok(queues.clone());
            }
        }
        let (queues, provisional) = self.fetch_queues(topic)?;
        let queues = Arc::new(queues);
        let trusted_ms = if provisional {
            PROVISIONAL_ROUTE_MS
        } else {
            ROUTE_REFRESH.as_millis() as i64
        };
        self.inner
            .queues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(topic.to_owned(), (now_ms(), trusted_ms, queues.clone()));
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
        let now = now_ms();
        let queues = self.queues_at(&msg.topic, now)?;
        let index = self.pick(&queues, &msg, &QueueSelector::RoundRobin, None);
        let (pending, msg_id) = self.request_one(&msg, &queues[index], now)?;
        Ok(InFlight {
            pending,
            queues,
            index,
            msg_id,
        })
    }

    /// The topic's writable queues, or TBW102's (then `true`: provisional) when the name
    /// servers know no route for it yet.
    fn fetch_queues(&self, topic: &str) -> Result<(Vec<QueueAddr>, bool)> {
        let inner = &self.inner;
        let (route, provisional) = match inner.routes.route(&inner.pool, topic) {
            Ok(r) => (r, false),
            Err(ClientError::NoRoute { .. }) => {
                (inner.routes.route(&inner.pool, DEFAULT_TOPIC)?, true)
            }
            Err(e) => return Err(e),
        };
        let mut queues = write_queues(&route);
        if !inner.config.shard_ports {
            for q in &mut queues {
                q.addr = q.broker_addr;
            }
        }
        if queues.is_empty() {
            return Err(ClientError::NoRoute {
                topic: topic.to_owned(),
                namesrv: inner.routes.namesrv().to_vec(),
            });
        }
        Ok((queues, provisional))
    }

    /// The index of the queue to send to.
    fn pick(
        &self,
        queues: &[QueueAddr],
        msg: &Message,
        selector: &QueueSelector,
        avoid: Option<&str>,
    ) -> usize {
        let n = queues.len();
        let start = match selector {
            QueueSelector::RoundRobin => self.inner.next_queue.fetch_add(1, Ordering::Relaxed),
            QueueSelector::ByKey(key) => key_hash(key),
            QueueSelector::Custom(f) => f(queues, msg),
        } % n;
        // A retry avoids the broker that just failed, when another one exists.
        (0..n)
            .map(|i| (start + i) % n)
            .find(|&i| {
                avoid.is_none_or(|b| queues[i].broker_name != b)
                    || !matches!(selector, QueueSelector::RoundRobin)
            })
            .unwrap_or(start)
    }

    /// The send header for `msg` to `queue`, born at `now`.
    fn header<'a>(
        &'a self,
        msg: &'a Message,
        queue: &'a QueueAddr,
        properties: &'a str,
        now: i64,
        batch: bool,
    ) -> SendMessageRequestHeaderV2Fields<'a> {
        SendMessageRequestHeaderV2Fields {
            producer_group: &self.inner.config.group,
            topic: &msg.topic,
            default_topic: DEFAULT_TOPIC,
            default_topic_queue_nums: 4,
            queue_id: queue.queue_id,
            sys_flag: 0,
            born_timestamp: now,
            flag: 0,
            properties: Some(properties),
            reconsume_times: Some(0),
            unit_mode: Some(false),
            max_reconsume_times: None,
            batch: Some(batch),
            broker_name: Some(&queue.broker_name),
        }
    }

    /// Sends one message (SEND_MESSAGE_V2) with a new client id; the clock read `now` is its
    /// born timestamp and the id's time.
    fn request_one(
        &self,
        msg: &Message,
        queue: &QueueAddr,
        now: i64,
    ) -> Result<(PendingReply, UniqId)> {
        let uniq = self.inner.ids.next(now);
        let conn = self.inner.pool.get(queue.addr)?;
        let pending = with_properties(msg, uniq_str(&uniq), |properties| {
            conn.request(
                "SEND_MESSAGE_V2",
                request_code::SEND_MESSAGE_V2,
                &self.header(msg, queue, properties, now, false),
                &msg.body,
            )
        })?;
        Ok((pending, uniq))
    }

    /// Sends `messages` (of `msg`'s topic) in one SEND_BATCH_MESSAGE; the header carries
    /// `msg`'s properties with a client id of its own, each message gets one too.
    fn request_batch(
        &self,
        msg: &Message,
        queue: &QueueAddr,
        messages: &[Message],
        now: i64,
    ) -> Result<(PendingReply, String)> {
        let uniq = self.inner.ids.next(now);
        let conn = self.inner.pool.get(queue.addr)?;
        let mut ids = Vec::with_capacity(messages.len());
        let mut entries = Vec::with_capacity(messages.len());
        for m in messages {
            let id = self.inner.ids.next(now);
            let mut properties = String::new();
            m.encode_properties_with(
                names::UNIQ_CLIENT_MESSAGE_ID_KEYIDX,
                uniq_str(&id),
                &mut properties,
            );
            ids.push(uniq_str(&id).to_owned());
            entries.push(BatchEntry {
                flag: 0,
                body: m.body.clone(),
                properties: properties.into(),
            });
        }
        let mut body = BytesMut::new();
        encode_batch(&entries, &mut body).map_err(|e| ClientError::Invalid(e.to_string()))?;
        let pending = with_properties(msg, uniq_str(&uniq), |properties| {
            conn.request(
                "SEND_BATCH_MESSAGE",
                request_code::SEND_BATCH_MESSAGE,
                &self.header(msg, queue, properties, now, true),
                &body,
            )
        })?;
        Ok((pending, ids.join(",")))
    }

    /// Checks a send's reply: SUCCESS with a readable header.
    fn ack(addr: SocketAddr, reply: Command) -> Result<SendMessageResponseHeader> {
        let reply = expect(reply, addr, "send", &[response_code::SUCCESS])?;
        reply
            .header()
            .map_err(|source| ClientError::Protocol { addr, source })
    }

    fn finish(queue: QueueAddr, msg_id: String, reply: Command) -> Result<SendResult> {
        let h = Self::ack(queue.addr, reply)?;
        Ok(SendResult {
            msg_id,
            offset_msg_id: h.msg_id.to_string(),
            queue,
            queue_offset: h.queue_offset,
        })
    }

    /// Sends through `request` (which encodes and sends one attempt to the queue it is
    /// given, returning the pending reply and the client id), retrying on another broker
    /// after a failure.
    fn send_with(
        &self,
        msg: &Message,
        selector: &QueueSelector,
        request: impl Fn(&QueueAddr, i64) -> Result<(PendingReply, String)>,
    ) -> Result<SendResult> {
        let mut avoid: Option<String> = None;
        let mut last = None;
        for _ in 0..=self.inner.config.retries {
            let now = now_ms();
            let queues = self.queues_at(&msg.topic, now)?;
            let queue = &queues[self.pick(&queues, msg, selector, avoid.as_deref())];
            let attempt = request(queue, now).and_then(|(pending, id)| {
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

    /// One message with a new client id.
    fn send_one(&self, msg: &Message, selector: &QueueSelector) -> Result<SendResult> {
        self.send_with(msg, selector, |queue, now| {
            self.request_one(msg, queue, now)
                .map(|(pending, id)| (pending, uniq_str(&id).to_owned()))
        })
    }

    /// Sends a consumer's retry copy ([`Message::retry_copy`]) with its reconsume times and
    /// their limit in the header, where a RocketMQ broker reads them for retry topics (and
    /// dead-letters a copy whose reconsume times reached the limit). The copy keeps its
    /// UNIQ_KEY, as RocketMQ's does (a new one only if it has none). Retries like `send`.
    pub(crate) fn send_retry_copy(
        &self,
        msg: &Message,
        reconsume_times: i32,
        max_reconsume_times: i32,
    ) -> Result<SendResult> {
        self.send_with(msg, &QueueSelector::RoundRobin, |queue, now| {
            let conn = self.inner.pool.get(queue.addr)?;
            let (properties, id) = match msg.property(names::UNIQ_CLIENT_MESSAGE_ID_KEYIDX) {
                Some(id) => (msg.encoded(), id.to_owned()),
                None => {
                    let uniq = self.inner.ids.next(now);
                    let mut properties = String::new();
                    msg.encode_properties_with(
                        names::UNIQ_CLIENT_MESSAGE_ID_KEYIDX,
                        uniq_str(&uniq),
                        &mut properties,
                    );
                    (properties, uniq_str(&uniq).to_owned())
                }
            };
            let header = SendMessageRequestHeaderV2Fields {
                reconsume_times: Some(reconsume_times),
                max_reconsume_times: Some(max_reconsume_times),
                ..self.header(msg, queue, &properties, now, false)
            };
            let pending = conn.request(
                "SEND_MESSAGE_V2",
                request_code::SEND_MESSAGE_V2,
                &header,
                &msg.body,
            )?;
            Ok((pending, id))
        })
    }

    /// Sends and waits for the broker's acknowledgement.
    pub fn send(&self, msg: Message) -> Result<SendResult> {
        self.send_one(&msg, &QueueSelector::RoundRobin)
    }

    /// Sends to the queue `selector` picks (e.g. [`QueueSelector::ByKey`] for order).
    pub fn send_to(&self, msg: Message, selector: &QueueSelector) -> Result<SendResult> {
        self.send_one(&msg, selector)
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
        self.send_with(&first, &QueueSelector::RoundRobin, |queue, now| {
            self.request_batch(&first, queue, &messages, now)
        })
    }

    /// Sends without waiting: the future resolves with the acknowledgement. Any executor
    /// (tokio, async-std, glommio, a plain `block_on`) can await it.
    pub async fn send_async(&self, msg: Message) -> Result<SendResult> {
        let mut avoid: Option<String> = None;
        let mut last = None;
        for _ in 0..=self.inner.config.retries {
            let now = now_ms();
            let queues = self.queues_at(&msg.topic, now)?;
            let queue =
                &queues[self.pick(&queues, &msg, &QueueSelector::RoundRobin, avoid.as_deref())];
            let attempt = match self.request_one(&msg, queue, now) {
                Ok((pending, id)) => match pending.wait_async().await {
                    Ok(reply) => Self::finish(queue.clone(), uniq_str(&id).to_owned(), reply),
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
        let now = now_ms();
        let queues = self.queues_at(&msg.topic, now)?;
        let queue = &queues[self.pick(&queues, &msg, &QueueSelector::RoundRobin, None)];
        let uniq = self.inner.ids.next(now);
        let conn = self.inner.pool.get(queue.addr)?;
        with_properties(&msg, uniq_str(&uniq), |properties| {
            // A oneway send carries only the required fields and the properties.
            let header = SendMessageRequestHeaderV2Fields {
                reconsume_times: None,
                unit_mode: None,
                batch: None,
                broker_name: None,
                ..self.header(&msg, queue, properties, now, false)
            };
            conn.oneway(
                "SEND_MESSAGE_V2",
                request_code::SEND_MESSAGE_V2,
                &header,
                &msg.body,
            )
        })
    }

    /// Closes the producer's connections.
    pub fn shutdown(&self) {
        self.inner.pool.close_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniq_ids_are_32_upper_hex_digits_with_time_and_counter() {
        let ids = UniqIds::new();
        let pid = std::process::id() as u16;
        let a = ids.next(0x1_2345_6789_i64);
        let b = ids.next(0x1_2345_6789_i64);
        let (a, b) = (uniq_str(&a).to_owned(), uniq_str(&b).to_owned());
        assert_eq!(a.len(), 32);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c)));
        assert_eq!(&a[..12], format!("7F000001{pid:04X}"));
        assert_eq!(&a[20..28], "23456789");
        assert_eq!(&a[28..], "0000");
        assert_eq!(&b[28..], "0001");
        assert_eq!(a[..28], b[..28]);
    }

    /// The copy a push consumer sends itself when the broker refuses CONSUMER_SEND_MSG_BACK,
    /// through a real broker: it keeps the message's id, names its origin, carries its
    /// reconsume times in the header and waits out its delay level.
    #[test]
    fn a_retry_copy_keeps_its_id_and_carries_its_reconsume_times_through_a_broker() {
        use crate::{PullConsumer, PullConsumerConfig};
        let dir = tempfile::tempdir().unwrap();
        let b = shardmq_broker::loopback::start_with_conf(
            &dir.path().join("data"),
            2,
            "messageDelayLevel=100ms 200ms 300ms\n",
        )
        .expect("start a broker on loopback");
        let producer = Producer::new(ProducerConfig::new(vec![b.namesrv], "PG")).unwrap();
        let sent = producer
            .send(Message::new("Origin", "body").with_tags("t"))
            .unwrap();
        let poll_one = |consumer: &PullConsumer, topic: &str| {
            for _ in 0..100 {
                match consumer.assign(topic) {
                    Ok(()) => break,
                    Err(ClientError::NoRoute { .. }) => {
                        std::thread::sleep(Duration::from_millis(50))
                    }
                    Err(e) => panic!("assign {topic}: {e}"),
                }
            }
            for _ in 0..10 {
                if let Some(m) = consumer.poll_timeout(Duration::from_secs(1)).unwrap().pop() {
                    return m;
                }
            }
            panic!("nothing came from {topic}");
        };
        let config = |group: &str| PullConsumerConfig::new(vec![b.namesrv], group);
        let original = poll_one(&PullConsumer::new(config("G")).unwrap(), "Origin");
        let copy = Message::retry_copy("%RETRY%G", &original, 3);
        let copied_at = Instant::now();
        producer.send_retry_copy(&copy, 1, 16).unwrap();
        let retried = poll_one(&PullConsumer::new(config("Reader")).unwrap(), "%RETRY%G");
        assert!(
            copied_at.elapsed() >= Duration::from_millis(300),
            "level 3 not waited"
        );
        assert_eq!(retried.reconsume_times(), 1);
        assert_eq!(retried.msg_id(), Some(sent.msg_id.as_str()));
        assert_eq!(retried.origin_msg_id(), Some(sent.msg_id.as_str()));
        assert_eq!(retried.property("RETRY_TOPIC"), Some("Origin"));
        assert_eq!(retried.tags(), Some("t"));
        assert_eq!(retried.body().as_ref(), b"body");
        producer.shutdown();
        b.broker.stop();
    }

    #[test]
    fn encoded_properties_set_uniq_key_like_properties_set() {
        let plain = Message::new("T", "b").with_tags("x");
        let mut text = String::new();
        plain.encode_properties_with("UNIQ_KEY", "ID", &mut text);
        let mut expected = plain.clone();
        let _ = expected.properties_mut().set("UNIQ_KEY", "ID");
        assert_eq!(text, expected.encoded_properties());
        let with_id = Message::new("T", "b")
            .with_property("UNIQ_KEY", "OLD")
            .unwrap()
            .with_tags("x");
        text.clear();
        with_id.encode_properties_with("UNIQ_KEY", "ID", &mut text);
        let mut expected = with_id.clone();
        let _ = expected.properties_mut().set("UNIQ_KEY", "ID");
        assert_eq!(text, expected.encoded_properties());
        assert!(text.starts_with("UNIQ_KEY\u{1}ID\u{2}"));
    }
}
