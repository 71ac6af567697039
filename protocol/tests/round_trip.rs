//! Property tests: for every wire type, decode(encode(x)) == x; streaming decode is
//! indifferent to how the bytes are split; and no input makes a decoder panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::{Bytes, BytesMut};
use proptest::collection::{btree_map, btree_set, vec};
use proptest::prelude::*;
use shardmq_protocol::body::*;
use shardmq_protocol::codes::{LanguageCode, SerializeType};
use shardmq_protocol::command::{Command, Head};
use shardmq_protocol::ext::{ExtFields, FieldKind, FieldSink, WriteFields};
use shardmq_protocol::frame::{FrameDecoder, RawFrame};
use shardmq_protocol::header::*;
use shardmq_protocol::message::{
    decode_batch, encode_batch, BatchEntry, MagicVersion, MessageId, Properties, StoredMessage,
};

/// Any text, including quotes, backslashes, control characters and non-ASCII.
fn text(max: usize) -> impl Strategy<Value = String> {
    vec(
        prop_oneof![
            4 => any::<char>(),
            1 => prop::sample::select(vec!['"', '\\', '\u{1}', '\u{2}', '\n', '\u{0}', '/', 'é']),
        ],
        0..max,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port)),
        (any::<[u8; 16]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port)),
    ]
}

fn head(binary: bool) -> impl Strategy<Value = Head> {
    let code = if binary {
        any::<i16>().prop_map(i32::from).boxed()
    } else {
        any::<i32>().boxed()
    };
    let version = if binary {
        any::<i16>().prop_map(i32::from).boxed()
    } else {
        any::<i32>().boxed()
    };
    (
        code,
        any::<u8>(),
        version,
        any::<i32>(),
        any::<i32>(),
        prop::option::of(text(20).prop_filter("non-empty", |s| !s.is_empty())),
    )
        .prop_map(|(code, lang, version, opaque, flag, remark)| Head {
            code,
            language: LanguageCode(lang),
            version,
            opaque,
            flag,
            remark: remark.map(Into::into),
        })
}

fn command() -> impl Strategy<Value = Command> {
    any::<bool>().prop_flat_map(|binary| {
        (
            head(binary),
            vec(
                (
                    text(12).prop_filter("non-empty", |k| !k.is_empty()),
                    text(40),
                ),
                0..8,
            ),
            vec(any::<u8>(), 0..64),
        )
            .prop_map(move |(head, pairs, body)| Command {
                head,
                serialize_type: if binary {
                    SerializeType::RocketMq
                } else {
                    SerializeType::Json
                },
                ext: ExtFields::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                body: Bytes::from(body),
            })
    })
}

fn decode_all(decoder: &FrameDecoder, buf: &mut BytesMut) -> Vec<Command> {
    std::iter::from_fn(|| decoder.decode(buf).unwrap())
        .map(|f| Command::decode(f).unwrap())
        .collect()
}

proptest! {
    #[test]
    fn command_round_trips_in_either_header_encoding(cmd in command()) {
        let mut wire = BytesMut::from(&cmd.to_bytes()[..]);
        let got = decode_all(&FrameDecoder::default(), &mut wire);
        prop_assert_eq!(got, vec![cmd]);
    }

    #[test]
    fn streaming_decode_is_indifferent_to_how_bytes_are_split(
        cmds in vec(command(), 1..5),
        cuts in vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut wire = Vec::new();
        for c in &cmds {
            wire.extend_from_slice(&c.to_bytes());
        }
        let mut cut_at: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
        cut_at.push(wire.len());
        cut_at.sort_unstable();
        let decoder = FrameDecoder::default();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut from = 0;
        for to in cut_at {
            buf.extend_from_slice(&wire[from..to]);
            from = to;
            got.extend(decode_all(&decoder, &mut buf));
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got, cmds);
    }

    #[test]
    fn no_bytes_make_any_decoder_panic(bytes in vec(any::<u8>(), 0..300)) {
        let b = Bytes::from(bytes.clone());
        let _ = FrameDecoder::new(1024).decode(&mut BytesMut::from(&bytes[..]));
        for ser in [SerializeType::Json, SerializeType::RocketMq] {
            if let Ok(cmd) = Command::decode(RawFrame { serialize_type: ser, header: b.clone(), body: Bytes::new() }) {
                let _ = cmd.header::<SendMessageRequestHeaderV2>();
                let _ = cmd.header::<PullMessageRequestHeader>();
            }
        }
        let _ = StoredMessage::iter(&b, true).count();
        let _ = decode_batch(&b).count();
        let _ = HeartbeatData::decode(&bytes);
        let _ = TopicRouteData::decode(&bytes);
        let _ = std::str::from_utf8(&bytes).map(MessageId::parse);
        let _ = quote_bare_integer_keys(&bytes);
    }
}

