//! Messages in and out, on every channel.

use frontdesk_jobs::{LeadId, MessageId, WorkspaceId};

use crate::{StoreError, TenantTx};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Sms,
    Whatsapp,
    Email,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Whatsapp => "whatsapp",
            Channel::Email => "email",
        }
    }
}

#[derive(Clone, Debug)]
pub struct NewInbound {
    pub lead_id: LeadId,
    pub channel: Channel,
    pub body: String,
    pub provider_message_id: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Message {
    pub id: MessageId,
    pub lead_id: LeadId,
    pub direction: String,
    pub channel: String,
    pub body: String,
    pub processed: bool,
}

pub async fn insert_inbound(tx: &mut TenantTx, new: &NewInbound) -> Result<MessageId, StoreError> {
    let id = MessageId::new();
    let ws = tx.workspace_id();
    sqlx::query!(
        r#"INSERT INTO messages (workspace_id, id, lead_id, direction, channel, body, provider_message_id, status)
           VALUES ($1, $2, $3, 'inbound', $4, $5, $6, 'received')"#,
        ws as WorkspaceId,
        id as MessageId,
        new.lead_id as LeadId,
        new.channel.as_str(),
        new.body,
        new.provider_message_id
    )
    .execute(tx.conn())
    .await?;
    Ok(id)
}

pub async fn find(tx: &mut TenantTx, id: MessageId) -> Result<Option<Message>, StoreError> {
    let ws = tx.workspace_id();
    let message = sqlx::query_as!(
        Message,
        r#"SELECT id AS "id: MessageId", lead_id AS "lead_id: LeadId", direction, channel, body,
                  processed_at IS NOT NULL AS "processed!"
           FROM messages WHERE workspace_id = $1 AND id = $2"#,
        ws as WorkspaceId,
        id as MessageId
    )
    .fetch_optional(tx.conn())
    .await?;
    Ok(message)
}

/// Marks an inbound message handled; returns false if it already was, so a
/// redelivered job does its effects once.
pub async fn mark_processed(tx: &mut TenantTx, id: MessageId) -> Result<bool, StoreError> {
    let ws = tx.workspace_id();
    let done = sqlx::query!(
        "UPDATE messages SET processed_at = now(), updated_at = now()
         WHERE workspace_id = $1 AND id = $2 AND processed_at IS NULL",
        ws as WorkspaceId,
        id as MessageId
    )
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves an outbound message's status forward only: callbacks arrive out of
/// order and a late `sent` must not overwrite `delivered`. Returns whether a
/// row changed.
pub async fn advance_status(
    tx: &mut TenantTx,
    channel: Channel,
    provider_message_id: &str,
    status: &str,
    error_code: Option<&str>,
) -> Result<bool, StoreError> {
    let ws = tx.workspace_id();
    let done = sqlx::query!(
        "UPDATE messages SET status = $4, error_code = COALESCE($5, error_code), updated_at = now()
         WHERE workspace_id = $1 AND channel = $2 AND provider_message_id = $3
           AND message_status_rank($4) > message_status_rank(status)",
        ws as WorkspaceId,
        channel.as_str(),
        provider_message_id,
        status,
        error_code
    )
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}
