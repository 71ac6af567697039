//! The network side: one glommio executor on its own thread accepts connections, reads
//! frames, runs the handlers against the registry and writes each read's replies in one
//! write. A timer drops brokers that stopped sending heartbeats.

use std::cell::RefCell;
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::os::fd::{FromRawFd, IntoRawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use glommio::{LocalExecutorBuilder, Placement};
use shardmq_protocol::codes::{response_code, SerializeType};
use shardmq_protocol::command::{Command, Head};
use shardmq_protocol::frame::{FrameDecoder, DEFAULT_MAX_FRAME_BYTES};
use shardmq_protocol::Error as WireError;
use tracing::{debug, info, warn};

use crate::handler::{handle, Context};
use crate::registry::{ConnectionId, Registry};

/// Name-server settings.
#[derive(Debug, Clone)]
pub struct NamesrvConfig {
    /// Where to listen (RocketMQ's default port is 9876).
    pub listen: SocketAddr,
    /// A broker that does not say its own heartbeat timeout is dropped after this.
    pub default_broker_timeout: Duration,
    /// How often silent brokers are looked for.
    pub scan_interval: Duration,
    /// Frames longer than this close the connection.
    pub max_frame_bytes: usize,
    /// Bytes read from a socket at a time.
    pub read_chunk_bytes: usize,
    /// glommio's registered I/O memory for the executor (the name server does no file I/O).
    pub io_memory_bytes: usize,
}

impl Default for NamesrvConfig {
    fn default() -> Self {
        NamesrvConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 9876)),
            default_broker_timeout: Duration::from_secs(120),
            scan_interval: Duration::from_secs(5),
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            read_chunk_bytes: 64 * 1024,
            io_memory_bytes: 256 * 1024,
        }
    }
}

