//! Follow-ups: one row per intended outbound message, with its due time.

use chrono::{DateTime, Utc};
use frontdesk_jobs::{FollowupId, LeadId, WorkspaceId};

use crate::{StoreError, TenantTx, messages::Channel};

#[derive(Clone, Debug)]
pub struct NewFollowup<'a> {
    pub lead_id: LeadId,
    pub kind: &'a str,
    pub channel: Channel,
    pub template: &'a str,
    pub due_at: DateTime<Utc>,
}

/// Creates a follow-up already handed to the queue (status `enqueued`).
pub async fn create_enqueued(tx: &mut TenantTx, new: &NewFollowup<'_>) -> Result<FollowupId, StoreError> {
    let ws = tx.workspace_id();
    let id = FollowupId::new();
    sqlx::query!(
        "INSERT INTO followups (workspace_id, id, lead_id, kind, channel, template, due_at, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'enqueued')",
        ws as WorkspaceId,
        id as FollowupId,
        new.lead_id as LeadId,
        new.kind,
        new.channel.as_str(),
        new.template,
        new.due_at
    )
    .execute(tx.conn())
    .await?;
    Ok(id)
}

/// Whether the lead got a follow-up of `kind` created within `window`.
pub async fn exists_recent(
    tx: &mut TenantTx,
    lead_id: LeadId,
    kind: &str,
    window: std::time::Duration,
) -> Result<bool, StoreError> {
    let ws = tx.workspace_id();
    let since = Utc::now() - chrono::Duration::from_std(window).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let found = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM followups
                          WHERE workspace_id = $1 AND lead_id = $2 AND kind = $3 AND created_at > $4) AS "found!""#,
        ws as WorkspaceId,
        lead_id as LeadId,
        kind,
        since
    )
    .fetch_one(tx.conn())
    .await?;
    Ok(found)
}

pub async fn count_for_lead(tx: &mut TenantTx, lead_id: LeadId, kind: &str) -> Result<i64, StoreError> {
    let ws = tx.workspace_id();
    let n = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM followups WHERE workspace_id = $1 AND lead_id = $2 AND kind = $3"#,
        ws as WorkspaceId,
        lead_id as LeadId,
        kind
    )
    .fetch_one(tx.conn())
    .await?;
    Ok(n)
}

/// A sequence step waiting for its time (the scheduler enqueues it when due).
/// `None` when this lead already has this step: a sequence runs once per lead.
pub async fn schedule(
    tx: &mut TenantTx,
    new: &NewFollowup<'_>,
    rule_id: frontdesk_jobs::AiRuleId,
    step: i32,
) -> Result<Option<FollowupId>, StoreError> {
    let ws = tx.workspace_id();
    let id = FollowupId::new();
    let inserted = sqlx::query!(
        "INSERT INTO followups (workspace_id, id, lead_id, rule_id, step, kind, channel, template, due_at, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'scheduled')
         ON CONFLICT (workspace_id, lead_id, rule_id, step) WHERE rule_id IS NOT NULL DO NOTHING",
        ws as WorkspaceId,
        id as FollowupId,
        new.lead_id as LeadId,
        rule_id as frontdesk_jobs::AiRuleId,
        step,
        new.kind,
        new.channel.as_str(),
        new.template,
        new.due_at
    )
    .execute(tx.conn())
    .await?;
    Ok((inserted.rows_affected() == 1).then_some(id))
}
