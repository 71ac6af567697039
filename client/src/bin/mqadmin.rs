//! `mqadmin`: RocketMQ's admin tool, for the commands ShardMQ supports, with the same
//! subcommand names and flags (`-n` takes the name servers separated by `;`, or comes from
//! `NAMESRV_ADDR`).
//!
//! ```text
//! mqadmin updateTopic -n 127.0.0.1:9876 -c DefaultCluster -t TopicTest -r 8 -w 8
//! mqadmin topicStatus -n 127.0.0.1:9876 -t TopicTest
//! mqadmin consumerProgress -n 127.0.0.1:9876 -g MyGroup -t TopicTest
//! ```
//!
//! `consumerProgress` ends with the group's retry and dead-letter depths:
//!
//! ```text
//! Diff Total: 0
//! Retry Depth: 2 (%RETRY%MyGroup, not yet consumed)
//! DLQ Depth: 1 (%DLQ%MyGroup, given up on)
//! ```
//!
//! Results go to stdout; an error is one line on stderr and exit status 1 (usage errors are
//! clap's, exit status 2).

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use shardmq::{Admin, ClientError};

#[derive(Parser)]
#[command(name = "mqadmin", version, about = "ShardMQ / RocketMQ administration")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Common {
    /// Name servers, `host:port` separated by `;` [default: $NAMESRV_ADDR]
    #[arg(short = 'n', long = "namesrvAddr", value_name = "ADDRS")]
    namesrv: Option<String>,
    /// How long to wait for each connection and each reply, in milliseconds
    #[arg(long = "timeoutMillis", value_name = "MS", default_value_t = 3000)]
    timeout_ms: u64,
}

