//! SEND_MESSAGE (10), SEND_MESSAGE_V2 (310) and SEND_BATCH_MESSAGE (320): store on the
//! owning shard, wait until durable (per the flush mode), reply with the offset msgId,
//! queue id and queue offset.

use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;
use shardmq_protocol::codes::{request_code, response_code};
use shardmq_protocol::command::Command;
use shardmq_protocol::header::{
    SendMessageRequestHeader, SendMessageRequestHeaderV2, SendMessageResponseHeader, PERM_WRITE,
};
use shardmq_protocol::message::{decode_batch, MessageId};
use shardmq_protocol::ByteString;

use super::error;
use super::topic::{effective_queue_id, topic_or_create};
use crate::shard::{Origin, Shard};
use crate::store::{AppendRequest, AppendResult, StoreError};

fn store_error(request: &Command, e: &StoreError) -> Command {
    let code = match e {
        StoreError::Invalid(_) => response_code::MESSAGE_ILLEGAL,
        _ => response_code::SERVICE_NOT_AVAILABLE,
    };
    error(request, code, format!("store: {e}"))
}

pub async fn handle(shard: &Rc<Shard>, origin: Origin, request: &Command) -> Command {
    let header: SendMessageRequestHeader = match request.head.code {
        request_code::SEND_MESSAGE => match request.header::<SendMessageRequestHeader>() {
            Ok(h) => h,
            Err(e) => return error(request, response_code::SYSTEM_ERROR, e.to_string()),
        },
        _ => match request.header::<SendMessageRequestHeaderV2>() {
            Ok(h) => h.into(),
            Err(e) => return error(request, response_code::SYSTEM_ERROR, e.to_string()),
        },
    };
    let batch = request.head.code == request_code::SEND_BATCH_MESSAGE || header.batch == Some(true);
    let Some(topic) = topic_or_create(shard, &header.topic) else {
        return error(
            request,
            response_code::TOPIC_NOT_EXIST,
            format!(
                "topic[{}] not exist, apply first please! (autoCreateTopicEnable is off)",
                header.topic
            ),
        );
    };
    if topic.perm & PERM_WRITE == 0 {
        return error(
            request,
            response_code::NO_PERMISSION,
            format!("the topic[{}] sending message is forbidden", header.topic),
        );
    }
    let max_bytes = shard.config.max_message_bytes;
    if request.body.len() > max_bytes {
        return error(
            request,
            response_code::MESSAGE_ILLEGAL,
            format!(
                "message body of {} bytes exceeds maxMessageSize {max_bytes}",
                request.body.len()
            ),
        );
    }
    let queue_id = effective_queue_id(shard, &header.topic, header.queue_id);
    let born_host: SocketAddr = origin.peer;
    let base = AppendRequest {
        topic: header.topic.clone(),
        queue_id,
        flag: header.flag,
        sys_flag: header.sys_flag,
        born_timestamp: header.born_timestamp,
        born_host,
        body: Bytes::new(),
        properties: header.properties.clone().unwrap_or_default(),
        reconsume_times: header.reconsume_times.unwrap_or(0),
        prepared_transaction_offset: 0,
    };
    let mut results: Vec<AppendResult> = Vec::new();
    if batch {
        for entry in decode_batch(&request.body) {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    return error(
                        request,
                        response_code::MESSAGE_ILLEGAL,
                        format!("batch body: {e}"),
                    )
                }
            };
            let req = AppendRequest {
                flag: entry.flag,
                body: entry.body,
                properties: entry.properties,
                ..base.clone()
            };
            match shard.store.append(&req) {
                Ok(r) => results.push(r),
                Err(e) => return store_error(request, &e),
            }
        }
        if results.is_empty() {
            return error(request, response_code::MESSAGE_ILLEGAL, "empty batch");
        }
    } else {
        let req = AppendRequest {
            body: request.body.clone(),
            ..base
        };
        match shard.store.append(&req) {
            Ok(r) => results.push(r),
            Err(e) => return store_error(request, &e),
        }
    }
    let last_end = results.iter().map(|r| r.end).max().unwrap_or(0);
    if let Err(e) = shard.store.wait_durable(last_end).await {
        return store_error(request, &e);
    }
    let ids: Vec<String> = results
        .iter()
        .map(|r| {
            MessageId {
                store_host: shard.store_addr,
                commit_log_offset: r.position.raw() as i64,
            }
            .to_string()
        })
        .collect();
    let response = SendMessageResponseHeader {
        msg_id: ByteString::from(ids.join(",")),
        queue_id,
        queue_offset: results[0].queue_offset as i64,
        transaction_id: None,
        batch_uniq_id: None,
    };
    Command::reply(
        request,
        response_code::SUCCESS,
        None,
        &response,
        Bytes::new(),
    )
}
