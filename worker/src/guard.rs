//! The workspace-assertion layer, wrapped around every apalis worker.
//!
//! Before a handler runs, the guard opens the job's tenant transaction,
//! loads the workspace (briefly cached), checks it exists, is active and is
//! allowed this kind of job, and proves every entity the job names lives in
//! that workspace. Any failure is permanent (an `AbortError`: never
//! retried), counted, and written to the workspace's activity log as a
//! security event.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use apalis_core::{
    error::{AbortError, BoxDynError, RetryAfterError},
    task::{Task, status::Status},
};
use frontdesk_jobs::{EntityRef, Job, Jobs, OutboxId, Report, WorkspaceId};
use frontdesk_queue::Lease;
use frontdesk_store::{
    Db, TenantTx, activity,
    activity::Activity,
    outbox, references,
    workspaces::{self, WorkspaceState},
};
use futures::{FutureExt, future::BoxFuture};
use tower::{Layer, Service};
use tracing::{Instrument, info_span, warn};

use crate::{JobContext, JobError};

/// Why the guard refused a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    WorkspaceMissing,
    WorkspaceNotAllowed(&'static str),
    ForeignEntity(EntityRef),
}

impl Denial {
    fn label(&self) -> &'static str {
        match self {
            Denial::WorkspaceMissing => "workspace_missing",
            Denial::WorkspaceNotAllowed(_) => "workspace_not_allowed",
            Denial::ForeignEntity(_) => "foreign_entity",
        }
    }
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Denial::WorkspaceMissing => f.write_str("workspace does not exist"),
            Denial::WorkspaceNotAllowed(why) => f.write_str(why),
            Denial::ForeignEntity(e) => write!(f, "{e:?} is not in this workspace"),
        }
    }
}

/// This process's worker counters (read by tests; not exported yet): jobs
/// the guard refused, by reason, and events a handler could apply only in
/// part; and a signal that moves each time a job finishes, so a caller
/// waiting for the queues to empty wakes when something changed.
#[derive(Debug, Default)]
pub struct WorkerMetrics {
    pub workspace_missing: AtomicU64,
    pub workspace_not_allowed: AtomicU64,
    pub foreign_entity: AtomicU64,
    /// Provider events applied only in part (an unknown status, mapped to
    /// the safest state).
    pub not_applied: AtomicU64,
    finished: tokio::sync::Notify,
}

