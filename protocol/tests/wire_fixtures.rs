//! Byte fixtures built by hand from RocketMQ's documented layouts: each decoder must read
//! them, each encoder must write them byte for byte, and each malformed variant must fail
//! with an error that names the field and byte.

use bytes::{Bytes, BytesMut};
use shardmq_protocol::body::{HeartbeatData, JsonBody};
use shardmq_protocol::codes::{request_code, response_code, LanguageCode, SerializeType};
use shardmq_protocol::command::{encode_frame, Command, Head};
use shardmq_protocol::frame::{FrameDecoder, RawFrame};
use shardmq_protocol::header::*;
use shardmq_protocol::message::{decode_batch, BatchEntry, MagicVersion, MessageId, StoredMessage};
use shardmq_protocol::Error;

/// `[i32 total][u8 type][u24 header len][header][body]`.
fn frame(serialize_type: u8, header: &[u8], body: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend(((4 + header.len() + body.len()) as i32).to_be_bytes());
    v.push(serialize_type);
    v.extend(&(header.len() as u32).to_be_bytes()[1..]);
    v.extend(header);
    v.extend(body);
    v
}

/// Binary header: code i16, language u8, version i16, opaque i32, flag i32,
/// remark (i32 + bytes), extFields (i32 + {i16 key len, key, i32 value len, value}*).
fn binary_header(
    code: i16,
    lang: u8,
    version: i16,
    opaque: i32,
    flag: i32,
    remark: &str,
    ext: &[(&str, &str)],
) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend(code.to_be_bytes());
    v.push(lang);
    v.extend(version.to_be_bytes());
    v.extend(opaque.to_be_bytes());
    v.extend(flag.to_be_bytes());
    v.extend((remark.len() as i32).to_be_bytes());
    v.extend(remark.as_bytes());
    let mut e = Vec::new();
    for (k, val) in ext {
        e.extend((k.len() as i16).to_be_bytes());
        e.extend(k.as_bytes());
        e.extend((val.len() as i32).to_be_bytes());
        e.extend(val.as_bytes());
    }
    v.extend((e.len() as i32).to_be_bytes());
    v.extend(e);
    v
}

fn decode_frame(bytes: &[u8]) -> Result<Command, Error> {
    let mut buf = BytesMut::from(bytes);
    let raw = FrameDecoder::default()
        .decode(&mut buf)?
        .expect("whole frame");
    assert!(buf.is_empty(), "frame left {} bytes", buf.len());
    Command::decode(raw)
}

const SEND_V2_EXT: &[(&str, &str)] = &[
    ("a", "PG"),
    ("b", "TopicTest"),
    ("c", "TBW102"),
    ("d", "4"),
    ("e", "3"),
    ("f", "0"),
    ("g", "1700000000000"),
    ("h", "0"),
    ("i", "TAGS\u{1}TagA\u{2}KEYS\u{1}k1\u{2}"),
    ("j", "0"),
    ("k", "false"),
    ("m", "false"),
];

#[test]
fn binary_send_v2_request_decodes_and_reencodes_byte_for_byte() {
    let header = binary_header(310, 12, 479, 42, 0, "", SEND_V2_EXT);
    let wire = frame(1, &header, b"hello");
    let cmd = decode_frame(&wire).unwrap();
    assert_eq!(cmd.serialize_type, SerializeType::RocketMq);
    assert_eq!(
        cmd.head,
        Head {
            code: request_code::SEND_MESSAGE_V2,
            language: LanguageCode::RUST,
            version: 479,
            opaque: 42,
            flag: 0,
            remark: None
        }
    );
    assert_eq!(&cmd.body[..], b"hello");
    let h: SendMessageRequestHeaderV2 = cmd.header().unwrap();
    assert_eq!(&*h.producer_group, "PG");
    assert_eq!(&*h.topic, "TopicTest");
    assert_eq!(
        (h.default_topic_queue_nums, h.queue_id, h.sys_flag, h.flag),
        (4, 3, 0, 0)
    );
    assert_eq!(h.born_timestamp, 1_700_000_000_000);
    assert_eq!(
        h.properties.as_deref(),
        Some("TAGS\u{1}TagA\u{2}KEYS\u{1}k1\u{2}")
    );
    assert_eq!(
        (h.unit_mode, h.batch, h.max_reconsume_times),
        (Some(false), Some(false), None)
    );
    // The typed header writes its fields in declaration order: a..k, then m.
    let rebuilt = Command::new(
        cmd.head.clone(),
        SerializeType::RocketMq,
        &h,
        cmd.body.clone(),
    );
    assert_eq!(&rebuilt.to_bytes()[..], &wire[..]);
    // v1 and v2 carry the same fields.
    let v1 = SendMessageRequestHeader::from(h.clone());
    assert_eq!(SendMessageRequestHeaderV2::from(v1), h);
}

