//! apalis-board's query traits (`apalis_core::backend::{Metrics, ListQueues,
//! ListWorkers, ListTasks, ListAllTasks}`) for [`FairBackend`], and the
//! [`RedisQueue`] methods behind them. Every call is O(1) or O(log n) per
//! figure or returned job, plus one step per queue, worker, or workspace
//! skipped by a pending page: nothing scans jobs or unpacks unbounded lists.
//!
//! Task states map to the structures that already hold the jobs:
//!
//! | `Status` | jobs | order |
//! |----------|------|-------|
//! | `Pending` | waiting in the per-workspace ready lists | workspaces by oldest waiting head (`B:heads`), each FIFO |
//! | `Queued` | `B:sched`: delayed, rate-deferred, and retrying (metadata `state` says which) | run_at |
//! | `Running` | `B:leases` | lease expiry |
//! | `Failed` | the dead set `B:dead` (gave up, or aborted) | died_at |
//! | none | all four, in the order Running, Queued, Failed, Pending | |
//!
//! `Done` and `Killed` are refused with [`QueueError::Unsupported`]: finished
//! jobs are counted, not indexed (their hashes just expire), and the dead set
//! does not tell aborted jobs from those that ran out of attempts.

use std::{
    collections::HashMap,
    future::Future,
    time::{SystemTime, UNIX_EPOCH},
};

use apalis_core::{
    backend::{
        Filter, ListAllTasks, ListQueues, ListTasks, ListWorkers, Metrics, QueueInfo, RunningWorker, StatType,
        Statistic, WireFormatBackend, codec::Codec, queue::Queue,
    },
    task::{Task, builder::TaskBuilder, metadata::MetadataStore, status::Status, task_id::TaskId},
    worker::context::WorkerContext,
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::{FairBackend, QueueError, QueueStats, RedisQueue, config::ms, scripts};

/// A worker that has not sent a heartbeat for this many leases is gone.
pub(crate) const WORKER_TTL_LEASES: u32 = 3;
/// Largest page a listing accepts.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// Workspaces with waiting jobs a pending page may skip over.
const MAX_WALK: u32 = 10_000;
const BACKEND_NAME: &str = "frontdesk-queue";

/// Payloads are JSON; listings return them as [`serde_json::Value`].
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonCodec;

impl<T: Serialize + DeserializeOwned> Codec<T> for JsonCodec {
    type Error = serde_json::Error;
    type Compact = Value;

    fn encode(&self, val: &T) -> Result<Value, serde_json::Error> {
        serde_json::to_value(val)
    }

    fn decode(&self, val: &Value) -> Result<T, serde_json::Error> {
        T::deserialize(val)
    }
}

/// A worker's member of `B:workers`: constant for its life, scored by its
/// last heartbeat.
#[derive(Serialize, Deserialize)]
struct WorkerMember {
    id: String,
    started_at: u64,
    service: String,
}

fn unix_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Worker names are usually shared by every process running the same
/// worker, so the id carries a random suffix.
pub(crate) fn worker_member(worker: &WorkerContext) -> String {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let member = WorkerMember {
        id: format!("{}#{}", worker.name(), &suffix[..12]),
        started_at: unix_secs(),
        service: worker.get_service().to_owned(),
    };
    serde_json::to_string(&member).expect("worker member serializes")
}

fn segment(status: Option<&Status>) -> Result<&'static str, QueueError> {
    match status {
        None => Ok("all"),
        Some(Status::Pending) => Ok("pending"),
        Some(Status::Queued) => Ok("queued"),
        Some(Status::Running) => Ok("running"),
        Some(Status::Failed) => Ok("failed"),
        Some(Status::Done) => {
            Err(QueueError::Unsupported("finished jobs are counted (stats), not indexed, so they cannot be listed"))
        }
        Some(Status::Killed) => Err(QueueError::Unsupported(
            "the dead set does not separate aborted jobs from exhausted ones: list Status::Failed",
        )),
        Some(_) => Err(QueueError::Unsupported("unknown task status")),
    }
}

/// Offset and limit of a board filter (pages count from 1; 0 is read as 1).
fn page(filter: &Filter) -> Result<(u64, u32), QueueError> {
    let limit = filter.page_size.unwrap_or(10);
    if limit > MAX_PAGE_SIZE {
        return Err(QueueError::Config(format!("page_size must be at most {MAX_PAGE_SIZE}")));
    }
    Ok((u64::from(filter.page.max(1) - 1) * u64::from(limit), limit))
}

