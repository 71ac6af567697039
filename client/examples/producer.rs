//! Sends ten messages, sync, async and oneway, to a broker found through a name server.
//!
//! ```sh
//! cargo run --release -p shardmq-broker --bin mqbroker      # in another terminal
//! cargo run -p shardmq-client --example producer -- 127.0.0.1:9876 TopicTest
//! ```

use shardmq::{Message, Producer, ProducerConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let namesrv = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:9876".into())
        .parse()?;
    let topic = args.next().unwrap_or_else(|| "TopicTest".into());
    let producer = Producer::new(ProducerConfig::new(vec![namesrv], "example-producer"))?;
    for i in 0..10 {
        let msg = Message::new(topic.as_str(), format!("hello {i}"))
            .with_tags("TagA")
            .with_keys([format!("key-{i}").as_str()]);
        let result = producer.send(msg)?;
        println!(
            "sent #{i}: msgId {} queue {} offset {}",
            result.msg_id, result.queue.queue_id, result.queue_offset
        );
    }
    let result = futures_lite::future::block_on(
        producer.send_async(Message::new(topic.as_str(), "async hello")),
    )?;
    println!("sent async: msgId {}", result.msg_id);
    producer.send_oneway(Message::new(topic.as_str(), "oneway hello"))?;
    producer.shutdown();
    Ok(())
}
