//! Resolving a presented studio credential. Sessions (`sessions.rs`), API
//! keys (`api_keys.rs`) and invitations (`users.rs`) are all stored as the
//! SHA-256 of a random token the client holds, and resolved through one
//! SECURITY DEFINER function (`resolve_credential`) that returns ids and a
//! role only. Computing the hash is the api's job; the store never sees a
//! token.

use frontdesk_jobs::{UserId, WorkspaceId};
use uuid::Uuid;

use crate::{Db, StoreError, users::Role};

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
