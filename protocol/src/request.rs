//! What a request is about, read once from its header at the door: the [`OwnerKey`] that
//! decides which shard handles it, with every topic, group and queue id in it validated
//! ([`crate::names`]). A request whose names break RocketMQ's rules gets a [`Refusal`]
//! (RocketMQ's code and a remark naming the field and the rule) before anything is created.
//!
//! Only this module reads the wire keys that ownership depends on (`b`, `e`, `queueOffset`,
//! ...); the broker maps an [`OwnerKey`] to a shard and never looks at them itself.

use crate::body::{HeartbeatData, JsonBody, LockBatchRequestBody};
use crate::codes::{request_code, response_code};
use crate::command::Command;
use crate::header::PULL_FLAG_SUSPEND;
use crate::names::{check_topic, GroupName, NameError, QueueId, TopicName};

/// What a request is about, for routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerKey {
    /// Any shard may answer it (the shard that received it does).
    Any,
    /// New messages for a queue: its current owner. The queue id is the one the client sent;
    /// a send wraps it around the topic's write-queue count first.
    Send { topic: TopicName, queue_id: QueueId },
    /// A queue's current owner (committed offsets, max offset, a queue move).
    Queue { topic: TopicName, queue_id: QueueId },
    /// The shard that holds queue offset `offset` (history stays where it was written).
    /// `hold_ms`: how long the broker may hold the pull waiting for a message (its
    /// `suspendTimeoutMillis` when the SUSPEND flag is set, else 0).
    Read {
        topic: TopicName,
        queue_id: QueueId,
        offset: u64,
        hold_ms: u64,
    },
    /// The shard holding a queue's lowest offsets (min offset, earliest store time).
    QueueStart { topic: TopicName, queue_id: QueueId },
    /// The shard whose commit log holds this raw position.
    Position(u64),
    /// A consumer group's home shard.
    Group(GroupName),
    /// The homes of every consumer group a heartbeat names (each keeps its own members).
    Groups(Vec<GroupName>),
}

/// A request refused at the door: the reply's code and remark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: i32,
    pub remark: String,
}

impl From<NameError> for Refusal {
    fn from(e: NameError) -> Refusal {
        // RocketMQ answers a topic or group that breaks its naming rule with SYSTEM_ERROR.
        Refusal {
            code: response_code::SYSTEM_ERROR,
            remark: e.to_string(),
        }
    }
}

fn missing(field: &str) -> Refusal {
    Refusal {
        code: response_code::SYSTEM_ERROR,
        remark: format!("the request header field {field} is missing or not a number"),
    }
}

fn topic(request: &Command, key: &'static str) -> Result<TopicName, Refusal> {
    let value = request.ext.get(key).ok_or_else(|| missing(key))?;
    Ok(TopicName::parse(name_of(key), value)?)
}

fn group(request: &Command, key: &'static str) -> Result<GroupName, Refusal> {
    let value = request.ext.get(key).ok_or_else(|| missing(key))?;
    Ok(GroupName::parse(name_of(key), value)?)
}

fn number<T: std::str::FromStr>(request: &Command, key: &'static str) -> Result<T, Refusal> {
    request
        .ext
        .get(key)
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| missing(key))
}

fn queue_id(request: &Command, key: &'static str) -> Result<QueueId, Refusal> {
    Ok(QueueId::parse(name_of(key), number(request, key)?)?)
}

