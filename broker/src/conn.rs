//! One client connection on one shard: a reader that frames requests and starts each one
//! (here or forwarded to its owner), and a writer that sends replies as they complete, all
//! that are ready in one write. In-flight requests per connection are bounded, so a client
//! that writes without reading gets backpressure.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::BytesMut;
use futures_lite::{future, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use glommio::channels::local_channel;
use glommio::net::TcpStream;
use glommio::sync::Semaphore;
use shardmq_protocol::codes::response_code;
use shardmq_protocol::command::{Command, Head};
use shardmq_protocol::frame::FrameDecoder;
use tracing::debug;

use crate::handlers;
use crate::shard::{Origin, Shard};

/// Requests one connection may have in flight.
pub const MAX_IN_FLIGHT_PER_CONNECTION: u64 = 1024;
/// Bytes read from the socket at a time.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Serves one connection until it closes.
pub async fn serve(shard: Rc<Shard>, stream: TcpStream) {
    let reader_peer = stream
        .peer_addr()
        .unwrap_or_else(|_| std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
    let peer = reader_peer.to_string();
    let _ = stream.set_nodelay(true);
    let stream = Rc::new(RefCell::new(stream));
    let (mut reader, mut writer) = (Half(stream.clone()), Half(stream));
    let (tx, rx) = local_channel::new_bounded::<Command>(MAX_IN_FLIGHT_PER_CONNECTION as usize);
    let tx = Rc::new(tx);
    let connection = shard.add_connection(tx.clone());
    let peer_addr = reader_peer;
    let write_task = glommio::spawn_local(async move {
        let mut out = BytesMut::with_capacity(READ_CHUNK_BYTES);
        while let Some(first) = rx.recv().await {
            first.encode(&mut out);
            // Everything else already done goes out in the same write.
            while let Some(Some(more)) = future::poll_once(rx.recv()).await {
                more.encode(&mut out);
            }
            if writer.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
    })
    .detach();
    let in_flight = Rc::new(Semaphore::new(MAX_IN_FLIGHT_PER_CONNECTION));
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
            let Ok(permit) = in_flight.clone().acquire_static_permit(1).await else {
                break 'conn "closing".to_string();
            };
            let tx = tx.clone();
            match Command::decode(frame) {
                Ok(request) => {
                    let shard = shard.clone();
                    let origin = Origin {
                        peer: peer_addr,
                        shard: shard.id,
                        connection,
                        serialize_type,
                    };
                    glommio::spawn_local(async move {
                        if let Some(reply) = handlers::route(&shard, origin, request).await {
                            let _ = tx.send(reply).await;
                        }
                        drop(permit);
                    })
                    .detach();
                }
                Err(e) => {
                    let head = Head {
                        opaque,
                        ..Head::default()
                    };
                    let reply = Command::error_to_head(
                        &head,
                        serialize_type,
                        response_code::SYSTEM_ERROR,
                        e.to_string(),
                    );
                    let _ = tx.send(reply).await;
                    drop(permit);
                }
            }
        }
    };
    debug!(shard = shard.id, %peer, %reason, "connection closed");
    shard.remove_connection(connection);
    drop(tx);
    let _ = write_task.await;
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
