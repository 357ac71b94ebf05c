//! Proof that an entity a job names lives in the job's workspace.

use frontdesk_jobs::{EntityRef, FollowupId, IntegrationId, LeadId, MessageId, WebhookEventId, WorkspaceId};

use crate::{StoreError, TenantTx};

/// True when `entity` exists in the transaction's workspace. The query binds
/// the workspace explicitly, and RLS would hide a foreign row anyway.
pub async fn belongs(tx: &mut TenantTx, entity: EntityRef) -> Result<bool, StoreError> {
    let ws = tx.workspace_id();
    let conn = tx.conn();
    let found = match entity {
        EntityRef::Lead(id) => {
            sqlx::query_scalar!(
                r#"SELECT EXISTS (SELECT 1 FROM leads WHERE workspace_id = $1 AND id = $2) AS "found!""#,
                ws as WorkspaceId,
                id as LeadId
            )
            .fetch_one(conn)
            .await?
        }
        EntityRef::Message(id) => {
            sqlx::query_scalar!(
                r#"SELECT EXISTS (SELECT 1 FROM messages WHERE workspace_id = $1 AND id = $2) AS "found!""#,
                ws as WorkspaceId,
                id as MessageId
            )
            .fetch_one(conn)
            .await?
        }
        EntityRef::Followup(id) => {
            sqlx::query_scalar!(
                r#"SELECT EXISTS (SELECT 1 FROM followups WHERE workspace_id = $1 AND id = $2) AS "found!""#,
                ws as WorkspaceId,
                id as FollowupId
            )
            .fetch_one(conn)
            .await?
        }
        EntityRef::Integration(id) => {
            sqlx::query_scalar!(
                r#"SELECT EXISTS (SELECT 1 FROM integrations WHERE workspace_id = $1 AND id = $2) AS "found!""#,
                ws as WorkspaceId,
                id as IntegrationId
            )
            .fetch_one(conn)
            .await?
        }
        EntityRef::WebhookEvent(id) => {
            sqlx::query_scalar!(
                r#"SELECT EXISTS (SELECT 1 FROM webhook_events WHERE workspace_id = $1 AND id = $2) AS "found!""#,
                ws as WorkspaceId,
                id as WebhookEventId
            )
            .fetch_one(conn)
            .await?
        }
    };
    Ok(found)
}