/// The field's RocketMQ name for remarks (SEND_MESSAGE_V2 uses one-letter keys).
fn name_of(key: &'static str) -> &'static str {
    match key {
        "b" => "topic",
        "e" => "queueId",
        other => other,
    }
}

/// Reads what `request` is about, validating its names. Requests this module does not
/// route are [`OwnerKey::Any`] and are not checked here.
pub fn owner_key(request: &Command) -> Result<OwnerKey, Refusal> {
    let queue = |t: &'static str, q: &'static str| {
        Ok::<_, Refusal>((topic(request, t)?, queue_id(request, q)?))
    };
    Ok(match request.head.code {
        request_code::SEND_MESSAGE => {
            let (topic, queue_id) = queue("topic", "queueId")?;
            check_sendable(&topic)?;
            OwnerKey::Send { topic, queue_id }
        }
        request_code::SEND_MESSAGE_V2 | request_code::SEND_BATCH_MESSAGE => {
            let (topic, queue_id) = queue("b", "e")?;
            check_sendable(&topic)?;
            OwnerKey::Send { topic, queue_id }
        }
        // Fields are checked in the order RocketMQ's headers declare them.
        request_code::PULL_MESSAGE => {
            group(request, "consumerGroup")?;
            let (topic, queue_id) = queue("topic", "queueId")?;
            let offset: i64 = number(request, "queueOffset")?;
            let sys_flag: i32 = number(request, "sysFlag").unwrap_or(0);
            let hold_ms = if sys_flag & PULL_FLAG_SUSPEND != 0 {
                number::<i64>(request, "suspendTimeoutMillis")
                    .unwrap_or(0)
                    .max(0) as u64
            } else {
                0
            };
            OwnerKey::Read {
                topic,
                queue_id,
                offset: offset.max(0) as u64,
                hold_ms,
            }
        }
        request_code::GET_MIN_OFFSET | request_code::GET_EARLIEST_MSG_STORETIME => {
            let (topic, queue_id) = queue("topic", "queueId")?;
            OwnerKey::QueueStart { topic, queue_id }
        }
        request_code::QUERY_CONSUMER_OFFSET | request_code::UPDATE_CONSUMER_OFFSET => {
            group(request, "consumerGroup")?;
            let (topic, queue_id) = queue("topic", "queueId")?;
            OwnerKey::Queue { topic, queue_id }
        }
        request_code::SEARCH_OFFSET_BY_TIMESTAMP
        | request_code::GET_MAX_OFFSET
        | request_code::SHARDMQ_MOVE_QUEUE => {
            let (topic, queue_id) = queue("topic", "queueId")?;
            OwnerKey::Queue { topic, queue_id }
        }
        request_code::VIEW_MESSAGE_BY_ID => {
            let offset: i64 = number(request, "offset")?;
            OwnerKey::Position(offset as u64)
        }
        request_code::GET_CONSUMER_LIST_BY_GROUP => {
            OwnerKey::Group(group(request, "consumerGroup")?)
        }
        request_code::UNREGISTER_CLIENT => match request.ext.get("consumerGroup") {
            Some(_) => OwnerKey::Group(group(request, "consumerGroup")?),
            None => OwnerKey::Any,
        },
        request_code::LOCK_BATCH_MQ | request_code::UNLOCK_BATCH_MQ => {
            let body = LockBatchRequestBody::decode(&request.body).map_err(|e| Refusal {
                code: response_code::SYSTEM_ERROR,
                remark: format!("lock request body: {e}"),
            })?;
            OwnerKey::Group(GroupName::parse("consumerGroup", body.consumer_group)?)
        }
        request_code::HEART_BEAT => {
            let body = HeartbeatData::decode(&request.body).map_err(|e| Refusal {
                code: response_code::SYSTEM_ERROR,
                remark: format!("heartbeat body: {e}"),
            })?;
            let mut groups = Vec::with_capacity(body.consumer_data_set.len());
            for consumer in body.consumer_data_set {
                groups.push(GroupName::parse(
                    "consumerDataSet.groupName",
                    consumer.group_name,
                )?);
                for s in &consumer.subscription_data_set {
                    check_topic("subscriptionDataSet.topic", &s.topic)?;
                }
            }
            OwnerKey::Groups(groups)
        }
        request_code::UPDATE_AND_CREATE_TOPIC | request_code::DELETE_TOPIC_IN_BROKER => {
            let topic = topic(request, "topic")?;
            if topic.is_system() {
                return Err(Refusal {
                    code: response_code::SYSTEM_ERROR,
                    remark: format!("the topic[{topic}] is conflict with system topic"),
                });
            }
            OwnerKey::Any
        }
        request_code::GET_TOPIC_STATS_INFO => {
            topic(request, "topic")?;
            OwnerKey::Any
        }
        _ => OwnerKey::Any,
    })
}

fn check_sendable(topic: &TopicName) -> Result<(), Refusal> {
    if topic.is_send_forbidden() {
        return Err(Refusal {
            code: response_code::NO_PERMISSION,
            remark: format!("sending message to topic[{topic}] is forbidden"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::SerializeType;
    use crate::command::Head;
    use crate::ext::ExtFields;
    use bytes::Bytes;

    fn command(code: i32, fields: &[(&str, &str)], body: &str) -> Command {
        let mut c = Command::new(
            Head::request(code, 1),
            SerializeType::RocketMq,
            &ExtFields::from_pairs(fields.iter().copied()),
            Bytes::copy_from_slice(body.as_bytes()),
        );
        c.ext = ExtFields::from_pairs(fields.iter().copied());
        c
    }

    fn topic(s: &str) -> TopicName {
        TopicName::parse("topic", s).unwrap()
    }

    #[test]
    fn owner_keys_are_read_from_each_codes_own_fields() {
        let q = |n| QueueId::parse("queueId", n).unwrap();
        let table: Vec<(Command, OwnerKey)> = vec![
            (
                command(request_code::SEND_MESSAGE_V2, &[("b", "T"), ("e", "3")], ""),
                OwnerKey::Send {
                    topic: topic("T"),
                    queue_id: q(3),
                },
            ),
            (
                command(
                    request_code::SEND_MESSAGE,
                    &[("topic", "T"), ("queueId", "1")],
                    "",
                ),
                OwnerKey::Send {
                    topic: topic("T"),
                    queue_id: q(1),
                },
            ),
            (
                command(
                    request_code::PULL_MESSAGE,
                    &[
                        ("topic", "T"),
                        ("queueId", "2"),
                        ("queueOffset", "-5"),
                        ("consumerGroup", "G"),
                        ("sysFlag", "6"),
                        ("suspendTimeoutMillis", "15000"),
                    ],
                    "",
                ),
                OwnerKey::Read {
                    topic: topic("T"),
                    queue_id: q(2),
                    offset: 0,
                    hold_ms: 15_000,
                },
            ),
            (
                command(
                    request_code::GET_MIN_OFFSET,
                    &[("topic", "T"), ("queueId", "0")],
                    "",
                ),
                OwnerKey::QueueStart {
                    topic: topic("T"),
                    queue_id: q(0),
                },
            ),
            (
                command(request_code::VIEW_MESSAGE_BY_ID, &[("offset", "4096")], ""),
                OwnerKey::Position(4096),
            ),
            (
                command(
                    request_code::GET_CONSUMER_LIST_BY_GROUP,
                    &[("consumerGroup", "G")],
                    "",
                ),
                OwnerKey::Group(GroupName::parse("g", "G").unwrap()),
            ),
            (
                command(
                    request_code::LOCK_BATCH_MQ,
                    &[],
                    r#"{"consumerGroup":"G","clientId":"c","mqSet":[]}"#,
                ),
                OwnerKey::Group(GroupName::parse("g", "G").unwrap()),
            ),
            (
                command(
                    request_code::UNREGISTER_CLIENT,
                    &[("clientID", "c"), ("producerGroup", "P")],
                    "",
                ),
                OwnerKey::Any,
            ),
            (
                command(request_code::GET_ALL_TOPIC_CONFIG, &[], ""),
                OwnerKey::Any,
            ),
        ];
        for (request, expected) in table {
            assert_eq!(
                owner_key(&request),
                Ok(expected),
                "code {}",
                request.head.code
            );
        }
    }

    #[test]
    fn bad_names_are_refused_with_the_field_named() {
        let table: Vec<(Command, i32, &str)> = vec![
            (
                command(
                    request_code::SEND_MESSAGE_V2,
                    &[("b", "bad topic"), ("e", "0")],
                    "",
                ),
                response_code::SYSTEM_ERROR,
                "topic `bad topic`",
            ),
            (
                command(
                    request_code::SEND_MESSAGE_V2,
                    &[("b", "T"), ("e", "-1")],
                    "",
                ),
                response_code::SYSTEM_ERROR,
                "queueId `-1`",
            ),
            (
                command(request_code::SEND_MESSAGE_V2, &[("b", "T")], ""),
                response_code::SYSTEM_ERROR,
                "field e is missing",
            ),
            (
                command(
                    request_code::SEND_MESSAGE,
                    &[("topic", "SCHEDULE_TOPIC_XXXX"), ("queueId", "0")],
                    "",
                ),
                response_code::NO_PERMISSION,
                "forbidden",
            ),
            (
                command(
                    request_code::PULL_MESSAGE,
                    &[
                        ("topic", "T"),
                        ("queueId", "0"),
                        ("queueOffset", "0"),
                        ("consumerGroup", "g/../x"),
                    ],
                    "",
                ),
                response_code::SYSTEM_ERROR,
                "consumerGroup `g/../x`",
            ),
            (
                command(
                    request_code::UPDATE_AND_CREATE_TOPIC,
                    &[("topic", "a.b")],
                    "",
                ),
                response_code::SYSTEM_ERROR,
                "topic `a.b`",
            ),
            (
                command(
                    request_code::UPDATE_AND_CREATE_TOPIC,
                    &[("topic", "TBW102")],
                    "",
                ),
                response_code::SYSTEM_ERROR,
                "system topic",
            ),
            (
                command(
                    request_code::HEART_BEAT,
                    &[],
                    r#"{"clientID":"c","consumerDataSet":[{"groupName":"bad group","subscriptionDataSet":[]}]}"#,
                ),
                response_code::SYSTEM_ERROR,
                "groupName `bad group`",
            ),
        ];
        for (request, code, remark) in table {
            let refusal = owner_key(&request).unwrap_err();
            assert_eq!(refusal.code, code, "{refusal:?}");
            assert!(
                refusal.remark.contains(remark),
                "{:?} lacks {remark:?}",
                refusal.remark
            );
        }
    }
}