fn number(title: &str, value: u64, priority: u64) -> Statistic {
    Statistic { title: title.into(), stat_type: StatType::Number, value: value.to_string(), priority: Some(priority) }
}

/// A queue's (or the namespace's) figures as board statistics. Titles shared
/// with stock apalis-redis mean the same thing where they can: PENDING_JOBS
/// are waiting, FAILED_JOBS are in the dead set now.
pub fn statistics(s: &QueueStats) -> Vec<Statistic> {
    let settled = s.completed + s.dead_total;
    let success = if settled == 0 { 0.0 } else { s.completed as f64 * 100.0 / settled as f64 };
    vec![
        number("RUNNING_JOBS", s.in_flight, 1),
        number("PENDING_JOBS", s.waiting, 2),
        number("SCHEDULED_JOBS", s.scheduled, 3),
        number("RETRYING_JOBS", s.retrying, 4),
        number("FAILED_JOBS", s.dead, 5),
        number("DONE_JOBS", s.completed, 6),
        Statistic {
            title: "SUCCESS_RATE".into(),
            stat_type: StatType::Percentage,
            value: format!("{success:.2}"),
            priority: Some(7),
        },
        Statistic {
            title: "OLDEST_PENDING_SECONDS".into(),
            stat_type: StatType::Decimal,
            value: format!("{:.3}", s.oldest_waiting_age.unwrap_or_default().as_secs_f64()),
            priority: Some(8),
        },
        number("ENQUEUED_TOTAL", s.enqueued, 9),
        number("FAILED_ATTEMPTS_TOTAL", s.failed, 10),
        number("DEAD_TOTAL", s.dead_total, 11),
        number("REDELIVERED_TOTAL", s.redelivered, 12),
        number("REJECTED_ACKS_TOTAL", s.rejected_acks, 13),
        number("DUPLICATES_TOTAL", s.duplicates, 14),
        number("RATE_DEFERRED_TOTAL", s.rate_deferred, 15),
    ]
}

/// One job of a `list.lua` reply: segment, id, score, fence, then the hash
/// fields ws, payload, max, att, state, ready_at, last_error, reason.
fn to_task(queue: &str, r: Vec<Option<String>>) -> Result<Task<Value>, QueueError> {
    let [seg, id, score, fence, ws, payload, max, att, state, ready_at, last_error, reason]: [Option<String>; 12] =
        r.try_into().map_err(|_| QueueError::Protocol("list reply: bad group".into()))?;
    let (Some(seg), Some(id)) = (seg, id) else {
        return Err(QueueError::Protocol("list reply: missing segment or id".into()));
    };
    let millis = |v: &Option<String>| v.as_deref().and_then(|s| s.parse::<f64>().ok()).map(|f| f.max(0.0) as u64);
    let score_ms = millis(&score);
    let payload = payload.unwrap_or_default();
    let args = serde_json::from_str(&payload).unwrap_or(Value::String(payload));
    let attempts: usize = att.as_deref().and_then(|a| a.parse().ok()).unwrap_or(0);
    // Delivery does not write `state`, and a job nothing has moved since
    // enqueue has none; the structure it was listed from says the rest.
    let state = match seg.as_str() {
        "running" => Some("running".to_owned()),
        "pending" => state.or_else(|| Some("waiting".to_owned())),
        "queued" => state.or_else(|| Some("scheduled".to_owned())),
        _ => state,
    };
    let mut meta = HashMap::new();
    for (k, v) in [("workspace", ws), ("state", state), ("last_error", last_error), ("reason", reason)] {
        if let Some(v) = v {
            meta.insert(k.to_owned(), v);
        }
    }
    if let Some(t) = millis(&ready_at) {
        meta.insert("ready_at_ms".into(), t.to_string());
    }
    let mut b = TaskBuilder::new(args)
        .task_id(TaskId::from_string(id))
        .max_attempts(max.as_deref().and_then(|m| m.parse().ok()).unwrap_or(1))
        .queue(Queue::from(queue));
    b = match seg.as_str() {
        "running" => {
            if let Some(f) = fence {
                meta.insert("fence".into(), f);
            }
            if let Some(t) = score_ms {
                meta.insert("lease_expires_at_ms".into(), t.to_string());
            }
            b.status(Status::Running).attempt(attempts + 1)
        }
        "queued" => {
            if let Some(t) = score_ms {
                meta.insert("run_at_ms".into(), t.to_string());
                b = b.run_at_timestamp(t / 1000);
            }
            b.status(Status::Queued).attempt(attempts)
        }
        "failed" => {
            if let Some(t) = score_ms {
                meta.insert("died_at_ms".into(), t.to_string());
            }
            b.status(Status::Failed).attempt(attempts).done_at(score_ms.map(|t| t / 1000))
        }
        "pending" => {
            if let Some(t) = millis(&ready_at) {
                b = b.run_at_timestamp(t / 1000);
            }
            b.status(Status::Pending).attempt(attempts)
        }
        other => return Err(QueueError::Protocol(format!("list reply: segment {other}"))),
    };
    Ok(b.with_metadata(MetadataStore::from_map(meta)).build())
}

