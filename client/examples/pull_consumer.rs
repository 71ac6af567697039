//! Pulls a topic with the lite pull consumer until nothing is left, then commits.
//!
//! ```sh
//! cargo run -p shardmq-client --example pull_consumer -- 127.0.0.1:9876 TopicTest
//! ```

use shardmq::{PullConsumer, PullConsumerConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let namesrv = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:9876".into())
        .parse()?;
    let topic = args.next().unwrap_or_else(|| "TopicTest".into());
    let consumer = PullConsumer::new(PullConsumerConfig::new(vec![namesrv], "example-pull-group"))?;
    consumer.assign(&topic)?;
    loop {
        let messages = consumer.poll()?;
        if messages.is_empty() {
            break;
        }
        for m in &messages {
            println!(
                "offset {}: {}",
                m.queue_offset(),
                String::from_utf8_lossy(m.body())
            );
        }
    }
    consumer.commit()?;
    Ok(())
}
