use std::time::Duration;

use crate::retry::Backoff;

/// Settings shared by producers and workers of one namespace. Every process
/// using a namespace should use the same values: caps and leases are enforced
/// in Redis with whatever the calling process passes.
#[derive(Clone, Debug)]
pub struct QueueConfig {
    /// Key prefix; tests use a random one each.
    pub namespace: String,
    /// A delivery not renewed for this long is re-delivered to another worker.
    pub lease: Duration,
    /// How often a worker renews the leases it holds. Keep well under `lease`.
    pub heartbeat: Duration,
    /// Jobs leased per fetch round trip. A worker whose slots drain its
    /// buffer faster than a round trip (fast handlers, a backlog) fetches up
    /// to four times as many, and comes back down when it stops draining.
    pub batch_size: usize,
    /// Jobs a workspace may take per turn of the ring (deficit round robin
    /// quantum). Small keeps turns fair; above 1 it saves Redis work per job.
    pub fair_quantum: u32,
    /// Jobs of one workspace that may be in flight at once (all workers together),
    /// unless overridden per workspace with [`crate::RedisQueue::set_workspace_cap`].
    pub workspace_concurrency: u32,
    /// Backoff between attempts of a failed job.
    pub backoff: Backoff,
    /// How long a finished job's hash is kept (zero deletes it at once).
    pub finished_ttl: Duration,
    /// How long a dead job is kept for inspection and retry.
    pub dead_ttl: Duration,
    /// How long a dedupe key keeps collapsing pushes.
    pub dedupe_ttl: Duration,
    /// An idle worker re-checks Redis at least this often, as a safety net for
    /// missed notifications (a pub/sub reconnect) and expired leases.
    pub idle_poll: Duration,
    /// Scheduled jobs moved to ready per fetch.
    pub promote_limit: usize,
    /// Expired leases recovered per fetch.
    pub reap_limit: usize,
    /// Jobs per enqueue script call; bigger batches are split.
    pub enqueue_chunk: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            namespace: "fd".into(),
            lease: Duration::from_secs(6),
            heartbeat: Duration::from_secs(2),
            batch_size: 32,
            fair_quantum: 4,
            workspace_concurrency: 8,
            backoff: Backoff::default(),
            finished_ttl: Duration::from_secs(3600),
            dead_ttl: Duration::from_secs(7 * 24 * 3600),
            dedupe_ttl: Duration::from_secs(24 * 3600),
            idle_poll: Duration::from_secs(1),
            promote_limit: 1000,
            reap_limit: 200,
            enqueue_chunk: 1000,
        }
    }
}

impl QueueConfig {
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    pub(crate) fn validate(&self) -> Result<(), crate::QueueError> {
        let bad = |m: &str| Err(crate::QueueError::Config(m.into()));
        if self.namespace.is_empty() || self.namespace.contains(['{', '}']) {
            return bad("namespace must be non-empty and free of braces");
        }
        if self.batch_size > 1000 || self.enqueue_chunk > 2000 {
            // Scripts unpack per-batch argument lists; Lua's stack caps them.
            return bad("batch_size must be at most 1000 and enqueue_chunk at most 2000");
        }
        if self.heartbeat >= self.lease {
            return bad("heartbeat must be shorter than the lease");
        }
        if self.batch_size == 0 || self.fair_quantum == 0 || self.workspace_concurrency == 0 || self.enqueue_chunk == 0
        {
            return bad("batch_size, fair_quantum, workspace_concurrency and enqueue_chunk must be positive");
        }
        if self.dedupe_ttl.is_zero() || self.dead_ttl.is_zero() {
            return bad("dedupe_ttl and dead_ttl must be positive");
        }
        Ok(())
    }
}

pub(crate) fn ms(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}
