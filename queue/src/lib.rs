//! A tenant-fair, crash-safe Redis backend for apalis 1.0.
//!
//! - **Fair:** every queue has one ready list per workspace and a ring of the
//!   workspaces with ready work; fetch takes a quantum of jobs per workspace
//!   per turn (deficit round robin), skipping workspaces that are paused or
//!   at their concurrency cap.
//! - **Crash-safe:** deliveries are leases renewed by heartbeat and carry a
//!   fencing token; expired leases are re-delivered, stale outcomes rejected.
//! - **Retries** with exponential backoff and jitter happen in Redis, so a job
//!   waiting to retry (or over a provider rate limit) holds no worker slot.
//!
//! Workers stay ordinary apalis; see [`FairBackend`]. The producer is
//! [`RedisQueue`], which implements [`frontdesk_jobs::JobQueue`]. The Redis
//! key layout is documented in `keys.rs` and `README.md`.

mod board;
mod client;
mod config;
mod dead;
mod enqueue;
mod error;
mod fetch;
mod keys;
mod lease;
mod notify;
mod outcome;
mod rate_limit;
mod recovery;
mod retry;
mod scripts;
mod stats;

pub use board::{JsonCodec, MAX_PAGE_SIZE, statistics};
pub use client::RedisQueue;
pub use config::QueueConfig;
pub use dead::DeadJob;
pub use enqueue::PushOptions;
pub use error::QueueError;
pub use fetch::FairBackend;
pub use lease::{Lease, MissingLease};
pub use outcome::{OutcomeLayer, OutcomeService};
pub use rate_limit::RateLimit;
pub use recovery::Epoch;
pub use retry::Backoff;
pub use stats::{QueueStats, WorkspaceStats};
