//! The common tail of every webhook: run the domain write in the
//! workspace's tenant transaction, commit, and only then push the triggered
//! jobs. A push that fails (Redis down) hands the entry back to the outbox
//! relay; the provider still gets its 2xx because the data is durable.

use frontdesk_jobs::WorkspaceId;
use frontdesk_store::{TenantTx, inbound::Outcome, outbox, routes};
use tracing::Span;

use crate::{ApiError, AppState};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    Accepted,
    Duplicate,
}

/// Opens the workspace's tenant transaction for a delivery's writes.
pub async fn begin(state: &AppState, workspace_id: WorkspaceId) -> Result<TenantTx, ApiError> {
    Span::current().record("workspace_id", tracing::field::display(workspace_id));
    Ok(state.db.tenant(workspace_id).await?)
}

/// Commits the delivery's transaction, then pushes the jobs it triggered.
pub async fn commit(state: &AppState, tx: TenantTx, outcome: Outcome) -> Result<Delivered, ApiError> {
    let workspace_id = tx.workspace_id();
    tx.commit().await?;
    match outcome {
        Outcome::Duplicate => {
            state.metrics.duplicate();
            Ok(Delivered::Duplicate)
        }
        Outcome::Accepted(jobs) => {
            state.metrics.accepted();
            outbox::push_committed(&state.db, &state.jobs, workspace_id, jobs).await;
            Ok(Delivered::Accepted)
        }
    }
}

/// A request no workspace claims: counted, and kept for ops as a row (no
/// body) unless this process already kept its per-minute share; the
/// request is unauthenticated, so it must not buy unbounded writes.
pub async fn unroutable(state: &AppState, provider: &str, reason: &str, key: Option<&str>) -> Result<(), ApiError> {
    if state.metrics.unroutable() {
        routes::record_unroutable(&state.db, provider, reason, key).await?;
    }
    Ok(())
}
