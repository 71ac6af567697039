//! One connection to a broker or name server. Callers encode their request straight into one
//! shared outgoing buffer; a writer thread, woken only when it is idle, takes everything
//! buffered and sends it in one write. A reader thread completes requests by opaque through
//! a oneshot channel per request; callers wait blocking (`wait`) or as a future
//! (`wait_async`), from any runtime. A caller with many requests out at once (a pull
//! consumer long-polling each of its queues) can have their replies delivered to one
//! [`Inbox`] instead, tagged, and wait for whichever comes first.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rustc_hash::FxHashMap;
use shardmq_protocol::codes::{SerializeType, FLAG_ONEWAY};
use shardmq_protocol::command::{encode_frame, Command, Head};
use shardmq_protocol::ext::WriteFields;
use shardmq_protocol::frame::FrameDecoder;

use crate::error::{ClientError, Result};

/// Bytes buffered for the writer before callers wait for it (backpressure). A frame is
/// appended whenever the buffer holds less than this, so one frame may exceed it.
pub const MAX_OUTGOING_BYTES: usize = 4 * 1024 * 1024;

/// Capacity the outgoing buffers start with.
const INITIAL_OUTGOING_BYTES: usize = 64 * 1024;

/// How many times an idle writer that was just woken yields while the buffer keeps growing.
const LINGER_YIELDS: usize = 8;
/// A woken writer stops waiting for more once this much is buffered.
const LINGER_BYTES: usize = 64 * 1024;

/// A reply and when the reader took it off the socket.
type ReplySender = oneshot::Sender<(Command, Instant)>;

/// Where [`Connection::request_into`] delivers replies: the caller's tag and the reply, or
/// why none will come (the connection closed). Unbounded, so the reader never waits on a
/// caller: whoever owns the receiving end bounds how many requests it keeps outstanding.
pub type Inbox = flume::Sender<(u64, Result<Command>)>;

/// Who waits for a reply.
enum Waiter {
    /// One caller, through its own channel.
    Once(ReplySender),
    /// A shared inbox, with the caller's tag and what the request was (for `Closed`).
    Inbox {
        inbox: Inbox,
        tag: u64,
        what: &'static str,
    },
}

impl Waiter {
    fn complete(self, reply: Command, received: Instant) {
        match self {
            Waiter::Once(tx) => {
                let _ = tx.send((reply, received));
            }
            Waiter::Inbox { inbox, tag, .. } => {
                let _ = inbox.send((tag, Ok(reply)));
            }
        }
    }

    /// The connection closed: a one-shot waiter learns it from its dropped sender; an
    /// inbox is told.
    fn fail(self, addr: SocketAddr) {
        if let Waiter::Inbox { inbox, tag, what } = self {
            let _ = inbox.send((tag, Err(ClientError::Closed { addr, what })));
        }
    }
}

/// A handler for requests the server sends (NOTIFY_CONSUMER_IDS_CHANGED, ...).
pub type ServerRequests = flume::Sender<Command>;

/// What callers, the writer and the reader share, under one lock.
struct State {
    /// Encoded frames not yet taken by the writer.
    out: BytesMut,
    /// The writer is waiting for `out` to fill: the next caller wakes it.
    writer_idle: bool,
    /// Callers waiting for room in `out`.
    full_waiters: usize,
    /// The connection failed or closed: no more requests.
    closed: bool,
    /// Every `Connection` handle is gone: the writer sends what is left, then exits.
    dropped: bool,
    /// Requests waiting for their reply, by opaque.
    waiters: FxHashMap<i32, Waiter>,
}

struct Shared {
    /// The server's address (for the errors of inbox waiters).
    addr: SocketAddr,
    state: Mutex<State>,
    /// Wakes the idle writer.
    writer_wake: Condvar,
    /// Wakes callers waiting for room.
    room: Condvar,
    /// Mirrors `State::closed` for lock-free checks.
    closed: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks the connection dead: callers get `Closed`, waiting callers and the writer wake,
    /// and dropping the reply senders wakes every waiting request with `Closed`.
    fn close(&self) {
        let waiters = {
            let mut state = self.lock();
            state.closed = true;
            self.closed.store(true, Ordering::Release);
            std::mem::take(&mut state.waiters)
        };
        self.writer_wake.notify_one();
        self.room.notify_all();
        for (_, waiter) in waiters {
            waiter.fail(self.addr);
        }
    }
}

