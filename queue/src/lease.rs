//! Leases, heartbeats and fencing.
//!
//! Every delivery of a job takes a token from the queue's fence counter
//! (`INCR B:fence`), so tokens strictly increase per job. A worker keeps the
//! leases it holds alive from a background task; a lease that is not renewed
//! within `lease` is recovered by the next fetch of any worker and the job is
//! re-delivered with a higher token. Outcomes name the lease (`fence|id`) they
//! answer, and Redis rejects one that matches no live lease, so a
//! worker that was presumed dead can never ack, fail or retry a job that has
//! since been handed to someone else.
//!
//! Handlers read the token with the [`Lease`] extractor:
//!
//! ```ignore
//! async fn send(job: SendFollowup, lease: Lease, db: Data<Db>) -> Result<(), BoxDynError> {
//!     // UPDATE messages SET status = 'sending', fence = $1 WHERE ... AND fence < $1
//!     db.mark_sending(job.followup_id, lease.fence).await?;
//!     ...
//! }
//! ```

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use apalis_core::task::{Task, from_request::FromRequest};
use frontdesk_jobs::WorkspaceId;
use tokio::sync::{mpsc, oneshot};

use crate::{
    QueueError, RedisQueue,
    config::ms,
    keys::QueueKeys,
    notify::Signal,
    outcome::{Outcome, OutcomeKind},
    scripts,
};

/// The delivery a handler is working on. Extract it as a handler argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub queue: String,
    pub job_id: String,
    /// Fencing token: strictly greater than that of any earlier delivery of
    /// this job. Guard external effects with it.
    pub fence: u64,
    /// 1-based delivery number of this job.
    pub attempt: u32,
    pub max_attempts: u32,
    pub workspace_id: WorkspaceId,
}

/// The task was not delivered by [`crate::FairBackend`].
#[derive(Debug, thiserror::Error)]
#[error("task carries no frontdesk queue lease")]
pub struct MissingLease;

impl<Args: Sync> FromRequest<Task<Args>> for Lease {
    type Error = MissingLease;

    async fn from_request(task: &Task<Args>) -> Result<Self, Self::Error> {
        task.ctx().data().get::<Lease>().cloned().ok_or(MissingLease)
    }
}

/// Job id → fencing token of every delivery this backend holds and has not
/// settled: fetched, buffered or running.
pub(crate) type Held = Arc<Mutex<HashMap<String, u64>>>;

/// The worker's background task: renews held leases every `heartbeat` and
/// applies outcomes in batches. It retries through Redis outages, keeping
/// outcomes in memory; if the process dies, the leases expire and the jobs are
/// re-delivered (at least once).
pub(crate) struct Keeper {
    pub(crate) queue: RedisQueue,
    pub(crate) keys: QueueKeys,
    /// The queue's wake-up signal in this process, bumped after postponing.
    pub(crate) signal: Arc<Signal>,
    pub(crate) held: Held,
    pub(crate) outcomes: mpsc::UnboundedReceiver<Outcome>,
    pub(crate) stop: oneshot::Receiver<()>,
    /// This worker's member of `B:workers` (see [`crate::board`]).
    pub(crate) worker: String,
}

const SETTLE_BATCH: usize = 512;
const SETTLE_LINGER: Duration = Duration::from_millis(2);

impl Keeper {
    pub(crate) async fn run(mut self) {
        if let Err(e) = self.queue.register_queue(self.keys.name()).await {
            tracing::warn!(error = %frontdesk_jobs::Report(&e), "adding the queue to the namespace's registry failed");
        }
        self.work().await;
        // Leave the worker set at once rather than after 3 leases.
        let gone: Result<i64, _> =
            redis::cmd("ZREM").arg(self.keys.workers()).arg(&self.worker).query_async(&mut self.queue.conn()).await;
        if let Err(e) = gone {
            tracing::debug!(error = %frontdesk_jobs::Report(&e), "removing the worker from the worker set failed");
        }
    }

    async fn work(&mut self) {
        let config = self.queue.config().clone();
        let mut heartbeat = tokio::time::interval(config.heartbeat);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pending: Vec<Outcome> = Vec::new();
        let mut stopping = false;
        loop {
            if pending.is_empty() && !stopping {
                tokio::select! {
                    biased;
                    _ = &mut self.stop => stopping = true,
                    o = self.outcomes.recv() => match o {
                        Some(o) => pending.push(o),
                        None => stopping = true,
                    },
                    _ = heartbeat.tick() => self.renew().await,
                }
            }
            while pending.len() < SETTLE_BATCH {
                match self.outcomes.try_recv() {
                    Ok(o) => pending.push(o),
                    Err(_) => break,
                }
            }
            // Linger briefly for more: one settle call for several handler
            // completions costs Redis far less than one each, and the slot
            // under the workspace's cap is only held a moment longer.
            if !pending.is_empty() && !stopping {
                let linger = tokio::time::sleep(SETTLE_LINGER);
                tokio::pin!(linger);
                while pending.len() < SETTLE_BATCH {
                    tokio::select! {
                        _ = &mut linger => break,
                        o = self.outcomes.recv() => match o {
                            Some(o) => pending.push(o),
                            None => break,
                        },
                    }
                }
            }
            if pending.is_empty() {
                if stopping {
                    return;
                }
                continue;
            }
            match self.settle(&pending).await {
                Ok(()) => pending.clear(),
                Err(e) => {
                    tracing::warn!(error = %frontdesk_jobs::Report(&e), count = pending.len(), "settling job outcomes failed; retrying");
                    if stopping {
                        // Shutting down against an unreachable Redis: give up,
                        // the leases will expire and the jobs run again.
                        return;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                        _ = heartbeat.tick() => self.renew().await,
                    }
                }
            }
        }
    }

