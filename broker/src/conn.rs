//! One client connection on one shard: a reader that frames requests and starts each one
//! (here or forwarded to its owner), and a writer that sends replies as they complete, all
//! that are ready in one write. In-flight requests per connection are bounded, so a client
//! that writes without reading gets backpressure.
//!
//! A single-message send for a queue this shard owns is stored inline by the reader and
//! becomes a [`PendingAck`](crate::outbox::PendingAck) in the connection's outbox: no task,
//! no reply command, until the writer encodes it once the log is durable past it. Every
//! other request is a task of its own whose reply goes to the outbox.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::BytesMut;
use futures_lite::{future, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use glommio::net::TcpStream;
use shardmq_protocol::codes::response_code;
use shardmq_protocol::command::{Command, Head};
use shardmq_protocol::frame::FrameDecoder;
use shardmq_protocol::request::Request;
use tracing::{debug, warn};

use crate::handlers;
use crate::handlers::send::Inline;
use crate::outbox::{Next, Outbox};
use crate::shard::{Origin, Shard};

/// Bytes read from the socket at a time.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Serves one connection until it closes.
pub async fn serve(shard: Rc<Shard>, stream: TcpStream) {
    let reader_peer = stream
        .peer_addr()
        .unwrap_or_else(|_| std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
    let peer = reader_peer.to_string();
    let _ = stream.set_nodelay(true);
    let outbox = Rc::new(Outbox::new());
    let Some(connection) = shard.add_connection(outbox.clone()) else {
        // Closing at once is the refusal: the client sees the connection end and retries
        // elsewhere or later. Logged on the first refusal and every 1,000th after.
        let refused = shard.counters().connection_refused;
        if refused % 1000 == 1 {
            warn!(
                shard = shard.id,
                %peer,
                max = shard.config.max_connections_per_shard,
                refused,
                "connection refused: the shard has maxConnectionsPerShard connections"
            );
        }
        return;
    };
    let stream = Rc::new(RefCell::new(stream));
    let (mut reader, writer) = (Half(stream.clone()), Half(stream));
    let peer_addr = reader_peer;
    let write_task =
        glommio::spawn_local(write_loop(shard.clone(), outbox.clone(), writer)).detach();
    let decoder = FrameDecoder::new(shard.config.max_frame_bytes);
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    let mut input = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let reason = 'conn: loop {
        let n = match reader.read(&mut chunk).await {
            Ok(0) => break "closed by peer".to_string(),
            Ok(n) => n,
            Err(e) => break format!("read failed: {e}"),
        };
        input.extend_from_slice(&chunk[..n]);
        loop {
            let frame = match decoder.decode(&mut input) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => break 'conn format!("unframeable input, closing: {e}"),
            };
            let serialize_type = frame.serialize_type;
            let opaque = frame.opaque_hint();
            if !outbox.reserve().await {
                break 'conn "writing replies failed".to_string();
            }
            match Command::decode(frame) {
                Ok(request) => {
                    let origin = Origin {
                        peer: peer_addr,
                        shard: shard.id,
                        connection,
                        serialize_type,
                    };
                    let send_kind =
                        match handlers::send::store_inline(&shard, origin, &request, &outbox) {
                            Inline::Stored => continue,
                            Inline::Declined(kind) => kind,
                        };
                    if request.head.is_response() {
                        // Nothing to answer (a client's reply to a notification).
                        outbox.release();
                        continue;
                    }
                    // Decoded once, names validated: a refusal goes back at once.
                    let decoded = match send_kind {
                        Some(kind) => Request::with_kind(request, kind),
                        None => Request::decode(request),
                    };
                    let request = match decoded {
                        Ok(request) => request,
                        Err(refused) => {
                            let (request, refusal) = *refused;
                            match handlers::refuse(&request, refusal) {
                                Some(reply) => outbox.reply(reply),
                                None => outbox.release(),
                            }
                            continue;
                        }
                    };
                    let shard = shard.clone();
                    let outbox = outbox.clone();
                    glommio::spawn_local(async move {
                        match handlers::route(&shard, origin, request).await {
                            Some(reply) => outbox.reply(reply),
                            None => outbox.release(),
                        }
                    })
                    .detach();
                }
                Err(e) => {
                    let head = Head {
                        opaque,
                        ..Head::default()
                    };
                    outbox.reply(Command::error_to_head(
                        &head,
                        serialize_type,
                        response_code::SYSTEM_ERROR,
                        e.to_string(),
                    ));
                }
            }
        }
    };
    debug!(shard = shard.id, %peer, %reason, "connection closed");
    shard.remove_connection(connection);
    outbox.close();
    let _ = write_task.await;
}

/// Sends what the outbox holds as soon as it may go: replies at once, acknowledgements once
/// the log is durable past them; everything ready at one moment in one write.
async fn write_loop(shard: Rc<Shard>, outbox: Rc<Outbox>, mut writer: Half) {
    let log = shard.store.commit_log();
    let mut out = BytesMut::with_capacity(READ_CHUNK_BYTES);
    loop {
        match outbox.next(|| log.durable_end()).await {
            Next::Done => return,
            Next::WaitDurable(end) => {
                let durable = async { shard.store.wait_durable(end).await };
                let reply = async {
                    outbox.reply_arrived().await;
                    Ok(())
                };
                // The reply side is polled first: woken by a reply, the wait ends without
                // polling the durability side again (each poll of it registers a waiter
                // with the log).
                if let Err(e) = future::or(reply, durable).await {
                    outbox.fail_acks(&e.to_string());
                }
                continue;
            }
            Next::Write => {}
        }
        outbox.take(log.durable_end(), shard.store_addr, &mut out);
        if !out.is_empty() {
            if writer.write_all(&out).await.is_err() {
                outbox.close();
                return;
            }
            out.clear();
        }
    }
}

/// One side of a connection shared by its reader and writer tasks on the same thread: each
/// poll borrows the stream only for its own duration (no lock, no borrow across an await).
struct Half(Rc<RefCell<TcpStream>>);

impl AsyncRead for Half {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0.borrow_mut()).poll_read(cx, buf)
    }
}

impl AsyncWrite for Half {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0.borrow_mut()).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0.borrow_mut()).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0.borrow_mut()).poll_close(cx)
    }
}
