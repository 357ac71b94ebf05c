//! The contract between `api` and `worker`.
//!
//! Everything that crosses the queue is defined here: typed ids, one struct per
//! job kind (ids only, never payload copies), explicit queue names and the
//! enqueue handle. Every job carries a [`WorkspaceId`]; a job without one can
//! neither be constructed nor deserialized.

mod enqueue;
mod ids;
mod kinds;
mod report;

pub use enqueue::{EnqueueError, Enqueued, Envelope, JobQueue, Jobs, RateLimit};
pub use ids::*;
pub use kinds::*;
pub use report::{BoxError, Report};
