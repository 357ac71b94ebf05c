//! Received, verified provider deliveries. The unique key on the provider's
//! event id is the dedupe: a redelivery inserts nothing.

use chrono::{DateTime, Utc};
use frontdesk_jobs::{WebhookEventId, WorkspaceId};

use crate::{StoreError, TenantTx};

#[derive(Clone, Debug)]
pub struct NewEvent<'a> {
    pub provider: &'a str,
    pub provider_event_id: &'a str,
    pub kind: &'a str,
    pub payload: &'a serde_json::Value,
    pub provider_created_at: Option<DateTime<Utc>>,
}

/// `None` when this delivery was already received.
pub async fn record(tx: &mut TenantTx, event: &NewEvent<'_>) -> Result<Option<WebhookEventId>, StoreError> {
    let ws = tx.workspace_id();
    let id = sqlx::query_scalar!(
        r#"INSERT INTO webhook_events (workspace_id, id, provider, provider_event_id, kind, payload, provider_created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (workspace_id, provider, provider_event_id) DO NOTHING
           RETURNING id AS "id: WebhookEventId""#,
        ws as WorkspaceId,
        WebhookEventId::new() as WebhookEventId,
        event.provider,
        event.provider_event_id,
        event.kind,
        event.payload,
        event.provider_created_at
    )
    .fetch_optional(tx.conn())
    .await?;
    Ok(id)
}

#[derive(Clone, Debug)]
pub struct StoredEvent {
    pub id: WebhookEventId,
    pub provider: String,
    /// The provider's own id for the event (Stripe's `evt_…`).
    pub provider_event_id: String,
    pub kind: String,
    pub payload: serde_json::Value,
    pub provider_created_at: Option<DateTime<Utc>>,
    pub processed: bool,
}

pub async fn find(tx: &mut TenantTx, id: WebhookEventId) -> Result<Option<StoredEvent>, StoreError> {
    let ws = tx.workspace_id();
    let row = sqlx::query_as!(
        StoredEvent,
        r#"SELECT id AS "id: WebhookEventId", provider, provider_event_id, kind, payload, provider_created_at,
                  processed_at IS NOT NULL AS "processed!"
           FROM webhook_events WHERE workspace_id = $1 AND id = $2"#,
        ws as WorkspaceId,
        id as WebhookEventId
    )
    .fetch_optional(tx.conn())
    .await?;
    Ok(row)
}

pub async fn mark_processed(tx: &mut TenantTx, id: WebhookEventId) -> Result<(), StoreError> {
    let ws = tx.workspace_id();
    sqlx::query!(
        "UPDATE webhook_events SET processed_at = now() WHERE workspace_id = $1 AND id = $2",
        ws as WorkspaceId,
        id as WebhookEventId
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Provider event ids of this kind starting with `prefix` (status callbacks
/// are stored as `<message id>:<status>`), with their payloads.
pub async fn with_id_prefix(
    tx: &mut TenantTx,
    provider: &str,
    kind: &str,
    prefix: &str,
) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
    let ws = tx.workspace_id();
    let pattern = format!("{}%", prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
    let rows = sqlx::query!(
        "SELECT provider_event_id, payload FROM webhook_events
         WHERE workspace_id = $1 AND provider = $2 AND kind = $3 AND provider_event_id LIKE $4",
        ws as WorkspaceId,
        provider,
        kind,
        pattern
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().map(|r| (r.provider_event_id, r.payload)).collect())
}

/// Claims a provider's one-time token (Mailgun's `token`) for the
/// transaction's workspace. False when another workspace presented it
/// first: a signed delivery replayed to a different recipient. Presenting
/// it again in the same workspace (a retry) is fine; the event dedupe
/// handles that.
pub async fn claim_nonce(tx: &mut TenantTx, provider: &str, nonce: &str) -> Result<bool, StoreError> {
    let mine = sqlx::query_scalar!(r#"SELECT claim_webhook_nonce($1, $2) AS "mine!""#, provider, nonce)
        .fetch_one(tx.conn())
        .await?;
    Ok(mine)
}
