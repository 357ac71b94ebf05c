//! Calls reported by Twilio voice webhooks.

use frontdesk_jobs::{CallLogId, LeadId, WorkspaceId};

use crate::{StoreError, TenantTx};

#[derive(Clone, Debug)]
pub struct CallUpdate<'a> {
    pub lead_id: LeadId,
    pub call_sid: &'a str,
    pub status: &'a str,
    pub from: &'a str,
    pub to: &'a str,
}

/// Inserts the call or records its newest status.
pub async fn upsert(tx: &mut TenantTx, call: &CallUpdate<'_>) -> Result<CallLogId, StoreError> {
    let ws = tx.workspace_id();
    let id = sqlx::query_scalar!(
        r#"INSERT INTO call_logs (workspace_id, id, lead_id, provider_call_id, status, from_number, to_number)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (workspace_id, provider_call_id) DO UPDATE SET status = EXCLUDED.status, updated_at = now()
           RETURNING id AS "id: CallLogId""#,
        ws as WorkspaceId,
        CallLogId::new() as CallLogId,
        call.lead_id as LeadId,
        call.call_sid,
        call.status,
        call.from,
        call.to
    )
    .fetch_one(tx.conn())
    .await?;
    Ok(id)
}