#[test]
fn java_json_header_with_string_values_decodes() {
    let json = r#"{"code":11,"extFields":{"commitOffset":"0","consumerGroup":"G","maxMsgNums":"32","queueId":"1","queueOffset":"5","subVersion":"1700000000000","subscription":"TagA || TagB","suspendTimeoutMillis":"15000","sysFlag":"6","topic":"T"},"flag":0,"language":"JAVA","opaque":77,"serializeTypeCurrentRPC":"JSON","version":401}"#;
    let cmd = decode_frame(&frame(0, json.as_bytes(), b"")).unwrap();
    assert_eq!(cmd.serialize_type, SerializeType::Json);
    assert_eq!(
        (cmd.head.code, cmd.head.opaque, cmd.head.version),
        (11, 77, 401)
    );
    assert_eq!(cmd.head.language, LanguageCode::JAVA);
    let h: PullMessageRequestHeader = cmd.header().unwrap();
    assert_eq!(h.sys_flag & PULL_FLAG_SUSPEND, PULL_FLAG_SUSPEND);
    assert_eq!((h.queue_id, h.queue_offset, h.max_msg_nums), (1, 5, 32));
    assert_eq!(h.suspend_timeout_millis, 15_000);
    assert_eq!(h.subscription.as_deref(), Some("TagA || TagB"));
    assert!(cmd.body.is_empty());
}

#[test]
fn cpp_json_header_with_numbers_booleans_and_extra_fields_decodes() {
    // The C++ client sends numbers and booleans, language by name, and extra extFields.
    let json = r#"{"code":10,"language":"CPP","version":63,"opaque":3,"flag":0,"remark":"","extFields":{"AccessKey":"","OnsChannel":"ALIYUN","producerGroup":"PG","topic":"T","defaultTopic":"TBW102","defaultTopicQueueNums":4,"queueId":0,"sysFlag":0,"bornTimestamp":1700000000000,"flag":0,"properties":"TAGS\u0001A\u0002","reconsumeTimes":0,"unitMode":false,"batch":false,"nothing":null},"serializeTypeCurrentRPC":"JSON"}"#;
    let cmd = decode_frame(&frame(0, json.as_bytes(), b"body")).unwrap();
    assert_eq!(cmd.head.language, LanguageCode::CPP);
    assert_eq!(cmd.head.remark, None);
    assert_eq!(cmd.ext.get("nothing"), None, "null values are dropped");
    assert_eq!(cmd.ext.get("OnsChannel"), Some("ALIYUN"));
    let h: SendMessageRequestHeader = cmd.header().unwrap();
    assert_eq!(h.born_timestamp, 1_700_000_000_000);
    assert_eq!(h.properties.as_deref(), Some("TAGS\u{1}A\u{2}"));
    assert_eq!(h.batch, Some(false));
}

#[test]
fn json_response_encodes_as_java_writes_it() {
    let request = Head::request(request_code::SEND_MESSAGE, 9);
    let head = Head::response_to(&request, response_code::SUCCESS, Some("a\"b\u{1}".into()));
    let header = SendMessageResponseHeader {
        msg_id: "7F00000100002A9F0000000000000000".into(),
        queue_id: 2,
        queue_offset: 17,
        transaction_id: None,
        batch_uniq_id: None,
    };
    let cmd = Command::new(head, SerializeType::Json, &header, Bytes::new());
    let wire = cmd.to_bytes();
    let want = r#"{"code":0,"language":"RUST","version":479,"opaque":9,"flag":1,"remark":"a\"b\u0001","extFields":{"msgId":"7F00000100002A9F0000000000000000","queueId":"2","queueOffset":"17"},"serializeTypeCurrentRPC":"JSON"}"#;
    assert_eq!(&wire[..], &frame(0, want.as_bytes(), b"")[..]);
    let back = decode_frame(&wire).unwrap();
    assert_eq!(back.header::<SendMessageResponseHeader>().unwrap(), header);
    assert!(back.head.is_response() && !back.head.is_oneway());
}

#[test]
fn borrowed_send_response_fields_encode_exactly_like_the_owned_header() {
    let request = Head::request(request_code::SEND_MESSAGE_V2, 41);
    let head = Head::response_to(&request, response_code::SUCCESS, None);
    let id = MessageId {
        store_host: "127.0.0.1:10911".parse().unwrap(),
        commit_log_offset: 0x1234_5678,
    };
    let mut hex = [0u8; 56];
    let text = id.write_hex(&mut hex);
    assert_eq!(text, id.to_string());
    assert_eq!(text, "7F00000100002A9F0000000012345678");
    let owned = SendMessageResponseHeader {
        msg_id: text.into(),
        queue_id: 3,
        queue_offset: -1,
        transaction_id: None,
        batch_uniq_id: None,
    };
    let borrowed = SendMessageResponseFields {
        msg_id: text,
        queue_id: 3,
        queue_offset: -1,
    };
    for serialize_type in [SerializeType::Json, SerializeType::RocketMq] {
        let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
        encode_frame(&head, serialize_type, &owned, b"", &mut a);
        encode_frame(&head, serialize_type, &borrowed, b"", &mut b);
        assert_eq!(a, b, "{serialize_type:?}");
        let back = decode_frame(&b).unwrap();
        assert_eq!(back.header::<SendMessageResponseHeader>().unwrap(), owned);
    }
}

