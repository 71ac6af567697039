//! Starting and stopping a broker: the embedded name server in standalone mode, one pinned
//! glommio executor per shard joined by a channel mesh, and on each shard its store, its
//! listeners (the shared main port, SO_REUSEPORT, and its own shard port), its inbox loop
//! and control pumps, and its persistence task.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use glommio::net::TcpListener;
use glommio::{LocalExecutorPoolBuilder, PoolPlacement};
use shardmq_namesrv::{NameServer, NamesrvConfig};
use tracing::{info, warn};

use crate::config::{BrokerConfig, FlushDiskType};
use crate::handlers::apply_topic;
use crate::shard::inbox::Hooks;
use crate::shard::mesh::{self, MeshBuilders};
use crate::shard::persist::{self, Persister};
use crate::shard::Shard;
use crate::store::metadata::{self, ConsumerOffsets, TopicConfigs};
use crate::store::{FlushMode, Store, StoreConfig};

pub use crate::shard::mesh::MESH_CHANNEL_DEPTH;
/// Registered I/O memory per shard executor (glommio locks it; see tuning/README.md).
pub const SHARD_IO_MEMORY_BYTES: usize = 512 * 1024;
pub use crate::shard::persist::MOVES_FILE;

/// A running broker. Dropping it stops it.
pub struct Broker {
    config: Arc<BrokerConfig>,
    stop: Arc<AtomicBool>,
    hooks: Arc<Hooks>,
    pool: Option<std::thread::JoinHandle<()>>,
    namesrv: Option<NameServer>,
}

impl Broker {
    /// Starts the broker and returns once every shard accepts connections.
    pub fn start(config: BrokerConfig) -> io::Result<Broker> {
        // The shards bind with SO_REUSEPORT, which would let a second broker share a port
        // that is taken. A plain bind first turns that into a clear error.
        let mut ports = vec![config.listen];
        ports.extend(
            (0..config.shards).map(|k| SocketAddr::new(config.listen.ip(), config.shard_port(k))),
        );
        for addr in ports.iter().filter(|a| a.port() != 0) {
            std::net::TcpListener::bind(addr).map_err(|e| {
                io::Error::new(e.kind(), format!("cannot listen on {addr}: {e} (another broker running? use --listen / --shard-port-base)"))
            })?;
        }
        let namesrv = if config.standalone() {
            let ns = NameServer::start(NamesrvConfig {
                listen: config.namesrv_listen,
                ..Default::default()
            })?;
            info!(addr = %ns.local_addr(), "embedded name server started (standalone mode)");
            Some(ns)
        } else {
            None
        };
        let config = Arc::new(config);
        let stop = Arc::new(AtomicBool::new(false));
        let shards = config.shards;
        let mesh = MeshBuilders::new(shards);
        let hooks = Arc::new(Hooks::new(shards));
        let (ready_tx, ready_rx) = mpsc::channel::<Result<usize, String>>();
        let namesrv_addrs: Vec<SocketAddr> = match &namesrv {
            Some(ns) => {
                let mut addr = ns.local_addr();
                if addr.ip().is_unspecified() {
                    addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                }
                vec![addr]
            }
            None => config.namesrv.clone(),
        };
        let pool = {
            let config = config.clone();
            let stop = stop.clone();
            let hooks = hooks.clone();
            // One pinned executor per CPU; more shards than CPUs run unpinned (tests, small
            // hosts), which the tuning guide advises against.
            let cpus = std::thread::available_parallelism().map_or(1, usize::from);
            let placement = if shards <= cpus {
                PoolPlacement::MaxSpread(shards, None)
            } else {
                warn!(shards, cpus, "more shards than CPUs: shards run unpinned");
                PoolPlacement::Unbound(shards)
            };
            LocalExecutorPoolBuilder::new(placement)
                .io_memory(SHARD_IO_MEMORY_BYTES)
                .on_all_shards(move || {
                    let ready = ready_tx.clone();
                    async move {
                        if let Err(e) = run_shard(config, mesh, stop, hooks, namesrv_addrs, ready.clone()).await {
                            let _ = ready.send(Err(e));
                        }
                    }
                })
                .map_err(|e| {
                    io::Error::other(format!(
                        "cannot start the shard executors: {e} (io_uring must be available and the locked-memory limit at least {} KiB per shard; see tuning/README.md)",
                        SHARD_IO_MEMORY_BYTES / 1024
                    ))
                })?
        };
        let pool = std::thread::spawn(move || {
            for result in pool.join_all() {
                if let Err(e) = result {
                    warn!("a shard executor ended with an error: {e}");
                }
            }
        });
        let mut broker = Broker {
            config,
            stop,
            hooks,
            pool: Some(pool),
            namesrv,
        };
        for _ in 0..shards {
            match ready_rx.recv_timeout(Duration::from_secs(30)) {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    broker.shutdown();
                    return Err(io::Error::other(e));
                }
                Err(_) => {
                    broker.shutdown();
                    return Err(io::Error::other("a shard did not start within 30 s"));
                }
            }
        }
        info!(addr = %broker.config.listen, shards, "broker started");
        Ok(broker)
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// The embedded name server's address, in standalone mode.
    pub fn namesrv_addr(&self) -> Option<SocketAddr> {
        self.namesrv.as_ref().map(NameServer::local_addr)
    }

