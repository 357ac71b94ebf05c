//! Studio sign-in sessions: opaque tokens stored as their SHA-256, with a
//! fixed expiry; listed and revoked by their user.

use chrono::{DateTime, Utc};
use frontdesk_jobs::{SessionId, UserId, WorkspaceId};

use crate::{StoreError, TenantTx};

#[derive(Clone, Debug)]
pub struct NewSession<'a> {
    pub user_id: UserId,
    pub token_hash: [u8; 32],
    pub expires_at: DateTime<Utc>,
    pub user_agent: Option<&'a str>,
}

/// Opens a session and drops the user's expired or revoked ones, so the
/// table does not grow with every sign-in.
pub async fn create(tx: &mut TenantTx, new: &NewSession<'_>) -> Result<SessionId, StoreError> {
    let ws = tx.workspace_id();
    let id = SessionId::new();
    sqlx::query!(
        "DELETE FROM sessions WHERE workspace_id = $1 AND user_id = $2 AND (expires_at < now() OR revoked_at IS NOT NULL)",
        ws as WorkspaceId,
        new.user_id as UserId
    )
    .execute(tx.conn())
    .await?;
    sqlx::query!(
        "INSERT INTO sessions (workspace_id, id, user_id, token_hash, expires_at, user_agent)
         VALUES ($1, $2, $3, $4, $5, $6)",
        ws as WorkspaceId,
        id as SessionId,
        new.user_id as UserId,
        &new.token_hash[..],
        new.expires_at,
        new.user_agent
    )
    .execute(tx.conn())
    .await?;
    Ok(id)
}

#[derive(Clone, Debug)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A user's live sessions, newest first.
pub async fn list(tx: &mut TenantTx, user_id: UserId) -> Result<Vec<Session>, StoreError> {
    let ws = tx.workspace_id();
    let rows = sqlx::query_as!(
        Session,
        r#"SELECT id AS "id: SessionId", user_id AS "user_id: UserId", user_agent, created_at, expires_at, last_used_at
           FROM sessions
           WHERE workspace_id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > now()
           ORDER BY created_at DESC, id DESC"#,
        ws as WorkspaceId,
        user_id as UserId
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows)
}

/// Revokes one of `user_id`'s sessions. False if there is no such live session.
pub async fn revoke(tx: &mut TenantTx, user_id: UserId, id: SessionId) -> Result<bool, StoreError> {
    let ws = tx.workspace_id();
    let done = sqlx::query!(
        "UPDATE sessions SET revoked_at = now()
         WHERE workspace_id = $1 AND user_id = $2 AND id = $3 AND revoked_at IS NULL",
        ws as WorkspaceId,
        user_id as UserId,
        id as SessionId
    )
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}