#[test]
fn json_header_without_ext_fields_omits_the_key() {
    let mut head = Head::request(request_code::GET_BROKER_CLUSTER_INFO, 1);
    head.flag = shardmq_protocol::codes::FLAG_ONEWAY;
    let cmd = Command::new(head, SerializeType::Json, &EmptyHeader, Bytes::new());
    let text = cmd.to_bytes();
    assert_eq!(
        std::str::from_utf8(&text[8..]).unwrap(),
        r#"{"code":106,"language":"RUST","version":479,"opaque":1,"flag":2,"serializeTypeCurrentRPC":"JSON"}"#
    );
    assert!(decode_frame(&text).unwrap().head.is_oneway());
}

/// For every typed header: Java's field names as a JSON extFields fixture decode to the
/// expected values, and dropping a required field names it.
#[test]
fn every_typed_header_reads_java_field_names() {
    fn check<H: CommandHeader + std::fmt::Debug + PartialEq>(
        ext_json: &str,
        want: H,
        required: &str,
    ) {
        let json = format!(r#"{{"code":1,"extFields":{ext_json}}}"#);
        let cmd = decode_frame(&frame(0, json.as_bytes(), b"")).unwrap();
        assert_eq!(cmd.header::<H>().unwrap(), want, "{}", H::NAME);
        if required.is_empty() {
            return;
        }
        let without = json.replacen(&format!("\"{required}\":"), "\"_dropped\":", 1);
        let cmd = decode_frame(&frame(0, without.as_bytes(), b"")).unwrap();
        assert_eq!(
            cmd.header::<H>().unwrap_err(),
            Error::MissingField {
                header: H::NAME,
                field: static_str(required)
            }
        );
    }
    fn static_str(s: &str) -> &'static str {
        Box::leak(s.to_owned().into_boxed_str())
    }
    check(
        r#"{"consumerGroup":"G","topic":"T","queueId":"1","setZeroIfNotFound":"false"}"#,
        QueryConsumerOffsetRequestHeader {
            consumer_group: "G".into(),
            topic: "T".into(),
            queue_id: 1,
            set_zero_if_not_found: Some(false),
        },
        "queueId",
    );
    check(
        r#"{"consumerGroup":"G","topic":"T","queueId":"1","commitOffset":"9"}"#,
        UpdateConsumerOffsetRequestHeader {
            consumer_group: "G".into(),
            topic: "T".into(),
            queue_id: 1,
            commit_offset: 9,
        },
        "commitOffset",
    );
    check(
        r#"{"topic":"T","queueId":"0","timestamp":"123","boundaryType":"upper"}"#,
        SearchOffsetRequestHeader {
            topic: "T".into(),
            queue_id: 0,
            timestamp: 123,
            boundary_type: Some("upper".into()),
        },
        "timestamp",
    );
    check(
        r#"{"topic":"T","queueId":"2","committed":"true"}"#,
        GetMaxOffsetRequestHeader {
            topic: "T".into(),
            queue_id: 2,
            committed: Some(true),
        },
        "topic",
    );
    check(
        r#"{"topic":"T","queueId":"2"}"#,
        GetMinOffsetRequestHeader {
            topic: "T".into(),
            queue_id: 2,
        },
        "queueId",
    );
    check(
        r#"{"topic":"T","queueId":"2"}"#,
        GetEarliestMsgStoretimeRequestHeader {
            topic: "T".into(),
            queue_id: 2,
        },
        "topic",
    );
    check(
        r#"{"offset":"4096"}"#,
        ViewMessageRequestHeader {
            topic: None,
            offset: 4096,
        },
        "offset",
    );
    check(
        r#"{"offset":"-1"}"#,
        OffsetResponseHeader { offset: -1 },
        "offset",
    );
    check(
        r#"{"timestamp":"5"}"#,
        GetEarliestMsgStoretimeResponseHeader { timestamp: 5 },
        "timestamp",
    );
    check(
        r#"{"clientID":"c@1","consumerGroup":"G"}"#,
        UnregisterClientRequestHeader {
            client_id: "c@1".into(),
            producer_group: None,
            consumer_group: Some("G".into()),
        },
        "clientID",
    );
    check(
        r#"{"consumerGroup":"G"}"#,
        GetConsumerListByGroupRequestHeader {
            consumer_group: "G".into(),
        },
        "consumerGroup",
    );
    check(
        r#"{"consumerGroup":"G"}"#,
        NotifyConsumerIdsChangedRequestHeader {
            consumer_group: "G".into(),
        },
        "consumerGroup",
    );
    check(
        r#"{"offset":"100","group":"G","delayLevel":"3","originMsgId":"X","originTopic":"T","unitMode":"false","maxReconsumeTimes":"16"}"#,
        ConsumerSendMsgBackRequestHeader {
            offset: 100,
            group: "G".into(),
            delay_level: 3,
            origin_msg_id: Some("X".into()),
            origin_topic: Some("T".into()),
            unit_mode: Some(false),
            max_reconsume_times: Some(16),
        },
        "delayLevel",
    );
    check(
        r#"{"producerGroup":"PG","tranStateTableOffset":"1","commitLogOffset":"2","commitOrRollback":"8","fromTransactionCheck":"true","msgId":"M","transactionId":"X"}"#,
        EndTransactionRequestHeader {
            topic: None,
            producer_group: "PG".into(),
            tran_state_table_offset: 1,
            commit_log_offset: 2,
            commit_or_rollback: TRANSACTION_COMMIT_TYPE,
            from_transaction_check: Some(true),
            msg_id: "M".into(),
            transaction_id: Some("X".into()),
        },
        "msgId",
    );
    check(
        r#"{"tranStateTableOffset":"1","commitLogOffset":"2","msgId":"M","offsetMsgId":"O"}"#,
        CheckTransactionStateRequestHeader {
            topic: None,
            tran_state_table_offset: 1,
            commit_log_offset: 2,
            msg_id: Some("M".into()),
            transaction_id: None,
            offset_msg_id: Some("O".into()),
        },
        "commitLogOffset",
    );
    check(
        r#"{"topic":"T","defaultTopic":"TBW102","readQueueNums":"8","writeQueueNums":"8","perm":"6","topicFilterType":"SINGLE_TAG","topicSysFlag":"0","order":"false"}"#,
        CreateTopicRequestHeader {
            topic: "T".into(),
            default_topic: "TBW102".into(),
            read_queue_nums: 8,
            write_queue_nums: 8,
            perm: PERM_READ | PERM_WRITE,
            topic_filter_type: "SINGLE_TAG".into(),
            topic_sys_flag: Some(0),
            order: false,
            attributes: None,
            force: None,
        },
        "perm",
    );
    check(
        r#"{"topic":"T"}"#,
        DeleteTopicRequestHeader { topic: "T".into() },
        "topic",
    );
    check(
        r#"{"brokerName":"b","brokerAddr":"127.0.0.1:10911","clusterName":"c","haServerAddr":"127.0.0.1:10912","brokerId":"0","heartbeatTimeoutMillis":"120000","compressed":"false","bodyCrc32":"0"}"#,
        RegisterBrokerRequestHeader {
            broker_name: "b".into(),
            broker_addr: "127.0.0.1:10911".into(),
            cluster_name: "c".into(),
            ha_server_addr: "127.0.0.1:10912".into(),
            broker_id: 0,
            heartbeat_timeout_millis: Some(120_000),
            enable_acting_master: None,
            compressed: Some(false),
            body_crc32: Some(0),
        },
        "haServerAddr",
    );
    check(
        r#"{"haServerAddr":"h","masterAddr":"m"}"#,
        RegisterBrokerResponseHeader {
            ha_server_addr: Some("h".into()),
            master_addr: Some("m".into()),
        },
        "",
    );
    check(
        r#"{"brokerName":"b","brokerAddr":"a","clusterName":"c","brokerId":"1"}"#,
        UnregisterBrokerRequestHeader {
            broker_name: "b".into(),
            broker_addr: "a".into(),
            cluster_name: "c".into(),
            broker_id: 1,
        },
        "brokerId",
    );
    check(
        r#"{"topic":"T","acceptStandardJsonOnly":"true"}"#,
        GetRouteInfoRequestHeader {
            topic: "T".into(),
            accept_standard_json_only: Some(true),
        },
        "topic",
    );
    check(
        r#"{"topic":"T","clusterName":"c"}"#,
        DeleteTopicFromNamesrvRequestHeader {
            topic: "T".into(),
            cluster_name: Some("c".into()),
        },
        "topic",
    );
    check(
        r#"{"suggestWhichBrokerId":"0","nextBeginOffset":"10","minOffset":"0","maxOffset":"10"}"#,
        PullMessageResponseHeader {
            suggest_which_broker_id: 0,
            next_begin_offset: 10,
            min_offset: 0,
            max_offset: 10,
            offset_delta: None,
            topic_sys_flag: None,
            group_sys_flag: None,
        },
        "nextBeginOffset",
    );
}