/// The part of a connection its handles share; dropping the last one stops the writer.
struct Handle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    next_opaque: AtomicI32,
    stream: TcpStream,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.lock().dropped = true;
        self.shared.writer_wake.notify_one();
    }
}

/// A connection shared by all callers; cheap to clone.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Handle>,
}

/// A reply that may be awaited or blocked on.
pub struct PendingReply {
    addr: SocketAddr,
    what: &'static str,
    rx: oneshot::Receiver<(Command, Instant)>,
}

impl PendingReply {
    /// Blocks until the reply arrives or `timeout` passes.
    pub fn wait(self, timeout: Duration) -> Result<Command> {
        self.wait_received(timeout).map(|(reply, _)| reply)
    }

    /// Like [`PendingReply::wait`], and also says when the connection's reader received the
    /// reply (not when this call saw it): what a latency measurement should stop at.
    pub fn wait_received(self, timeout: Duration) -> Result<(Command, Instant)> {
        // A reply that is already there needs no clock read.
        match self.rx.try_recv() {
            Ok(reply) => return Ok(reply),
            Err(oneshot::TryRecvError::Disconnected) => return Err(self.closed()),
            Err(oneshot::TryRecvError::Empty) => {}
        }
        match self.rx.recv_timeout(timeout) {
            Ok(reply) => Ok(reply),
            Err(oneshot::RecvTimeoutError::Timeout) => Err(ClientError::Timeout {
                addr: self.addr,
                what: self.what,
                timeout_ms: timeout.as_millis() as u64,
            }),
            Err(oneshot::RecvTimeoutError::Disconnected) => Err(self.closed()),
        }
    }

    /// Whether the reply (or the connection's failure) has arrived: `wait` won't block.
    pub fn is_ready(&self) -> bool {
        self.rx.has_message() || self.rx.is_closed()
    }

    /// Waits as a future (any runtime).
    pub async fn wait_async(self) -> Result<Command> {
        let (addr, what) = (self.addr, self.what);
        match self.rx.await {
            Ok((reply, _)) => Ok(reply),
            Err(_) => Err(ClientError::Closed { addr, what }),
        }
    }

