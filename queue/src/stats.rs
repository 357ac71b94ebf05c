//! Queue and workspace statistics. Every figure is one O(1) or O(log n) Redis
//! read (counters kept by the scripts, set cardinalities, the head of a
//! sorted set); nothing scans jobs.

use std::{collections::HashMap, time::Duration};

use frontdesk_jobs::WorkspaceId;

use crate::{QueueError, RedisQueue, scripts};

/// Bound on lazy-index repairs per stats call (see `scripts/stats.lua`).
const MAX_HEAD_REPAIRS: u32 = 64;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Ready to run now.
    pub waiting: u64,
    /// Delayed or rate-limited, not yet due (retries excluded).
    pub scheduled: u64,
    /// Delivered and not settled.
    pub in_flight: u64,
    /// Failed, waiting out their backoff.
    pub retrying: u64,
    /// In the dead set now.
    pub dead: u64,
    /// Counters since the queue's keys were created.
    pub enqueued: u64,
    pub completed: u64,
    /// Failed attempts (each retry counts).
    pub failed: u64,
    pub dead_total: u64,
    /// Deliveries recovered from expired leases.
    pub redelivered: u64,
    /// Outcomes rejected because their fencing token was stale.
    pub rejected_acks: u64,
    pub duplicates: u64,
    pub rate_deferred: u64,
    /// Age of the oldest job that is ready and waiting.
    pub oldest_waiting_age: Option<Duration>,
}

/// Sums queues into a namespace-wide figure: counters add up, the oldest
/// waiting age is the oldest of any queue.
impl std::ops::AddAssign<&QueueStats> for QueueStats {
    fn add_assign(&mut self, s: &QueueStats) {
        self.waiting += s.waiting;
        self.scheduled += s.scheduled;
        self.in_flight += s.in_flight;
        self.retrying += s.retrying;
        self.dead += s.dead;
        self.enqueued += s.enqueued;
        self.completed += s.completed;
        self.failed += s.failed;
        self.dead_total += s.dead_total;
        self.redelivered += s.redelivered;
        self.rejected_acks += s.rejected_acks;
        self.duplicates += s.duplicates;
        self.rate_deferred += s.rate_deferred;
        self.oldest_waiting_age = self.oldest_waiting_age.max(s.oldest_waiting_age);
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkspaceStats {
    pub waiting: u64,
    pub scheduled: u64,
    pub in_flight: u64,
    pub retrying: u64,
    pub dead: u64,
    pub completed: u64,
    pub failed: u64,
    pub oldest_waiting_age: Option<Duration>,
    pub paused: bool,
    /// Per-workspace cap override, if any.
    pub cap: Option<u32>,
}

fn counter(map: &HashMap<String, i64>, name: &str) -> u64 {
    map.get(name).copied().unwrap_or(0).max(0) as u64
}

fn age(now_ms: i64, ready_at: Option<f64>) -> Option<Duration> {
    ready_at.map(|t| Duration::from_millis((now_ms - t as i64).max(0) as u64))
}

fn redis_now_ms(time: (i64, i64)) -> i64 {
    time.0 * 1000 + time.1 / 1000
}

impl RedisQueue {
    pub async fn stats(&self, queue: &str) -> Result<QueueStats, QueueError> {
        let k = self.keys(queue);
        #[allow(clippy::type_complexity)]
        let (map, sched, leases, dead, oldest, _exact, now): (
            HashMap<String, i64>,
            u64,
            u64,
            u64,
            i64,
            i64,
            i64,
        ) = scripts::STATS.key(k.ring()).arg(k.base()).arg(MAX_HEAD_REPAIRS).invoke_async(&mut self.conn()).await?;
        let retrying = counter(&map, "retrying");
        Ok(QueueStats {
            waiting: counter(&map, "waiting"),
            scheduled: sched.saturating_sub(retrying),
            in_flight: leases,
            retrying,
            dead,
            enqueued: counter(&map, "enqueued"),
            completed: counter(&map, "completed"),
            failed: counter(&map, "failed"),
            dead_total: counter(&map, "dead_total"),
            redelivered: counter(&map, "redelivered"),
            rejected_acks: counter(&map, "rejected_acks"),
            duplicates: counter(&map, "duplicates"),
            rate_deferred: counter(&map, "rate_deferred"),
            oldest_waiting_age: age(now, (oldest >= 0).then_some(oldest as f64)),
        })
    }

    pub async fn workspace_stats(&self, queue: &str, workspace: WorkspaceId) -> Result<WorkspaceStats, QueueError> {
        let k = self.keys(queue);
        let ws = workspace.to_string();
        #[allow(clippy::type_complexity)]
        let (map, waiting, head, paused, time): (HashMap<String, i64>, u64, Option<String>, bool, (i64, i64)) =
            redis::pipe()
                .hgetall(k.workspace(&ws))
                .llen(k.ready(&ws))
                .lindex(k.ready(&ws), 0)
                .sismember(format!("{}:paused", k.base()), &ws)
                .cmd("TIME")
                .query_async(&mut self.conn())
                .await?;
        let ready_at: Option<f64> = match head {
            Some(id) => redis::cmd("HGET").arg(k.job(&id)).arg("ready_at").query_async(&mut self.conn()).await?,
            None => None,
        };
        Ok(WorkspaceStats {
            waiting,
            scheduled: counter(&map, "scheduled"),
            in_flight: counter(&map, "inflight"),
            retrying: counter(&map, "retrying"),
            dead: counter(&map, "dead"),
            completed: counter(&map, "completed"),
            failed: counter(&map, "failed"),
            oldest_waiting_age: age(redis_now_ms(time), ready_at),
            paused,
            cap: map.get("cap").map(|c| (*c).max(0) as u32),
        })
    }

    /// Bytes Redis uses for the hash of `workspace`'s oldest waiting job
    /// (`MEMORY USAGE`), for capacity planning; `None` when it has none.
    pub async fn waiting_job_memory(&self, queue: &str, workspace: WorkspaceId) -> Result<Option<u64>, QueueError> {
        let k = self.keys(queue);
        let head: Option<String> =
            redis::cmd("LINDEX").arg(k.ready(&workspace.to_string())).arg(0).query_async(&mut self.conn()).await?;
        let Some(id) = head else { return Ok(None) };
        Ok(redis::cmd("MEMORY").arg("USAGE").arg(k.job(&id)).query_async(&mut self.conn()).await?)
    }

    /// Workspaces with ready work, roughly oldest waiting first (bounded by
    /// `limit`): the index is lazy, so ages here are upper bounds; use
    /// [`Self::workspace_stats`] for an exact figure.
    pub async fn waiting_workspaces(&self, queue: &str, limit: usize) -> Result<Vec<(String, Duration)>, QueueError> {
        let k = self.keys(queue);
        let (heads, time): (Vec<(String, f64)>, (i64, i64)) = redis::pipe()
            .zrange_withscores(k.heads(), 0, limit.max(1) as isize - 1)
            .cmd("TIME")
            .query_async(&mut self.conn())
            .await?;
        let now = redis_now_ms(time);
        Ok(heads.into_iter().map(|(ws, t)| (ws, age(now, Some(t)).unwrap_or_default())).collect())
    }
}
