//! Requests decoded once, at the door: [`Request::decode`] turns a command into a closed
//! [`RequestKind`] with its typed header or body and every topic, group and queue id in it
//! validated ([`crate::names`]), or into a [`Refusal`] (RocketMQ's code and a remark naming
//! the field and the rule) before anything is created. [`Request::owner_key`] says what the
//! request is about, the [`OwnerKey`] the broker's router maps to a shard.
//!
//! Only this module reads the wire keys that ownership depends on (`b`, `e`, `queueOffset`,
//! ...); the broker never looks at them itself.

use bytestring::ByteString;

use crate::body::{HeartbeatData, JsonBody, LockBatchRequestBody};
use crate::codes::{request_code, response_code};
use crate::command::Command;
use crate::header::{
    ConsumerSendMsgBackRequestHeader, CreateTopicRequestHeader, DeleteTopicRequestHeader,
    GetConsumerListByGroupRequestHeader, GetEarliestMsgStoretimeRequestHeader,
    GetMaxOffsetRequestHeader, GetMinOffsetRequestHeader, GetTopicStatsInfoRequestHeader,
    MoveQueueRequestHeader, PullMessageRequestHeader, QueryConsumerOffsetRequestHeader,
    SearchOffsetRequestHeader, SendMessageView, UnregisterClientRequestHeader,
    UpdateConsumerOffsetRequestHeader, ViewMessageRequestHeader, PULL_FLAG_SUSPEND,
};
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

/// A request decoded once at the door: the command as it came (its head, to reply to; its
/// extFields and body, which a send's handler reads in place) and [`RequestKind`], the typed
/// and validated fields every handler and the router use.
#[derive(Debug, Clone)]
pub struct Request {
    pub command: Command,
    pub kind: RequestKind,
}

/// What each request the broker serves carries, decoded and validated. Names are
/// [`TopicName`] / [`GroupName`] / [`QueueId`]: a request with a bad one never becomes a
/// `Request`.
#[derive(Debug, Clone)]
pub enum RequestKind {
    /// SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320). The rest of the
    /// header is read in place by [`crate::header::SendMessageView`] (no copy).
    Send {
        topic: TopicName,
        queue_id: QueueId,
        batch: bool,
    },
    /// PULL_MESSAGE (11).
    Pull {
        topic: TopicName,
        group: GroupName,
        queue_id: QueueId,
        /// Boxed, as the other large payloads: a `RequestKind` travels between shards.
        header: Box<PullMessageRequestHeader>,
    },
    /// QUERY_CONSUMER_OFFSET (14).
    QueryConsumerOffset {
        topic: TopicName,
        group: GroupName,
        queue_id: QueueId,
        set_zero_if_not_found: Option<bool>,
    },
    /// UPDATE_CONSUMER_OFFSET (15).
    UpdateConsumerOffset {
        topic: TopicName,
        group: GroupName,
        queue_id: QueueId,
        offset: i64,
    },
    /// SEARCH_OFFSET_BY_TIMESTAMP (29).
    SearchOffset {
        topic: TopicName,
        queue_id: QueueId,
        timestamp: i64,
    },
    /// GET_MAX_OFFSET (30).
    MaxOffset { topic: TopicName, queue_id: QueueId },
    /// GET_MIN_OFFSET (31).
    MinOffset { topic: TopicName, queue_id: QueueId },
    /// GET_EARLIEST_MSG_STORETIME (32).
    EarliestStoreTime { topic: TopicName, queue_id: QueueId },
    /// VIEW_MESSAGE_BY_ID (33): a raw commit-log position.
    ViewMessage { position: u64 },
    /// HEART_BEAT (34), its body decoded and every group and topic in it validated.
    Heartbeat {
        body: Box<HeartbeatData>,
        /// The body's consumer groups, validated, in order.
        groups: Vec<GroupName>,
    },
    /// UNREGISTER_CLIENT (35).
    Unregister {
        client_id: ByteString,
        group: Option<GroupName>,
    },
    /// GET_CONSUMER_LIST_BY_GROUP (38).
    ConsumerList { group: GroupName },
    /// LOCK_BATCH_MQ (41) / UNLOCK_BATCH_MQ (42), the body decoded.
    Lock {
        group: GroupName,
        body: Box<LockBatchRequestBody>,
        lock: bool,
    },
    /// UPDATE_AND_CREATE_TOPIC (17).
    CreateTopic {
        topic: TopicName,
        header: Box<CreateTopicRequestHeader>,
    },
    /// DELETE_TOPIC_IN_BROKER (215).
    DeleteTopic { topic: TopicName },
    /// GET_ALL_TOPIC_CONFIG (21).
    AllTopicConfig,
    /// GET_TOPIC_STATS_INFO (202).
    TopicStats { topic: TopicName },
    /// SHARDMQ_MOVE_QUEUE (9101).
    MoveQueue {
        topic: TopicName,
        queue_id: QueueId,
        to_shard: i32,
    },
    /// CONSUMER_SEND_MSG_BACK (36): a consumer gives back the message stored at
    /// `header.offset` (a commit-log position) for a later retry, or the dead-letter queue.
    SendBack {
        group: GroupName,
        header: Box<ConsumerSendMsgBackRequestHeader>,
    },
    /// GET_ALL_DELAY_OFFSET (45).
    DelayOffsets,
    /// A code this broker does not serve (answered REQUEST_CODE_NOT_SUPPORTED).
    Unsupported,
}

