//! Routes: asks any of the name servers for a topic's route and keeps it; the producer turns
//! a route into message queues, each with the address to send to (the owning shard's port
//! when the route publishes one).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use shardmq_protocol::body::{JsonBody, TopicRouteData};
use shardmq_protocol::codes::{request_code, response_code};
use shardmq_protocol::header::{GetRouteInfoRequestHeader, PERM_READ, PERM_WRITE};

use crate::error::{ClientError, Result};
use crate::pool::Pool;
use crate::remoting::expect;

/// How long a route is trusted before it is fetched again (RocketMQ's pollNameServerInterval).
pub const ROUTE_REFRESH: Duration = Duration::from_secs(30);

/// One writable queue of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueAddr {
    pub broker_name: String,
    pub queue_id: i32,
    /// Where to send: the shard that owns the queue, or the broker's main address.
    pub addr: SocketAddr,
    /// The broker's main address (what a client that ignores shard ports uses).
    pub broker_addr: SocketAddr,
}

/// Routes by topic, fetched from the name servers.
pub struct Routes {
    namesrv: Vec<SocketAddr>,
    timeout: Duration,
    cache: Mutex<HashMap<String, (Instant, TopicRouteData)>>,
}

impl Routes {
    pub fn new(namesrv: Vec<SocketAddr>, timeout: Duration) -> Routes {
        Routes {
            namesrv,
            timeout,
            cache: Mutex::default(),
        }
    }

    /// The name servers.
    pub fn namesrv(&self) -> &[SocketAddr] {
        &self.namesrv
    }

    /// The topic's route, from the cache when fresh.
    pub fn route(&self, pool: &Pool, topic: &str) -> Result<TopicRouteData> {
        if let Some((at, route)) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(topic)
        {
            if at.elapsed() < ROUTE_REFRESH {
                return Ok(route.clone());
            }
        }
        self.refresh(pool, topic)
    }

    /// Forgets a topic's route (after an error), so the next call asks again.
    pub fn invalidate(&self, topic: &str) {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(topic);
    }

    /// Fetches the topic's route from the first name server that answers.
    pub fn refresh(&self, pool: &Pool, topic: &str) -> Result<TopicRouteData> {
        let header = GetRouteInfoRequestHeader {
            topic: topic.into(),
            accept_standard_json_only: Some(true),
        };
        let mut last_error = None;
        for addr in &self.namesrv {
            let attempt = pool.get(*addr).and_then(|conn| {
                let reply = conn
                    .request(
                        "GET_ROUTEINFO_BY_TOPIC",
                        request_code::GET_ROUTEINFO_BY_TOPIC,
                        &header,
                        &[],
                    )?
                    .wait(self.timeout)?;
                expect(
                    reply,
                    *addr,
                    "GET_ROUTEINFO_BY_TOPIC",
                    &[response_code::SUCCESS],
                )
            });
            match attempt {
                Ok(reply) => {
                    let route = TopicRouteData::decode(&reply.body).map_err(|source| {
                        ClientError::Protocol {
                            addr: *addr,
                            source,
                        }
                    })?;
                    self.cache
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(topic.to_owned(), (Instant::now(), route.clone()));
                    return Ok(route);
                }
                Err(ClientError::Server {
                    code: response_code::TOPIC_NOT_EXIST,
                    ..
                }) => {
                    return Err(ClientError::NoRoute {
                        topic: topic.to_owned(),
                        namesrv: self.namesrv.clone(),
                    })
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or(ClientError::NoRoute {
            topic: topic.to_owned(),
            namesrv: self.namesrv.clone(),
        }))
    }
}

/// The writable queues of a route, in broker then queue order.
pub fn write_queues(route: &TopicRouteData) -> Vec<QueueAddr> {
    queues(route, true)
}

/// The readable queues of a route, in broker then queue order.
pub fn read_queues(route: &TopicRouteData) -> Vec<QueueAddr> {
    queues(route, false)
}

fn queues(route: &TopicRouteData, write: bool) -> Vec<QueueAddr> {
    let mut queues = Vec::new();
    for q in &route.queue_datas {
        let (perm, count) = if write {
            (PERM_WRITE, q.write_queue_nums)
        } else {
            (PERM_READ, q.read_queue_nums)
        };
        if q.perm & perm == 0 {
            continue;
        }
        let Some(master) = route
            .broker_datas
            .iter()
            .find(|b| b.broker_name == q.broker_name)
            .and_then(|b| b.master_addr())
            .and_then(|a| a.parse::<SocketAddr>().ok())
        else {
            continue;
        };
        for queue_id in 0..count {
            let port = q
                .shard_ports
                .as_ref()
                .and_then(|p| p.get(queue_id as usize))
                .copied();
            let addr = port.map_or(master, |p| SocketAddr::new(master.ip(), p));
            queues.push(QueueAddr {
                broker_name: q.broker_name.clone(),
                queue_id,
                addr,
                broker_addr: master,
            });
        }
    }
    queues
}
