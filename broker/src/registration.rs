//! Registration with every name server: REGISTER_BROKER with the topic table (each topic's
//! queues carry the ports of the shards that own them) every 30 s on a connection kept open,
//! so that a broker that dies is dropped as soon as its connection closes; UNREGISTER_BROKER
//! on a clean stop. Runs on shard 0.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use shardmq_protocol::body::{JsonBody, RegisterBrokerBody, TopicConfig};
use shardmq_protocol::codes::{request_code, response_code, SerializeType};
use shardmq_protocol::command::{Command, Head};
use shardmq_protocol::frame::FrameDecoder;
use shardmq_protocol::header::{RegisterBrokerRequestHeader, UnregisterBrokerRequestHeader};
use tracing::{info, warn};

use crate::handlers::{default_topic_config, spread_of};
use crate::shard::Shard;

/// How often the broker re-registers (RocketMQ's registerNameServerPeriod).
pub const REGISTER_EVERY: Duration = Duration::from_secs(30);
/// How long the name server may wait for the next registration before dropping us.
pub const HEARTBEAT_TIMEOUT_MS: i64 = 120_000;

/// The register body: every topic, with per-queue shard ports.
pub fn register_body(shard: &Shard) -> RegisterBrokerBody {
    let mut body = RegisterBrokerBody::default();
    let mut topics: Vec<TopicConfig> = shard.topics.borrow().values().cloned().collect();
    if shard.config.auto_create_topic
        && !shard
            .topics
            .borrow()
            .contains_key(crate::handlers::DEFAULT_TOPIC)
    {
        // TBW102 tells clients they may send to topics that do not exist yet.
        let mut tbw = default_topic_config(shard, crate::handlers::DEFAULT_TOPIC);
        tbw.perm |= shardmq_protocol::header::PERM_INHERIT;
        topics.push(tbw);
    }
    for mut t in topics {
        let ports = (0..t.write_queue_nums.max(t.read_queue_nums))
            .map(|q| {
                shard.config.shard_port(shard.moves().owner(
                    &t.topic_name,
                    q,
                    spread_of(shard, &t.topic_name),
                ))
            })
            .collect();
        t.shard_ports = Some(ports);
        body.topic_config_serialize_wrapper
            .topic_config_table
            .insert(t.topic_name.clone(), t);
    }
    body
}

fn register_request(shard: &Shard, opaque: i32) -> Command {
    let c = &shard.config;
    let header = RegisterBrokerRequestHeader {
        broker_name: c.broker_name.as_str().into(),
        broker_addr: shard.store_addr.to_string().as_str().into(),
        cluster_name: c.cluster.as_str().into(),
        ha_server_addr: shard.store_addr.to_string().as_str().into(),
        broker_id: c.broker_id,
        heartbeat_timeout_millis: Some(HEARTBEAT_TIMEOUT_MS),
        enable_acting_master: Some(false),
        compressed: Some(false),
        body_crc32: None,
    };
    Command::new(
        Head::request(request_code::REGISTER_BROKER, opaque),
        SerializeType::RocketMq,
        &header,
        register_body(shard).encode(),
    )
}

async fn call(stream: &mut TcpStream, request: &Command) -> std::io::Result<Command> {
    stream.write_all(&request.to_bytes()).await?;
    let decoder = FrameDecoder::default();
    let mut input = BytesMut::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        if let Some(frame) = decoder.decode(&mut input).map_err(std::io::Error::other)? {
            let reply = Command::decode(frame).map_err(std::io::Error::other)?;
            if reply.head.opaque == request.head.opaque {
                return Ok(reply);
            }
            continue;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "name server closed the connection",
            ));
        }
        input.extend_from_slice(&chunk[..n]);
    }
}

/// A digest of the topic table (names, queue counts, permissions): when it changes, the
/// name servers hear of it at once rather than at the next periodic registration.
fn topics_fingerprint(shard: &Shard) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for (name, t) in shard.topics.borrow().iter() {
        (name, t.read_queue_nums, t.write_queue_nums, t.perm).hash(&mut h);
    }
    h.finish()
}

/// Keeps this broker registered with `namesrv` until `stopped()` says stop.
pub async fn keep_registered(shard: Rc<Shard>, namesrv: SocketAddr, stopped: impl Fn() -> bool) {
    let mut stream: Option<TcpStream> = None;
    let mut opaque = 0;
    let mut announced = false;
    while !stopped() {
        if stream.is_none() {
            match TcpStream::connect(namesrv).await {
                Ok(s) => stream = Some(s),
                Err(e) => warn!(%namesrv, "cannot reach the name server: {e}"),
            }
        }
        // Counted when the body is built (no await in between), so that a topic created while
        // the registration is in flight triggers the next one.
        let mut topics_then = topics_fingerprint(&shard);
        if let Some(s) = stream.as_mut() {
            opaque += 1;
            let request = register_request(&shard, opaque);
            topics_then = topics_fingerprint(&shard);
            match call(s, &request).await {
                Ok(reply) if reply.head.code == response_code::SUCCESS => {
                    if !announced {
                        info!(%namesrv, addr = %shard.store_addr, "registered with the name server");
                        announced = true;
                    }
                }
                Ok(reply) => {
                    warn!(%namesrv, code = reply.head.code, remark = ?reply.head.remark, "registration refused")
                }
                Err(e) => {
                    warn!(%namesrv, "registration failed: {e}");
                    stream = None;
                }
            }
        }
        // Re-register every 30 s, sooner when the topic table changes.
        let mut waited = Duration::ZERO;
        while waited < REGISTER_EVERY && !stopped() && topics_fingerprint(&shard) == topics_then {
            glommio::timer::sleep(Duration::from_millis(100)).await;
            waited += Duration::from_millis(100);
        }
    }
    if let Some(s) = stream.as_mut() {
        let c = &shard.config;
        let header = UnregisterBrokerRequestHeader {
            broker_name: c.broker_name.as_str().into(),
            broker_addr: shard.store_addr.to_string().as_str().into(),
            cluster_name: c.cluster.as_str().into(),
            broker_id: c.broker_id,
        };
        let request = Command::new(
            Head::request(request_code::UNREGISTER_BROKER, opaque + 1),
            SerializeType::RocketMq,
            &header,
            Default::default(),
        );
        let _ = call(s, &request).await;
    }
}
