//! The dead set: jobs that failed permanently or ran out of attempts, kept
//! for `dead_ttl` with their reason, and retried or discarded by operators.

use frontdesk_jobs::WorkspaceId;

use crate::{QueueError, RedisQueue, scripts};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadJob {
    pub job_id: String,
    pub workspace: String,
    pub reason: String,
    pub attempts: u32,
    pub died_at_ms: i64,
    pub payload: String,
}

/// Jobs per script call in bulk operations, so no call blocks Redis for long.
const DEAD_SLICE: usize = 500;

impl RedisQueue {
    /// The oldest dead jobs of a queue.
    pub async fn dead_jobs(&self, queue: &str, limit: usize) -> Result<Vec<DeadJob>, QueueError> {
        let k = self.keys(queue);
        let mut conn = self.conn();
        let members: Vec<(String, f64)> = redis::cmd("ZRANGE")
            .arg(k.dead())
            .arg(0)
            .arg(limit.max(1) as i64 - 1)
            .arg("WITHSCORES")
            .query_async(&mut conn)
            .await?;
        let mut pipe = redis::pipe();
        for (member, _) in &members {
            let id = member.split_once('|').map_or(member.as_str(), |(_, id)| id);
            pipe.cmd("HMGET").arg(k.job(id)).arg(&["reason", "att", "payload"]);
        }
        #[allow(clippy::type_complexity)]
        let fields: Vec<(Option<String>, Option<u32>, Option<String>)> = pipe.query_async(&mut conn).await?;
        Ok(members
            .into_iter()
            .zip(fields)
            .map(|((member, died_at), (reason, att, payload))| {
                let (ws, id) = member.split_once('|').unwrap_or(("", &member));
                DeadJob {
                    job_id: id.to_owned(),
                    workspace: ws.to_owned(),
                    reason: reason.unwrap_or_default(),
                    attempts: att.unwrap_or(0),
                    died_at_ms: died_at as i64,
                    payload: payload.unwrap_or_default(),
                }
            })
            .collect())
    }

    /// Puts the given dead jobs back in their queue with fresh attempts.
    pub async fn retry_dead(&self, queue: &str, job_ids: &[String]) -> Result<u64, QueueError> {
        self.dead_op(queue, "retry", job_ids).await
    }

    /// Deletes the given dead jobs.
    pub async fn discard_dead(&self, queue: &str, job_ids: &[String]) -> Result<u64, QueueError> {
        self.dead_op(queue, "discard", job_ids).await
    }

    /// Retries every dead job of the queue, in slices.
    pub async fn retry_all_dead(&self, queue: &str) -> Result<u64, QueueError> {
        self.dead_all(queue, "retry").await
    }

    /// Discards every dead job of the queue, in slices.
    pub async fn discard_all_dead(&self, queue: &str) -> Result<u64, QueueError> {
        self.dead_all(queue, "discard").await
    }

    async fn dead_op(&self, queue: &str, op: &str, ids: &[String]) -> Result<u64, QueueError> {
        let mut total = 0;
        for chunk in ids.chunks(DEAD_SLICE) {
            total += self.dead_call(queue, op, chunk).await?;
        }
        Ok(total)
    }

    async fn dead_all(&self, queue: &str, op: &str) -> Result<u64, QueueError> {
        let mut total = 0;
        loop {
            let moved = self.dead_call(queue, op, &[]).await?;
            total += moved;
            if moved < DEAD_SLICE as u64 {
                return Ok(total);
            }
        }
    }

    async fn dead_call(&self, queue: &str, op: &str, ids: &[String]) -> Result<u64, QueueError> {
        let k = self.keys(queue);
        let mut inv = scripts::DEAD.prepare_invoke();
        inv.key(k.ring()).arg(k.base()).arg(self.config().workspace_concurrency).arg(op).arg(DEAD_SLICE);
        for id in ids {
            inv.arg(id);
        }
        Ok(inv.invoke_async(&mut self.conn()).await?)
    }

    /// Stops handing out the workspace's jobs on this queue (running ones finish).
    pub async fn pause_workspace(&self, queue: &str, ws: WorkspaceId) -> Result<(), QueueError> {
        self.workspace_op(queue, "pause", ws, 0).await
    }

    pub async fn resume_workspace(&self, queue: &str, ws: WorkspaceId) -> Result<(), QueueError> {
        self.workspace_op(queue, "resume", ws, 0).await
    }

    /// Overrides the workspace's concurrency cap on this queue (`None` restores
    /// the configured default).
    pub async fn set_workspace_cap(&self, queue: &str, ws: WorkspaceId, cap: Option<u32>) -> Result<(), QueueError> {
        match cap {
            Some(cap) => self.workspace_op(queue, "cap", ws, cap.max(1)).await,
            None => self.workspace_op(queue, "uncap", ws, 0).await,
        }
    }

    async fn workspace_op(&self, queue: &str, op: &str, ws: WorkspaceId, cap: u32) -> Result<(), QueueError> {
        let k = self.keys(queue);
        let _: i64 = scripts::WORKSPACE
            .key(k.ring())
            .arg(k.base())
            .arg(self.config().workspace_concurrency)
            .arg(op)
            .arg(ws.to_string())
            .arg(cap)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(())
    }
}