/// Canonical text for a random value of `kind`, as the typed header would write it.
fn field_text(kind: FieldKind) -> BoxedStrategy<String> {
    match kind {
        FieldKind::Text => text(30).boxed(),
        FieldKind::I16 => any::<i16>().prop_map(|v| v.to_string()).boxed(),
        FieldKind::I32 => any::<i32>().prop_map(|v| v.to_string()).boxed(),
        FieldKind::I64 => any::<i64>().prop_map(|v| v.to_string()).boxed(),
        FieldKind::Bool => any::<bool>().prop_map(|v| v.to_string()).boxed(),
    }
}

/// Random canonical extFields for `H`: every required field, optional ones at random.
fn header_fields<H: CommandHeader>() -> impl Strategy<Value = Vec<(&'static str, String)>> {
    let per_field: Vec<_> = H::FIELDS
        .iter()
        .map(|spec| {
            let value = field_text(spec.kind);
            if spec.required {
                value.prop_map(Some).boxed()
            } else {
                prop::option::of(value).boxed()
            }
            .prop_map(move |v| v.map(|v| (spec.key, v)))
        })
        .collect();
    per_field.prop_map(|fields| fields.into_iter().flatten().collect())
}

struct Pairs(Vec<(String, String)>);
impl FieldSink for Pairs {
    fn field(&mut self, key: &str, value: &str) {
        self.0.push((key.to_owned(), value.to_owned()));
    }
}

