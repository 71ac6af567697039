//! ShardMQ's Rust client for any RocketMQ-protocol broker: a [`Producer`] (sync, async,
//! oneway, batch; round-robin, by-key or custom queue selection; retries on another broker;
//! delayed delivery by level, after a delay or at a time) and a [`PullConsumer`] (assign or
//! subscribe with a tag expression, long-poll, commit).
//!
//! **Threading.** The client owns its network I/O: each connection has a reader and a writer
//! thread; callers encode requests into the connection's shared (bounded) buffer and get
//! each reply through a one-shot channel, and the push consumer hands messages to its
//! listener threads through flume. So a call blocks the calling thread (`send`), or returns a future that needs no particular
//! executor (`send_async`: tokio, async-std, glommio or `futures::executor::block_on`).
//! Connections go to the shard that owns each queue when the route publishes shard ports.
//!
//! ```no_run
//! use shardmq::{Message, Producer, ProducerConfig};
//!
//! let producer = Producer::new(ProducerConfig::new(vec!["127.0.0.1:9876".parse()?], "my-group"))?;
//! let result = producer.send(Message::new("TopicTest", "hello").with_tags("TagA"))?;
//! println!("stored as {} at offset {}", result.msg_id, result.queue_offset);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Also a [`PushConsumer`]: concurrent or orderly listeners, clustering (queues split by an
//! [`Allocation`] strategy, rebalanced on NOTIFY_CONSUMER_IDS_CHANGED and every 20 s) or
//! broadcasting (offsets in a local file). In clustering, a listener's
//! [`ConsumeResult::Later`] retries the message through the group's retry topic
//! (`%RETRY%<group>`, concurrent) or after suspending its queue (orderly), and a message
//! that fails [`PushConsumerConfig::max_reconsume_times`] times goes to `%DLQ%<group>`.

pub mod admin;
pub mod consumer;
pub mod error;
pub mod message;
pub mod pool;
pub mod producer;
pub mod push;
pub mod rebalance;
pub mod remoting;
pub mod route;

pub use admin::{Admin, RetryBacklog};
pub use consumer::{PullConsumer, PullConsumerConfig, StartFrom};
pub use error::{ClientError, Result};
pub use message::{Message, ReceivedMessage};
pub use producer::{
    Acked, InFlight, Producer, ProducerConfig, QueueSelector, SelectQueue, SendResult,
};
pub use push::{
    ConsumeResult, Listener, MessageModel, OnMessage, PushConsumer, PushConsumerConfig,
};
pub use rebalance::Allocation;
pub use shardmq_protocol as protocol;
