//! The name server through its real interface: a server on 127.0.0.1, real TCP, real
//! remoting frames in both header encodings.

mod common;

use std::thread::sleep;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{broker, connect, start_namesrv, RouteExt};
use shardmq_protocol::body::{ClusterInfo, JsonBody, TopicList, TopicRouteData};
use shardmq_protocol::codes::{request_code, response_code, SerializeType, FLAG_ONEWAY};
use shardmq_protocol::header::{
    DeleteTopicFromNamesrvRequestHeader, EmptyHeader, GetRouteInfoRequestHeader,
    RegisterBrokerResponseHeader, UnregisterBrokerRequestHeader,
};

/// Polls `f` until it is true or `limit` passes.
fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        sleep(Duration::from_millis(20));
    }
    f()
}

#[test]
fn registered_topic_route_has_master_at_key_0_queue_data_and_perm() {
    let ns = start_namesrv();
    let mut b = connect(ns.local_addr());
    let reply =
        broker("broker-a", "127.0.0.1:10911", vec![("TopicTest", 8, None)]).register(&mut b);
    assert_eq!(reply.head.code, response_code::SUCCESS);
    let mut c = connect(ns.local_addr());
    let route = c.route("TopicTest");
    assert_eq!(route.head.code, response_code::SUCCESS);
    let text = std::str::from_utf8(&route.body).unwrap();
    assert!(
        text.contains(r#""brokerAddrs":{"0":"127.0.0.1:10911"}"#),
        "{text}"
    );
    assert!(
        !text.contains("shardPorts"),
        "no extension unless the broker sent one: {text}"
    );
    let route = TopicRouteData::decode(&route.body).unwrap();
    assert_eq!(route.queue_datas.len(), 1);
    let q = &route.queue_datas[0];
    assert_eq!(
        (
            q.broker_name.as_str(),
            q.read_queue_nums,
            q.write_queue_nums,
            q.perm
        ),
        ("broker-a", 8, 8, 6)
    );
    assert_eq!(route.broker_datas[0].cluster, "DefaultCluster");
}

#[test]
fn unknown_topic_is_topic_not_exist_and_the_connection_stays_open() {
    let ns = start_namesrv();
    let mut c = connect(ns.local_addr());
    let reply = c.route("NoSuchTopic");
    assert_eq!(reply.head.code, response_code::TOPIC_NOT_EXIST);
    assert!(reply
        .head
        .remark
        .as_deref()
        .unwrap()
        .contains("NoSuchTopic"));
    let again = c.route("NoSuchTopic");
    assert_eq!(again.head.code, response_code::TOPIC_NOT_EXIST);
}

#[test]
fn default_topic_tbw102_has_a_route_when_a_broker_registers_it() {
    let ns = start_namesrv();
    let mut b = connect(ns.local_addr());
    let mut c = connect(ns.local_addr());
    assert_eq!(c.route("TBW102").head.code, response_code::TOPIC_NOT_EXIST);
    broker("broker-a", "127.0.0.1:10911", vec![("TBW102", 8, None)]).register(&mut b);
    let route = TopicRouteData::decode(&c.route("TBW102").body).unwrap();
    assert_eq!(route.queue_datas[0].write_queue_nums, 8);
}

#[test]
fn shard_ports_from_the_broker_are_published_per_queue() {
    let ns = start_namesrv();
    let mut b = connect(ns.local_addr());
    broker(
        "broker-a",
        "127.0.0.1:10911",
        vec![("T", 4, Some(vec![10921, 10922, 10921, 10922]))],
    )
    .register(&mut b);
    let reply = connect(ns.local_addr()).route("T");
    let text = std::str::from_utf8(&reply.body).unwrap();
    assert!(
        text.contains(r#""shardPorts":[10921,10922,10921,10922]"#),
        "{text}"
    );
}

#[test]
fn binary_requests_get_binary_replies_and_json_requests_json_replies() {
    let ns = start_namesrv();
    let mut b = connect(ns.local_addr());
    b.serialize_type = SerializeType::RocketMq;
    let reply = broker("broker-a", "127.0.0.1:10911", vec![("T", 2, None)]).register(&mut b);
    assert_eq!(reply.serialize_type, SerializeType::RocketMq);
    let reply = b.route("T");
    assert_eq!(
        (reply.serialize_type, reply.head.code),
        (SerializeType::RocketMq, 0)
    );
    let mut j = connect(ns.local_addr());
    assert_eq!(j.route("T").serialize_type, SerializeType::Json);
}

#[test]
fn slave_registration_is_told_its_master() {
    let ns = start_namesrv();
    let mut m = connect(ns.local_addr());
    broker("broker-a", "127.0.0.1:10911", vec![("T", 2, None)]).register(&mut m);
    let mut s = connect(ns.local_addr());
    let mut slave = broker("broker-a", "127.0.0.1:10915", vec![]);
    slave.id = 1;
    let reply = slave.register(&mut s);
    let header: RegisterBrokerResponseHeader = reply.header().unwrap();
    assert_eq!(header.master_addr.as_deref(), Some("127.0.0.1:10911"));
    let route = TopicRouteData::decode(&connect(ns.local_addr()).route("T").body).unwrap();
    assert_eq!(route.broker_datas[0].broker_addrs.len(), 2);
}

#[test]
fn cluster_info_topic_list_delete_and_unregister_reflect_registrations() {
    let ns = start_namesrv();
    let mut b = connect(ns.local_addr());
    broker(
        "broker-a",
        "127.0.0.1:10911",
        vec![("T1", 4, None), ("T2", 4, None)],
    )
    .register(&mut b);
    let mut c = connect(ns.local_addr());

    let info = c.call(
        request_code::GET_BROKER_CLUSTER_INFO,
        &EmptyHeader,
        Bytes::new(),
    );
    let info = ClusterInfo::decode(&info.body).unwrap();
    assert_eq!(
        info.cluster_addr_table["DefaultCluster"]
            .iter()
            .collect::<Vec<_>>(),
        ["broker-a"]
    );
    assert_eq!(
        info.broker_addr_table["broker-a"].master_addr(),
        Some("127.0.0.1:10911")
    );

    let list = c.call(
        request_code::GET_ALL_TOPIC_LIST_FROM_NAMESERVER,
        &EmptyHeader,
        Bytes::new(),
    );
    let list = TopicList::decode(&list.body).unwrap();
    assert_eq!(list.topic_list.iter().collect::<Vec<_>>(), ["T1", "T2"]);

    let delete = DeleteTopicFromNamesrvRequestHeader {
        topic: "T1".into(),
        cluster_name: None,
    };
    assert_eq!(
        c.call(request_code::DELETE_TOPIC_IN_NAMESRV, &delete, Bytes::new())
            .head
            .code,
        0
    );
    assert_eq!(c.route("T1").head.code, response_code::TOPIC_NOT_EXIST);
    assert_eq!(c.route("T2").head.code, response_code::SUCCESS);

    let unregister = UnregisterBrokerRequestHeader {
        broker_name: "broker-a".into(),
        broker_addr: "127.0.0.1:10911".into(),
        cluster_name: "DefaultCluster".into(),
        broker_id: 0,
    };
    assert_eq!(
        c.call(request_code::UNREGISTER_BROKER, &unregister, Bytes::new())
            .head
            .code,
        0
    );
    assert_eq!(c.route("T2").head.code, response_code::TOPIC_NOT_EXIST);
    let info = c.call(
        request_code::GET_BROKER_CLUSTER_INFO,
        &EmptyHeader,
        Bytes::new(),
    );
    assert!(ClusterInfo::decode(&info.body)
        .unwrap()
        .broker_addr_table
        .is_empty());
}

#[test]
fn broker_silent_past_its_heartbeat_timeout_is_dropped_and_heartbeats_keep_it() {
    let ns = start_namesrv();
    let mut quiet = connect(ns.local_addr());
    let mut q = broker("quiet", "127.0.0.1:20001", vec![("Q", 1, None)]);
    q.timeout_ms = Some(300);
    q.register(&mut quiet);
    let mut busy = connect(ns.local_addr());
    let mut b = broker("busy", "127.0.0.1:20002", vec![("B", 1, None)]);
    b.timeout_ms = Some(300);
    b.register(&mut busy);
    let mut c = connect(ns.local_addr());
    let start = Instant::now();
    // The busy broker re-registers every 100 ms; the quiet one stays silent (its
    // connection stays open, so only the timeout can drop it).
    while start.elapsed() < Duration::from_millis(900) {
        b.register(&mut busy);
        sleep(Duration::from_millis(100));
    }
    assert_eq!(
        c.route("Q").head.code,
        response_code::TOPIC_NOT_EXIST,
        "silent broker dropped"
    );
    assert_eq!(
        c.route("B").head.code,
        response_code::SUCCESS,
        "heartbeating broker kept"
    );
}

#[test]
fn broker_whose_connection_closes_is_dropped_at_once() {
    let ns = start_namesrv();
    let mut b = connect(ns.local_addr());
    broker("broker-a", "127.0.0.1:10911", vec![("T", 1, None)]).register(&mut b);
    let mut c = connect(ns.local_addr());
    assert_eq!(c.route("T").head.code, response_code::SUCCESS);
    drop(b);
    // The default timeout is 120 s: only the closed connection can explain a quick drop.
    assert!(eventually(Duration::from_secs(2), || c
        .route("T")
        .head
        .code
        == response_code::TOPIC_NOT_EXIST));
}

#[test]
fn two_independent_name_servers_keep_serving_when_one_stops() {
    let first = start_namesrv();
    let second = start_namesrv();
    let b = broker("broker-a", "127.0.0.1:10911", vec![("T", 4, None)]);
    let mut to_first = connect(first.local_addr());
    let mut to_second = connect(second.local_addr());
    b.register(&mut to_first);
    b.register(&mut to_second);
    let first_addr = first.local_addr();
    first.stop();
    assert!(
        std::net::TcpStream::connect(first_addr).is_err(),
        "stopped server refuses connections"
    );
    let route = connect(second.local_addr()).route("T");
    assert_eq!(route.head.code, response_code::SUCCESS);
    // No state was shared: a broker registered only with the second is unknown to a fresh first.
    let fresh = start_namesrv();
    assert_eq!(
        connect(fresh.local_addr()).route("T").head.code,
        response_code::TOPIC_NOT_EXIST
    );
}

#[test]
fn second_server_on_a_taken_port_fails_with_a_clear_error() {
    let first = start_namesrv();
    let err = shardmq_namesrv::NameServer::start(shardmq_namesrv::NamesrvConfig {
        listen: first.local_addr(),
        ..Default::default()
    })
    .err()
    .expect("port is taken");
    assert!(err.to_string().contains("cannot listen on"), "{err}");
}

#[test]
fn oneway_requests_get_no_reply() {
    let ns = start_namesrv();
    let mut c = connect(ns.local_addr());
    let unregister = UnregisterBrokerRequestHeader {
        broker_name: "x".into(),
        broker_addr: "127.0.0.1:1".into(),
        cluster_name: "c".into(),
        broker_id: 0,
    };
    c.send_flagged(
        request_code::UNREGISTER_BROKER,
        &unregister,
        Bytes::new(),
        FLAG_ONEWAY,
    );
    let reply = c.route("T");
    assert_eq!(
        reply.head.code,
        response_code::TOPIC_NOT_EXIST,
        "the first reply is the route's"
    );
}

#[test]
fn bad_requests_get_error_replies_and_unframeable_input_closes_only_that_connection() {
    let ns = start_namesrv();
    let mut other = connect(ns.local_addr());

    // Missing required field: SYSTEM_ERROR naming the field.
    let mut c = connect(ns.local_addr());
    let reply = c.call(
        request_code::GET_ROUTEINFO_BY_TOPIC,
        &EmptyHeader,
        Bytes::new(),
    );
    assert_eq!(reply.head.code, response_code::SYSTEM_ERROR);
    assert!(
        reply.head.remark.as_deref().unwrap().contains("`topic`"),
        "{:?}",
        reply.head.remark
    );

    // Unknown request code.
    let reply = c.call(9999, &EmptyHeader, Bytes::new());
    assert_eq!(reply.head.code, response_code::REQUEST_CODE_NOT_SUPPORTED);

    // A register body that is not JSON.
    let b = broker("broker-a", "127.0.0.1:10911", vec![]);
    let reply = c.call(
        request_code::REGISTER_BROKER,
        &b.header(),
        Bytes::from_static(b"{not json"),
    );
    assert_eq!(reply.head.code, response_code::SYSTEM_ERROR);
    assert!(reply
        .head
        .remark
        .as_deref()
        .unwrap()
        .contains("RegisterBrokerBody"));

    // A JSON header that does not parse: still framed, so an error reply and the
    // connection goes on.
    let header = br#"{"code":105,"opaque":"#;
    let mut frame = Vec::new();
    frame.extend(((4 + header.len()) as i32).to_be_bytes());
    frame.extend((header.len() as u32).to_be_bytes());
    frame.extend(header);
    c.send_raw(&frame);
    let reply = c.read().unwrap();
    assert_eq!(reply.head.code, response_code::SYSTEM_ERROR);
    assert!(reply
        .head
        .remark
        .as_deref()
        .unwrap()
        .contains("JSON header"));
    assert_eq!(
        c.route("T").head.code,
        response_code::TOPIC_NOT_EXIST,
        "connection still served"
    );

    // Unframeable: serialize type 7. That connection is closed...
    let mut bad = connect(ns.local_addr());
    bad.send_raw(&[0, 0, 0, 8, 7, 0, 0, 0, 1, 2, 3, 4]);
    assert!(bad.closed_by_server());
    // ...and so is one announcing a 2 GiB frame, before the bytes arrive.
    let mut huge = connect(ns.local_addr());
    huge.send_raw(&[0x7f, 0xff, 0xff, 0xff]);
    assert!(huge.closed_by_server());

    // Everyone else is served on.
    assert_eq!(other.route("T").head.code, response_code::TOPIC_NOT_EXIST);
    let r = GetRouteInfoRequestHeader {
        topic: "T".into(),
        accept_standard_json_only: None,
    };
    assert_eq!(
        other
            .call(request_code::GET_ROUTEINFO_BY_TOPIC, &r, Bytes::new())
            .head
            .code,
        17
    );
}

#[test]
fn register_body_with_a_wrong_crc_is_refused() {
    let ns = start_namesrv();
    let mut c = connect(ns.local_addr());
    let b = broker("broker-a", "127.0.0.1:10911", vec![("T", 1, None)]);
    let mut header = b.header();
    header.body_crc32 = Some(12345);
    let reply = c.call(request_code::REGISTER_BROKER, &header, b.body());
    assert_eq!(reply.head.code, response_code::SYSTEM_ERROR);
    assert!(reply.head.remark.as_deref().unwrap().contains("crc32"));
    header.body_crc32 = Some(shardmq_protocol::message::body_crc(&b.body()));
    let reply = c.call(request_code::REGISTER_BROKER, &header, b.body());
    assert_eq!(reply.head.code, response_code::SUCCESS);
}