fn bad_header(e: crate::Error) -> Refusal {
    Refusal {
        code: response_code::SYSTEM_ERROR,
        remark: e.to_string(),
    }
}

impl Request {
    /// Decodes `command` into a request, or says why it is refused. Fields are checked in
    /// the order RocketMQ's headers declare them, so the first fault is the one named.
    /// The command comes back with the refusal, to reply to (boxed: the rare path).
    pub fn decode(command: Command) -> Result<Request, Box<(Command, Refusal)>> {
        let kind = RequestKind::decode(&command);
        Request::with_kind(command, kind)
    }

    /// A request whose kind the caller already decoded (or the refusal, with the command).
    pub fn with_kind(
        command: Command,
        kind: Result<RequestKind, Refusal>,
    ) -> Result<Request, Box<(Command, Refusal)>> {
        match kind {
            Ok(kind) => Ok(Request { command, kind }),
            Err(refusal) => Err(Box::new((command, refusal))),
        }
    }

    /// What the request is about, for routing.
    pub fn owner_key(&self) -> OwnerKey {
        self.kind.owner_key()
    }

    /// The request code.
    pub fn code(&self) -> i32 {
        self.command.head.code
    }

    /// Whether the client expects no reply.
    pub fn is_oneway(&self) -> bool {
        self.command.head.is_oneway()
    }
}

impl RequestKind {
    /// A send's kind from the view already read of `request`'s header (the broker's inline
    /// path reads it first and must not read it twice).
    pub fn send(request: &Command, view: &SendMessageView<'_>) -> Result<RequestKind, Refusal> {
        // The name shares the header's buffer when it lies there (no copy).
        let topic = match request.ext.shared(view.topic) {
            Some(shared) => TopicName::parse("topic", shared)?,
            None => TopicName::parse("topic", view.topic)?,
        };
        if topic.is_send_forbidden() {
            return Err(Refusal {
                code: response_code::NO_PERMISSION,
                remark: format!("sending message to topic[{topic}] is forbidden"),
            });
        }
        Ok(RequestKind::Send {
            topic,
            queue_id: QueueId::parse("queueId", view.queue_id)?,
            batch: view.batch || request.head.code == request_code::SEND_BATCH_MESSAGE,
        })
    }

