//! Studio users. A user belongs to exactly one workspace and an email names
//! one user platform-wide. Password hashes are computed by the api (argon2id);
//! this module stores and returns the PHC string.

use chrono::{DateTime, Utc};
use frontdesk_jobs::{UserId, WorkspaceId};

use crate::{Db, StoreError, TenantTx};

/// What a user may do. Ordered: `Owner > Admin > Staff`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Staff,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Staff => "staff",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "staff" => Some(Role::Staff),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// False until the invitation was accepted (no password yet).
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct NewUser<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub role: Role,
    /// SHA-256 of the one-time invitation token.
    pub invite_token_hash: [u8; 32],
    pub invite_expires_at: DateTime<Utc>,
}

/// Adds an invited user. An email already used by any workspace is a
/// conflict (the platform-wide unique index), reported without saying whose.
pub async fn invite(tx: &mut TenantTx, new: &NewUser<'_>) -> Result<UserId, StoreError> {
    let ws = tx.workspace_id();
    let id = UserId::new();
    sqlx::query!(
        "INSERT INTO users (workspace_id, id, email, name, role, invite_token_hash, invite_expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        ws as WorkspaceId,
        id as UserId,
        new.email,
        new.name,
        new.role.as_str(),
        &new.invite_token_hash[..],
        new.invite_expires_at
    )
    .execute(tx.conn())
    .await
    .map_err(|e| match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict("a user with this email already exists".into())
        }
        other => other.into(),
    })?;
    Ok(id)
}

/// Sets the password of an invited user and consumes the invitation, in
/// one statement, so a token works once even when two requests race.
pub async fn accept_invitation(
    tx: &mut TenantTx,
    id: UserId,
    token_hash: &[u8; 32],
    password_hash: &str,
) -> Result<bool, StoreError> {
    let ws = tx.workspace_id();
    let done = sqlx::query!(
        "UPDATE users SET password_hash = $4, invite_token_hash = NULL, invite_expires_at = NULL, updated_at = now()
         WHERE workspace_id = $1 AND id = $2 AND invite_token_hash = $3 AND invite_expires_at > now()",
        ws as WorkspaceId,
        id as UserId,
        &token_hash[..],
        password_hash
    )
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The user an email signs in as, through the `find_user_by_email`
/// SECURITY DEFINER function (ids only).
pub async fn find_by_email(db: &Db, email: &str) -> Result<Option<(WorkspaceId, UserId)>, StoreError> {
    let row = sqlx::query!(
        r#"SELECT workspace_id AS "workspace_id!: WorkspaceId", user_id AS "user_id!: UserId"
           FROM find_user_by_email($1)"#,
        email
    )
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| (r.workspace_id, r.user_id)))
}

/// The user's PHC password hash, if they have set a password.
pub async fn password_hash(tx: &mut TenantTx, id: UserId) -> Result<Option<String>, StoreError> {
    let ws = tx.workspace_id();
    let hash = sqlx::query_scalar!(
        "SELECT password_hash FROM users WHERE workspace_id = $1 AND id = $2",
        ws as WorkspaceId,
        id as UserId
    )
    .fetch_optional(tx.conn())
    .await?;
    Ok(hash.flatten())
}

pub async fn list(tx: &mut TenantTx) -> Result<Vec<User>, StoreError> {
    let ws = tx.workspace_id();
    let rows = sqlx::query!(
        r#"SELECT id AS "id: UserId", email, name, role, password_hash IS NOT NULL AS "active!", created_at
           FROM users WHERE workspace_id = $1 ORDER BY created_at, id"#,
        ws as WorkspaceId
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| User {
            id: r.id,
            email: r.email,
            name: r.name,
            role: Role::parse(&r.role).unwrap_or(Role::Staff),
            active: r.active,
            created_at: r.created_at,
        })
        .collect())
}

pub async fn get(tx: &mut TenantTx, id: UserId) -> Result<Option<User>, StoreError> {
    let ws = tx.workspace_id();
    let row = sqlx::query!(
        r#"SELECT id AS "id: UserId", email, name, role, password_hash IS NOT NULL AS "active!", created_at
           FROM users WHERE workspace_id = $1 AND id = $2"#,
        ws as WorkspaceId,
        id as UserId
    )
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.map(|r| User {
        id: r.id,
        email: r.email,
        name: r.name,
        role: Role::parse(&r.role).unwrap_or(Role::Staff),
        active: r.active,
        created_at: r.created_at,
    }))
}

/// Removes a user; their sessions and API keys go with them (cascade), so
/// every credential of theirs fails from the next request on.
pub async fn remove(tx: &mut TenantTx, id: UserId) -> Result<bool, StoreError> {
    let ws = tx.workspace_id();
    let done = sqlx::query!("DELETE FROM users WHERE workspace_id = $1 AND id = $2", ws as WorkspaceId, id as UserId)
        .execute(tx.conn())
        .await?;
    Ok(done.rows_affected() == 1)
}
