//! The transactional outbox: jobs written in the same transaction as the
//! rows that caused them. The api pushes them right after commit; the relay
//! re-pushes any entry not done within a timeout (Redis down, api crashed
//! between commit and push, Redis lost the job). An entry is done when its
//! job has run, so a job Redis lost is pushed again.

use std::time::Duration;

use chrono::{DateTime, Utc};
use frontdesk_jobs::{Envelope, OutboxId, RateLimit, WorkspaceId, queue};

use crate::{Db, StoreError, TenantTx};

/// The dedupe key a job pushed from the outbox carries; the worker marks the
/// entry done from it.
pub fn job_key(id: OutboxId) -> String {
    format!("outbox:{id}")
}

pub fn parse_job_key(key: &str) -> Option<OutboxId> {
    key.strip_prefix("outbox:")?.parse().ok()
}

/// Adds an entry. With a dedupe key, an entry still pending under the same
/// key absorbs this one (returns `None`): bursts coalesce into one job.
pub async fn add(
    tx: &mut TenantTx,
    envelope: &Envelope,
    coalesce_key: Option<&str>,
) -> Result<Option<(OutboxId, Envelope)>, StoreError> {
    let ws = tx.workspace_id();
    let id = OutboxId::new();
    let inserted = sqlx::query_scalar!(
        r#"INSERT INTO outbox (workspace_id, id, queue, payload, dedupe_key, max_attempts, run_at, enqueued_at,
                               rate_limit_key, rate_limit_max, rate_limit_per_ms, rate_limit_urgent)
           VALUES ($1, $2, $3, $4, $5, $6, $7, now(), $8, $9, $10, $11)
           ON CONFLICT (workspace_id, dedupe_key) WHERE done_at IS NULL AND dedupe_key IS NOT NULL DO NOTHING
           RETURNING id AS "id: OutboxId""#,
        ws as WorkspaceId,
        id as OutboxId,
        envelope.queue,
        envelope.payload,
        coalesce_key,
        envelope.max_attempts as i32,
        envelope.run_at,
        envelope.rate_limit.as_ref().map(|l| l.key.as_str()),
        envelope.rate_limit.as_ref().map(|l| l.max.min(i32::MAX as u32) as i32),
        envelope.rate_limit.as_ref().map(|l| l.per.as_millis().clamp(1, i32::MAX as u128) as i32),
        envelope.rate_limit.as_ref().is_some_and(|l| l.urgent)
    )
    .fetch_optional(tx.conn())
    .await?;
    Ok(inserted.map(|id| {
        let mut pushed = envelope.clone();
        pushed.job_id = Some(job_key(id));
        (id, pushed)
    }))
}

/// The push right after commit failed (Redis down): let the relay take it at once.
pub async fn release(db: &Db, workspace_id: WorkspaceId, id: OutboxId) -> Result<(), StoreError> {
    let mut tx = db.tenant(workspace_id).await?;
    sqlx::query!(
        "UPDATE outbox SET enqueued_at = NULL WHERE workspace_id = $1 AND id = $2 AND done_at IS NULL",
        workspace_id as WorkspaceId,
        id as OutboxId
    )
    .execute(tx.conn())
    .await?;
    tx.commit().await
}