    fn decode(request: &Command) -> Result<RequestKind, Refusal> {
        let t = |key: &'static str, value: &str| TopicName::parse(key, value);
        let g = |key: &'static str, value: &str| GroupName::parse(key, value);
        let q = |value: i32| QueueId::parse("queueId", value);
        Ok(match request.head.code {
            request_code::SEND_MESSAGE
            | request_code::SEND_MESSAGE_V2
            | request_code::SEND_BATCH_MESSAGE => {
                let short_keys = request.head.code != request_code::SEND_MESSAGE;
                let view = SendMessageView::decode(&request.ext, short_keys).map_err(bad_header)?;
                RequestKind::send(request, &view)?
            }
            request_code::PULL_MESSAGE => {
                let header: PullMessageRequestHeader = request.header().map_err(bad_header)?;
                RequestKind::Pull {
                    group: GroupName::parse("consumerGroup", header.consumer_group.clone())?,
                    topic: TopicName::parse("topic", header.topic.clone())?,
                    queue_id: q(header.queue_id)?,
                    header: Box::new(header),
                }
            }
            request_code::QUERY_CONSUMER_OFFSET => {
                let h: QueryConsumerOffsetRequestHeader = request.header().map_err(bad_header)?;
                RequestKind::QueryConsumerOffset {
                    group: g("consumerGroup", &h.consumer_group)?,
                    topic: t("topic", &h.topic)?,
                    queue_id: q(h.queue_id)?,
                    set_zero_if_not_found: h.set_zero_if_not_found,
                }
            }
            request_code::UPDATE_CONSUMER_OFFSET => {
                let h: UpdateConsumerOffsetRequestHeader = request.header().map_err(bad_header)?;
                RequestKind::UpdateConsumerOffset {
                    group: g("consumerGroup", &h.consumer_group)?,
                    topic: t("topic", &h.topic)?,
                    queue_id: q(h.queue_id)?,
                    offset: h.commit_offset,
                }
            }
            request_code::SEARCH_OFFSET_BY_TIMESTAMP => {
                let h: SearchOffsetRequestHeader = request.header().map_err(bad_header)?;
                RequestKind::SearchOffset {
                    topic: t("topic", &h.topic)?,
                    queue_id: q(h.queue_id)?,
                    timestamp: h.timestamp,
                }
            }
            request_code::GET_MAX_OFFSET => {
                let h: GetMaxOffsetRequestHeader = request.header().map_err(bad_header)?;
                RequestKind::MaxOffset {
                    topic: t("topic", &h.topic)?,
                    queue_id: q(h.queue_id)?,
                }
            }
            request_code::GET_MIN_OFFSET => {
                let h: GetMinOffsetRequestHeader = request.header().map_err(bad_header)?;
                RequestKind::MinOffset {
                    topic: t("topic", &h.topic)?,
                    queue_id: q(h.queue_id)?,
                }
            }
            request_code::GET_EARLIEST_MSG_STORETIME => {
                let h: GetEarliestMsgStoretimeRequestHeader =
                    request.header().map_err(bad_header)?;
                RequestKind::EarliestStoreTime {
                    topic: t("topic", &h.topic)?,
                    queue_id: q(h.queue_id)?,
                }
            }
            request_code::VIEW_MESSAGE_BY_ID => {
                let h: ViewMessageRequestHeader = request.header().map_err(bad_header)?;
                RequestKind::ViewMessage {
                    position: h.offset as u64,
                }
            }
            request_code::HEART_BEAT => {
                let body = HeartbeatData::decode(&request.body).map_err(|e| Refusal {
                    code: response_code::SYSTEM_ERROR,
                    remark: format!("heartbeat body: {e}"),
                })?;
                let mut groups = Vec::with_capacity(body.consumer_data_set.len());
                for consumer in &body.consumer_data_set {
                    groups.push(g("consumerDataSet.groupName", &consumer.group_name)?);
                    for s in &consumer.subscription_data_set {
                        check_topic("subscriptionDataSet.topic", &s.topic)?;
                    }
                }
                RequestKind::Heartbeat {
                    body: Box::new(body),
                    groups,
                }
            }
            request_code::UNREGISTER_CLIENT => {
                let h: UnregisterClientRequestHeader = request.header().map_err(bad_header)?;
                RequestKind::Unregister {
                    group: h
                        .consumer_group
                        .as_deref()
                        .map(|group| g("consumerGroup", group))
                        .transpose()?,
                    client_id: h.client_id,
                }
            }
            request_code::GET_CONSUMER_LIST_BY_GROUP => {
                let h: GetConsumerListByGroupRequestHeader =
                    request.header().map_err(bad_header)?;
                RequestKind::ConsumerList {
                    group: g("consumerGroup", &h.consumer_group)?,
                }
            }
            request_code::LOCK_BATCH_MQ | request_code::UNLOCK_BATCH_MQ => {
                let body = LockBatchRequestBody::decode(&request.body).map_err(|e| Refusal {
                    code: response_code::SYSTEM_ERROR,
                    remark: format!("lock request body: {e}"),
                })?;
                RequestKind::Lock {
                    group: g("consumerGroup", &body.consumer_group)?,
                    body: Box::new(body),
                    lock: request.head.code == request_code::LOCK_BATCH_MQ,
                }
            }
            request_code::UPDATE_AND_CREATE_TOPIC => {
                let header: CreateTopicRequestHeader = request.header().map_err(bad_header)?;
                RequestKind::CreateTopic {
                    topic: not_system(TopicName::parse("topic", header.topic.clone())?)?,
                    header: Box::new(header),
                }
            }
            request_code::DELETE_TOPIC_IN_BROKER => {
                let h: DeleteTopicRequestHeader = request.header().map_err(bad_header)?;
                RequestKind::DeleteTopic {
                    topic: not_system(t("topic", &h.topic)?)?,
                }
            }
            request_code::GET_ALL_TOPIC_CONFIG => RequestKind::AllTopicConfig,
            request_code::GET_TOPIC_STATS_INFO => {
                let h: GetTopicStatsInfoRequestHeader = request.header().map_err(bad_header)?;
                RequestKind::TopicStats {
                    topic: t("topic", &h.topic)?,
                }
            }
            request_code::SHARDMQ_MOVE_QUEUE => {
                let h: MoveQueueRequestHeader = request.header().map_err(bad_header)?;
                RequestKind::MoveQueue {
                    topic: t("topic", &h.topic)?,
                    queue_id: q(h.queue_id)?,
                    to_shard: h.to_shard,
                }
            }
            request_code::CONSUMER_SEND_MSG_BACK => {
                let header: ConsumerSendMsgBackRequestHeader =
                    request.header().map_err(bad_header)?;
                if header.offset < 0 {
                    return Err(Refusal {
                        code: response_code::SYSTEM_ERROR,
                        remark: format!(
                            "offset {} is not a commit-log position (negative)",
                            header.offset
                        ),
                    });
                }
                RequestKind::SendBack {
                    group: g("group", &header.group)?,
                    header: Box::new(header),
                }
            }
            request_code::GET_ALL_DELAY_OFFSET => RequestKind::DelayOffsets,
            _ => RequestKind::Unsupported,
        })
    }

