//! Request handlers: one remoting command in, at most one reply out, with RocketMQ's codes.

use std::time::{Duration, Instant};

use bytes::Bytes;
use shardmq_protocol::body::{JsonBody, RegisterBrokerBody, TopicList};
use shardmq_protocol::codes::{request_code, response_code};
use shardmq_protocol::command::{Command, Head};
use shardmq_protocol::ext::WriteFields;
use shardmq_protocol::header::{
    DeleteTopicFromNamesrvRequestHeader, EmptyHeader, GetRouteInfoRequestHeader,
    RegisterBrokerRequestHeader, RegisterBrokerResponseHeader, UnregisterBrokerRequestHeader,
};
use shardmq_protocol::message::body_crc;
use shardmq_protocol::ByteString;

use crate::registry::{ConnectionId, Registration, Registry};

/// What a handler needs besides the request.
pub struct Context<'a> {
    pub registry: &'a mut Registry,
    pub connection: ConnectionId,
    pub now: Instant,
    /// Used when a broker does not say its own heartbeat timeout.
    pub default_broker_timeout: Duration,
}

/// Handles one command. `None` for oneway requests and for stray responses.
pub fn handle(ctx: &mut Context<'_>, request: &Command) -> Option<Command> {
    if request.head.is_response() {
        return None;
    }
    let reply = match dispatch(ctx, request) {
        Ok(reply) => reply,
        Err(reason) => error_reply(request, response_code::SYSTEM_ERROR, reason),
    };
    (!request.head.is_oneway()).then_some(reply)
}

/// Builds a reply in the request's header encoding.
fn reply<H: WriteFields>(
    request: &Command,
    code: i32,
    remark: Option<String>,
    header: &H,
    body: Bytes,
) -> Command {
    let head = Head::response_to(&request.head, code, remark.map(ByteString::from));
    Command::new(head, request.serialize_type, header, body)
}

fn error_reply(request: &Command, code: i32, remark: String) -> Command {
    reply(request, code, Some(remark), &EmptyHeader, Bytes::new())
}

fn ok(request: &Command, body: Bytes) -> Command {
    reply(request, response_code::SUCCESS, None, &EmptyHeader, body)
}

fn dispatch(ctx: &mut Context<'_>, request: &Command) -> Result<Command, String> {
    let text = |e: shardmq_protocol::Error| e.to_string();
    match request.head.code {
        request_code::GET_ROUTEINFO_BY_TOPIC => {
            let header: GetRouteInfoRequestHeader = request.header().map_err(text)?;
            Ok(match ctx.registry.route(&header.topic) {
                Some(route) => ok(request, route.encode()),
                None => error_reply(
                    request,
                    response_code::TOPIC_NOT_EXIST,
                    format!(
                        "No topic route info in name server for the topic: {}",
                        header.topic
                    ),
                ),
            })
        }
        request_code::REGISTER_BROKER => register(ctx, request),
        request_code::UNREGISTER_BROKER => {
            let header: UnregisterBrokerRequestHeader = request.header().map_err(text)?;
            ctx.registry.unregister(&header.broker_addr);
            Ok(ok(request, Bytes::new()))
        }
        request_code::GET_BROKER_CLUSTER_INFO => {
            Ok(ok(request, ctx.registry.cluster_info().encode()))
        }
        request_code::GET_ALL_TOPIC_LIST_FROM_NAMESERVER => {
            let list = TopicList {
                topic_list: ctx.registry.topics(),
                broker_addr: None,
            };
            Ok(ok(request, list.encode()))
        }
        request_code::DELETE_TOPIC_IN_NAMESRV => {
            let header: DeleteTopicFromNamesrvRequestHeader = request.header().map_err(text)?;
            ctx.registry
                .delete_topic(&header.topic, header.cluster_name.as_deref());
            Ok(ok(request, Bytes::new()))
        }
        code => Ok(error_reply(
            request,
            response_code::REQUEST_CODE_NOT_SUPPORTED,
            format!("request code {code} is not supported by this name server"),
        )),
    }
}

fn register(ctx: &mut Context<'_>, request: &Command) -> Result<Command, String> {
    let header: RegisterBrokerRequestHeader = request.header().map_err(|e| e.to_string())?;
    if header.compressed == Some(true) {
        return Err(
            "compressed REGISTER_BROKER bodies are not supported; register with compressed=false"
                .into(),
        );
    }
    if let Some(want) = header.body_crc32.filter(|crc| *crc != 0) {
        let got = body_crc(&request.body);
        if got != want {
            return Err(format!(
                "REGISTER_BROKER body crc32 {got} does not match bodyCrc32 {want}"
            ));
        }
    }
    let body = if request.body.is_empty() {
        RegisterBrokerBody::default()
    } else {
        RegisterBrokerBody::decode(&request.body).map_err(|e| e.to_string())?
    };
    let timeout = header
        .heartbeat_timeout_millis
        .filter(|ms| *ms > 0)
        .map_or(ctx.default_broker_timeout, |ms| {
            Duration::from_millis(ms as u64)
        });
    let registration = Registration {
        cluster: header.cluster_name.to_string(),
        broker_name: header.broker_name.to_string(),
        broker_addr: header.broker_addr.to_string(),
        broker_id: header.broker_id,
        ha_server_addr: header.ha_server_addr.to_string(),
        timeout,
        // The table's key names the topic, as RocketMQ reads it.
        topics: body
            .topic_config_serialize_wrapper
            .topic_config_table
            .into_iter()
            .map(|(name, mut config)| {
                config.topic_name = name;
                config
            })
            .collect(),
    };
    let outcome = ctx.registry.register(registration, ctx.connection, ctx.now);
    let response = RegisterBrokerResponseHeader {
        ha_server_addr: outcome.ha_server_addr.map(ByteString::from),
        master_addr: outcome.master_addr.map(ByteString::from),
    };
    Ok(reply(
        request,
        response_code::SUCCESS,
        None,
        &response,
        Bytes::new(),
    ))
}
