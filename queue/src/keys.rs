//! Redis key layout. Every key of one queue starts with the base
//! `{<namespace>:<queue>}`; the braces are a Redis Cluster hash tag, so each
//! queue lives in one slot and every script touches exactly one slot.
//!
//! | key | type | holds |
//! |-----|------|-------|
//! | `B:job:<id>` | HASH | `ws`, `payload`, `max`, `att` (attempts used), `state` (absent until something moves the job: promotion, release, lease expiry, settle), `ready_at`, `finished_at`, `last_error`, `reason`, `rl_key`/`rl_max`/`rl_win`/`rl_urgent` (only when urgent) |
//! | `B:w:<ws>:ready` | LIST | the workspace's waiting job ids, FIFO |
//! | `B:w:<ws>` | HASH | per-workspace `inflight`, `cap` (override), and counters `scheduled`, `retrying`, `dead`, `completed`, `failed` |
//! | `B:ring` | LIST | workspaces with ready work and room under their cap, round robin |
//! | `B:inring` | SET | membership of `B:ring`, so a workspace is on it at most once |
//! | `B:sched` | ZSET | id → run_at ms: delayed jobs, retries in backoff, rate-limited jobs |
//! | `B:leases` | ZSET | `fence\|id` → lease expiry ms of every delivered, unfinished job |
//! | `B:dead` | ZSET | `ws\|id` → died_at ms |
//! | `B:heads` | ZSET | ws → ready_at of the workspace's oldest waiting job; lazily maintained, repaired by `stats.lua` |
//! | `B:workers` | ZSET | worker (JSON: id, started_at, service) → last heartbeat ms; entries older than 3 leases are gone (trimmed by the heartbeat) |
//! | `B:stats` | HASH | queue counters: `waiting`, `retrying`, `enqueued`, `completed`, `failed`, `dead_total`, `redelivered`, `rejected_acks`, `duplicates`, `rate_deferred` |
//! | `B:paused` | SET | paused workspaces |
//! | `B:dedupe:<key>` | STRING | job id, with the dedupe TTL |
//! | `B:fence` | STRING | counter issuing fencing tokens (monotonic, so per job too) |
//! | `B:notify` | channel | published when work becomes ready |
//!
//! Rate limits are shared by every queue, so they live in their own slot per
//! (workspace, provider key): `{<namespace>:rl:<ws>:<key>}:log` (ZSET of
//! start times), `…:cursor` and `…:urgent` (STRINGs, the next deferral slot of
//! ordinary and of urgent jobs), and `…:waiting` and `…:promised` (ZSETs:
//! deferred urgent and ordinary job id -> the start it was promised).
//!
//! The namespace's queue names (for apalis-board's `ListQueues` and the
//! all-queue listings) live in `{<namespace>}:queues` (SET), its own slot;
//! producers add a queue on their first push, workers when they start.

/// The keys of one queue in one namespace.
#[derive(Clone, Debug)]
pub(crate) struct QueueKeys {
    base: String,
    name: String,
}

impl QueueKeys {
    pub(crate) fn new(namespace: &str, queue: &str) -> Self {
        Self { base: format!("{{{namespace}:{queue}}}"), name: queue.to_owned() }
    }

    /// The queue's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Passed as `ARGV[1]` to every script; the scripts derive the rest.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// Declared as `KEYS[1]` so cluster clients route the script to the slot.
    pub(crate) fn ring(&self) -> String {
        format!("{}:ring", self.base)
    }

    pub(crate) fn notify_channel(&self) -> String {
        format!("{}:notify", self.base)
    }

    pub(crate) fn job(&self, id: &str) -> String {
        format!("{}:job:{id}", self.base)
    }

    pub(crate) fn ready(&self, ws: &str) -> String {
        format!("{}:w:{ws}:ready", self.base)
    }

    pub(crate) fn workspace(&self, ws: &str) -> String {
        format!("{}:w:{ws}", self.base)
    }

    pub(crate) fn dead(&self) -> String {
        format!("{}:dead", self.base)
    }

    pub(crate) fn heads(&self) -> String {
        format!("{}:heads", self.base)
    }

    pub(crate) fn workers(&self) -> String {
        format!("{}:workers", self.base)
    }

    pub(crate) fn sched(&self) -> String {
        format!("{}:sched", self.base)
    }

    pub(crate) fn leases(&self) -> String {
        format!("{}:leases", self.base)
    }

    pub(crate) fn stats(&self) -> String {
        format!("{}:stats", self.base)
    }
}

/// The SET of a namespace's queue names; its own slot, never touched by a
/// queue script.
pub(crate) fn queue_registry(namespace: &str) -> String {
    format!("{{{namespace}}}:queues")
}

/// The start log, the deferral cursors of ordinary and of urgent jobs, and
/// the starts promised to deferred urgent and ordinary jobs, for one
/// (workspace, provider key); one hash tag.
pub(crate) fn rate_limit_keys(namespace: &str, ws: &str, key: &str) -> [String; 5] {
    let tag = format!("{{{namespace}:rl:{ws}:{key}}}");
    ["log", "cursor", "urgent", "waiting", "promised"].map(|k| format!("{tag}:{k}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_of_a_queue_carries_the_same_hash_tag() {
        let k = QueueKeys::new("fd", "send-followup");
        for key in [
            k.ring(),
            k.job("x"),
            k.ready("w"),
            k.workspace("w"),
            k.dead(),
            k.heads(),
            k.workers(),
            k.sched(),
            k.leases(),
            k.stats(),
        ] {
            assert!(key.starts_with("{fd:send-followup}:"), "{key}");
        }
    }
}
