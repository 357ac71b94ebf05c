//! The producer side: idempotent, batched enqueue.

use async_trait::async_trait;
use frontdesk_jobs::{EnqueueError, Enqueued, Envelope, JobQueue};

use crate::{QueueError, RateLimit, RedisQueue, config::ms, scripts};

/// What an [`Envelope`] cannot say yet.
#[derive(Clone, Debug, Default)]
pub struct PushOptions {
    /// Enqueue is idempotent by id: a push whose id is already known (pending,
    /// or finished within `finished_ttl`) is a [`Enqueued::Duplicate`].
    /// Default: a fresh UUIDv7.
    pub job_id: Option<String>,
    /// Provider limit this job counts against, per workspace.
    pub rate_limit: Option<RateLimit>,
}

impl RedisQueue {
    /// Pushes one job with options.
    pub async fn push_with(&self, envelope: Envelope, options: PushOptions) -> Result<Enqueued, QueueError> {
        let mut out = self.push_batch(vec![(envelope, options)]).await?;
        out.pop().ok_or_else(|| QueueError::Protocol("empty enqueue reply".into()))
    }

    /// Pushes many jobs, possibly for different queues, in few round trips
    /// (one script call per queue and `enqueue_chunk` jobs). Results are in
    /// input order.
    pub async fn push_batch(&self, jobs: Vec<(Envelope, PushOptions)>) -> Result<Vec<Enqueued>, QueueError> {
        let config = self.config();
        let mut results = vec![Enqueued::Duplicate; jobs.len()];
        let mut by_queue: Vec<(&'static str, Vec<usize>)> = Vec::new();
        for (i, (envelope, _)) in jobs.iter().enumerate() {
            match by_queue.iter_mut().find(|(q, _)| *q == envelope.queue) {
                Some((_, idx)) => idx.push(i),
                None => by_queue.push((envelope.queue, vec![i])),
            }
        }
        let mut conn = self.conn();
        for (queue, indices) in by_queue {
            self.register_queue(queue).await?;
            let keys = self.keys(queue);
            for chunk in indices.chunks(config.enqueue_chunk) {
                let mut inv = scripts::ENQUEUE.prepare_invoke();
                inv.key(keys.ring())
                    .arg(keys.base())
                    .arg(config.workspace_concurrency)
                    .arg(ms(config.dedupe_ttl).max(1));
                for &i in chunk {
                    let (envelope, options) = &jobs[i];
                    let (id, check) = match &options.job_id {
                        Some(id) => (id.clone(), "1"),
                        None => (uuid::Uuid::now_v7().to_string(), ""),
                    };
                    let run_at = envelope.run_at.map(|t| t.timestamp_millis().max(0)).unwrap_or(0);
                    inv.arg(id)
                        .arg(envelope.workspace_id.to_string())
                        .arg(serde_json::to_string(&envelope.payload)?)
                        .arg(envelope.max_attempts.max(1))
                        .arg(run_at);
                    let dedupe = envelope.dedupe_key.as_deref().unwrap_or("");
                    if check.is_empty() && dedupe.is_empty() && options.rate_limit.is_none() {
                        inv.arg("");
                        continue;
                    }
                    let (rl_key, rl_max, rl_win, rl_urgent) = match &options.rate_limit {
                        Some(rl) => (rl.key.as_str(), rl.max, ms(rl.per), if rl.urgent { "1" } else { "" }),
                        None => ("", 0, 0, ""),
                    };
                    inv.arg("1").arg(check).arg(dedupe).arg(rl_key).arg(rl_max).arg(rl_win).arg(rl_urgent);
                }
                let created: Vec<i64> = inv.invoke_async(&mut conn).await?;
                if created.len() != chunk.len() {
                    return Err(QueueError::Protocol(format!(
                        "enqueue answered {} of {} jobs",
                        created.len(),
                        chunk.len()
                    )));
                }
                for (&i, c) in chunk.iter().zip(created) {
                    results[i] = if c == 1 { Enqueued::Created } else { Enqueued::Duplicate };
                }
            }
        }
        Ok(results)
    }
}

#[async_trait]
impl JobQueue for RedisQueue {
    async fn push(&self, envelope: Envelope) -> Result<Enqueued, EnqueueError> {
        let options = PushOptions { job_id: envelope.job_id.clone(), rate_limit: envelope.rate_limit.clone() };
        Ok(self.push_with(envelope, options).await?)
    }
}
