//! The common tail of every webhook: run the domain write in the
//! workspace's tenant transaction, commit, and only then push the triggered
//! jobs. A push that fails (Redis down) hands the entry back to the outbox
//! relay; the provider still gets its 2xx because the data is durable.

use frontdesk_jobs::WorkspaceId;
use frontdesk_store::{
    TenantTx,
    inbound::{Outcome, Unrecognised},
    outbox, routes,
};
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
    crash_after_commit_if_asked();
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

/// A committed delivery held something we do not recognise: one WARN with
/// the workspace and event id, and a count (the activity log already shows
/// it to the studio).
pub fn report_unrecognised(
    state: &AppState,
    provider: &str,
    workspace_id: WorkspaceId,
    event_id: &str,
    u: &Unrecognised,
) {
    state.metrics.not_applied();
    tracing::warn!(
        %workspace_id, provider, event_id, field = u.field, value = u.value, action = u.action,
        "accepted a delivery we could not fully apply"
    );
}

/// A failpoint for the crash tests, compiled into debug builds only: with
/// `FRONTDESK_FAILPOINT_CRASH_AFTER_COMMIT` set, the process dies right
/// after a webhook's transaction commits and before its jobs are pushed,
/// the window the outbox relay must close.
fn crash_after_commit_if_asked() {
    #[cfg(debug_assertions)]
    if std::env::var_os("FRONTDESK_FAILPOINT_CRASH_AFTER_COMMIT").is_some() {
        std::process::abort();
    }
}
