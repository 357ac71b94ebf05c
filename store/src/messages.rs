//! Messages in and out, on every channel.

use frontdesk_jobs::{LeadId, MessageId, WorkspaceId};

use crate::{StoreError, TenantTx};

pub use frontdesk_domain::Channel;

#[derive(Clone, Debug)]
pub struct NewInbound {
    pub lead_id: LeadId,
    pub channel: Channel,
    pub body: String,
    pub provider_message_id: Option<String>,
    pub subject: Option<String>,
    /// An email's RFC 5322 `Message-ID` (without brackets), for threading replies.
    pub rfc_message_id: Option<String>,
    /// The body was cut to its channel's cap.
    pub body_truncated: bool,
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
        r#"INSERT INTO messages
              (workspace_id, id, lead_id, direction, channel, body, provider_message_id, subject, rfc_message_id, status,
               body_truncated)
           VALUES ($1, $2, $3, 'inbound', $4, $5, $6, $7, $8, 'received', $9)"#,
        ws as WorkspaceId,
        id as MessageId,
        new.lead_id as LeadId,
        new.channel.as_str(),
        new.body,
        new.provider_message_id,
        new.subject,
        new.rfc_message_id,
        new.body_truncated
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
    // A `sending` message belongs to the delivery holding it (or to the
    // resolution of an unknown outcome); a callback only moves it from `sent` on.
    let done = sqlx::query!(
        "UPDATE messages SET status = $4, error_code = COALESCE($5, error_code), updated_at = now()
         WHERE workspace_id = $1 AND channel = $2 AND provider_message_id = $3 AND status <> 'sending'
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

/// An outbound message's place in the send state machine
/// (`queued → sending → sent | sent_sandbox | failed`, then callbacks move
/// it on to `delivered`/`read`).
#[derive(Clone, Debug)]
pub struct Outbound {
    pub id: MessageId,
    pub status: String,
    /// Token of the job delivery that last moved it.
    pub fencing_token: Option<i64>,
    pub provider_message_id: Option<String>,
    pub error_code: Option<String>,
}

#[derive(Clone, Debug)]
pub struct NewOutbound<'a> {
    pub lead_id: LeadId,
    pub channel: Channel,
    pub body: &'a str,
    pub subject: Option<&'a str>,
    /// One key per intended message (`followup:<id>`): a second insert for
    /// the same key returns the first row.
    pub idempotency_key: &'a str,
}

/// The outbound message for `key`, created `queued` if there is none yet.
pub async fn outbound_for_key(tx: &mut TenantTx, new: &NewOutbound<'_>) -> Result<Outbound, StoreError> {
    let ws = tx.workspace_id();
    sqlx::query!(
        "INSERT INTO messages (workspace_id, id, lead_id, direction, channel, body, subject, status, idempotency_key)
         VALUES ($1, $2, $3, 'outbound', $4, $5, $6, 'queued', $7)
         ON CONFLICT (workspace_id, idempotency_key) DO NOTHING",
        ws as WorkspaceId,
        MessageId::new() as MessageId,
        new.lead_id as LeadId,
        new.channel.as_str(),
        new.body,
        new.subject,
        new.idempotency_key
    )
    .execute(tx.conn())
    .await?;
    find_outbound(tx, new.idempotency_key)
        .await?
        .ok_or(StoreError::NotFound { entity: "outbound message", workspace_id: ws })
}

pub async fn find_outbound(tx: &mut TenantTx, key: &str) -> Result<Option<Outbound>, StoreError> {
    let ws = tx.workspace_id();
    let row = sqlx::query_as!(
        Outbound,
        r#"SELECT id AS "id: MessageId", status, fencing_token, provider_message_id, error_code
           FROM messages WHERE workspace_id = $1 AND idempotency_key = $2
           FOR UPDATE"#,
        ws as WorkspaceId,
        key
    )
    .fetch_optional(tx.conn())
    .await?;
    Ok(row)
}

/// `queued → sending` for the delivery holding `fence`, with the body that
/// will go out. Any token may take a `queued` message: `queued` means no
/// delivery is mid-send, and the caller holds the follow-up's row lock (a
/// token comparison here would strand messages if Redis lost its fence
/// counter). False if the message is not `queued`.
pub async fn begin_send(
    tx: &mut TenantTx,
    id: MessageId,
    fence: i64,
    body: &str,
    subject: Option<&str>,
) -> Result<bool, StoreError> {
    let ws = tx.workspace_id();
    let done = sqlx::query!(
        "UPDATE messages SET status = 'sending', fencing_token = $3, body = $4, subject = $5, sent_at = now(),
                updated_at = now()
         WHERE workspace_id = $1 AND id = $2 AND status = 'queued'",
        ws as WorkspaceId,
        id as MessageId,
        fence,
        body,
        subject
    )
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A newer delivery found the message `sending` under an older token: that
/// delivery may have reached the provider. Takes the message over (so the
/// older delivery's late outcome is refused) and flags it
/// `outcome_unknown`. False if the holder's token is not older than ours.
pub async fn take_over_unknown(tx: &mut TenantTx, id: MessageId, fence: i64) -> Result<bool, StoreError> {
    let ws = tx.workspace_id();
    let done = sqlx::query!(
        "UPDATE messages SET fencing_token = $3, error_code = 'outcome_unknown', updated_at = now()
         WHERE workspace_id = $1 AND id = $2 AND status = 'sending' AND fencing_token < $3",
        ws as WorkspaceId,
        id as MessageId,
        fence
    )
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A provider told us the id it gave a message a delivery is still
/// sending (its status callback beat the send's own reply, or the reply was
/// lost): kept, so whoever ends the send can use it.
pub async fn note_provider_id(tx: &mut TenantTx, id: MessageId, provider_message_id: &str) -> Result<(), StoreError> {
    let ws = tx.workspace_id();
    sqlx::query!(
        "UPDATE messages SET provider_message_id = $3, updated_at = now()
         WHERE workspace_id = $1 AND id = $2 AND status = 'sending' AND provider_message_id IS NULL",
        ws as WorkspaceId,
        id as MessageId,
        provider_message_id
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// A send flagged `outcome_unknown` turns out to have been accepted:
/// `sending → sent` with the provider's id. False if it is not such a send.
pub async fn resolve_unknown_as_sent(
    tx: &mut TenantTx,
    id: MessageId,
    provider_message_id: &str,
) -> Result<bool, StoreError> {
    let ws = tx.workspace_id();
    let done = sqlx::query!(
        "UPDATE messages SET status = 'sent', provider_message_id = COALESCE(provider_message_id, $3),
                error_code = NULL, updated_at = now()
         WHERE workspace_id = $1 AND id = $2 AND status = 'sending' AND error_code = 'outcome_unknown'",
        ws as WorkspaceId,
        id as MessageId,
        provider_message_id
    )
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A send still flagged `outcome_unknown`: what a lookup at the provider
/// needs to find it.
#[derive(Clone, Debug)]
pub struct UnknownSend {
    pub id: MessageId,
    pub lead_id: LeadId,
    pub channel: String,
    pub body: String,
    /// When the send began (the provider's record cannot be older).
    pub sent_at: Option<chrono::DateTime<chrono::Utc>>,
}

pub async fn unknown_send(tx: &mut TenantTx, id: MessageId) -> Result<Option<UnknownSend>, StoreError> {
    let ws = tx.workspace_id();
    let row = sqlx::query_as!(
        UnknownSend,
        r#"SELECT id AS "id: MessageId", lead_id AS "lead_id: LeadId", channel, body, sent_at
           FROM messages
           WHERE workspace_id = $1 AND id = $2 AND status = 'sending' AND error_code = 'outcome_unknown'"#,
        ws as WorkspaceId,
        id as MessageId
    )
    .fetch_optional(tx.conn())
    .await?;
    Ok(row)
}

/// A follow-up ended before its message went out again: the `queued`
/// message left by an earlier, refused attempt is closed as failed.
pub async fn close_queued(tx: &mut TenantTx, key: &str, error_code: &str) -> Result<(), StoreError> {
    let ws = tx.workspace_id();
    sqlx::query!(
        "UPDATE messages SET status = 'failed', error_code = $3, updated_at = now()
         WHERE workspace_id = $1 AND idempotency_key = $2 AND status = 'queued'",
        ws as WorkspaceId,
        key,
        error_code
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// How a provider call ended, as the message records it.
#[derive(Clone, Debug)]
pub enum SendOutcome<'a> {
    /// `body`: what actually went out, when it differs from the planned body.
    Sent {
        provider_message_id: &'a str,
        sandbox: bool,
        body: Option<&'a str>,
    },
    Failed {
        error_code: &'a str,
    },
    /// The provider certainly did not take it (429, 5xx, refused
    /// connection): back to `queued` for the retry.
    Requeue {
        error_code: &'a str,
    },
    /// The call may or may not have reached the provider.
    Unknown,
}

/// Records the outcome of the provider call made by the delivery holding
/// `fence`; a stale delivery's outcome changes nothing. Only `sending`
/// moves, so a status callback that already advanced it is never undone.
pub async fn record_outcome(
    tx: &mut TenantTx,
    id: MessageId,
    fence: i64,
    outcome: &SendOutcome<'_>,
) -> Result<bool, StoreError> {
    let ws = tx.workspace_id();
    let (status, provider_id, error_code, body) = match outcome {
        SendOutcome::Sent { provider_message_id, sandbox, body } => {
            (if *sandbox { "sent_sandbox" } else { "sent" }, Some(*provider_message_id), None, *body)
        }
        SendOutcome::Failed { error_code } => ("failed", None, Some(*error_code), None),
        SendOutcome::Requeue { error_code } => ("queued", None, Some(*error_code), None),
        SendOutcome::Unknown => ("sending", None, Some("outcome_unknown"), None),
    };
    let done = sqlx::query!(
        "UPDATE messages SET status = $4, provider_message_id = COALESCE($5, provider_message_id),
                error_code = $6, body = COALESCE($7, body), updated_at = now()
         WHERE workspace_id = $1 AND id = $2 AND fencing_token = $3 AND status = 'sending'",
        ws as WorkspaceId,
        id as MessageId,
        fence,
        status,
        provider_id,
        error_code,
        body
    )
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Messages sent (or being sent) to the lead since `since`, on any channel,
/// and the oldest of them: the frequency cap's count and when it frees up.
pub async fn outbound_since(
    tx: &mut TenantTx,
    lead_id: LeadId,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<(i64, Option<chrono::DateTime<chrono::Utc>>), StoreError> {
    let ws = tx.workspace_id();
    let row = sqlx::query!(
        r#"SELECT count(*) AS "n!", min(coalesce(sent_at, created_at)) AS oldest FROM messages
           WHERE workspace_id = $1 AND lead_id = $2 AND direction = 'outbound' AND coalesce(sent_at, created_at) > $3
             AND status IN ('sending', 'sent', 'sent_sandbox', 'delivered', 'read')"#,
        ws as WorkspaceId,
        lead_id as LeadId,
        since
    )
    .fetch_one(tx.conn())
    .await?;
    Ok((row.n, row.oldest))
}

/// The lead's latest inbound email: its `Message-ID` and subject, so a
/// reply threads under it.
pub async fn latest_inbound_email(
    tx: &mut TenantTx,
    lead_id: LeadId,
) -> Result<Option<(String, Option<String>)>, StoreError> {
    let ws = tx.workspace_id();
    let row = sqlx::query!(
        r#"SELECT rfc_message_id AS "rfc_message_id!", subject FROM messages
           WHERE workspace_id = $1 AND lead_id = $2 AND direction = 'inbound' AND channel = 'email'
             AND rfc_message_id IS NOT NULL
           ORDER BY created_at DESC LIMIT 1"#,
        ws as WorkspaceId,
        lead_id as LeadId
    )
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.map(|r| (r.rfc_message_id, r.subject)))
}
