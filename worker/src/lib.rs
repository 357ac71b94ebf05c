//! The worker side: every job runs behind the workspace guard, then in a
//! handler that continues inside the tenant transaction the guard opened.
//! The follow-up scheduler lives here too; it only enqueues.

pub mod compliance;
mod context;
mod error;
pub mod guard;
pub mod handlers;
pub mod outbox_relay;
pub mod providers;
mod runtime;
pub mod scheduler;

pub use context::JobContext;
pub use error::JobError;
pub use guard::{WorkerMetrics, WorkspaceGuardLayer};
pub use runtime::{WorkerConfig, WorkerDeps, WorkerRunError, registered_queues, run_workers};