impl RedisQueue {
    /// One page of a queue's jobs in the given state (`None`: all states, see
    /// the module docs for the order), `limit` at most [`MAX_PAGE_SIZE`].
    /// Offsets index the queue's own structures, so consecutive pages of a
    /// queue that is not changing neither repeat nor skip a job.
    pub async fn list_jobs(
        &self,
        queue: &str,
        status: Option<Status>,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<Task<Value>>, QueueError> {
        let what = segment(status.as_ref())?;
        if limit > MAX_PAGE_SIZE {
            return Err(QueueError::Config(format!("page_size must be at most {MAX_PAGE_SIZE}")));
        }
        if limit == 0 {
            return Ok(Vec::new());
        }
        let k = self.keys(queue);
        let flat: Vec<Option<String>> = scripts::LIST
            .key(k.ring())
            .arg(k.base())
            .arg(what)
            .arg(offset)
            .arg(limit)
            .arg(MAX_WALK)
            .invoke_async(&mut self.conn())
            .await?;
        if !flat.len().is_multiple_of(12) {
            return Err(QueueError::Protocol("list reply: length".into()));
        }
        let mut out = Vec::with_capacity(flat.len() / 12);
        let mut it = flat.into_iter();
        loop {
            let group: Vec<Option<String>> = it.by_ref().take(12).collect();
            if group.is_empty() {
                return Ok(out);
            }
            out.push(to_task(queue, group)?);
        }
    }

    /// Like [`Self::list_jobs`] across every queue of the namespace, queues in
    /// name order. Skipping a queue costs O(1) (its set sizes and `waiting`
    /// counter), so the page costs one round trip per queue plus the page.
    pub async fn list_all_jobs(
        &self,
        status: Option<Status>,
        mut offset: u64,
        limit: u32,
    ) -> Result<Vec<Task<Value>>, QueueError> {
        let what = segment(status.as_ref())?;
        let names = self.queue_names().await?;
        let mut pipe = redis::pipe();
        for name in &names {
            let k = self.keys(name);
            pipe.zcard(k.leases()).zcard(k.sched()).zcard(k.dead()).hget(k.stats(), "waiting");
        }
        let sizes: Vec<Option<i64>> = pipe.query_async(&mut self.conn()).await?;
        let mut need = u64::from(limit.min(MAX_PAGE_SIZE));
        let mut out = Vec::new();
        for (name, s) in names.iter().zip(sizes.chunks(4)) {
            if need == 0 {
                break;
            }
            let n = |i: usize| s.get(i).copied().flatten().unwrap_or(0).max(0) as u64;
            let count = match what {
                "running" => n(0),
                "queued" => n(1),
                "failed" => n(2),
                "pending" => n(3),
                _ => n(0) + n(1) + n(2) + n(3),
            };
            if offset >= count {
                offset -= count;
                continue;
            }
            let take = need.min(count - offset) as u32;
            out.extend(self.list_jobs(name, status.clone(), offset, take).await?);
            need -= u64::from(take);
            offset = 0;
        }
        Ok(out)
    }

    /// The queue's live workers: those that sent a heartbeat within the last
    /// three leases.
    pub async fn workers(&self, queue: &str) -> Result<Vec<RunningWorker>, QueueError> {
        let k = self.keys(queue);
        let ttl = ms(self.config().lease * WORKER_TTL_LEASES);
        let members: Vec<(String, f64)> =
            scripts::WORKERS.key(k.ring()).arg(k.base()).arg(ttl).invoke_async(&mut self.conn()).await?;
        Ok(members
            .into_iter()
            .filter_map(|(member, beat)| {
                let m: WorkerMember = serde_json::from_str(&member).ok()?;
                Some(RunningWorker {
                    id: m.id,
                    queue: queue.to_owned(),
                    backend: BACKEND_NAME.into(),
                    started_at: m.started_at,
                    last_heartbeat: (beat.max(0.0) as u64) / 1000,
                    layers: m.service,
                })
            })
            .collect())
    }

    async fn global_stats(&self) -> Result<QueueStats, QueueError> {
        let mut total = QueueStats::default();
        for name in self.queue_names().await? {
            total += &self.stats(&name).await?;
        }
        Ok(total)
    }

    async fn queue_infos(&self) -> Result<Vec<QueueInfo>, QueueError> {
        let mut out = Vec::new();
        for name in self.queue_names().await? {
            let stats = statistics(&self.stats(&name).await?);
            let workers = self.workers(&name).await?.into_iter().map(|w| w.id).collect();
            // No per-day history is kept, so `activity` stays empty.
            out.push(QueueInfo { name, stats, workers, activity: Vec::new() });
        }
        Ok(out)
    }

    async fn all_workers(&self) -> Result<Vec<RunningWorker>, QueueError> {
        let mut out = Vec::new();
        for name in self.queue_names().await? {
            out.extend(self.workers(&name).await?);
        }
        Ok(out)
    }
}

impl<Args> WireFormatBackend for FairBackend<Args> {
    type Codec = JsonCodec;
    type Compact = Value;