impl WorkerMetrics {
    fn count(&self, denial: &Denial) {
        let counter = match denial {
            Denial::WorkspaceMissing => &self.workspace_missing,
            Denial::WorkspaceNotAllowed(_) => &self.workspace_not_allowed,
            Denial::ForeignEntity(_) => &self.foreign_entity,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Resolves after the next job this process runs finishes (or is
    /// refused). `enable` it before checking state, so a finish in between
    /// is not missed.
    pub fn job_finished(&self) -> tokio::sync::futures::Notified<'_> {
        self.finished.notified()
    }

    fn finish(&self) {
        self.finished.notify_waiters();
    }

    pub fn not_applied(&self) {
        self.not_applied.fetch_add(1, Ordering::Relaxed);
    }

    pub fn total(&self) -> u64 {
        self.workspace_missing.load(Ordering::Relaxed)
            + self.workspace_not_allowed.load(Ordering::Relaxed)
            + self.foreign_entity.load(Ordering::Relaxed)
    }
}

struct Shared {
    db: Db,
    jobs: Jobs,
    cache_ttl: Duration,
    cache: Mutex<HashMap<WorkspaceId, (Instant, WorkspaceState)>>,
    metrics: Arc<WorkerMetrics>,
}

#[derive(Clone)]
pub struct WorkspaceGuardLayer {
    shared: Arc<Shared>,
}

impl WorkspaceGuardLayer {
    /// `cache_ttl` bounds how long a paused or suspended workspace can keep
    /// running jobs after the change.
    pub fn new(db: Db, jobs: Jobs, cache_ttl: Duration, metrics: Arc<WorkerMetrics>) -> Self {
        Self { shared: Arc::new(Shared { db, jobs, cache_ttl, cache: Mutex::new(HashMap::new()), metrics }) }
    }
}

impl<S> Layer<S> for WorkspaceGuardLayer {
    type Service = WorkspaceGuard<S>;
    fn layer(&self, inner: S) -> Self::Service {
        WorkspaceGuard { inner, shared: self.shared.clone() }
    }
}

#[derive(Clone)]
pub struct WorkspaceGuard<S> {
    inner: S,
    shared: Arc<Shared>,
}

enum Refusal {
    Deny(Denial),
    /// The check itself could not run (database down): retry later.
    Unavailable(JobError),
}

impl<S, J> Service<Task<J>> for WorkspaceGuard<S>
where
    J: Job,
    S: Service<Task<J>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxDynError>,
    S::Response: Send,
{
    type Response = S::Response;
    type Error = BoxDynError;
    type Future = BoxFuture<'static, Result<S::Response, BoxDynError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut task: Task<J>) -> Self::Future {
        // The clone took poll_ready's readiness with it; keep the ready one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        let workspace_id = task.args.workspace_id();
        let job_id = task.ctx().task_id().map(ToString::to_string).unwrap_or_default();
        // Jobs pushed from the outbox carry its entry id as their job id.
        let lease = task.ctx().data().get::<Lease>().cloned();
        let outbox_id = lease.as_ref().and_then(|lease| outbox::parse_job_key(&lease.job_id));
        let last_attempt = lease.as_ref().is_some_and(|l| l.attempt >= l.max_attempts);
        let span = info_span!("job", queue = J::QUEUE, workspace_id = %workspace_id, job_id = %job_id, attempt = task.ctx().attempt());
        async move {
            let context = match shared.admit(&task.args, outbox_id, lease.clone()).await {
                Ok(context) => context,
                // The guard sits outside apalis's lifecycle layer, so a job it
                // stops never reaches the code that records the status the backend
                // acks with: record it here.
                Err(Refusal::Unavailable(e)) => {
                    task.ctx().raw_status().store(Status::Failed);
                    report_failure(&e, last_attempt);
                    shared.metrics.finish();
                    return Err(e.into());
                }
                Err(Refusal::Deny(denial)) => {
                    shared.report(workspace_id, J::QUEUE, &job_id, &denial).await;
                    if let (false, Some(id)) = (denial == Denial::WorkspaceMissing, outbox_id) {
                        shared.settle_outbox(workspace_id, id).await;
                    }
                    task.ctx().raw_status().store(Status::Killed);
                    shared.metrics.finish();
                    return Err(Box::new(AbortError::new(JobError::permanent(denial.to_string()))) as BoxDynError);
                }
            };
            task.inject_data(context.clone());
            let result = inner.call(task).await.map_err(Into::into);
            if let Some(tx) = context.leftover().await {
                // The handler did not take the transaction: nothing to keep.
                let _ = tx.rollback().await;
            }
            let result = result.map_err(|e: BoxDynError| {
                report_failure(e.as_ref(), last_attempt);
                match e.downcast::<JobError>() {
                    Ok(job_error) => match *job_error {
                        JobError::Permanent { .. } => Box::new(AbortError::new(*job_error)) as BoxDynError,
                        JobError::RetryAfter { after, .. } => Box::new(RetryAfterError::new(*job_error, after)),
                        JobError::Retryable { .. } => job_error as BoxDynError,
                    },
                    Err(e) => e,
                }
            });
            // Done or dead: either way the relay must not push it again.
            // A retryable failure stays pending, so a job Redis loses is re-pushed.
            let settled = match &result {
                Ok(_) => true,
                // Aborted, or the queue's last attempt: the job is dead either way.
                Err(e) => e.downcast_ref::<AbortError>().is_some() || last_attempt,
            };
            if let (true, Some(id)) = (settled, outbox_id) {
                shared.settle_outbox(workspace_id, id).await;
            }
            shared.metrics.finish();
            result
        }
        .instrument(span)
        .boxed()
    }
}

/// One line per failed job, with the whole cause chain: WARN when the job
/// is dead (permanent, or its last attempt), INFO when it will be retried.
fn report_failure(error: &(dyn std::error::Error + 'static), last_attempt: bool) {
    let permanent = error.downcast_ref::<JobError>().is_some_and(JobError::is_permanent);
    if permanent || last_attempt {
        warn!(error = %Report(error), permanent, "job failed and will not be retried");
    } else {
        tracing::info!(error = %Report(error), "job failed; it will be retried");
    }
}

impl Shared {
    async fn admit<J: Job>(
        &self,
        job: &J,
        outbox_id: Option<OutboxId>,
        lease: Option<Lease>,
    ) -> Result<JobContext, Refusal> {
        // Whatever the store says, a check that could not run is worth retrying.
        let unavailable = |e: frontdesk_store::StoreError| {
            Refusal::Unavailable(JobError::Retryable {
                reason: "could not check the workspace".into(),
                cause: Some(Box::new(e)),
            })
        };
        let workspace_id = job.workspace_id();
        let mut tx = self.db.tenant(workspace_id).await.map_err(unavailable)?;
        let state = self.workspace_state(&mut tx).await.map_err(unavailable)?;
        let state = state.ok_or(Refusal::Deny(Denial::WorkspaceMissing))?;
        state.permits(J::CAPABILITY).map_err(|why| Refusal::Deny(Denial::WorkspaceNotAllowed(why)))?;
        for entity in job.references() {
            if !references::belongs(&mut tx, entity).await.map_err(unavailable)? {
                return Err(Refusal::Deny(Denial::ForeignEntity(entity)));
            }
        }
        if let Some(id) = outbox_id {
            // From here on the job reads current data, so anything that
            // arrives later must get a job of its own rather than coalesce
            // into this one (committed with the handler's transaction).
            outbox::release_coalescing(&mut tx, id).await.map_err(unavailable)?;
        }
        Ok(JobContext::new(state, self.db.clone(), self.jobs.clone(), self.metrics.clone(), lease, tx))
    }

    async fn workspace_state(&self, tx: &mut TenantTx) -> Result<Option<WorkspaceState>, frontdesk_store::StoreError> {
        let id = tx.workspace_id();
        if let Some((at, state)) = self.cache.lock().expect("guard cache poisoned").get(&id)
            && at.elapsed() < self.cache_ttl
        {
            return Ok(Some(state.clone()));
        }
        let state = workspaces::load_state(tx).await?;
        let mut cache = self.cache.lock().expect("guard cache poisoned");
        match &state {
            Some(s) => {
                cache.insert(id, (Instant::now(), s.clone()));
            }
            None => {
                cache.remove(&id);
            }
        }
        Ok(state)
    }

    async fn settle_outbox(&self, workspace_id: WorkspaceId, id: OutboxId) {
        let settled = async {
            let mut tx = self.db.tenant(workspace_id).await?;
            outbox::mark_done(&mut tx, id).await?;
            tx.commit().await
        }
        .await;
        if let Err(e) = settled {
            // Harmless: the relay re-pushes it after its timeout and handlers are idempotent.
            warn!(error = %Report(&e), outbox_id = %id, "could not mark outbox entry done");
        }
    }

    async fn report(&self, workspace_id: WorkspaceId, queue: &str, job_id: &str, denial: &Denial) {
        self.metrics.count(denial);
        warn!(security = true, reason = denial.label(), %denial, "job refused by workspace guard");
        if *denial == Denial::WorkspaceMissing {
            // No workspace to attach a log row to; the metric and the log line stand.
            return;
        }
        let activity = Activity {
            kind: "job_refused",
            lead_id: None,
            is_security: true,
            detail: serde_json::json!({
                "queue": queue,
                "job_id": job_id,
                "reason": denial.label(),
                "detail": denial.to_string(),
            }),
        };
        let written = async {
            let mut tx = self.db.tenant(workspace_id).await?;
            activity::record(&mut tx, &activity).await?;
            tx.commit().await
        }
        .await;
        if let Err(e) = written {
            warn!(error = %Report(&e), "could not write security event to the activity log");
        }
    }
}