#[derive(Subcommand)]
enum Command {
    /// Create or update a topic on every master broker of a cluster
    #[command(name = "updateTopic")]
    UpdateTopic {
        #[command(flatten)]
        common: Common,
        /// Cluster whose master brokers get the topic
        #[arg(short = 'c', long = "clusterName")]
        cluster: String,
        #[arg(short = 't', long = "topic")]
        topic: String,
        #[arg(short = 'r', long = "readQueueNums", default_value_t = 8)]
        read_queues: i32,
        #[arg(short = 'w', long = "writeQueueNums", default_value_t = 8)]
        write_queues: i32,
    },
    /// Delete a topic from every master broker of a cluster and from the name servers
    #[command(name = "deleteTopic")]
    DeleteTopic {
        #[command(flatten)]
        common: Common,
        #[arg(short = 'c', long = "clusterName")]
        cluster: String,
        #[arg(short = 't', long = "topic")]
        topic: String,
    },
    /// List every topic the name servers know
    #[command(name = "topicList")]
    TopicList {
        #[command(flatten)]
        common: Common,
    },
    /// Print a topic's route as JSON
    #[command(name = "topicRoute")]
    TopicRoute {
        #[command(flatten)]
        common: Common,
        #[arg(short = 't', long = "topic")]
        topic: String,
    },
    /// Print the min and max offset of every queue of a topic
    #[command(name = "topicStatus")]
    TopicStatus {
        #[command(flatten)]
        common: Common,
        #[arg(short = 't', long = "topic")]
        topic: String,
    },
    /// List clusters, their brokers and addresses
    #[command(name = "clusterList")]
    ClusterList {
        #[command(flatten)]
        common: Common,
    },
    /// Print how far a consumer group is behind on each queue of a topic, and how many of
    /// its messages wait in its retry topic and sit in its dead-letter topic
    #[command(name = "consumerProgress")]
    ConsumerProgress {
        #[command(flatten)]
        common: Common,
        #[arg(short = 'g', long = "groupName")]
        group: String,
        #[arg(short = 't', long = "topic")]
        topic: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, even when a server's remark has line breaks.
            let line = e.to_string().replace(['\r', '\n'], " ");
            eprintln!("mqadmin: {line}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<(), ClientError> {
    match command {
        Command::UpdateTopic {
            common,
            cluster,
            topic,
            read_queues,
            write_queues,
        } => {
            let created =
                admin(&common)?.create_topic(&cluster, &topic, read_queues, write_queues)?;
            for addr in created {
                println!(
                    "create topic `{topic}` (read {read_queues}, write {write_queues} queues) \
                     on {addr}: success"
                );
            }
        }
        Command::DeleteTopic {
            common,
            cluster,
            topic,
        } => {
            admin(&common)?.delete_topic(&cluster, &topic)?;
            println!("delete topic `{topic}` from cluster `{cluster}`: success");
        }
        Command::TopicList { common } => {
            for topic in admin(&common)?.topic_list()? {
                println!("{topic}");
            }
        }
        Command::TopicRoute { common, topic } => {
            let route = admin(&common)?.topic_route(&topic)?;
            let json = serde_json::to_string_pretty(&route)
                .map_err(|e| ClientError::Invalid(format!("cannot print the route: {e}")))?;
            println!("{json}");
        }
        Command::TopicStatus { common, topic } => {
            let rows = admin(&common)?
                .topic_stats(&topic)?
                .into_iter()
                .map(|q| {
                    vec![
                        q.broker_name,
                        q.queue_id.to_string(),
                        q.min_offset.to_string(),
                        q.max_offset.to_string(),
                    ]
                })
                .collect();
            print_table(
                &["#Broker Name", "#QID", "#Min Offset", "#Max Offset"],
                rows,
            );
        }
        Command::ClusterList { common } => {
            let info = admin(&common)?.cluster_info()?;
            let mut rows = Vec::new();
            for (cluster, names) in &info.cluster_addr_table {
                for name in names {
                    let Some(broker) = info.broker_addr_table.get(name) else {
                        rows.push(vec![cluster.clone(), name.clone(), "-".into(), "-".into()]);
                        continue;
                    };
                    for (id, addr) in &broker.broker_addrs {
                        rows.push(vec![
                            cluster.clone(),
                            name.clone(),
                            id.to_string(),
                            addr.clone(),
                        ]);
                    }
                }
            }
            print_table(&["#Cluster Name", "#Broker Name", "#BID", "#Addr"], rows);
        }
        Command::ConsumerProgress {
            common,
            group,
            topic,
        } => {
            let admin = admin(&common)?;
            let progress = admin.consumer_progress(&group, &topic)?;
            let backlog = admin.retry_backlog(&group)?;
            let total: i64 = progress.iter().map(|q| q.lag).sum();
            let rows = progress
                .into_iter()
                .map(|q| {
                    vec![
                        topic.clone(),
                        q.broker_name,
                        q.queue_id.to_string(),
                        q.broker_offset.to_string(),
                        q.consumer_offset.map_or("-".into(), |o| o.to_string()),
                        q.lag.to_string(),
                    ]
                })
                .collect();
            print_table(
                &[
                    "#Topic",
                    "#Broker Name",
                    "#QID",
                    "#Broker Offset",
                    "#Consumer Offset",
                    "#Diff",
                ],
                rows,
            );
            println!();
            println!("Diff Total: {total}");
            println!(
                "Retry Depth: {} (%RETRY%{group}, not yet consumed)",
                backlog.retry_depth
            );
            println!(
                "DLQ Depth: {} (%DLQ%{group}, given up on)",
                backlog.dlq_depth
            );
        }
    }
    Ok(())
}

fn admin(common: &Common) -> Result<Admin, ClientError> {
    let list = match &common.namesrv {
        Some(list) => list.clone(),
        None => std::env::var("NAMESRV_ADDR").map_err(|_| {
            ClientError::Invalid("no name server: pass -n host:port or set NAMESRV_ADDR".into())
        })?,
    };
    Admin::new(
        parse_namesrv(&list)?,
        Duration::from_millis(common.timeout_ms),
    )
}

/// `host:port;host:port` (RocketMQ's form) to addresses; each entry takes its first address.
fn parse_namesrv(list: &str) -> Result<Vec<SocketAddr>, ClientError> {
    let mut addrs = Vec::new();
    for entry in list.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let addr = entry
            .to_socket_addrs()
            .ok()
            .and_then(|mut found| found.next())
            .ok_or_else(|| {
                ClientError::Invalid(format!(
                    "name server `{entry}` is not host:port (separate several with `;`)"
                ))
            })?;
        addrs.push(addr);
    }
    if addrs.is_empty() {
        return Err(ClientError::Invalid(
            "no name server: pass -n host:port".into(),
        ));
    }
    Ok(addrs)
}

/// Left-aligned columns, two spaces apart.
fn print_table(header: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let padded: Vec<String> = cells
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(&mut header.iter().copied());
    for row in &rows {
        line(&mut row.iter().map(String::as_str));
    }
}