/// A running name server. Dropping it stops it.
pub struct NameServer {
    local_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl NameServer {
    /// Binds, starts the executor thread, and returns once it accepts connections.
    pub fn start(config: NamesrvConfig) -> io::Result<NameServer> {
        // Bind with std first: glommio's own bind sets SO_REUSEPORT, which would let a second
        // name server silently share a port that is already taken.
        let listener = StdListener::bind(config.listen).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot listen on {}: {e} (is another name server running? use --listen)",
                    config.listen
                ),
            )
        })?;
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel::<()>();
        let stop_flag = stop.clone();
        let fd = listener.into_raw_fd();
        let executor = LocalExecutorBuilder::new(Placement::Unbound)
            .name("mqnamesrv")
            .io_memory(config.io_memory_bytes)
            .spawn(move || async move {
                // SAFETY: `fd` is a bound, listening socket that `into_raw_fd` released to us;
                // nothing else owns or closes it.
                #[allow(unsafe_code)]
                let listener = unsafe { TcpListener::from_raw_fd(fd) };
                serve(listener, config, stop_flag, ready_tx).await
            })
            .map_err(|e| {
                io::Error::other(format!("cannot start the name server's executor: {e}"))
            })?;
        let thread = std::thread::spawn(move || {
            if let Err(e) = executor.join() {
                warn!("name server executor ended with an error: {e}");
            }
        });
        if ready_rx.recv_timeout(Duration::from_secs(10)).is_err() {
            let _ = thread.join();
            return Err(io::Error::other(
                "the name server's executor did not start: io_uring may be unavailable or the \
                 locked-memory limit too low (raise `ulimit -l` / LimitMEMLOCK; see tuning/README.md)",
            ));
        }
        info!(%local_addr, "name server listening");
        Ok(NameServer {
            local_addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The address it listens on (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, drops every connection and waits for the executor to end.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.stop.store(true, Ordering::SeqCst);
            // Wake the accept loop so it sees the flag.
            let mut wake = self.local_addr;
            if wake.ip().is_unspecified() {
                wake.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            let _ = std::net::TcpStream::connect_timeout(&wake, Duration::from_secs(1));
            let _ = thread.join();
        }
    }
}

impl Drop for NameServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn serve(
    listener: TcpListener,
    config: NamesrvConfig,
    stop: Arc<AtomicBool>,
    ready: mpsc::Sender<()>,
) {
    let registry = Rc::new(RefCell::new(Registry::new()));
    let config = Rc::new(config);
    glommio::spawn_local(expire_silent_brokers(
        registry.clone(),
        config.clone(),
        stop.clone(),
    ))
    .detach();
    let _ = ready.send(());
    let mut next_connection: ConnectionId = 0;
    loop {
        let accepted = listener.accept().await;
        if stop.load(Ordering::SeqCst) {
            break;
        }
        match accepted {
            Ok(stream) => {
                next_connection += 1;
                let _ = stream.set_nodelay(true);
                glommio::spawn_local(serve_connection(
                    stream,
                    next_connection,
                    registry.clone(),
                    config.clone(),
                ))
                .detach();
            }
            Err(e) => {
                warn!("accept failed: {e}");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    info!("name server stopped");
}

async fn expire_silent_brokers(
    registry: Rc<RefCell<Registry>>,
    config: Rc<NamesrvConfig>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::SeqCst) {
        glommio::timer::sleep(config.scan_interval).await;
        let expired = registry.borrow_mut().expire(Instant::now());
        for addr in expired {
            info!(broker = %addr, "broker expired: no heartbeat within its timeout");
        }
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    id: ConnectionId,
    registry: Rc<RefCell<Registry>>,
    config: Rc<NamesrvConfig>,
) {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    debug!(connection = id, %peer, "connection opened");
    let decoder = FrameDecoder::new(config.max_frame_bytes);
    let mut chunk = vec![0u8; config.read_chunk_bytes];
    let mut input = BytesMut::with_capacity(config.read_chunk_bytes);
    let mut output = BytesMut::with_capacity(config.read_chunk_bytes);
    let reason = loop {
        let n = match stream.read(&mut chunk).await {
            Ok(0) if input.is_empty() => break "closed by peer".to_string(),
            Ok(0) => {
                break format!(
                    "closed by peer inside a frame ({} bytes pending)",
                    input.len()
                )
            }
            Ok(n) => n,
            Err(e) => break format!("read failed: {e}"),
        };
        input.extend_from_slice(&chunk[..n]);
        if let Err(e) = handle_frames(&decoder, &mut input, &mut output, id, &registry, &config) {
            break format!("unframeable input, closing: {e}");
        }
        if !output.is_empty() {
            if let Err(e) = stream.write_all(&output).await {
                break format!("write failed: {e}");
            }
            output.clear();
        }
    };
    let dropped = registry.borrow_mut().connection_closed(id);
    debug!(connection = id, %peer, %reason, "connection closed");
    for addr in dropped {
        info!(broker = %addr, "broker dropped: its connection closed");
    }
}

/// Handles every whole frame in `input`, appending replies to `output`. An error means the
/// stream can no longer be framed.
fn handle_frames(
    decoder: &FrameDecoder,
    input: &mut BytesMut,
    output: &mut BytesMut,
    connection: ConnectionId,
    registry: &Rc<RefCell<Registry>>,
    config: &NamesrvConfig,
) -> Result<(), WireError> {
    while let Some(frame) = decoder.decode(input)? {
        let serialize_type = frame.serialize_type;
        let opaque = frame.opaque_hint();
        let reply = match Command::decode(frame) {
            Ok(request) => {
                let mut registry = registry.borrow_mut();
                let mut ctx = Context {
                    registry: &mut registry,
                    connection,
                    now: Instant::now(),
                    default_broker_timeout: config.default_broker_timeout,
                };
                handle(&mut ctx, &request)
            }
            Err(e) => {
                warn!(connection, "bad request header: {e}");
                Some(undecodable_reply(opaque, serialize_type, &e))
            }
        };
        if let Some(reply) = reply {
            reply.encode(output);
        }
    }
    Ok(())
}

fn undecodable_reply(opaque: i32, serialize_type: SerializeType, error: &WireError) -> Command {
    let request = Head {
        opaque,
        ..Head::default()
    };
    Command::error_to_head(
        &request,
        serialize_type,
        response_code::SYSTEM_ERROR,
        error.to_string(),
    )
}