#[test]
fn bad_field_values_name_header_and_field() {
    let json = r#"{"code":30,"extFields":{"topic":"T","queueId":"three"}}"#;
    let cmd = decode_frame(&frame(0, json.as_bytes(), b"")).unwrap();
    match cmd.header::<GetMaxOffsetRequestHeader>().unwrap_err() {
        Error::BadField {
            header,
            field,
            reason,
        } => {
            assert_eq!((header, field), ("GetMaxOffsetRequestHeader", "queueId"));
            assert!(reason.contains("`three` is not a i32"), "{reason}");
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn malformed_binary_headers_fail_at_the_named_byte() {
    let good = binary_header(11, 12, 1, 1, 0, "rm", &[("topic", "T")]);
    // Header byte i is frame byte 8 + i.
    let mut negative_remark = good.clone();
    negative_remark[13..17].copy_from_slice(&(-1i32).to_be_bytes());
    let mut long_ext = good.clone();
    long_ext[19..23].copy_from_slice(&1000i32.to_be_bytes());
    let mut bad_utf8_key = good.clone();
    bad_utf8_key[25] = 0xff;
    let mut short_ext = good.clone();
    short_ext[19..23].copy_from_slice(&3i32.to_be_bytes());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated fixed part", good[..10].to_vec(), "corrupt binary header at byte 17: flag needs 4 bytes but only 1 remain"),
        ("negative remark length", negative_remark, "corrupt binary header at byte 21: remark length is negative (-1)"),
        ("extFields length past end", long_ext, "corrupt binary header at byte 27: extFields length is 1000 but only 12 bytes remain"),
        ("key not UTF-8", bad_utf8_key, "corrupt binary header at byte 33: extFields key is not valid UTF-8"),
        ("entry longer than extFields", short_ext, "corrupt binary header at byte 31: extFields length 3 ends inside an entry (entries run to 12)"),
    ];
    for (name, header, want) in cases {
        let err = decode_frame(&frame(1, &header, b"")).unwrap_err();
        assert_eq!(err.to_string(), want, "{name}");
    }
    assert!(decode_frame(&frame(1, &good, b"")).is_ok());
}

#[test]
fn malformed_json_headers_are_corrupt_errors_with_a_position() {
    let cases: &[(&str, &str)] = &[
        ("{\"code\":10,", "EOF while parsing"),
        ("[1,2]", "a JSON header must be an object"),
        (r#"{"opaque":1}"#, "missing field `code`"),
        (
            r#"{"code":10,"extFields":{"a":{"b":1}}}"#,
            "invalid type: map",
        ),
        (
            r#"{"code":10,"language":300}"#,
            "language code 300 out of range",
        ),
        (r#"{"code":"ten"}"#, "`ten` is not an integer"),
        ("{\"code\":1\u{0}}", "expected `,` or `}`"),
    ];
    for (json, want) in cases {
        let err = decode_frame(&frame(0, json.as_bytes(), b"")).expect_err(json);
        match &err {
            Error::Corrupt {
                what: "JSON header",
                offset,
                reason,
            } => {
                assert!(reason.contains(want), "{json}: {reason}");
                assert!(
                    *offset >= 8 && *offset <= 8 + json.len(),
                    "{json}: offset {offset}"
                );
            }
            other => panic!("{json}: unexpected {other}"),
        }
    }
}

/// A stored message, field by field, as the layout documents it.
fn stored_fixture(v2: bool, v6: bool, body: &[u8], topic: &str, props: &str) -> Vec<u8> {
    let host = |port: i32| -> Vec<u8> {
        let mut h = if v6 {
            [0u8; 15].iter().copied().chain([1]).collect::<Vec<_>>()
        } else {
            vec![127, 0, 0, 1]
        };
        h.extend(port.to_be_bytes());
        h
    };
    let mut rest = Vec::new();
    rest.extend(((crc32fast::hash(body) & 0x7fff_ffff) as i32).to_be_bytes()); // BODYCRC
    rest.extend(3i32.to_be_bytes()); // QUEUEID
    rest.extend(7i32.to_be_bytes()); // FLAG
    rest.extend(11i64.to_be_bytes()); // QUEUEOFFSET
    rest.extend(4096i64.to_be_bytes()); // PHYSICALOFFSET
    rest.extend((if v6 { 0x30 } else { 0 } | 0x2i32).to_be_bytes()); // SYSFLAG
    rest.extend(1_700_000_000_000i64.to_be_bytes()); // BORNTIMESTAMP
    rest.extend(host(50000)); // BORNHOST
    rest.extend(1_700_000_000_001i64.to_be_bytes()); // STORETIMESTAMP
    rest.extend(host(10911)); // STOREHOST
    rest.extend(1i32.to_be_bytes()); // RECONSUMETIMES
    rest.extend(0i64.to_be_bytes()); // PREPAREDTRANSACTIONOFFSET
    rest.extend((body.len() as i32).to_be_bytes());
    rest.extend(body);
    if v2 {
        rest.extend((topic.len() as i16).to_be_bytes());
    } else {
        rest.push(topic.len() as u8);
    }
    rest.extend(topic.as_bytes());
    rest.extend((props.len() as i16).to_be_bytes());
    rest.extend(props.as_bytes());
    let magic: u32 = if v2 { 0xDAA3_20AB } else { 0xDAA3_20A7 };
    let mut v = Vec::new();
    v.extend(((8 + rest.len()) as i32).to_be_bytes());
    v.extend(magic.to_be_bytes());
    v.extend(rest);
    v
}

#[test]
fn stored_messages_of_both_magics_and_both_address_families_decode_and_reencode_exactly() {
    let first = stored_fixture(false, false, b"hello", "TopicTest", "TAGS\u{1}TagA\u{2}");
    let second = stored_fixture(true, true, &[0u8; 128], "T2", "");
    let mut wire = first.clone();
    wire.extend(&second);
    let buf = Bytes::from(wire.clone());
    let msgs: Vec<StoredMessage> = StoredMessage::iter(&buf, true)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(msgs.len(), 2);
    let m = &msgs[0];
    assert_eq!(m.version, MagicVersion::V1);
    assert_eq!(
        (m.queue_id, m.flag, m.queue_offset, m.physical_offset),
        (3, 7, 11, 4096)
    );
    assert_eq!(m.born_host, "127.0.0.1:50000".parse().unwrap());
    assert_eq!(m.store_host, "127.0.0.1:10911".parse().unwrap());
    assert_eq!(
        (m.born_timestamp, m.store_timestamp, m.reconsume_times),
        (1_700_000_000_000, 1_700_000_000_001, 1)
    );
    assert_eq!(
        (&m.body[..], &*m.topic, &*m.properties),
        (&b"hello"[..], "TopicTest", "TAGS\u{1}TagA\u{2}")
    );
    assert_eq!(msgs[1].version, MagicVersion::V2);
    assert_eq!(msgs[1].store_host, "[::1]:10911".parse().unwrap());
    assert_eq!(msgs[1].sys_flag, 0x32);
    let mut out = BytesMut::new();
    for m in &msgs {
        assert_eq!(
            m.encoded_len(),
            if m.version == MagicVersion::V1 {
                first.len()
            } else {
                second.len()
            }
        );
        m.encode(&mut out).unwrap();
    }
    assert_eq!(&out[..], &wire[..]);
    let id = MessageId {
        store_host: m.store_host,
        commit_log_offset: m.physical_offset,
    };
    assert_eq!(id.to_string(), "7F00000100002A9F0000000000001000");
}

#[test]
fn malformed_stored_messages_name_field_and_byte() {
    let good = stored_fixture(false, false, b"hello", "T", "");
    let mut bad_magic = good.clone();
    bad_magic[4..8].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    let mut blank = good.clone();
    blank[4..8].copy_from_slice(&0xCBD4_3194u32.to_be_bytes());
    let mut bad_crc = good.clone();
    bad_crc[8] ^= 0x01;
    let mut garbled_body = good.clone();
    garbled_body[88] ^= 0xff;
    let mut long_body = good.clone();
    long_body[84..88].copy_from_slice(&100i32.to_be_bytes());
    let mut slack = good.clone();
    slack[0..4].copy_from_slice(&((good.len() + 2) as i32).to_be_bytes());
    slack.extend([0, 0]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "unknown magic",
            bad_magic,
            "corrupt stored message at byte 4: unknown MAGICCODE 0x12345678",
        ),
        (
            "blank marker",
            blank,
            "corrupt stored message at byte 4: blank end-of-segment marker, not a message",
        ),
        ("crc field flipped", bad_crc, "BODYCRC"),
        ("body garbled", garbled_body, "does not match the body's"),
        (
            "body length past total",
            long_body,
            "corrupt stored message at byte 84: BODYLENGTH is 100 but only 9 bytes remain",
        ),
        (
            "slack after properties",
            slack,
            "leaves 2 bytes after PROPERTIES",
        ),
    ];
    for (name, bytes, want) in cases {
        let err = StoredMessage::decode(&Bytes::from(bytes), 0, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{name}: {err}");
    }
    // A torn tail is Incomplete (read more / cut here), not corrupt.
    for cut in [1, 3, 4, 50, good.len() - 1] {
        let err =
            StoredMessage::decode(&Bytes::copy_from_slice(&good[..cut]), 0, true).unwrap_err();
        assert!(err.is_incomplete(), "cut at {cut}: {err}");
    }
}

/// Batch record: i32 size, i32 magic 0, i32 crc 0, i32 flag, i32 body len + body,
/// i16 properties len + properties.
fn batch_record(flag: i32, body: &[u8], props: &str) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend(((20 + body.len() + 2 + props.len()) as i32).to_be_bytes());
    v.extend(0i32.to_be_bytes());
    v.extend(0i32.to_be_bytes());
    v.extend(flag.to_be_bytes());
    v.extend((body.len() as i32).to_be_bytes());
    v.extend(body);
    v.extend((props.len() as i16).to_be_bytes());
    v.extend(props.as_bytes());
    v
}

#[test]
fn batch_body_decodes_and_reencodes_byte_for_byte() {
    let mut wire = batch_record(0, b"one", "KEYS\u{1}k1\u{2}");
    wire.extend(batch_record(5, b"", ""));
    let entries: Vec<BatchEntry> = decode_batch(&Bytes::from(wire.clone()))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        entries,
        vec![
            BatchEntry {
                flag: 0,
                body: Bytes::from_static(b"one"),
                properties: "KEYS\u{1}k1\u{2}".into()
            },
            BatchEntry {
                flag: 5,
                body: Bytes::new(),
                properties: "".into()
            },
        ]
    );
    let mut out = BytesMut::new();
    shardmq_protocol::message::encode_batch(&entries, &mut out).unwrap();
    assert_eq!(&out[..], &wire[..]);
}

#[test]
fn malformed_batch_bodies_stop_with_an_error_after_the_good_records() {
    let good = batch_record(0, b"ok", "");
    let mut tiny = good.clone();
    tiny.extend(batch_record(0, b"x", ""));
    let at = good.len();
    tiny[at..at + 4].copy_from_slice(&10i32.to_be_bytes());
    let mut long_props = good.clone();
    long_props.extend(batch_record(0, b"x", "p"));
    let n = long_props.len();
    long_props[n - 3..n - 1].copy_from_slice(&50i16.to_be_bytes());
    let cases = [
        (
            tiny,
            format!("corrupt batch body at byte {at}: TOTALSIZE 10 is outside 22..=23"),
        ),
        (
            long_props,
            format!(
                "corrupt batch body at byte {}: PROPERTIESLENGTH is 50 but only 1 bytes remain",
                n - 3
            ),
        ),
    ];
    for (bytes, want) in cases {
        let results: Vec<_> = decode_batch(&Bytes::from(bytes)).collect();
        assert_eq!(results.len(), 2);
        assert!(results[0].is_ok());
        assert_eq!(results[1].as_ref().unwrap_err().to_string(), want);
    }
}

#[test]
fn heartbeat_body_inside_a_cpp_frame_decodes() {
    let body = br#"{"clientID":"127.0.0.1@1","consumerDataSet":[],"producerDataSet":[{"groupName":"PG"}]}"#;
    let header = r#"{"code":34,"language":"CPP","version":63,"opaque":1,"flag":0}"#;
    let cmd = decode_frame(&frame(0, header.as_bytes(), body)).unwrap();
    let hb = HeartbeatData::decode(&cmd.body).unwrap();
    assert_eq!(hb.producer_data_set[0].group_name, "PG");
    let raw = RawFrame {
        serialize_type: SerializeType::Json,
        header: Bytes::new(),
        body: Bytes::new(),
    };
    assert!(
        Command::decode(raw).is_err(),
        "an empty JSON header is corrupt"
    );
}

#[test]
fn json_header_skips_unknown_values_of_every_shape_and_reads_escaped_keys() {
    let json = "{ \"unknown\" : [1, {\"a\": [true, null]}, \"s\"],\n\t\"code\" : 15 ,\"other\":{\"x\":{}},\"remark\":null,\"extFields\":{\"top\\u0069c\":\"T\",\"queueId\":\"2\",\"consumerGroup\":\"G\\u00e9\",\"commitOffset\":7},\"opaque\":-3 }\n";
    let cmd = decode_frame(&frame(0, json.as_bytes(), b"")).unwrap();
    assert_eq!(
        (cmd.head.code, cmd.head.opaque, cmd.head.remark.clone()),
        (15, -3, None)
    );
    assert_eq!(
        cmd.head.language,
        LanguageCode::JAVA,
        "absent language reads as Java's default"
    );
    let h: UpdateConsumerOffsetRequestHeader = cmd.header().unwrap();
    assert_eq!(
        (&*h.topic, &*h.consumer_group, h.queue_id, h.commit_offset),
        ("T", "Gé", 2, 7)
    );
}

#[test]
fn json_header_with_trailing_garbage_or_bad_utf8_is_corrupt() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            br#"{"code":1} x"#.to_vec(),
            "corrupt JSON header at byte 19: trailing characters",
        ),
        (
            b"{\"code\":1,\"remark\":\"\xff\"}".to_vec(),
            "corrupt JSON header at byte 28: not valid UTF-8",
        ),
        (
            br#"{"code":1,"remark":5}"#.to_vec(),
            "remark must be a string",
        ),
    ];
    for (json, want) in cases {
        let err = decode_frame(&frame(0, &json, b"")).unwrap_err().to_string();
        assert!(err.contains(want), "{err}");
    }
}