    fn closed(&self) -> ClientError {
        ClientError::Closed {
            addr: self.addr,
            what: self.what,
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
        let writer = stream.try_clone().map_err(io)?;
        let shared = Arc::new(Shared {
            addr,
            state: Mutex::new(State {
                out: BytesMut::with_capacity(INITIAL_OUTGOING_BYTES),
                writer_idle: false,
                full_waiters: 0,
                closed: false,
                dropped: false,
                waiters: FxHashMap::default(),
            }),
            writer_wake: Condvar::new(),
            room: Condvar::new(),
            closed: AtomicBool::new(false),
        });
        let s = shared.clone();
        std::thread::Builder::new()
            .name(format!("shardmq-write-{addr}"))
            .spawn(move || write_loop(writer, s))
            .map_err(io)?;
        let s = shared.clone();
        std::thread::Builder::new()
            .name(format!("shardmq-read-{addr}"))
            .spawn(move || read_loop(addr, reader, s, server_requests))
            .map_err(io)?;
        Ok(Connection {
            inner: Arc::new(Handle {
                addr,
                shared,
                next_opaque: AtomicI32::new(1),
                stream,
            }),
        })
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// True once the connection failed or closed.
    pub fn is_closed(&self) -> bool {
        self.inner.shared.closed.load(Ordering::Acquire)
    }

    /// Sends a request (binary header) and returns its pending reply.
    pub fn request<H: WriteFields + ?Sized>(
        &self,
        what: &'static str,
        code: i32,
        header: &H,
        body: &[u8],
    ) -> Result<PendingReply> {
        let opaque = self.inner.next_opaque.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let head = Head::request(code, opaque);
        self.enqueue(what, &head, header, body, Some(Waiter::Once(tx)))?;
        Ok(PendingReply {
            addr: self.inner.addr,
            what,
            rx,
        })
    }

    /// Sends a request whose reply goes to `inbox` with `tag`, or `Closed` there if the
    /// connection fails first. Nothing times out on its own: the caller decides when it has
    /// waited long enough (a reply after that should be recognised by its tag and dropped).
    pub fn request_into<H: WriteFields + ?Sized>(
        &self,
        what: &'static str,
        code: i32,
        header: &H,
        body: &[u8],
        inbox: &Inbox,
        tag: u64,
    ) -> Result<()> {
        let opaque = self.inner.next_opaque.fetch_add(1, Ordering::Relaxed);
        let waiter = Waiter::Inbox {
            inbox: inbox.clone(),
            tag,
            what,
        };
        self.enqueue(
            what,
            &Head::request(code, opaque),
            header,
            body,
            Some(waiter),
        )
    }

    /// Sends a request that wants no reply.
    pub fn oneway<H: WriteFields + ?Sized>(
        &self,
        what: &'static str,
        code: i32,
        header: &H,
        body: &[u8],
    ) -> Result<()> {
        let mut head = Head::request(code, self.inner.next_opaque.fetch_add(1, Ordering::Relaxed));
        head.flag = FLAG_ONEWAY;
        self.enqueue(what, &head, header, body, None)
    }

    /// Encodes the frame into the outgoing buffer (waiting while it is full), registers the
    /// reply's waiter, and wakes the writer if it is idle.
    fn enqueue<H: WriteFields + ?Sized>(
        &self,
        what: &'static str,
        head: &Head,
        header: &H,
        body: &[u8],
        reply: Option<Waiter>,
    ) -> Result<()> {
        let shared = &self.inner.shared;
        let mut state = shared.lock();
        while state.out.len() >= MAX_OUTGOING_BYTES && !state.closed {
            state.full_waiters += 1;
            state = shared.room.wait(state).unwrap_or_else(|p| p.into_inner());
            state.full_waiters -= 1;
        }
        if state.closed {
            return Err(ClientError::Closed {
                addr: self.inner.addr,
                what,
            });
        }
        if let Some(tx) = reply {
            state.waiters.insert(head.opaque, tx);
        }
        encode_frame(head, SerializeType::RocketMq, header, body, &mut state.out);
        let wake = std::mem::take(&mut state.writer_idle);
        drop(state);
        if wake {
            shared.writer_wake.notify_one();
        }
        Ok(())
    }

    /// Closes the socket; waiting callers get `Closed`.
    pub fn close(&self) {
        let _ = self.inner.stream.shutdown(Shutdown::Both);
    }
}

/// Takes everything buffered and writes it in one `write_all`, sleeping only when nothing is.
fn write_loop(mut stream: TcpStream, shared: Arc<Shared>) {
    let mut batch = BytesMut::with_capacity(INITIAL_OUTGOING_BYTES);
    loop {
        {
            let mut state = shared.lock();
            let mut slept = false;
            while state.out.is_empty() && !state.closed && !state.dropped {
                state.writer_idle = true;
                slept = true;
                state = shared
                    .writer_wake
                    .wait(state)
                    .unwrap_or_else(|p| p.into_inner());
            }
            state.writer_idle = false;
            if slept {
                // Woken by the first request of what is often a burst: let the caller add
                // the rest while it keeps coming, so one write carries it.
                let mut seen = state.out.len();
                for _ in 0..LINGER_YIELDS {
                    drop(state);
                    std::thread::yield_now();
                    state = shared.lock();
                    let now = state.out.len();
                    if now == seen || now >= LINGER_BYTES {
                        break;
                    }
                    seen = now;
                }
            }
            if state.closed || (state.dropped && state.out.is_empty()) {
                return;
            }
            std::mem::swap(&mut state.out, &mut batch);
            if state.full_waiters > 0 {
                shared.room.notify_all();
            }
        }
        if stream.write_all(&batch).is_err() {
            // The connection is dead: the reader sees it too and fails the waiters.
            let _ = stream.shutdown(Shutdown::Both);
            shared.close();
            return;
        }
        batch.clear();
        if batch.capacity() > MAX_OUTGOING_BYTES * 2 {
            // One huge frame went out: don't keep its buffer forever.
            batch = BytesMut::with_capacity(INITIAL_OUTGOING_BYTES);
        }
    }
}

fn read_loop(
    addr: SocketAddr,
    mut stream: TcpStream,
    shared: Arc<Shared>,
    server: Option<ServerRequests>,
) {
    let decoder = FrameDecoder::default();
    let mut input = BytesMut::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut replies: Vec<Command> = Vec::new();
    let mut completing: Vec<(Waiter, Command)> = Vec::new();
    'read: loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // Every reply this read completes counts as received now.
        let received = Instant::now();
        input.extend_from_slice(&chunk[..n]);
        let mut broken = false;
        loop {
            let frame = match decoder.decode(&mut input) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => {
                    broken = true;
                    break;
                }
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
            replies.push(cmd);
        }
        // One lock for every reply of this read; the callers are woken outside it.
        if !replies.is_empty() {
            let mut state = shared.lock();
            for cmd in replies.drain(..) {
                if let Some(tx) = state.waiters.remove(&cmd.head.opaque) {
                    completing.push((tx, cmd));
                }
            }
            drop(state);
            for (waiter, cmd) in completing.drain(..) {
                waiter.complete(cmd, received);
            }
        }
        if broken {
            break 'read;
        }
    }
    // Dropping the senders wakes every waiter with `Closed`.
    shared.close();
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

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use bytes::Bytes;
    use shardmq_protocol::codes::response_code;

    use super::*;

    /// A server on loopback; `serve` gets the accepted stream.
    fn server(serve: impl FnOnce(TcpStream) + Send + 'static) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            serve(stream);
        });
        addr
    }

    /// Reads whole commands off `stream` until it closes, calling `each`.
    fn each_request(mut stream: TcpStream, mut each: impl FnMut(&mut TcpStream, Command)) {
        let decoder = FrameDecoder::default();
        let mut input = BytesMut::new();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            input.extend_from_slice(&chunk[..n]);
            while let Ok(Some(frame)) = decoder.decode(&mut input) {
                let cmd = Command::decode(frame).unwrap();
                each(&mut stream, cmd);
            }
        }
    }

    #[test]
    fn a_reply_is_stamped_when_the_reader_receives_it_not_when_the_caller_waits() {
        // The server answers at once; the caller looks only 300 ms later.
        let addr = server(|stream| {
            each_request(stream, |s, cmd| {
                let mut out = BytesMut::new();
                Command::ok(&cmd, Bytes::new()).encode(&mut out);
                s.write_all(&out).unwrap();
            })
        });
        let conn = Connection::connect(addr, Duration::from_secs(2), None).unwrap();
        let sent = Instant::now();
        let pending = conn.request("TEST", 1, &(), b"x").unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let looked = Instant::now();
        let (reply, received) = pending.wait_received(Duration::from_secs(5)).unwrap();
        assert_eq!(reply.head.code, response_code::SUCCESS);
        assert!(received >= sent, "stamped before the request was sent");
        assert!(
            received < looked,
            "stamped when the caller looked ({:?} after sending), not on arrival",
            received - sent
        );
    }

    #[test]
    fn replies_complete_requests_and_server_requests_are_delivered() {
        let addr = server(|stream| {
            each_request(stream, |s, cmd| {
                let mut out = BytesMut::new();
                if cmd.head.code == 77 {
                    // A notification first, then the reply.
                    Command::new(
                        Head::request(40, 900),
                        SerializeType::RocketMq,
                        &(),
                        Bytes::new(),
                    )
                    .encode(&mut out);
                }
                if !cmd.head.is_oneway() {
                    Command::ok(&cmd, cmd.body.clone()).encode(&mut out);
                }
                s.write_all(&out).unwrap();
            })
        });
        let (notify_tx, notify_rx) = flume::unbounded();
        let conn = Connection::connect(addr, Duration::from_secs(2), Some(notify_tx)).unwrap();
        conn.oneway("ONEWAY", 5, &(), b"ignored").unwrap();
        let pending: Vec<PendingReply> = (0..1000)
            .map(|i| {
                let body = format!("m{i}");
                conn.request("TEST", if i == 500 { 77 } else { 1 }, &(), body.as_bytes())
                    .unwrap()
            })
            .collect();
        for (i, p) in pending.into_iter().enumerate() {
            let reply = p.wait(Duration::from_secs(5)).unwrap();
            assert_eq!(reply.head.code, response_code::SUCCESS);
            assert_eq!(reply.body.as_ref(), format!("m{i}").as_bytes());
        }
        let notification = notify_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(notification.head.code, 40);
        let p = conn.request("TEST", 1, &(), b"async").unwrap();
        let reply = futures_lite::future::block_on(p.wait_async()).unwrap();
        assert_eq!(reply.body.as_ref(), b"async");
    }

    #[test]
    fn unanswered_requests_time_out_then_fail_closed_when_the_connection_dies() {
        let (close_tx, close_rx) = flume::bounded::<()>(1);
        let addr = server(move |stream| {
            let _ = close_rx.recv();
            drop(stream);
        });
        let conn = Connection::connect(addr, Duration::from_secs(2), None).unwrap();
        let first = conn.request("TEST", 1, &(), b"").unwrap();
        assert!(!first.is_ready());
        assert!(matches!(
            first.wait(Duration::from_millis(50)),
            Err(ClientError::Timeout { what: "TEST", .. })
        ));
        let second = conn.request("TEST", 1, &(), b"").unwrap();
        let third = conn.request("TEST", 1, &(), b"").unwrap();
        close_tx.send(()).unwrap();
        assert!(matches!(
            second.wait(Duration::from_secs(5)),
            Err(ClientError::Closed { what: "TEST", .. })
        ));
        // The connection's failure reaches every waiter: `is_ready` turns true.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !third.is_ready() {
            assert!(std::time::Instant::now() < deadline, "never ready");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(matches!(
            futures_lite::future::block_on(third.wait_async()),
            Err(ClientError::Closed { .. })
        ));
        assert!(conn.is_closed());
        assert!(matches!(
            conn.request("TEST", 1, &(), b""),
            Err(ClientError::Closed { .. })
        ));
    }

    #[test]
    fn inbox_replies_arrive_tagged_in_the_order_answered_and_closing_fails_the_rest() {
        // The server answers the request with body "late" only after "soon", then closes
        // the connection with a third unanswered.
        let addr = server(|stream| {
            let mut held = None;
            each_request(stream, |s, cmd| {
                let mut out = BytesMut::new();
                match cmd.body.as_ref() {
                    b"late" => held = Some(cmd),
                    b"soon" => {
                        Command::ok(&cmd, cmd.body.clone()).encode(&mut out);
                        if let Some(late) = held.take() {
                            Command::ok(&late, late.body.clone()).encode(&mut out);
                        }
                    }
                    _ => {
                        let _ = s.shutdown(Shutdown::Both);
                        return;
                    }
                }
                s.write_all(&out).unwrap();
            })
        });
        let conn = Connection::connect(addr, Duration::from_secs(2), None).unwrap();
        let (inbox, replies) = flume::unbounded();
        conn.request_into("LATE", 1, &(), b"late", &inbox, 7)
            .unwrap();
        conn.request_into("SOON", 1, &(), b"soon", &inbox, 9)
            .unwrap();
        let next = || replies.recv_timeout(Duration::from_secs(5)).unwrap();
        let (tag, reply) = next();
        assert_eq!((tag, reply.unwrap().body.as_ref()), (9, &b"soon"[..]));
        let (tag, reply) = next();
        assert_eq!((tag, reply.unwrap().body.as_ref()), (7, &b"late"[..]));
        conn.request_into("NEVER", 1, &(), b"close", &inbox, 11)
            .unwrap();
        let (tag, reply) = next();
        assert_eq!(tag, 11);
        assert!(
            matches!(reply, Err(ClientError::Closed { what: "NEVER", .. })),
            "{reply:?}"
        );
    }

    #[test]
    fn a_slow_server_makes_callers_wait_for_room_and_loses_nothing() {
        const COUNT: usize = 80;
        let (go_tx, go_rx) = flume::bounded::<()>(1);
        let addr = server(move |stream| {
            // Read nothing until the client has more than the buffer's bound queued.
            let _ = go_rx.recv();
            let mut seen = 0;
            each_request(stream, |s, cmd| {
                seen += 1;
                let mut out = BytesMut::new();
                Command::ok(&cmd, Bytes::new()).encode(&mut out);
                s.write_all(&out).unwrap();
            });
            assert_eq!(seen, COUNT);
        });
        let conn = Connection::connect(addr, Duration::from_secs(2), None).unwrap();
        let body = vec![7u8; 512 * 1024];
        let sender = {
            let conn = conn.clone();
            std::thread::spawn(move || {
                (0..COUNT)
                    .map(|_| conn.request("BIG", 1, &(), &body).unwrap())
                    .collect::<Vec<_>>()
            })
        };
        std::thread::sleep(Duration::from_millis(300));
        // The socket buffers and MAX_OUTGOING_BYTES are full: the sender is held back.
        assert!(!sender.is_finished());
        go_tx.send(()).unwrap();
        for p in sender.join().unwrap() {
            p.wait(Duration::from_secs(10)).unwrap();
        }
    }
}