    /// Pauses (or resumes) shard `shard`'s inbox loop: while paused it takes nothing from its
    /// peers, so their forwards to it time out and their state copies wait. For tests and
    /// diagnostics of the cross-shard paths; a broker never pauses itself.
    pub fn pause_inbox(&self, shard: usize, paused: bool) {
        if let Some(p) = self.hooks.paused.get(shard) {
            p.store(paused, Ordering::Relaxed);
        }
    }

    /// Stops accepting, lets in-flight writes finish, flushes, checkpoints and waits.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake every accept loop.
        let mut wake = vec![self.config.listen];
        wake.extend(
            (0..self.config.shards)
                .map(|k| SocketAddr::new(self.config.listen.ip(), self.config.shard_port(k))),
        );
        for mut addr in wake {
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            for _ in 0..self.config.shards {
                let _ = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200));
            }
        }
        if let Some(pool) = self.pool.take() {
            let _ = pool.join();
        }
        if let Some(ns) = self.namesrv.take() {
            ns.stop();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn run_shard(
    config: Arc<BrokerConfig>,
    mesh: MeshBuilders,
    stop: Arc<AtomicBool>,
    hooks: Arc<Hooks>,
    namesrv: Vec<SocketAddr>,
    ready: mpsc::Sender<Result<usize, String>>,
) -> Result<(), String> {
    let (senders, inbound) = mesh
        .join()
        .await
        .map_err(|e| format!("joining the shard mesh failed: {e}"))?;
    let id = senders.id();
    let config = Rc::new((*config).clone());
    let mut store_config = StoreConfig::new(&config.data_dir, id as u16);
    store_config.flush = match config.flush {
        FlushDiskType::Async => FlushMode::Async,
        FlushDiskType::Sync => FlushMode::Sync,
    };
    store_config.retention_hours = config.file_reserved_hours;
    store_config.segment_bytes = config.commit_log_segment_bytes;
    store_config.cq_entries_per_file = config.consume_queue_entries_per_file;
    store_config.disk_max_used_ratio = config.disk_max_used_ratio;
    store_config.store_host = config.advertised_addr();
    let (store, recovered) = Store::open(store_config)
        .await
        .map_err(|e| format!("shard {id}: {e}"))?;
    if let Some((at, why)) = recovered.cut {
        warn!(shard = id, at, %why, "the commit log's torn tail was cut");
    }
    let offsets: ConsumerOffsets =
        metadata::read_json(&persist::offsets_path(&config.data_dir, id))
            .map_err(|e| format!("shard {id}: {e}"))?
            .unwrap_or_default();
    let shard = Shard::new(id, config.clone(), store, senders, offsets);
    let topics: Option<TopicConfigs> =
        metadata::read_json(&config.data_dir.join(metadata::TOPICS_FILE))
            .map_err(|e| format!("shard {id}: {e}"))?;
    for t in topics.map(|t| t.table).unwrap_or_default().into_values() {
        let spread = t
            .attributes
            .get(crate::handlers::SHARDS_ATTRIBUTE)
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0);
        if spread > config.shards {
            return Err(format!(
                "topic {} was created with {spread} shards and its queues live on all of them; start with --shards {spread} or more",
                t.topic_name
            ));
        }
        apply_topic(&shard, t);
    }
    let moves: Option<crate::moves::QueueMoves> =
        metadata::read_json(&config.data_dir.join(MOVES_FILE))
            .map_err(|e| format!("shard {id}: {e}"))?;
    if let Some(mut moves) = moves {
        moves.reindex();
        for m in moves.moves_to(id) {
            shard
                .store
                .start_queue_at(&m.topic, m.queue_id, m.boundary)
                .map_err(|e| {
                    format!(
                        "shard {id}: restoring moved queue {}:{}: {e}",
                        m.topic, m.queue_id
                    )
                })?;
        }
        shard.load_moves(moves);
    }
    let weak = Rc::downgrade(&shard);
    shard
        .store
        .set_arrival_listener(Box::new(move |topic, queue_id, _max| {
            if let Some(shard) = weak.upgrade() {
                shard.wake_pulls(topic, queue_id);
            }
        }));
    glommio::spawn_local(crate::shard::inbox::run(
        shard.clone(),
        inbound,
        hooks.clone(),
    ))
    .detach();
    for peer in (0..config.shards).filter(|p| *p != id) {
        glommio::spawn_local(mesh::pump(shard.clone(), peer)).detach();
    }
    let main = listen(config.listen).map_err(|e| {
        format!(
            "shard {id}: cannot listen on {}: {e} (port taken? use --listen)",
            config.listen
        )
    })?;
    let own_addr = SocketAddr::new(config.listen.ip(), config.shard_port(id));
    let own = listen(own_addr).map_err(|e| {
        format!("shard {id}: cannot listen on shard port {own_addr}: {e} (use --shard-port-base)")
    })?;
    for listener in [main, own] {
        let shard = shard.clone();
        let stop = stop.clone();
        glommio::spawn_local(async move {
            loop {
                let accepted = listener.accept().await;
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                match accepted {
                    Ok(stream) => {
                        glommio::spawn_local(crate::conn::serve(shard.clone(), stream)).detach()
                    }
                    Err(e) => {
                        warn!("accept failed: {e}");
                        glommio::timer::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
            }
        })
        .detach();
    }
    hooks.accepting.fetch_add(1, Ordering::SeqCst);
    let registration = if id == 0 {
        namesrv
            .iter()
            .map(|addr| {
                let (stop, hooks, shard, addr) =
                    (stop.clone(), hooks.clone(), shard.clone(), *addr);
                glommio::spawn_local(async move {
                    // Routes name every shard's port: publish them once all accept (a
                    // restart recovering a large log would otherwise refuse first sends).
                    while hooks.accepting.load(Ordering::SeqCst) < shard.shards
                        && !stop.load(Ordering::SeqCst)
                    {
                        glommio::timer::sleep(Duration::from_millis(5)).await;
                    }
                    crate::registration::keep_registered(shard, addr, move || {
                        stop.load(Ordering::SeqCst)
                    })
                    .await
                })
                .detach()
            })
            .collect()
    } else {
        Vec::new()
    };
    let persister = Rc::new(Persister::default());
    let saver = {
        let stop = stop.clone();
        glommio::spawn_local(persist::run(shard.clone(), persister.clone(), move || {
            stop.load(Ordering::SeqCst)
        }))
    };
    let delays = glommio::spawn_local(crate::schedule::delay::run(shard.clone()));
    let timer = glommio::spawn_local(crate::schedule::timer::run(shard.clone()));
    let cleanup = glommio::spawn_local(crate::retention::run(shard.clone()));
    let _ = ready.send(Ok(id));
    let mut last_expiry = std::time::Instant::now();
    while !stop.load(Ordering::SeqCst) {
        glommio::timer::sleep(Duration::from_millis(50)).await;
        shard.expire_forwards();
        if last_expiry.elapsed() >= crate::handlers::CLIENT_SCAN_EVERY {
            last_expiry = std::time::Instant::now();
            crate::handlers::expire_clients(&shard);
        }
    }
    shard.set_stopping();
    for task in registration {
        let _ = task.await;
    }
    // The schedulers finish their deliveries in flight and save their progress.
    delays.await;
    timer.await;
    cleanup.await;
    if let Err(e) = shard.store.close().await {
        warn!(shard = id, "closing the store: {e}");
    }
    saver.await;
    persister.save(&shard, true).await;
    crate::shard::log_counters(&shard);
    info!(shard = id, "shard stopped");
    Ok(())
}

/// A listener for this shard: SO_REUSEPORT so every shard can accept on the main port, and
/// SO_REUSEADDR so that a restart is not refused for a minute by the closed connections of
/// the previous run lingering in TIME_WAIT (glommio's own bind sets only the former).
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    let fd = std::os::fd::IntoRawFd::into_raw_fd(socket);
    // SAFETY: `fd` is a bound, listening TCP socket that `into_raw_fd` released to us; the
    // listener becomes its only owner.
    #[allow(unsafe_code)]
    Ok(unsafe { <TcpListener as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}
