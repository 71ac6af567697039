//! RocketMQ's numbers: request codes, response codes, language codes, serialize types, flags.

/// Generates a module of `i32` constants plus a `name(code)` lookup.
macro_rules! code_table {
    ($(#[$doc:meta])* $module:ident { $($(#[$cdoc:meta])* $name:ident = $value:expr,)* }) => {
        $(#[$doc])*
        pub mod $module {
            $($(#[$cdoc])* pub const $name: i32 = $value;)*

            /// The RocketMQ name of `code`, if it is one this crate knows.
            pub fn name(code: i32) -> Option<&'static str> {
                match code {
                    $($value => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

code_table! {
    /// Request codes (`RequestCode` in RocketMQ).
    request_code {
        SEND_MESSAGE = 10,
        PULL_MESSAGE = 11,
        QUERY_MESSAGE = 12,
        QUERY_BROKER_OFFSET = 13,
        QUERY_CONSUMER_OFFSET = 14,
        UPDATE_CONSUMER_OFFSET = 15,
        UPDATE_AND_CREATE_TOPIC = 17,
        GET_ALL_TOPIC_CONFIG = 21,
        SEARCH_OFFSET_BY_TIMESTAMP = 29,
        GET_MAX_OFFSET = 30,
        GET_MIN_OFFSET = 31,
        GET_EARLIEST_MSG_STORETIME = 32,
        VIEW_MESSAGE_BY_ID = 33,
        HEART_BEAT = 34,
        UNREGISTER_CLIENT = 35,
        CONSUMER_SEND_MSG_BACK = 36,
        END_TRANSACTION = 37,
        GET_CONSUMER_LIST_BY_GROUP = 38,
        CHECK_TRANSACTION_STATE = 39,
        NOTIFY_CONSUMER_IDS_CHANGED = 40,
        LOCK_BATCH_MQ = 41,
        UNLOCK_BATCH_MQ = 42,
        GET_ALL_CONSUMER_OFFSET = 43,
        GET_ALL_DELAY_OFFSET = 45,
        GET_KV_CONFIG = 101,
        REGISTER_BROKER = 103,
        UNREGISTER_BROKER = 104,
        GET_ROUTEINFO_BY_TOPIC = 105,
        GET_BROKER_CLUSTER_INFO = 106,
        UPDATE_AND_CREATE_SUBSCRIPTIONGROUP = 200,
        GET_TOPIC_STATS_INFO = 202,
        GET_ALL_TOPIC_LIST_FROM_NAMESERVER = 206,
        GET_CONSUME_STATS = 208,
        DELETE_TOPIC_IN_BROKER = 215,
        DELETE_TOPIC_IN_NAMESRV = 216,
        GET_CONSUMER_RUNNING_INFO = 307,
        SEND_MESSAGE_V2 = 310,
        SEND_BATCH_MESSAGE = 320,
        /// ShardMQ extension: move a queue to another shard of the same broker.
        SHARDMQ_MOVE_QUEUE = 9101,
    }
}

code_table! {
    /// Response codes (`ResponseCode` and `RemotingSysResponseCode` in RocketMQ).
    response_code {
        SUCCESS = 0,
        SYSTEM_ERROR = 1,
        SYSTEM_BUSY = 2,
        REQUEST_CODE_NOT_SUPPORTED = 3,
        TRANSACTION_FAILED = 4,
        FLUSH_DISK_TIMEOUT = 10,
        SLAVE_NOT_AVAILABLE = 11,
        FLUSH_SLAVE_TIMEOUT = 12,
        MESSAGE_ILLEGAL = 13,
        SERVICE_NOT_AVAILABLE = 14,
        VERSION_NOT_SUPPORTED = 15,
        NO_PERMISSION = 16,
        TOPIC_NOT_EXIST = 17,
        TOPIC_EXIST_ALREADY = 18,
        PULL_NOT_FOUND = 19,
        PULL_RETRY_IMMEDIATELY = 20,
        PULL_OFFSET_MOVED = 21,
        QUERY_NOT_FOUND = 22,
        SUBSCRIPTION_PARSE_FAILED = 23,
        SUBSCRIPTION_NOT_EXIST = 24,
        SUBSCRIPTION_NOT_LATEST = 25,
        SUBSCRIPTION_GROUP_NOT_EXIST = 26,
    }
}

/// `flag` bit 0: the command is a response.
pub const FLAG_RESPONSE: i32 = 1;
/// `flag` bit 1: the request wants no response.
pub const FLAG_ONEWAY: i32 = 1 << 1;

/// How a frame's header is serialized: the top byte of the frame's second word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SerializeType {
    /// Type 0: a JSON object (what Java, C++ and most clients send).
    #[default]
    Json,
    /// Type 1: RocketMQ's compact binary form (what ShardMQ's own client sends).
    RocketMq,
}

impl SerializeType {
    /// The wire number.
    pub fn code(self) -> u8 {
        match self {
            SerializeType::Json => 0,
            SerializeType::RocketMq => 1,
        }
    }

    /// The type for a wire number, if known.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(SerializeType::Json),
            1 => Some(SerializeType::RocketMq),
            _ => None,
        }
    }
}

/// The client language of a command (`LanguageCode` in RocketMQ). A newtype over the wire
/// byte so that codes this crate does not name still round-trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LanguageCode(pub u8);

macro_rules! languages {
    ($($name:ident = $value:expr,)*) => {
        impl LanguageCode {
            $(#[allow(missing_docs)] pub const $name: LanguageCode = LanguageCode($value);)*

            /// The RocketMQ name (as JSON headers carry it), if known.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some(stringify!($name)),)*
                    _ => None,
                }
            }

            /// The code for a RocketMQ language name.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $(stringify!($name) => Some(LanguageCode($value)),)*
                    _ => None,
                }
            }
        }
    };
}

languages! {
    JAVA = 0,
    CPP = 1,
    DOTNET = 2,
    PYTHON = 3,
    DELPHI = 4,
    ERLANG = 5,
    RUBY = 6,
    OTHER = 7,
    HTTP = 8,
    GO = 9,
    PHP = 10,
    OMS = 11,
    RUST = 12,
    NODE_JS = 13,
}

impl Default for LanguageCode {
    fn default() -> Self {
        LanguageCode::RUST
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_response_codes_match_rocketmq_numbers() {
        let requests = [
            (request_code::SEND_MESSAGE, 10),
            (request_code::PULL_MESSAGE, 11),
            (request_code::QUERY_CONSUMER_OFFSET, 14),
            (request_code::UPDATE_CONSUMER_OFFSET, 15),
            (request_code::UPDATE_AND_CREATE_TOPIC, 17),
            (request_code::SEARCH_OFFSET_BY_TIMESTAMP, 29),
            (request_code::VIEW_MESSAGE_BY_ID, 33),
            (request_code::HEART_BEAT, 34),
            (request_code::NOTIFY_CONSUMER_IDS_CHANGED, 40),
            (request_code::UNLOCK_BATCH_MQ, 42),
            (request_code::REGISTER_BROKER, 103),
            (request_code::GET_BROKER_CLUSTER_INFO, 106),
            (request_code::SEND_MESSAGE_V2, 310),
            (request_code::SEND_BATCH_MESSAGE, 320),
        ];
        for (got, want) in requests {
            assert_eq!(got, want);
        }
        assert_eq!(
            response_code::name(26),
            Some("SUBSCRIPTION_GROUP_NOT_EXIST")
        );
        assert_eq!(response_code::name(19), Some("PULL_NOT_FOUND"));
        assert_eq!(request_code::name(105), Some("GET_ROUTEINFO_BY_TOPIC"));
        assert_eq!(request_code::name(9999), None);
    }

    #[test]
    fn language_names_and_numbers_agree() {
        assert_eq!(LanguageCode::RUST.0, 12);
        assert_eq!(LanguageCode::from_name("CPP"), Some(LanguageCode(1)));
        assert_eq!(LanguageCode(13).name(), Some("NODE_JS"));
        assert_eq!(LanguageCode(200).name(), None);
    }

    #[test]
    fn serialize_type_codes_round_trip() {
        for t in [SerializeType::Json, SerializeType::RocketMq] {
            assert_eq!(SerializeType::from_code(t.code()), Some(t));
        }
        assert_eq!(SerializeType::from_code(2), None);
    }
}
