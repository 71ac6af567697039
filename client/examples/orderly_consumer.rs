//! Sends messages for three order ids (each id to one queue), then consumes them with an
//! orderly push consumer: each id's messages arrive in the order sent.
//!
//! ```sh
//! cargo run -p shardmq-client --example orderly_consumer -- 127.0.0.1:9876 OrderTopic
//! ```

use std::sync::Arc;
use std::time::Duration;

use shardmq::{
    ConsumeResult, Listener, Message, Producer, ProducerConfig, PushConsumer, PushConsumerConfig,
    QueueSelector, ReceivedMessage,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let namesrv = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:9876".into())
        .parse()?;
    let topic = args.next().unwrap_or_else(|| "OrderTopic".into());
    let producer = Producer::new(ProducerConfig::new(vec![namesrv], "example-order-producer"))?;
    for step in ["created", "paid", "shipped"] {
        for order in ["order-1", "order-2", "order-3"] {
            let msg = Message::new(topic.as_str(), format!("{order} {step}"));
            producer.send_to(msg, &QueueSelector::ByKey(order.into()))?;
        }
    }
    producer.shutdown();
    let listener = Listener::Orderly(Arc::new(|m: &ReceivedMessage| {
        println!(
            "queue offset {}: {}",
            m.queue_offset(),
            String::from_utf8_lossy(m.body())
        );
        ConsumeResult::Success
    }));
    let consumer = PushConsumer::start(
        PushConsumerConfig::new(vec![namesrv], "example-orderly-group"),
        vec![(topic, "*".into())],
        listener,
    )?;
    std::thread::sleep(Duration::from_secs(5));
    consumer.shutdown();
    Ok(())
}
