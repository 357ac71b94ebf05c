//! Studio API keys: stored as their SHA-256 with a visible prefix, acting
//! for the user who created them, revocable.

use chrono::{DateTime, Utc};
use frontdesk_jobs::{ApiKeyId, UserId, WorkspaceId};

use crate::{StoreError, TenantTx, users::Role};

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

pub async fn create(tx: &mut TenantTx, new: &NewApiKey<'_>) -> Result<ApiKey, StoreError> {
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
pub async fn list(tx: &mut TenantTx) -> Result<Vec<ApiKey>, StoreError> {
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
pub async fn revoke(tx: &mut TenantTx, id: ApiKeyId) -> Result<bool, StoreError> {
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
