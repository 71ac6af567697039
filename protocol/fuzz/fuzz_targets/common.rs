//! Checks shared by the header fuzz targets.

use bytes::BytesMut;
use shardmq_protocol::codes::SerializeType;
use shardmq_protocol::command::Command;
use shardmq_protocol::frame::FrameDecoder;
use shardmq_protocol::header::*;

/// Every typed header must decode or fail with an error, never panic.
pub fn decode_every_header(cmd: &Command) {
    let _ = cmd.header::<SendMessageRequestHeader>();
    let _ = cmd.header::<SendMessageRequestHeaderV2>();
    let _ = cmd.header::<SendMessageResponseHeader>();
    let _ = cmd.header::<PullMessageRequestHeader>();
    let _ = cmd.header::<PullMessageResponseHeader>();
    let _ = cmd.header::<QueryConsumerOffsetRequestHeader>();
    let _ = cmd.header::<UpdateConsumerOffsetRequestHeader>();
    let _ = cmd.header::<SearchOffsetRequestHeader>();
    let _ = cmd.header::<GetMaxOffsetRequestHeader>();
    let _ = cmd.header::<ViewMessageRequestHeader>();
    let _ = cmd.header::<UnregisterClientRequestHeader>();
    let _ = cmd.header::<ConsumerSendMsgBackRequestHeader>();
    let _ = cmd.header::<EndTransactionRequestHeader>();
    let _ = cmd.header::<CreateTopicRequestHeader>();
    let _ = cmd.header::<RegisterBrokerRequestHeader>();
    let _ = cmd.header::<GetRouteInfoRequestHeader>();
}

/// A decoded command re-encodes, in either header encoding, to one that decodes equal.
pub fn round_trip_both_encodings(cmd: &Command) {
    for ser in [SerializeType::Json, SerializeType::RocketMq] {
        let mut c = cmd.clone();
        c.serialize_type = ser;
        if ser == SerializeType::RocketMq {
            // The binary form carries code and version as i16, as Java does.
            c.head.code = i32::from(c.head.code as i16);
            c.head.version = i32::from(c.head.version as i16);
        }
        let mut wire = BytesMut::from(&c.to_bytes()[..]);
        let frame = FrameDecoder::new(usize::MAX)
            .decode(&mut wire)
            .expect("re-encoded frame decodes")
            .expect("re-encoded frame is whole");
        let back = Command::decode(frame).expect("re-encoded command decodes");
        assert_eq!(back, c);
    }
}
