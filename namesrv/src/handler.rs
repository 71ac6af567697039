//! Request handlers: one remoting command in, at most one reply out, with RocketMQ's codes.

use std::time::{Duration, Instant};

use bytes::Bytes;
use shardmq_protocol::body::{JsonBody, RegisterBrokerBody, TopicList};
use shardmq_protocol::codes::{request_code, response_code};
use shardmq_protocol::command::Command;
use shardmq_protocol::header::{
    DeleteTopicFromNamesrvRequestHeader, GetRouteInfoRequestHeader, RegisterBrokerRequestHeader,
    RegisterBrokerResponseHeader, UnregisterBrokerRequestHeader,
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
        Err(reason) => Command::error(request, response_code::SYSTEM_ERROR, reason),
    };
    (!request.head.is_oneway()).then_some(reply)
}

fn dispatch(ctx: &mut Context<'_>, request: &Command) -> Result<Command, String> {
    let text = |e: shardmq_protocol::Error| e.to_string();
    match request.head.code {
        request_code::GET_ROUTEINFO_BY_TOPIC => {
            let header: GetRouteInfoRequestHeader = request.header().map_err(text)?;
            Ok(match ctx.registry.route(&header.topic) {
                Some(route) => Command::ok(request, route.encode()),
                None => Command::error(
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
            Ok(Command::ok(request, Bytes::new()))
        }
        request_code::GET_BROKER_CLUSTER_INFO => {
            Ok(Command::ok(request, ctx.registry.cluster_info().encode()))
        }
        request_code::GET_ALL_TOPIC_LIST_FROM_NAMESERVER => {
            let list = TopicList {
                topic_list: ctx.registry.topics(),
                broker_addr: None,
            };
            Ok(Command::ok(request, list.encode()))
        }
        request_code::DELETE_TOPIC_IN_NAMESRV => {
            let header: DeleteTopicFromNamesrvRequestHeader = request.header().map_err(text)?;
            ctx.registry
                .delete_topic(&header.topic, header.cluster_name.as_deref());
            Ok(Command::ok(request, Bytes::new()))
        }
        code => Ok(Command::error(
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
    Ok(Command::reply(
        request,
        response_code::SUCCESS,
        None,
        &response,
        Bytes::new(),
    ))
}