/// The borrowed send view reads what the typed send headers read, and refuses what they
/// refuse with the same error, for both key sets.
#[test]
fn send_view_agrees_with_the_typed_send_headers() {
    use shardmq_protocol::ext::ExtFields;
    let full: &[(&str, &str)] = &[
        ("a", "PG"),
        ("b", "T"),
        ("c", "TBW102"),
        ("d", "4"),
        ("e", "3"),
        ("f", "0"),
        ("g", "1700000000000"),
        ("h", "7"),
        ("i", "TAGS\u{1}A\u{2}"),
        ("j", "2"),
        ("k", "false"),
        ("l", "16"),
        ("m", "TRUE"),
        ("n", "broker-a"),
    ];
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("every field", full.to_vec()),
        (
            "optional fields absent",
            full.iter()
                .copied()
                .filter(|(k, _)| "abcdefgh".contains(*k))
                .collect(),
        ),
        ("repeated key: first wins", {
            let mut v = full.to_vec();
            v.push(("b", "Other"));
            v.push(("e", "not a number"));
            v
        }),
        (
            "missing topic",
            full.iter().copied().filter(|(k, _)| *k != "b").collect(),
        ),
        (
            "missing producer group",
            full.iter().copied().filter(|(k, _)| *k != "a").collect(),
        ),
        ("bad queue id", {
            let mut v: Vec<_> = full.iter().copied().filter(|(k, _)| *k != "e").collect();
            v.push(("e", "x1"));
            v
        }),
        ("bad optional max reconsume", {
            let mut v: Vec<_> = full.iter().copied().filter(|(k, _)| *k != "l").collect();
            v.push(("l", "9999999999"));
            v
        }),
    ];
    let long_key = |k: &str| -> &'static str {
        match k {
            "a" => "producerGroup",
            "b" => "topic",
            "c" => "defaultTopic",
            "d" => "defaultTopicQueueNums",
            "e" => "queueId",
            "f" => "sysFlag",
            "g" => "bornTimestamp",
            "h" => "flag",
            "i" => "properties",
            "j" => "reconsumeTimes",
            "k" => "unitMode",
            "l" => "maxReconsumeTimes",
            "m" => "batch",
            _ => "bname",
        }
    };
    for (name, pairs) in cases {
        let short = ExtFields::from_pairs(pairs.iter().copied());
        let long = ExtFields::from_pairs(pairs.iter().map(|(k, v)| (long_key(k), *v)));
        let typed = SendMessageRequestHeaderV2::decode(&short).map(SendMessageRequestHeader::from);
        let typed_long = SendMessageRequestHeader::decode(&long);
        for (view, typed) in [
            (SendMessageView::decode(&short, true), typed),
            (SendMessageView::decode(&long, false), typed_long),
        ] {
            match (view, typed) {
                (Ok(v), Ok(t)) => {
                    assert_eq!(v.topic, &*t.topic, "{name}");
                    assert_eq!(v.queue_id, t.queue_id, "{name}");
                    assert_eq!(v.sys_flag, t.sys_flag, "{name}");
                    assert_eq!(v.born_timestamp, t.born_timestamp, "{name}");
                    assert_eq!(v.flag, t.flag, "{name}");
                    assert_eq!(
                        v.properties,
                        t.properties.as_deref().unwrap_or(""),
                        "{name}"
                    );
                    assert_eq!(v.reconsume_times, t.reconsume_times.unwrap_or(0), "{name}");
                    assert_eq!(v.batch, t.batch == Some(true), "{name}");
                }
                (Err(v), Err(t)) => assert_eq!(v.to_string(), t.to_string(), "{name}"),
                (v, t) => panic!("{name}: view {v:?} but typed header {t:?}"),
            }
        }
    }
}

