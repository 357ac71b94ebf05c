//! The onboarding wizard's persisted state (`wizard_progress`): which steps
//! are done and which the studio chose to skip. What each step needs is
//! decided in `frontdesk_domain::onboarding`.

use frontdesk_jobs::WorkspaceId;

use crate::{StoreError, TenantTx};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub current_step: String,
    pub completed: Vec<String>,
    pub skipped: Vec<String>,
}

pub async fn progress(tx: &mut TenantTx) -> Result<Progress, StoreError> {
    let ws = tx.workspace_id();
    let row = sqlx::query_as!(
        Progress,
        r#"SELECT current_step, completed_steps AS completed, skipped_steps AS skipped
           FROM wizard_progress WHERE workspace_id = $1"#,
        ws as WorkspaceId
    )
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.unwrap_or_default())
}

/// Marks `step` done (or not done any more, when its integration was
/// removed); a done step is no longer skipped.
pub async fn set_done(tx: &mut TenantTx, step: &str, done: bool) -> Result<(), StoreError> {
    let ws = tx.workspace_id();
    sqlx::query!(
        "UPDATE wizard_progress SET
            completed_steps = CASE WHEN $3 THEN array_append(array_remove(completed_steps, $2), $2)
                                   ELSE array_remove(completed_steps, $2) END,
            skipped_steps = CASE WHEN $3 THEN array_remove(skipped_steps, $2) ELSE skipped_steps END,
            updated_at = now()
         WHERE workspace_id = $1",
        ws as WorkspaceId,
        step,
        done
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Records that the studio skips `step` (doing the step later un-skips it: [`set_done`]).
pub async fn skip(tx: &mut TenantTx, step: &str) -> Result<(), StoreError> {
    let ws = tx.workspace_id();
    sqlx::query!(
        "UPDATE wizard_progress SET
            skipped_steps = array_append(array_remove(skipped_steps, $2), $2),
            updated_at = now()
         WHERE workspace_id = $1",
        ws as WorkspaceId,
        step
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The pipeline's first signs of life, for the wizard's last look: inbound
/// messages stored and leads classified so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    pub inbound_messages: i64,
    pub classified_leads: i64,
}

pub async fn traffic(tx: &mut TenantTx) -> Result<Traffic, StoreError> {
    let ws = tx.workspace_id();
    let r = sqlx::query!(
        r#"SELECT
            (SELECT count(*) FROM messages WHERE workspace_id = $1 AND direction = 'inbound') AS "inbound!",
            (SELECT count(*) FROM leads WHERE workspace_id = $1 AND classified_at IS NOT NULL) AS "classified!""#,
        ws as WorkspaceId
    )
    .fetch_one(tx.conn())
    .await?;
    Ok(Traffic { inbound_messages: r.inbound, classified_leads: r.classified })
}