    /// What the request is about, for routing.
    pub fn owner_key(&self) -> OwnerKey {
        use RequestKind as K;
        match self {
            K::Send {
                topic, queue_id, ..
            } => OwnerKey::Send {
                topic: topic.clone(),
                queue_id: *queue_id,
            },
            K::Pull {
                topic,
                queue_id,
                header,
                ..
            } => OwnerKey::Read {
                topic: topic.clone(),
                queue_id: *queue_id,
                offset: header.queue_offset.max(0) as u64,
                hold_ms: if header.sys_flag & PULL_FLAG_SUSPEND != 0 {
                    header.suspend_timeout_millis.max(0) as u64
                } else {
                    0
                },
            },
            K::MinOffset { topic, queue_id } | K::EarliestStoreTime { topic, queue_id } => {
                OwnerKey::QueueStart {
                    topic: topic.clone(),
                    queue_id: *queue_id,
                }
            }
            K::QueryConsumerOffset {
                topic, queue_id, ..
            }
            | K::UpdateConsumerOffset {
                topic, queue_id, ..
            }
            | K::SearchOffset {
                topic, queue_id, ..
            }
            | K::MaxOffset { topic, queue_id }
            | K::MoveQueue {
                topic, queue_id, ..
            } => OwnerKey::Queue {
                topic: topic.clone(),
                queue_id: *queue_id,
            },
            K::ViewMessage { position } => OwnerKey::Position(*position),
            K::SendBack { header, .. } => OwnerKey::Position(header.offset as u64),
            K::ConsumerList { group } | K::Lock { group, .. } => OwnerKey::Group(group.clone()),
            K::Unregister {
                group: Some(group), ..
            } => OwnerKey::Group(group.clone()),
            K::Heartbeat { groups, .. } => OwnerKey::Groups(groups.clone()),
            K::Unregister { group: None, .. }
            | K::CreateTopic { .. }
            | K::DeleteTopic { .. }
            | K::AllTopicConfig
            | K::TopicStats { .. }
            | K::DelayOffsets
            | K::Unsupported => OwnerKey::Any,
        }
    }
}

