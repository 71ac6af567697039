//! One connection to a broker or name server: a writer thread that sends every queued request
//! in one write, a reader thread that completes requests by opaque; callers wait on a flume
//! channel, blocking (`recv_timeout`) or as a future (`recv_async`), from any runtime.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use shardmq_protocol::codes::{SerializeType, FLAG_ONEWAY};
use shardmq_protocol::command::{encode_frame, Command, Head};
use shardmq_protocol::ext::WriteFields;
use shardmq_protocol::frame::FrameDecoder;

use crate::error::{ClientError, Result};

/// Requests queued for the writer before callers wait (backpressure).
const OUTGOING_DEPTH: usize = 4096;
type Waiters = Arc<Mutex<HashMap<i32, flume::Sender<Result<Command>>>>>;

/// A handler for requests the server sends (NOTIFY_CONSUMER_IDS_CHANGED, ...).
pub type ServerRequests = flume::Sender<Command>;

/// A connection shared by all callers; cheap to clone.
#[derive(Clone)]
pub struct Connection {
    addr: SocketAddr,
    outgoing: flume::Sender<BytesMut>,
    waiters: Waiters,
    next_opaque: Arc<AtomicI32>,
    closed: Arc<AtomicBool>,
    stream: Arc<TcpStream>,
}

/// A reply that may be awaited or blocked on.
pub struct PendingReply {
    addr: SocketAddr,
    what: &'static str,
    rx: flume::Receiver<Result<Command>>,
}

impl PendingReply {
    /// Blocks until the reply arrives or `timeout` passes.
    pub fn wait(self, timeout: Duration) -> Result<Command> {
        match self.rx.recv_timeout(timeout) {
            Ok(reply) => reply,
            Err(flume::RecvTimeoutError::Timeout) => Err(ClientError::Timeout {
                addr: self.addr,
                what: self.what,
                timeout_ms: timeout.as_millis() as u64,
            }),
            Err(flume::RecvTimeoutError::Disconnected) => Err(ClientError::Closed {
                addr: self.addr,
                what: self.what,
            }),
        }
    }

    /// Whether the reply (or the connection's failure) has arrived: `wait` won't block.
    pub fn is_ready(&self) -> bool {
        !self.rx.is_empty() || self.rx.is_disconnected()
    }

    /// Waits as a future (any runtime).
    pub async fn wait_async(self) -> Result<Command> {
        match self.rx.recv_async().await {
            Ok(reply) => reply,
            Err(_) => Err(ClientError::Closed {
                addr: self.addr,
                what: self.what,
            }),
        }
    }
}

impl Connection {
    /// Connects and starts the reader and writer threads. Requests the server sends go to
    /// `server_requests` when given.
    pub fn connect(
        addr: SocketAddr,
        timeout: Duration,
        server_requests: Option<ServerRequests>,
    ) -> Result<Connection> {
        let io = |source| ClientError::Io { addr, source };
        let stream = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
        stream.set_nodelay(true).map_err(io)?;
        let reader = stream.try_clone().map_err(io)?;
        let mut writer = stream.try_clone().map_err(io)?;
        let (outgoing, queue) = flume::bounded::<BytesMut>(OUTGOING_DEPTH);
        let waiters: Waiters = Arc::default();
        let closed = Arc::new(AtomicBool::new(false));
        std::thread::Builder::new()
            .name(format!("shardmq-write-{addr}"))
            .spawn(move || {
                while let Ok(mut batch) = queue.recv() {
                    // Everything already queued goes out in the same write.
                    while let Ok(more) = queue.try_recv() {
                        batch.extend_from_slice(&more);
                    }
                    if writer.write_all(&batch).is_err() {
                        return;
                    }
                }
            })
            .map_err(io)?;
        let (w, c) = (waiters.clone(), closed.clone());
        std::thread::Builder::new()
            .name(format!("shardmq-read-{addr}"))
            .spawn(move || read_loop(addr, reader, w, c, server_requests))
            .map_err(io)?;
        Ok(Connection {
            addr,
            outgoing,
            waiters,
            next_opaque: Arc::new(AtomicI32::new(1)),
            closed,
            stream: Arc::new(stream),
        })
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// True once the connection failed or closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Sends a request (binary header) and returns its pending reply.
    pub fn request<H: WriteFields>(
        &self,
        what: &'static str,
        code: i32,
        header: &H,
        body: &[u8],
    ) -> Result<PendingReply> {
        if self.is_closed() {
            return Err(ClientError::Closed {
                addr: self.addr,
                what,
            });
        }
        let opaque = self.next_opaque.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = flume::bounded(1);
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(opaque, tx);
        let mut frame = BytesMut::with_capacity(256 + body.len());
        encode_frame(
            &Head::request(code, opaque),
            SerializeType::RocketMq,
            header,
            body,
            &mut frame,
        );
        if self.outgoing.send(frame).is_err() {
            self.waiters
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&opaque);
            return Err(ClientError::Closed {
                addr: self.addr,
                what,
            });
        }
        Ok(PendingReply {
            addr: self.addr,
            what,
            rx,
        })
    }

    /// Sends a request that wants no reply.
    pub fn oneway<H: WriteFields>(
        &self,
        what: &'static str,
        code: i32,
        header: &H,
        body: &[u8],
    ) -> Result<()> {
        let mut head = Head::request(code, self.next_opaque.fetch_add(1, Ordering::Relaxed));
        head.flag = FLAG_ONEWAY;
        let mut frame = BytesMut::with_capacity(256 + body.len());
        encode_frame(&head, SerializeType::RocketMq, header, body, &mut frame);
        self.outgoing.send(frame).map_err(|_| ClientError::Closed {
            addr: self.addr,
            what,
        })
    }

    /// Closes the socket; waiting callers get `Closed`.
    pub fn close(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

fn read_loop(
    addr: SocketAddr,
    mut stream: TcpStream,
    waiters: Waiters,
    closed: Arc<AtomicBool>,
    server: Option<ServerRequests>,
) {
    let decoder = FrameDecoder::default();
    let mut input = BytesMut::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    'read: loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        input.extend_from_slice(&chunk[..n]);
        loop {
            let frame = match decoder.decode(&mut input) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => break 'read,
            };
            let cmd = match Command::decode(frame) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(%addr, "undecodable frame: {e}");
                    continue;
                }
            };
            if !cmd.head.is_response() {
                if let Some(server) = &server {
                    let _ = server.try_send(cmd);
                }
                continue;
            }
            let waiter = waiters
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&cmd.head.opaque);
            if let Some(waiter) = waiter {
                let _ = waiter.send(Ok(cmd));
            }
        }
    }
    closed.store(true, Ordering::Release);
    // Dropping the senders wakes every waiter with `Closed`.
    waiters.lock().unwrap_or_else(|p| p.into_inner()).clear();
}

/// Turns a reply into an error unless its code is one of `ok`.
pub fn expect(reply: Command, addr: SocketAddr, what: &'static str, ok: &[i32]) -> Result<Command> {
    if ok.contains(&reply.head.code) {
        Ok(reply)
    } else {
        Err(ClientError::Server {
            addr,
            what,
            code: reply.head.code,
            remark: reply.head.remark.as_deref().unwrap_or("").to_owned(),
        })
    }
}