#[test]
fn borrowed_send_header_writes_the_owned_headers_bytes() {
    fn frame<H: shardmq_protocol::ext::WriteFields>(header: &H) -> BytesMut {
        let mut out = BytesMut::new();
        encode_frame(
            &Head::request(request_code::SEND_MESSAGE_V2, 7),
            SerializeType::RocketMq,
            header,
            b"body",
            &mut out,
        );
        out
    }
    let props = "TAGS\u{1}t\u{2}UNIQ_KEY\u{1}7F0000010001000000000000000000AB\u{2}";
    let full = SendMessageRequestHeaderV2Fields {
        producer_group: "group",
        topic: "Topic",
        default_topic: "TBW102",
        default_topic_queue_nums: 4,
        queue_id: 3,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_123,
        flag: 0,
        properties: Some(props),
        reconsume_times: Some(0),
        unit_mode: Some(false),
        max_reconsume_times: Some(16),
        batch: Some(true),
        broker_name: Some("broker-a"),
    };
    let owned = SendMessageRequestHeaderV2 {
        producer_group: "group".into(),
        topic: "Topic".into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id: 3,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_123,
        flag: 0,
        properties: Some(props.into()),
        reconsume_times: Some(0),
        unit_mode: Some(false),
        max_reconsume_times: Some(16),
        batch: Some(true),
        broker_name: Some("broker-a".into()),
    };
    assert_eq!(frame(&full), frame(&owned));
    let bare = SendMessageRequestHeaderV2Fields {
        properties: None,
        reconsume_times: None,
        unit_mode: None,
        max_reconsume_times: None,
        batch: None,
        broker_name: None,
        ..full
    };
    let owned_bare = SendMessageRequestHeaderV2 {
        properties: None,
        reconsume_times: None,
        unit_mode: None,
        max_reconsume_times: None,
        batch: None,
        broker_name: None,
        ..owned
    };
    assert_eq!(frame(&bare), frame(&owned_bare));
}
