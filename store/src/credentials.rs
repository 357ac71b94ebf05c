//! Studio credentials: sign-in sessions and API keys, both stored as the
//! SHA-256 of a random token the client holds, and resolved through one
//! SECURITY DEFINER function (`resolve_credential`) that returns ids and a
//! role only. Computing the hash is the api's job; this module never sees a
//! token.

use chrono::{DateTime, Utc};
use frontdesk_jobs::{ApiKeyId, SessionId, UserId, WorkspaceId};
use uuid::Uuid;

use crate::{Db, StoreError, TenantTx, users::Role};

/// Which table a presented token is looked up in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialKind {
    Session,
    ApiKey,
    /// A one-time invitation token (first sign-in); good for nothing but
    /// accepting the invitation.
    Invitation,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Session => "session",
            CredentialKind::ApiKey => "api_key",
            CredentialKind::Invitation => "invitation",
        }
    }
}

/// What a valid credential stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub workspace_id: WorkspaceId,
    pub user_id: UserId,
    pub role: Role,
    /// The session's or key's id (the user's id for an invitation).
    pub credential_id: Uuid,
}

/// The one lookup across workspaces for credentials. `None` for a hash that
/// is unknown, revoked or expired. Not cached, so a revocation is seen by
/// every api process on its next request.
pub async fn resolve(db: &Db, kind: CredentialKind, hash: &[u8; 32]) -> Result<Option<Resolved>, StoreError> {
    let row = sqlx::query!(
        r#"SELECT workspace_id AS "workspace_id!: WorkspaceId", user_id AS "user_id!: UserId",
                  role AS "role!", credential_id AS "credential_id!"
           FROM resolve_credential($1, $2)"#,
        kind.as_str(),
        &hash[..]
    )
    .fetch_optional(db.pool())
    .await?;
    let Some(r) = row else { return Ok(None) };
    // The CHECK constraints admit nothing else; a role we cannot read is refused.
    let Some(role) = Role::parse(&r.role) else { return Ok(None) };
    Ok(Some(Resolved { workspace_id: r.workspace_id, user_id: r.user_id, role, credential_id: r.credential_id }))
}

#[derive(Clone, Debug)]
pub struct NewSession<'a> {
    pub user_id: UserId,
    pub token_hash: [u8; 32],
    pub expires_at: DateTime<Utc>,
    pub user_agent: Option<&'a str>,
}

/// Opens a session and drops the user's expired or revoked ones, so the
/// table does not grow with every sign-in.
pub async fn create_session(tx: &mut TenantTx, new: &NewSession<'_>) -> Result<SessionId, StoreError> {
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
pub async fn sessions(tx: &mut TenantTx, user_id: UserId) -> Result<Vec<Session>, StoreError> {
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
pub async fn revoke_session(tx: &mut TenantTx, user_id: UserId, id: SessionId) -> Result<bool, StoreError> {
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

#[derive(Clone, Debug)]
pub struct NewApiKey<'a> {
    pub user_id: UserId,
    pub name: &'a str,
    pub role: Role,
    pub prefix: &'a str,
    pub key_hash: [u8; 32],
}

#[derive(Clone, Debug)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub name: String,
    pub prefix: String,
    pub role: Role,
    pub user_id: UserId,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub async fn create_key(tx: &mut TenantTx, new: &NewApiKey<'_>) -> Result<ApiKey, StoreError> {
    let ws = tx.workspace_id();
    let id = ApiKeyId::new();
    let r = sqlx::query!(
        "INSERT INTO api_keys (workspace_id, id, name, key_prefix, key_hash, user_id, role)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         RETURNING created_at",
        ws as WorkspaceId,
        id as ApiKeyId,
        new.name,
        new.prefix,
        &new.key_hash[..],
        new.user_id as UserId,
        new.role.as_str()
    )
    .fetch_one(tx.conn())
    .await?;
    Ok(ApiKey {
        id,
        name: new.name.to_owned(),
        prefix: new.prefix.to_owned(),
        role: new.role,
        user_id: new.user_id,
        created_at: r.created_at,
        last_used_at: None,
        revoked_at: None,
    })
}

/// Every key of the workspace, revoked ones included (they stay listed so a
/// studio can see what was cut off), newest first.
pub async fn keys(tx: &mut TenantTx) -> Result<Vec<ApiKey>, StoreError> {
    let ws = tx.workspace_id();
    let rows = sqlx::query!(
        r#"SELECT id AS "id: ApiKeyId", name, key_prefix, role, user_id AS "user_id: UserId",
                  created_at, last_used_at, revoked_at
           FROM api_keys WHERE workspace_id = $1 ORDER BY created_at DESC, id DESC"#,
        ws as WorkspaceId
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ApiKey {
            id: r.id,
            name: r.name,
            prefix: r.key_prefix,
            role: Role::parse(&r.role).unwrap_or(Role::Staff),
            user_id: r.user_id,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        })
        .collect())
}

/// Revokes a key. False if the workspace has no such unrevoked key.
pub async fn revoke_key(tx: &mut TenantTx, id: ApiKeyId) -> Result<bool, StoreError> {
    let ws = tx.workspace_id();
    let done = sqlx::query!(
        "UPDATE api_keys SET revoked_at = now() WHERE workspace_id = $1 AND id = $2 AND revoked_at IS NULL",
        ws as WorkspaceId,
        id as ApiKeyId
    )
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}