fn not_system(topic: TopicName) -> Result<TopicName, Refusal> {
    if topic.is_system() {
        return Err(Refusal {
            code: response_code::SYSTEM_ERROR,
            remark: format!("the topic[{topic}] is conflict with system topic"),
        });
    }
    Ok(topic)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::SerializeType;
    use crate::command::Head;
    use crate::ext::WriteFields;
    use crate::header::{SendMessageRequestHeader, SendMessageRequestHeaderV2};
    use bytes::Bytes;

    fn command<H: WriteFields>(code: i32, header: &H, body: &str) -> Command {
        Command::new(
            Head::request(code, 1),
            SerializeType::RocketMq,
            header,
            Bytes::copy_from_slice(body.as_bytes()),
        )
    }

    fn send(topic: &str, queue_id: i32) -> SendMessageRequestHeader {
        SendMessageRequestHeader {
            producer_group: "PG".into(),
            topic: topic.into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id,
            sys_flag: 0,
            born_timestamp: 0,
            flag: 0,
            properties: None,
            reconsume_times: None,
            unit_mode: None,
            batch: None,
            max_reconsume_times: None,
            broker_name: None,
        }
    }

    fn pull(group: &str, topic: &str, offset: i64, sys_flag: i32) -> PullMessageRequestHeader {
        PullMessageRequestHeader {
            consumer_group: group.into(),
            topic: topic.into(),
            queue_id: 2,
            queue_offset: offset,
            max_msg_nums: 32,
            sys_flag,
            commit_offset: 0,
            suspend_timeout_millis: 15_000,
            subscription: None,
            sub_version: 0,
            expression_type: None,
            max_msg_bytes: None,
            request_source: None,
        }
    }

    fn create(topic: &str) -> CreateTopicRequestHeader {
        CreateTopicRequestHeader {
            topic: topic.into(),
            default_topic: "TBW102".into(),
            read_queue_nums: 4,
            write_queue_nums: 4,
            perm: 6,
            topic_filter_type: "SINGLE_TAG".into(),
            topic_sys_flag: None,
            order: false,
            attributes: None,
            force: None,
        }
    }

    fn topic(s: &str) -> TopicName {
        TopicName::parse("topic", s).unwrap()
    }

    fn group(s: &str) -> GroupName {
        GroupName::parse("group", s).unwrap()
    }

    #[test]
    fn owner_keys_are_read_from_each_codes_own_fields() {
        let q = |n| QueueId::parse("queueId", n).unwrap();
        let table: Vec<(Command, OwnerKey)> = vec![
            (
                command(
                    request_code::SEND_MESSAGE_V2,
                    &SendMessageRequestHeaderV2::from(send("T", 3)),
                    "",
                ),
                OwnerKey::Send {
                    topic: topic("T"),
                    queue_id: q(3),
                },
            ),
            (
                command(request_code::SEND_MESSAGE, &send("T", 1), ""),
                OwnerKey::Send {
                    topic: topic("T"),
                    queue_id: q(1),
                },
            ),
            (
                command(request_code::PULL_MESSAGE, &pull("G", "T", -5, 6), ""),
                OwnerKey::Read {
                    topic: topic("T"),
                    queue_id: q(2),
                    offset: 0,
                    hold_ms: 15_000,
                },
            ),
            (
                command(request_code::PULL_MESSAGE, &pull("G", "T", 7, 0), ""),
                OwnerKey::Read {
                    topic: topic("T"),
                    queue_id: q(2),
                    offset: 7,
                    hold_ms: 0,
                },
            ),
            (
                command(
                    request_code::GET_MIN_OFFSET,
                    &GetMinOffsetRequestHeader {
                        topic: "T".into(),
                        queue_id: 0,
                    },
                    "",
                ),
                OwnerKey::QueueStart {
                    topic: topic("T"),
                    queue_id: q(0),
                },
            ),
            (
                command(
                    request_code::VIEW_MESSAGE_BY_ID,
                    &ViewMessageRequestHeader {
                        topic: None,
                        offset: 4096,
                    },
                    "",
                ),
                OwnerKey::Position(4096),
            ),
            (
                command(
                    request_code::GET_CONSUMER_LIST_BY_GROUP,
                    &GetConsumerListByGroupRequestHeader {
                        consumer_group: "G".into(),
                    },
                    "",
                ),
                OwnerKey::Group(group("G")),
            ),
            (
                command(
                    request_code::LOCK_BATCH_MQ,
                    &(),
                    r#"{"consumerGroup":"G","clientId":"c","mqSet":[]}"#,
                ),
                OwnerKey::Group(group("G")),
            ),
            (
                command(
                    request_code::HEART_BEAT,
                    &(),
                    r#"{"clientID":"c","consumerDataSet":[{"groupName":"A","subscriptionDataSet":[]},{"groupName":"B","subscriptionDataSet":[]}]}"#,
                ),
                OwnerKey::Groups(vec![group("A"), group("B")]),
            ),
            (
                command(
                    request_code::UNREGISTER_CLIENT,
                    &UnregisterClientRequestHeader {
                        client_id: "c".into(),
                        producer_group: Some("P".into()),
                        consumer_group: None,
                    },
                    "",
                ),
                OwnerKey::Any,
            ),
            (
                command(request_code::GET_ALL_TOPIC_CONFIG, &(), ""),
                OwnerKey::Any,
            ),
            (command(9999, &(), ""), OwnerKey::Any),
        ];
        for (request, expected) in table {
            let code = request.head.code;
            let key = Request::decode(request)
                .map(|r| r.owner_key())
                .map_err(|refused| refused.1);
            assert_eq!(key, Ok(expected), "code {code}");
        }
    }

    #[test]
    fn bad_names_are_refused_with_the_field_named() {
        let table: Vec<(Command, i32, &str)> = vec![
            (
                command(
                    request_code::SEND_MESSAGE_V2,
                    &SendMessageRequestHeaderV2::from(send("bad topic", 0)),
                    "",
                ),
                response_code::SYSTEM_ERROR,
                "topic `bad topic`",
            ),
            (
                command(
                    request_code::SEND_MESSAGE_V2,
                    &SendMessageRequestHeaderV2::from(send("T", -1)),
                    "",
                ),
                response_code::SYSTEM_ERROR,
                "queueId `-1`",
            ),
            (
                command(request_code::SEND_MESSAGE_V2, &(), ""),
                response_code::SYSTEM_ERROR,
                "missing required field",
            ),
            (
                command(
                    request_code::SEND_MESSAGE,
                    &send("SCHEDULE_TOPIC_XXXX", 0),
                    "",
                ),
                response_code::NO_PERMISSION,
                "forbidden",
            ),
            (
                command(request_code::PULL_MESSAGE, &pull("g/../x", "T", 0, 0), ""),
                response_code::SYSTEM_ERROR,
                "consumerGroup `g/../x`",
            ),
            (
                command(request_code::UPDATE_AND_CREATE_TOPIC, &create("a.b"), ""),
                response_code::SYSTEM_ERROR,
                "topic `a.b`",
            ),
            (
                command(request_code::UPDATE_AND_CREATE_TOPIC, &create("TBW102"), ""),
                response_code::SYSTEM_ERROR,
                "system topic",
            ),
            (
                command(
                    request_code::HEART_BEAT,
                    &(),
                    r#"{"clientID":"c","consumerDataSet":[{"groupName":"bad group","subscriptionDataSet":[]}]}"#,
                ),
                response_code::SYSTEM_ERROR,
                "groupName `bad group`",
            ),
            (
                command(request_code::LOCK_BATCH_MQ, &(), "not json"),
                response_code::SYSTEM_ERROR,
                "lock request body",
            ),
        ];
        for (request, code, remark) in table {
            let refusal = Request::decode(request)
                .map(|r| r.owner_key())
                .unwrap_err()
                .1;
            assert_eq!(refusal.code, code, "{refusal:?}");
            assert!(
                refusal.remark.contains(remark),
                "{:?} lacks {remark:?}",
                refusal.remark
            );
        }
    }
}