/// extFields → H → extFields is the identity on canonical fields, in both header encodings;
/// so H → extFields → H is too.
fn check_header<H: CommandHeader + PartialEq + std::fmt::Debug>(
    fields: &[(&'static str, String)],
) -> Result<(), TestCaseError> {
    for ser in [SerializeType::Json, SerializeType::RocketMq] {
        let ext = ExtFields::from_pairs(fields.iter().map(|(k, v)| (*k, v.as_str())));
        let cmd = Command {
            ext,
            serialize_type: ser,
            ..Default::default()
        };
        let mut wire = BytesMut::from(&cmd.to_bytes()[..]);
        let decoded =
            Command::decode(FrameDecoder::default().decode(&mut wire).unwrap().unwrap()).unwrap();
        let header: H = decoded
            .header()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut out = Pairs(Vec::new());
        header.write_fields(&mut out);
        let want: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        prop_assert_eq!(&out.0, &want, "{}", H::NAME);
        let again: H = Command::new(Head::default(), ser, &header, Bytes::new())
            .header()
            .unwrap();
        prop_assert_eq!(again, header);
    }
    Ok(())
}

macro_rules! header_round_trips {
    ($($test:ident: $ty:ty,)*) => {
        proptest! {
            $(
                #[test]
                fn $test(fields in header_fields::<$ty>()) {
                    check_header::<$ty>(&fields)?;
                }
            )*
        }
    };
}

header_round_trips! {
    send_v1_header_round_trips: SendMessageRequestHeader,
    send_v2_header_round_trips: SendMessageRequestHeaderV2,
    send_response_header_round_trips: SendMessageResponseHeader,
    pull_request_header_round_trips: PullMessageRequestHeader,
    pull_response_header_round_trips: PullMessageResponseHeader,
    query_consumer_offset_header_round_trips: QueryConsumerOffsetRequestHeader,
    update_consumer_offset_header_round_trips: UpdateConsumerOffsetRequestHeader,
    search_offset_header_round_trips: SearchOffsetRequestHeader,
    get_max_offset_header_round_trips: GetMaxOffsetRequestHeader,
    get_min_offset_header_round_trips: GetMinOffsetRequestHeader,
    earliest_store_time_header_round_trips: GetEarliestMsgStoretimeRequestHeader,
    earliest_store_time_response_round_trips: GetEarliestMsgStoretimeResponseHeader,
    view_message_header_round_trips: ViewMessageRequestHeader,
    offset_response_header_round_trips: OffsetResponseHeader,
    unregister_client_header_round_trips: UnregisterClientRequestHeader,
    consumer_list_header_round_trips: GetConsumerListByGroupRequestHeader,
    notify_ids_changed_header_round_trips: NotifyConsumerIdsChangedRequestHeader,
    send_back_header_round_trips: ConsumerSendMsgBackRequestHeader,
    end_transaction_header_round_trips: EndTransactionRequestHeader,
    check_transaction_header_round_trips: CheckTransactionStateRequestHeader,
    create_topic_header_round_trips: CreateTopicRequestHeader,
    delete_topic_header_round_trips: DeleteTopicRequestHeader,
    register_broker_header_round_trips: RegisterBrokerRequestHeader,
    register_broker_response_round_trips: RegisterBrokerResponseHeader,
    unregister_broker_header_round_trips: UnregisterBrokerRequestHeader,
    route_request_header_round_trips: GetRouteInfoRequestHeader,
    delete_topic_namesrv_header_round_trips: DeleteTopicFromNamesrvRequestHeader,
    move_queue_header_round_trips: MoveQueueRequestHeader,
    topic_stats_header_round_trips: GetTopicStatsInfoRequestHeader,
}

fn stored_message() -> impl Strategy<Value = StoredMessage> {
    (
        (
            any::<bool>(),
            any::<i32>(),
            any::<i32>(),
            any::<i64>(),
            any::<i64>(),
            any::<i32>(),
        ),
        (
            any::<i64>(),
            socket_addr(),
            any::<i64>(),
            socket_addr(),
            any::<i32>(),
            any::<i64>(),
        ),
        (vec(any::<u8>(), 0..200), text(40), text(60)),
    )
        .prop_filter(
            "topic fits the magic",
            |((v2, ..), _, (_, topic, props))| {
                topic.len() <= if *v2 { 32767 } else { 127 } && props.len() <= 32767
            },
        )
        .prop_map(
            |(
                (v2, queue_id, flag, queue_offset, physical_offset, sys_flag),
                (bt, bh, st, sh, rt, pto),
                (body, topic, props),
            )| {
                let mut m = StoredMessage {
                    version: if v2 {
                        MagicVersion::V2
                    } else {
                        MagicVersion::V1
                    },
                    queue_id,
                    flag,
                    queue_offset,
                    physical_offset,
                    sys_flag,
                    born_timestamp: bt,
                    born_host: bh,
                    store_timestamp: st,
                    store_host: sh,
                    reconsume_times: rt,
                    prepared_transaction_offset: pto,
                    body: Bytes::from(body),
                    topic: topic.into(),
                    properties: props.into(),
                };
                m.sys_flag = m.wire_sys_flag();
                m
            },
        )
}

fn name() -> impl Strategy<Value = String> {
    text(10)
}

fn heartbeat() -> impl Strategy<Value = HeartbeatData> {
    let sub = (
        any::<bool>(),
        name(),
        name(),
        vec(name(), 0..3),
        vec(any::<i32>(), 0..3),
        any::<i64>(),
        name(),
    )
        .prop_map(
            |(
                class_filter_mode,
                topic,
                sub_string,
                tags_set,
                code_set,
                sub_version,
                expression_type,
            )| SubscriptionData {
                class_filter_mode,
                topic,
                sub_string,
                tags_set,
                code_set,
                sub_version,
                expression_type,
            },
        );
    let consumer = (
        name(),
        0usize..3,
        0usize..2,
        0usize..6,
        vec(sub, 0..3),
        any::<bool>(),
    )
        .prop_map(|(g, ct, mm, cf, subs, unit)| {
            let ct = [
                ConsumeType::CONSUME_ACTIVELY,
                ConsumeType::CONSUME_PASSIVELY,
                ConsumeType::CONSUME_POP,
            ][ct];
            let mm = [MessageModel::BROADCASTING, MessageModel::CLUSTERING][mm];
            let cf = [
                ConsumeFromWhere::CONSUME_FROM_LAST_OFFSET,
                ConsumeFromWhere::CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST,
                ConsumeFromWhere::CONSUME_FROM_MIN_OFFSET,
                ConsumeFromWhere::CONSUME_FROM_MAX_OFFSET,
                ConsumeFromWhere::CONSUME_FROM_FIRST_OFFSET,
                ConsumeFromWhere::CONSUME_FROM_TIMESTAMP,
            ][cf];
            ConsumerData {
                group_name: g,
                consume_type: ct,
                message_model: mm,
                consume_from_where: cf,
                subscription_data_set: subs,
                unit_mode: unit,
            }
        });
    (
        name(),
        vec(name(), 0..3),
        vec(consumer, 0..3),
        prop::option::of(any::<i32>()),
        prop::option::of(any::<bool>()),
    )
        .prop_map(
            |(client_id, producers, consumer_data_set, heartbeat_fingerprint, without_sub)| {
                HeartbeatData {
                    client_id,
                    producer_data_set: producers
                        .into_iter()
                        .map(|group_name| ProducerData { group_name })
                        .collect(),
                    consumer_data_set,
                    heartbeat_fingerprint,
                    without_sub,
                }
            },
        )
}

fn broker_data() -> impl Strategy<Value = BrokerData> {
    (
        name(),
        name(),
        btree_map(any::<i64>(), name(), 0..3),
        prop::option::of(name()),
        any::<bool>(),
    )
        .prop_map(
            |(cluster, broker_name, broker_addrs, zone_name, enable_acting_master)| BrokerData {
                cluster,
                broker_name,
                broker_addrs,
                zone_name,
                enable_acting_master,
            },
        )
}

fn route() -> impl Strategy<Value = TopicRouteData> {
    let queue = (
        name(),
        any::<i32>(),
        any::<i32>(),
        any::<i32>(),
        any::<i32>(),
        prop::option::of(vec(any::<u16>(), 0..8)),
    )
        .prop_map(|(broker_name, r, w, perm, flag, shard_ports)| QueueData {
            broker_name,
            read_queue_nums: r,
            write_queue_nums: w,
            perm,
            topic_sys_flag: flag,
            shard_ports,
        });
    (
        prop::option::of(name()),
        vec(queue, 0..3),
        vec(broker_data(), 0..3),
        btree_map(name(), vec(name(), 0..2), 0..2),
    )
        .prop_map(
            |(order_topic_conf, queue_datas, broker_datas, filter_server_table)| TopicRouteData {
                order_topic_conf,
                queue_datas,
                broker_datas,
                filter_server_table,
            },
        )
}

fn message_queue() -> impl Strategy<Value = MessageQueue> {
    (name(), name(), any::<i32>()).prop_map(|(topic, broker_name, queue_id)| MessageQueue {
        topic,
        broker_name,
        queue_id,
    })
}

fn json_round_trip<T: JsonBody + PartialEq + std::fmt::Debug>(
    value: &T,
) -> Result<(), TestCaseError> {
    let decoded = T::decode(&value.encode()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&decoded, value);
    Ok(())
}

proptest! {
    #[test]
    fn stored_message_round_trips(m in stored_message()) {
        let mut out = BytesMut::new();
        m.encode(&mut out).unwrap();
        prop_assert_eq!(out.len(), m.encoded_len());
        let (back, len) = StoredMessage::decode(&out.freeze(), 0, true).unwrap();
        prop_assert_eq!(len, m.encoded_len());
        prop_assert_eq!(back, m);
    }

    #[test]
    fn batch_body_round_trips(entries in vec((any::<i32>(), vec(any::<u8>(), 0..50), text(30)), 0..5)) {
        let entries: Vec<BatchEntry> = entries
            .into_iter()
            .map(|(flag, body, props)| BatchEntry { flag, body: Bytes::from(body), properties: props.into() })
            .collect();
        let mut out = BytesMut::new();
        encode_batch(&entries, &mut out).unwrap();
        let back: Vec<BatchEntry> = decode_batch(&out.freeze()).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(back, entries);
    }

    #[test]
    fn properties_round_trip(pairs in btree_map(text(10).prop_filter("name", |s| !s.is_empty()), text(20), 0..6)) {
        let mut p = Properties::new();
        let mut accepted = 0;
        for (k, v) in &pairs {
            if p.set(k, v).is_ok() {
                accepted += 1;
            }
        }
        prop_assert_eq!(p.len(), accepted);
        prop_assert_eq!(Properties::decode(&p.encode()), p);
    }

    #[test]
    fn msg_id_round_trips(addr in socket_addr(), offset in any::<i64>()) {
        let id = MessageId { store_host: addr, commit_log_offset: offset };
        let text = id.to_string();
        prop_assert_eq!(text.len(), if addr.is_ipv4() { 32 } else { 56 });
        prop_assert_eq!(MessageId::parse(&text).unwrap(), id);
    }

    #[test]
    fn heartbeat_body_round_trips(hb in heartbeat()) {
        json_round_trip(&hb)?;
    }

    #[test]
    fn route_body_round_trips(r in route()) {
        json_round_trip(&r)?;
    }

    #[test]
    fn cluster_info_round_trips(
        brokers in btree_map(name(), broker_data(), 0..3),
        clusters in btree_map(name(), btree_set(name(), 0..3), 0..3),
    ) {
        json_round_trip(&ClusterInfo { broker_addr_table: brokers, cluster_addr_table: clusters })?;
    }

    #[test]
    fn register_broker_body_round_trips(
        topics in btree_map(name(), (any::<i32>(), any::<i32>(), any::<i32>(), any::<bool>(), any::<i32>(), any::<bool>(), btree_map(name(), name(), 0..2)), 0..3),
        version in (any::<i64>(), any::<i64>(), any::<i64>()),
        filters in vec(name(), 0..2),
    ) {
        let table = topics
            .into_iter()
            .map(|(n, (r, w, perm, multi, flag, order, attributes))| {
                let cfg = TopicConfig {
                    topic_name: n.clone(),
                    read_queue_nums: r,
                    write_queue_nums: w,
                    perm,
                    topic_filter_type: if multi { TopicFilterType::MULTI_TAG } else { TopicFilterType::SINGLE_TAG },
                    topic_sys_flag: flag,
                    order,
                    attributes,
                    shard_ports: if order { Some(vec![10921, 10922]) } else { None },
                };
                (n, cfg)
            })
            .collect();
        let body = RegisterBrokerBody {
            topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
                topic_config_table: table,
                data_version: DataVersion { state_version: version.0, timestamp: version.1, counter: version.2 },
            },
            filter_server_list: filters,
        };
        json_round_trip(&body)?;
    }

    #[test]
    fn small_bodies_round_trip(
        ids in vec(name(), 0..4),
        group in name(),
        client in name(),
        only in any::<bool>(),
        mqs in vec(message_queue(), 0..4),
        topics in btree_set(name(), 0..4),
        addr in prop::option::of(name()),
    ) {
        json_round_trip(&ConsumerIdList { consumer_id_list: ids })?;
        json_round_trip(&LockBatchRequestBody { consumer_group: group, client_id: client, only_this_broker: only, mq_set: mqs.clone() })?;
        json_round_trip(&LockBatchResponseBody { lock_ok_mq_set: mqs })?;
        json_round_trip(&TopicList { topic_list: topics, broker_addr: addr })?;
    }
}

#[test]
fn headers_written_by_write_fields_match_their_field_specs() {
    // The FIELDS table drives the property tests above, so check it against the writer once.
    let h = SendMessageRequestHeaderV2 {
        unit_mode: Some(true),
        ..Default::default()
    };
    let mut out = Pairs(Vec::new());
    h.write_fields(&mut out);
    let keys: Vec<&str> = out.0.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["a", "b", "c", "d", "e", "f", "g", "h", "k"]);
    let required: Vec<&str> = SendMessageRequestHeaderV2::FIELDS
        .iter()
        .filter(|f| f.required)
        .map(|f| f.key)
        .collect();
    assert_eq!(required, ["a", "b", "c", "d", "e", "f", "g", "h"]);
}
