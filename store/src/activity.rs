//! The activity log: what happened to a lead or workspace, for the studio
//! and for ops. Security events are flagged.

use frontdesk_jobs::{LeadId, WorkspaceId};
use uuid::Uuid;

use crate::{StoreError, TenantTx};

#[derive(Clone, Debug)]
pub struct Activity {
    pub kind: &'static str,
    pub lead_id: Option<LeadId>,
    pub is_security: bool,
    pub detail: serde_json::Value,
}

pub async fn record(tx: &mut TenantTx, activity: &Activity) -> Result<(), StoreError> {
    let ws = tx.workspace_id();
    sqlx::query!(
        "INSERT INTO activity_logs (workspace_id, id, lead_id, kind, is_security, detail)
         VALUES ($1, $2, $3, $4, $5, $6)",
        ws as WorkspaceId,
        Uuid::now_v7(),
        activity.lead_id as Option<LeadId>,
        activity.kind,
        activity.is_security,
        activity.detail
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Whether an entry of `kind` whose detail contains `detail` was written in
/// the last 24 hours (for notices that should not repeat on every job).
pub async fn exists_today(tx: &mut TenantTx, kind: &str, detail: &serde_json::Value) -> Result<bool, StoreError> {
    let ws = tx.workspace_id();
    let exists = sqlx::query_scalar!(
        r#"SELECT EXISTS (
               SELECT 1 FROM activity_logs
               WHERE workspace_id = $1 AND created_at > now() - interval '1 day' AND kind = $2 AND detail @> $3
           ) AS "exists!""#,
        ws as WorkspaceId,
        kind,
        detail
    )
    .fetch_one(tx.conn())
    .await?;
    Ok(exists)
}

#[derive(Clone, Debug)]
pub struct ActivityRow {
    pub kind: String,
    pub lead_id: Option<LeadId>,
    pub is_security: bool,
    pub detail: serde_json::Value,
}

pub async fn recent(tx: &mut TenantTx, limit: i64) -> Result<Vec<ActivityRow>, StoreError> {
    let ws = tx.workspace_id();
    let rows = sqlx::query_as!(
        ActivityRow,
        r#"SELECT kind, lead_id AS "lead_id: LeadId", is_security, detail
           FROM activity_logs WHERE workspace_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"#,
        ws as WorkspaceId,
        limit
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows)
}
