//! Idempotency-Key records for the studio API (IETF httpapi
//! `Idempotency-Key` draft). Each call runs in its own short tenant
//! transaction: the claim must be visible to a concurrent duplicate at once,
//! not when the request's own work commits.

use std::time::Duration;

use frontdesk_jobs::WorkspaceId;
use uuid::Uuid;

use crate::{StoreError, TenantTx, database::interval, vault::Sealed};

/// How long a key is remembered.
pub const RETENTION: Duration = Duration::from_secs(24 * 3600);

#[derive(Clone, Debug)]
pub struct Key<'a> {
    pub credential_id: Uuid,
    /// `POST /v1/integrations`: method and route template.
    pub route: &'a str,
    pub key: &'a str,
    pub fingerprint: [u8; 32],
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// This request owns the key: run it, then [`complete`] or [`release`].
    Acquired(Uuid),
    /// Another request with the same key and body is running.
    InProgress,
    /// The same key was used with another request body.
    Mismatch,
    /// The first request finished; replay its answer.
    Completed { status: i16, response: Sealed },
}

/// Claims `key`. A key whose record expired, or whose first request was
/// abandoned (locked longer than `abandoned_after`, e.g. its process died)
/// with the same body, is taken over.
pub async fn claim(tx: &mut TenantTx, key: &Key<'_>, abandoned_after: Duration) -> Result<Claim, StoreError> {
    let ws = tx.workspace_id();
    let id = Uuid::now_v7();
    let acquired = sqlx::query_scalar!(
        "INSERT INTO idempotency_keys
            (workspace_id, id, credential_id, route, key, fingerprint, locked_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, now(), now() + $7::interval)
         ON CONFLICT (workspace_id, credential_id, route, key) DO UPDATE
            SET id = EXCLUDED.id, fingerprint = EXCLUDED.fingerprint, locked_at = now(),
                response_status = NULL, response_ciphertext = NULL, response_nonce = NULL,
                response_key_version = NULL, created_at = now(), expires_at = EXCLUDED.expires_at
            WHERE idempotency_keys.expires_at < now()
               OR (idempotency_keys.response_status IS NULL
                   AND idempotency_keys.fingerprint = EXCLUDED.fingerprint
                   AND idempotency_keys.locked_at < now() - $8::interval)
         RETURNING id",
        ws as WorkspaceId,
        id,
        key.credential_id,
        key.route,
        key.key,
        &key.fingerprint[..],
        interval(RETENTION)?,
        interval(abandoned_after)?
    )
    .fetch_optional(tx.conn())
    .await?;
    if acquired.is_some() {
        // Expired records of this workspace go a few at a time, skipping rows other requests hold.
        sqlx::query!(
            "DELETE FROM idempotency_keys WHERE ctid IN (
                SELECT ctid FROM idempotency_keys WHERE workspace_id = $1 AND expires_at < now()
                LIMIT 100 FOR UPDATE SKIP LOCKED)",
            ws as WorkspaceId
        )
        .execute(tx.conn())
        .await?;
        return Ok(Claim::Acquired(id));
    }
    let row = sqlx::query!(
        "SELECT fingerprint, response_status, response_ciphertext, response_nonce, response_key_version
         FROM idempotency_keys
         WHERE workspace_id = $1 AND credential_id = $2 AND route = $3 AND key = $4",
        ws as WorkspaceId,
        key.credential_id,
        key.route,
        key.key
    )
    .fetch_one(tx.conn())
    .await?;
    if row.fingerprint != key.fingerprint {
        return Ok(Claim::Mismatch);
    }
    match (row.response_status, row.response_ciphertext, row.response_nonce, row.response_key_version) {
        (Some(status), Some(ciphertext), Some(nonce), Some(key_version)) => {
            Ok(Claim::Completed { status, response: Sealed { ciphertext, nonce, key_version } })
        }
        _ => Ok(Claim::InProgress),
    }
}

/// Records the first request's answer under its claim.
pub async fn complete(tx: &mut TenantTx, id: Uuid, status: i16, response: &Sealed) -> Result<(), StoreError> {
    let ws = tx.workspace_id();
    sqlx::query!(
        "UPDATE idempotency_keys
         SET response_status = $3, response_ciphertext = $4, response_nonce = $5, response_key_version = $6,
             locked_at = NULL
         WHERE workspace_id = $1 AND id = $2",
        ws as WorkspaceId,
        id,
        status,
        response.ciphertext,
        response.nonce,
        response.key_version
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Forgets a claim whose request failed on our side, so the client may retry it.
pub async fn release(tx: &mut TenantTx, id: Uuid) -> Result<(), StoreError> {
    let ws = tx.workspace_id();
    sqlx::query!("DELETE FROM idempotency_keys WHERE workspace_id = $1 AND id = $2", ws as WorkspaceId, id)
        .execute(tx.conn())
        .await?;
    Ok(())
}