    fn codec(&self) -> &JsonCodec {
        &JsonCodec
    }
}

impl<Args: DeserializeOwned> Metrics for FairBackend<Args> {
    /// Every queue of the namespace, summed (oldest pending: the maximum).
    fn global(&self) -> impl Future<Output = Result<Vec<Statistic>, QueueError>> + Send {
        let queue = self.queue.clone();
        async move { Ok(statistics(&queue.global_stats().await?)) }
    }

    fn fetch_by_queue(&self) -> impl Future<Output = Result<Vec<Statistic>, QueueError>> + Send {
        let (queue, name) = (self.queue.clone(), self.name.clone());
        async move { Ok(statistics(&queue.stats(&name).await?)) }
    }
}

impl<Args: DeserializeOwned> ListQueues for FairBackend<Args> {
    fn list_queues(&self) -> impl Future<Output = Result<Vec<QueueInfo>, QueueError>> + Send {
        let queue = self.queue.clone();
        async move { queue.queue_infos().await }
    }
}

impl<Args: DeserializeOwned> ListWorkers for FairBackend<Args> {
    fn list_workers(&self) -> impl Future<Output = Result<Vec<RunningWorker>, QueueError>> + Send {
        let (queue, name) = (self.queue.clone(), self.name.clone());
        async move { queue.workers(&name).await }
    }

    fn list_all_workers(&self) -> impl Future<Output = Result<Vec<RunningWorker>, QueueError>> + Send {
        let queue = self.queue.clone();
        async move { queue.all_workers().await }
    }
}

impl<Args: DeserializeOwned> ListTasks for FairBackend<Args> {
    fn list_tasks(&self, filter: &Filter) -> impl Future<Output = Result<Vec<Task<Value>>, QueueError>> + Send {
        let (queue, name, status, page) = (self.queue.clone(), self.name.clone(), filter.status.clone(), page(filter));
        async move {
            let (offset, limit) = page?;
            queue.list_jobs(&name, status, offset, limit).await
        }
    }
}

impl<Args: DeserializeOwned> ListAllTasks for FairBackend<Args> {
    fn list_all_tasks(&self, filter: &Filter) -> impl Future<Output = Result<Vec<Task<Value>>, QueueError>> + Send {
        let (queue, status, page) = (self.queue.clone(), filter.status.clone(), page(filter));
        async move {
            let (offset, limit) = page?;
            queue.list_all_jobs(status, offset, limit).await
        }
    }
}