    async fn renew(&self) {
        let held: Vec<(String, u64)> = {
            let held = self.held.lock().expect("held leases poisoned");
            held.iter().map(|(k, v)| (k.clone(), *v)).collect()
        };
        let lease = self.queue.config().lease;
        // The first call also records the worker's heartbeat, so an idle
        // worker (no leases) makes one call per heartbeat.
        let chunks = held.chunks(SETTLE_BATCH);
        let first = std::iter::once(&[][..]).take(usize::from(held.is_empty()));
        for (i, chunk) in first.chain(chunks).enumerate() {
            let mut inv = scripts::HEARTBEAT.prepare_invoke();
            let worker = if i == 0 { self.worker.as_str() } else { "" };
            inv.key(self.keys.ring())
                .arg(self.keys.base())
                .arg(ms(lease))
                .arg(worker)
                .arg(ms(lease * crate::board::WORKER_TTL_LEASES));
            for (id, fence) in chunk {
                inv.arg(id).arg(fence);
            }
            match inv.invoke_async::<Vec<String>>(&mut self.queue.conn()).await {
                Ok(lost) if !lost.is_empty() => {
                    tracing::warn!(count = lost.len(), "leases lost; their outcomes will be rejected");
                    let mut held = self.held.lock().expect("held leases poisoned");
                    for id in lost {
                        held.remove(&id);
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %frontdesk_jobs::Report(&e), "lease heartbeat failed"),
            }
        }
    }

    async fn settle(&self, outcomes: &[Outcome]) -> Result<(), QueueError> {
        let accepted = settle(&self.queue, &self.keys, outcomes).await?;
        // A postponed job falls due with nothing published: wake this
        // process's idle backends, whose next fetch then sleeps until the
        // earliest scheduled job, this one included.
        if outcomes.iter().any(|o| matches!(o.kind, OutcomeKind::Postpone { .. })) {
            self.signal.bump();
        }
        let mut held = self.held.lock().expect("held leases poisoned");
        for (o, ok) in outcomes.iter().zip(accepted) {
            if !ok {
                tracing::warn!(job_id = %o.job_id, fence = o.fence, "stale outcome rejected by fencing token");
            }
            if held.get(&o.job_id) == Some(&o.fence) {
                held.remove(&o.job_id);
            }
        }
        Ok(())
    }
}

/// Applies outcomes; returns for each whether its fencing token was current.
pub(crate) async fn settle(
    queue: &RedisQueue,
    keys: &QueueKeys,
    outcomes: &[Outcome],
) -> Result<Vec<bool>, QueueError> {
    let config = queue.config();
    let mut inv = scripts::SETTLE.prepare_invoke();
    inv.key(keys.ring())
        .arg(keys.base())
        .arg(config.workspace_concurrency)
        .arg(ms(config.finished_ttl))
        .arg(ms(config.dead_ttl).max(1));
    for o in outcomes {
        let (kind, number, text) = match &o.kind {
            OutcomeKind::Done => ("d", 0, ""),
            OutcomeKind::Retry { delay, error } => ("r", ms(*delay), error.as_str()),
            OutcomeKind::Dead { reason } => ("x", 0, reason.as_str()),
            OutcomeKind::Release => ("l", 0, ""),
            OutcomeKind::Postpone { until_ms } => ("p", *until_ms, ""),
        };
        inv.arg(kind).arg(&o.job_id).arg(o.fence).arg(&o.workspace).arg(number).arg(text);
    }
    let accepted: Vec<i64> = inv.invoke_async(&mut queue.conn()).await?;
    if accepted.len() != outcomes.len() {
        return Err(QueueError::Protocol("settle answered a different count".into()));
    }
    Ok(accepted.into_iter().map(|a| a == 1).collect())
}

impl RedisQueue {
    /// Acknowledges a delivery as completed. Workers do this for you; it is
    /// public so a process can settle a lease it recorded elsewhere. Returns
    /// `false` if the lease is stale (its fencing token is no longer current).
    pub async fn complete(&self, lease: &Lease) -> Result<bool, QueueError> {
        let keys = self.keys(&lease.queue);
        let outcome = Outcome {
            job_id: lease.job_id.clone(),
            fence: lease.fence,
            workspace: lease.workspace_id.to_string(),
            kind: OutcomeKind::Done,
        };
        Ok(settle(self, &keys, &[outcome]).await?[0])
    }
}
