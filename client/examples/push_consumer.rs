//! Consumes a topic with a concurrent push consumer for ten seconds, printing each message.
//!
//! ```sh
//! cargo run -p shardmq-client --example push_consumer -- 127.0.0.1:9876 TopicTest
//! ```

use std::sync::Arc;
use std::time::Duration;

use shardmq::{ConsumeResult, Listener, PushConsumer, PushConsumerConfig, ReceivedMessage};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let namesrv = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:9876".into())
        .parse()?;
    let topic = args.next().unwrap_or_else(|| "TopicTest".into());
    let listener = Listener::Concurrent(Arc::new(|m: &ReceivedMessage| {
        println!(
            "{} offset {}: {}",
            m.topic(),
            m.queue_offset(),
            String::from_utf8_lossy(m.body())
        );
        ConsumeResult::Success
    }));
    let consumer = PushConsumer::start(
        PushConsumerConfig::new(vec![namesrv], "example-push-group"),
        vec![(topic, "*".into())],
        listener,
    )?;
    std::thread::sleep(Duration::from_secs(10));
    consumer.shutdown();
    Ok(())
}