/// Stops an entry absorbing newer ones: its job has started reading.
pub async fn release_coalescing(tx: &mut TenantTx, id: OutboxId) -> Result<(), StoreError> {
    let ws = tx.workspace_id();
    sqlx::query!(
        "UPDATE outbox SET dedupe_key = NULL WHERE workspace_id = $1 AND id = $2 AND dedupe_key IS NOT NULL",
        ws as WorkspaceId,
        id as OutboxId
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Marks the entry whose job just ran; false if it was already done.
pub async fn mark_done(tx: &mut TenantTx, id: OutboxId) -> Result<bool, StoreError> {
    let ws = tx.workspace_id();
    let done = sqlx::query!(
        "UPDATE outbox SET done_at = now() WHERE workspace_id = $1 AND id = $2 AND done_at IS NULL",
        ws as WorkspaceId,
        id as OutboxId
    )
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Clone, Debug)]
pub struct Claimed {
    pub id: OutboxId,
    pub envelope: Envelope,
    pub relay_attempts: i32,
    /// The relay already confirmed this job was in Redis once: it is here
    /// again because it stayed not done past the long timeout.
    pub verified: bool,
}

/// Claims up to `limit` entries for the relay, across workspaces (through
/// `outbox_claim`): handed back after a failed push; not done `grace`
/// after the api claimed it and never confirmed in Redis (the api may have
/// died before its push); or not done `stale` after its last push.
pub async fn claim(db: &Db, limit: i64, stale: Duration, grace: Duration) -> Result<Vec<Claimed>, StoreError> {
    let (stale, grace) = (crate::database::interval(stale)?, crate::database::interval(grace)?);
    let rows = sqlx::query!(
        r#"SELECT workspace_id AS "workspace_id!: WorkspaceId", id AS "id!: OutboxId", queue AS "queue!", payload AS "payload!",
                  max_attempts AS "max_attempts!", run_at, relay_attempts AS "relay_attempts!",
                  rate_limit_key, rate_limit_max, rate_limit_per_ms, rate_limit_urgent AS "rate_limit_urgent!",
                  verified AS "verified!"
           FROM outbox_claim($1, $2, $3)"#,
        limit as i32,
        stale,
        grace
    )
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            // A queue name this build does not know (a newer release wrote
            // it) is left for a relay that does.
            let queue = queue::ALL.iter().find(|q| **q == r.queue)?;
            Some(Claimed {
                id: r.id,
                envelope: Envelope {
                    queue,
                    workspace_id: r.workspace_id,
                    payload: r.payload,
                    dedupe_key: None,
                    job_id: Some(job_key(r.id)),
                    run_at: r.run_at.map(|t: DateTime<Utc>| t),
                    max_attempts: r.max_attempts.max(1) as u32,
                    rate_limit: match (r.rate_limit_key, r.rate_limit_max, r.rate_limit_per_ms) {
                        (Some(key), Some(max), Some(per_ms)) => {
                            let limit = RateLimit::new(key, max as u32, Duration::from_millis(per_ms as u64));
                            Some(if r.rate_limit_urgent { limit.urgent() } else { limit })
                        }
                        _ => None,
                    },
                },
                relay_attempts: r.relay_attempts,
                verified: r.verified,
            })
        })
        .collect())
}

/// The relay confirmed these entries' jobs are in Redis (found there, or
/// just pushed): only the long timeout brings them back.
pub async fn mark_verified(db: &Db, ids: &[OutboxId]) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let ids: Vec<uuid::Uuid> = ids.iter().map(|id| id.as_uuid()).collect();
    sqlx::query!("SELECT outbox_mark_verified($1)", &ids).fetch_one(db.pool()).await?;
    Ok(())
}

/// Redis lost its data: every entry not done is pushed again on the
/// relay's next scan. Returns how many.
pub async fn redrive_all(db: &Db) -> Result<i64, StoreError> {
    let n = sqlx::query_scalar!(r#"SELECT outbox_redrive_all() AS "n!""#).fetch_one(db.pool()).await?;
    Ok(n)
}

/// Pushes jobs whose outbox entries were just committed. A push that fails
/// (Redis down) hands its entry back to the relay at once; if even that
/// fails, the relay still re-pushes it after its timeout. Nothing is lost.
pub async fn push_committed(
    db: &Db,
    jobs: &frontdesk_jobs::Jobs,
    workspace_id: WorkspaceId,
    triggered: Vec<(OutboxId, Envelope)>,
) {
    for (id, envelope) in triggered {
        if let Err(e) = jobs.enqueue_envelope(envelope).await {
            tracing::warn!(error = %frontdesk_jobs::Report(&e), outbox_id = %id, "enqueue after commit failed; the outbox relay will push it");
            if let Err(e) = release(db, workspace_id, id).await {
                tracing::warn!(error = %frontdesk_jobs::Report(&e), outbox_id = %id, "could not release outbox entry");
            }
        }
    }
}
