//! Transaction headers: END_TRANSACTION (37, oneway) and CHECK_TRANSACTION_STATE (39).

use bytestring::ByteString;

use super::command_header;

/// `commitOrRollback`: state unknown.
pub const TRANSACTION_NOT_TYPE: i32 = 0;
/// `commitOrRollback`: commit.
pub const TRANSACTION_COMMIT_TYPE: i32 = 0x8;
/// `commitOrRollback`: roll back.
pub const TRANSACTION_ROLLBACK_TYPE: i32 = 0xC;

command_header! {
    /// END_TRANSACTION (37) request header.
    pub struct EndTransactionRequestHeader {
        optional topic: ByteString = "topic",
        required producer_group: ByteString = "producerGroup",
        required tran_state_table_offset: i64 = "tranStateTableOffset",
        required commit_log_offset: i64 = "commitLogOffset",
        required commit_or_rollback: i32 = "commitOrRollback",
        optional from_transaction_check: bool = "fromTransactionCheck",
        required msg_id: ByteString = "msgId",
        optional transaction_id: ByteString = "transactionId",
    }
}

command_header! {
    /// CHECK_TRANSACTION_STATE (39) request header (broker to producer).
    pub struct CheckTransactionStateRequestHeader {
        optional topic: ByteString = "topic",
        required tran_state_table_offset: i64 = "tranStateTableOffset",
        required commit_log_offset: i64 = "commitLogOffset",
        optional msg_id: ByteString = "msgId",
        optional transaction_id: ByteString = "transactionId",
        optional offset_msg_id: ByteString = "offsetMsgId",
    }
}
