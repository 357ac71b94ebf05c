//! What a handler receives from the guard: the checked workspace, the
//! queue's lease on this delivery, and the tenant transaction the guard
//! opened (so the check and the handler's effects commit or roll back
//! together).

use std::sync::Arc;

use apalis_core::task::{Task, from_request::FromRequest};
use frontdesk_jobs::{Envelope, Jobs, OutboxId};
use frontdesk_queue::Lease;
use frontdesk_store::{Db, StoreError, TenantTx, outbox, workspaces::WorkspaceState};
use tokio::sync::Mutex;

#[derive(Clone)]
pub struct JobContext {
    pub workspace: Arc<WorkspaceState>,
    pub db: Db,
    pub jobs: Jobs,
    pub metrics: Arc<crate::WorkerMetrics>,
    /// The delivery's lease (fencing token, attempt); absent only when a
    /// test calls a handler outside a queue backend.
    pub lease: Option<Lease>,
    tx: Arc<Mutex<Option<TenantTx>>>,
}

impl JobContext {
    pub(crate) fn new(
        workspace: WorkspaceState,
        db: Db,
        jobs: Jobs,
        metrics: Arc<crate::WorkerMetrics>,
        lease: Option<Lease>,
        tx: TenantTx,
    ) -> Self {
        Self { workspace: Arc::new(workspace), db, jobs, metrics, lease, tx: Arc::new(Mutex::new(Some(tx))) }
    }

    /// Pushes jobs whose outbox entries the handler just committed.
    pub async fn push_committed(&self, triggered: Vec<(OutboxId, Envelope)>) {
        outbox::push_committed(&self.db, &self.jobs, self.workspace.id, triggered).await;
    }

    /// The guard's tenant transaction; the handler commits it. Later calls
    /// (or a handler that must not hold a transaction across a provider
    /// call) get a fresh tenant transaction for the same workspace.
    pub async fn tenant(&self) -> Result<TenantTx, StoreError> {
        if let Some(tx) = self.tx.lock().await.take() {
            return Ok(tx);
        }
        self.db.tenant(self.workspace.id).await
    }

    /// Whatever the handler did not take; the guard rolls it back.
    pub(crate) async fn leftover(&self) -> Option<TenantTx> {
        self.tx.lock().await.take()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("JobContext missing: the worker was built without WorkspaceGuardLayer")]
pub struct MissingGuard;

impl<Args: Sync> FromRequest<Task<Args>> for JobContext {
    type Error = MissingGuard;
    async fn from_request(task: &Task<Args>) -> Result<Self, Self::Error> {
        task.ctx().data().get::<JobContext>().cloned().ok_or(MissingGuard)
    }
}
