//! The apalis [`Backend`]: fair fetch, prompt wake-up, rate-limit admission.
//!
//! Each fetch is one script call that (1) moves due scheduled jobs to their
//! workspace's ready list, (2) recovers expired leases, (3) leases up to
//! `batch_size` jobs walking the ring of workspaces one job per workspace per
//! turn, skipping (and dropping from the ring) paused workspaces and those at
//! their concurrency cap. A capped workspace re-enters the ring when one of
//! its jobs settles, so its backlog never occupies a worker slot.
//!
//! When nothing is ready the backend parks on the queue's notify signal with
//! a timer for the earliest scheduled job or lease expiry (at most
//! `idle_poll`). Redis errors never reach the worker: the backend logs,
//! backs off and tries again.

use std::{
    collections::VecDeque,
    marker::PhantomData,
    str::FromStr,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use apalis_core::{
    backend::{Backend, BackendConfig, finalize::Ephemeral},
    task::{Task, builder::TaskBuilder, task_id::TaskId},
    worker::context::WorkerContext,
};
use frontdesk_jobs::{Job, WorkspaceId};
use futures::{FutureExt, future::BoxFuture};
use redis::Value;
use serde::de::DeserializeOwned;
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};

use crate::{
    Lease, QueueConfig, QueueError, RateLimit, RedisQueue,
    config::ms,
    keys::QueueKeys,
    lease::{Held, Keeper},
    notify::Signal,
    outcome::{Outcome, OutcomeKind, OutcomeLayer},
    rate_limit::{self, Admission},
    scripts,
};

/// One leased job as fetched.
#[derive(Debug)]
struct Delivery {
    id: String,
    fence: u64,
    attempts: u32,
    max_attempts: u32,
    workspace: String,
    payload: String,
    rate_limit: Option<RateLimit>,
}

#[derive(Debug, Default)]
struct FetchReply {
    jobs: Vec<Delivery>,
    /// Time until the earliest scheduled job or lease expiry.
    next_wake: Option<Duration>,
    /// Ready work remains on the ring.
    more: bool,
}

type FetchFuture = BoxFuture<'static, Result<FetchReply, QueueError>>;
type AdmitFuture = BoxFuture<'static, Result<Admission, QueueError>>;

/// A worker's view of one queue. Build a worker as usual:
///
/// ```ignore
/// let queue = RedisQueue::connect(&redis_url, QueueConfig::default()).await?;
/// let worker = WorkerBuilder::new("send-followup")
///     .backend(queue.backend::<SendFollowup>())
///     .data(deps)
///     .concurrency(16)
///     .catch_panic()
///     .build(send_followup);
/// ```
pub struct FairBackend<Args> {
    pub(crate) queue: RedisQueue,
    pub(crate) name: String,
    keys: QueueKeys,
    signal: Arc<Signal>,
    held: Held,
    outcomes: mpsc::UnboundedSender<Outcome>,
    outcomes_rx: Option<mpsc::UnboundedReceiver<Outcome>>,
    keeper: Option<(JoinHandle<()>, Option<oneshot::Sender<()>>)>,
    /// A fetch in flight, with the signal generation seen before it started.
    /// It may run while buffered jobs are still being handed out (prefetch).
    fetching: Option<(FetchFuture, u64, usize)>,
    /// Parked: nothing ready, or backing off after an error.
    waiting: Option<BoxFuture<'static, ()>>,
    /// A rate-limit check for the job about to be handed out.
    admitting: Option<(AdmitFuture, Delivery)>,
    buffer: VecDeque<Delivery>,
    error_backoff: Duration,
    /// Jobs asked for per fetch: `batch_size`, grown while the buffer keeps
    /// running dry under a backlog (see [`FairBackend::size_fetches`]).
    fetch_size: usize,
    /// A slot asked for a job while the buffer was empty and a fetch was in
    /// flight, since that fetch started.
    starved: bool,
    _args: PhantomData<fn() -> Args>,
}

impl<Args> std::fmt::Debug for FairBackend<Args> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FairBackend").field("queue", &self.name).field("buffered", &self.buffer.len()).finish()
    }
}

impl RedisQueue {
    /// A backend for `J`'s queue.
    pub fn backend<J: Job>(&self) -> FairBackend<J> {
        self.backend_for(J::QUEUE)
    }

    /// A backend for any queue name and argument type.
    pub fn backend_for<Args: DeserializeOwned>(&self, queue: &str) -> FairBackend<Args> {
        let keys = self.keys(queue);
        let signal = self.inner.notifier.signal(&keys.notify_channel());
        let (tx, rx) = mpsc::unbounded_channel();
        FairBackend {
            queue: self.clone(),
            name: queue.to_owned(),
            keys,
            signal,
            held: Arc::new(Mutex::new(Default::default())),
            outcomes: tx,
            outcomes_rx: Some(rx),
            keeper: None,
            fetching: None,
            waiting: None,
            admitting: None,
            buffer: VecDeque::new(),
            error_backoff: Duration::ZERO,
            fetch_size: self.config().batch_size,
            starved: false,
            _args: PhantomData,
        }
    }
}

impl<Args: DeserializeOwned> FairBackend<Args> {
    fn start_keeper(&mut self, worker: &WorkerContext) {
        if self.keeper.is_some() {
            return;
        }
        let Some(outcomes) = self.outcomes_rx.take() else {
            return;
        };
        let (stop_tx, stop_rx) = oneshot::channel();
        let keeper = Keeper {
            queue: self.queue.clone(),
            keys: self.keys.clone(),
            signal: self.signal.clone(),
            held: self.held.clone(),
            outcomes,
            stop: stop_rx,
            worker: crate::board::worker_member(worker),
        };
        self.keeper = Some((tokio::spawn(keeper.run()), Some(stop_tx)));
    }

    fn settle_later(&self, d: &Delivery, kind: OutcomeKind) {
        let _ =
            self.outcomes.send(Outcome { job_id: d.id.clone(), fence: d.fence, workspace: d.workspace.clone(), kind });
    }

    /// Turns a delivery into an apalis task; a payload that does not decode
    /// can never succeed, so it goes to the dead set instead of the worker.
    fn make_task(&self, d: Delivery) -> Option<Task<Args>> {
        let decoded = serde_json::from_str::<Args>(&d.payload)
            .map_err(|e| format!("payload does not decode: {e}"))
            .and_then(|args| {
                WorkspaceId::from_str(&d.workspace).map(|ws| (args, ws)).map_err(|e| format!("bad workspace id: {e}"))
            });
        match decoded {
            Ok((args, workspace_id)) => {
                let lease = Lease {
                    queue: self.name.clone(),
                    job_id: d.id.clone(),
                    fence: d.fence,
                    attempt: d.attempts,
                    max_attempts: d.max_attempts,
                    workspace_id,
                };
                Some(
                    TaskBuilder::new(args)
                        .task_id(TaskId::from_string(d.id))
                        // apalis counts the attempt up when the handler starts.
                        .attempt(d.attempts.saturating_sub(1) as usize)
                        .max_attempts(d.max_attempts as usize)
                        .data(lease)
                        .build(),
                )
            }
            Err(reason) => {
                tracing::error!(job_id = %d.id, %reason, "undecodable job sent to the dead set");
                self.settle_later(&d, OutcomeKind::Dead { reason });
                None
            }
        }
    }

    fn start_fetch(&mut self) {
        let seen = self.signal.generation();
        self.starved = false;
        self.fetching = Some((self.fetch(self.fetch_size), seen, self.fetch_size));
    }

    /// Adapts the fetch size to how fast this worker drains its buffer. A
    /// full reply that finds the buffer already empty, with slots asking for
    /// work meanwhile, means the slots outrun one fetch round trip: the next
    /// fetch asks for twice as many (at most `4 × batch_size`, and 1000). When
    /// a whole `batch_size` was still waiting as a reply came in, it halves
    /// again (never below `batch_size`). Slow handlers never drain the buffer,
    /// so they keep `batch_size`, and a worker holds about one round trip's
    /// worth of work beyond its slots.
    fn size_fetches(&mut self, asked: usize, got: usize) {
        let base = self.queue.config().batch_size;
        let max = (base * 4).min(1000).max(base);
        if got >= asked && self.buffer.is_empty() && self.starved {
            self.fetch_size = (self.fetch_size * 2).min(max);
        } else if self.buffer.len() >= base {
            self.fetch_size = (self.fetch_size / 2).max(base);
        }
    }

    fn take_reply(&mut self, reply: Result<FetchReply, QueueError>, seen: u64, asked: usize) {
        let reply = match reply {
            Ok(reply) => reply,
            Err(e) => {
                self.error_backoff = (self.error_backoff * 2).clamp(Duration::from_millis(100), Duration::from_secs(5));
                tracing::warn!(error = %frontdesk_jobs::Report(&e), queue = %self.name, retry_in = ?self.error_backoff, "queue fetch failed");
                self.waiting = Some(tokio::time::sleep(self.error_backoff).boxed());
                return;
            }
        };
        self.error_backoff = Duration::ZERO;
        self.size_fetches(asked, reply.jobs.len());
        let got = !reply.jobs.is_empty();
        for d in reply.jobs {
            let running = {
                let mut held = self.held.lock().expect("held leases poisoned");
                let running = held.contains_key(&d.id);
                if !running {
                    held.insert(d.id.clone(), d.fence);
                }
                running
            };
            if running {
                // Our own earlier delivery lost its lease but is still running
                // here; apalis allows one task per id per worker, so let this
                // delivery wait one lease.
                let until_ms = chrono::Utc::now().timestamp_millis().max(0) as u64 + ms(self.queue.config().lease);
                self.settle_later(&d, OutcomeKind::Postpone { until_ms });
            } else {
                self.buffer.push_back(d);
            }
        }
        if !got && !reply.more && self.buffer.is_empty() {
            let idle = self.queue.config().idle_poll;
            let timeout = reply.next_wake.map_or(idle, |d| d.min(idle));
            self.waiting = Some(self.signal.clone().wait(seen, timeout).boxed());
        }
    }

    fn fetch(&self, size: usize) -> BoxFuture<'static, Result<FetchReply, QueueError>> {
        let config = self.queue.config();
        let mut inv = scripts::FETCH.prepare_invoke();
        inv.key(self.keys.ring())
            .arg(self.keys.base())
            .arg(size)
            .arg(config.workspace_concurrency)
            .arg(ms(config.lease))
            .arg(config.promote_limit)
            .arg(config.reap_limit)
            .arg(ms(config.dead_ttl).max(1))
            .arg(config.fair_quantum);
        let mut conn = self.queue.conn();
        async move {
            let reply: Vec<Value> = inv.invoke_async(&mut conn).await?;
            parse_fetch(reply)
        }
        .boxed()
    }
}

fn parse_fetch(reply: Vec<Value>) -> Result<FetchReply, QueueError> {
    fn bad(what: &str) -> QueueError {
        QueueError::Protocol(format!("fetch reply: {what}"))
    }
    fn int(v: Option<Value>) -> Result<i64, QueueError> {
        match v {
            Some(Value::Int(i)) => Ok(i),
            Some(v) => redis::from_redis_value(v).map_err(|e| QueueError::Protocol(e.to_string())),
            None => Err(bad("too short")),
        }
    }
    /// Takes the string's bytes over instead of copying them.
    fn text(v: Option<Value>) -> Result<String, QueueError> {
        match v {
            Some(Value::BulkString(bytes)) => String::from_utf8(bytes).map_err(|_| bad("not UTF-8")),
            Some(v) => redis::from_redis_value(v).map_err(|e| QueueError::Protocol(e.to_string())),
            None => Err(bad("too short")),
        }
    }
    let mut it = reply.into_iter();
    let next = int(it.next())?;
    let more = int(it.next())? == 1;
    let n = usize::try_from(int(it.next())?).map_err(|_| bad("negative count"))?;
    let mut out = FetchReply {
        jobs: Vec::with_capacity(n),
        next_wake: (next >= 0).then(|| Duration::from_millis(next as u64)),
        more,
    };
    // One group per workspace visit: ws, k, then k jobs of id, fence,
    // attempts, max, payload, rl_key (and rl_max, rl_win, rl_urgent if
    // rl_key is set).
    while out.jobs.len() < n {
        let workspace = text(it.next())?;
        let k = usize::try_from(int(it.next())?).map_err(|_| bad("negative group size"))?;
        if k == 0 || out.jobs.len() + k > n {
            return Err(bad("group size"));
        }
        for _ in 0..k {
            let id = text(it.next())?;
            let fence = int(it.next())? as u64;
            let attempts = int(it.next())? as u32;
            let max_attempts = text(it.next())?.parse().unwrap_or(1);
            let payload = text(it.next())?;
            let rl_key = text(it.next())?;
            let rate_limit = if rl_key.is_empty() {
                None
            } else {
                let max = text(it.next())?.parse().unwrap_or(1);
                let per = Duration::from_millis(text(it.next())?.parse().unwrap_or(1000));
                let urgent = text(it.next())? == "1";
                Some(RateLimit { key: rl_key, max, per, urgent })
            };
            out.jobs.push(Delivery {
                id,
                fence,
                attempts,
                max_attempts,
                workspace: workspace.clone(),
                payload,
                rate_limit,
            });
        }
    }
    if it.next().is_some() {
        return Err(bad("trailing values"));
    }
    Ok(out)
}

impl<Args: DeserializeOwned> Backend for FairBackend<Args> {
    type Task = Task<Args>;
    type Error = QueueError;

    fn poll_ready(&mut self, _cx: &mut Context<'_>, worker: &WorkerContext) -> Poll<Result<(), QueueError>> {
        self.start_keeper(worker);
        Poll::Ready(Ok(()))
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        _worker: &WorkerContext,
    ) -> Poll<Option<Result<Task<Args>, QueueError>>> {
        loop {
            if let Some((fut, seen, asked)) = &mut self.fetching
                && let Poll::Ready(reply) = fut.poll_unpin(cx)
            {
                let (seen, asked) = (*seen, *asked);
                self.fetching = None;
                self.take_reply(reply, seen, asked);
                continue;
            }
            // Before the idle wait: a check in flight must finish (and its
            // job start) even while this backend otherwise has nothing to do.
            if let Some((fut, _)) = &mut self.admitting {
                let admission = match fut.poll_unpin(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(a) => a,
                };
                let (_, d) = self.admitting.take().expect("admitting");
                match admission {
                    Ok(Admission::Granted) => {
                        if let Some(task) = self.make_task(d) {
                            return Poll::Ready(Some(Ok(task)));
                        }
                    }
                    Ok(Admission::RetryAt(until_ms)) => {
                        self.settle_later(&d, OutcomeKind::Postpone { until_ms });
                    }
                    Err(e) => {
                        // Cannot prove the limit has room: do not run it now.
                        tracing::warn!(error = %frontdesk_jobs::Report(&e), "rate limit check failed; postponing job");
                        let until_ms = chrono::Utc::now().timestamp_millis().max(0) as u64 + 1000;
                        self.settle_later(&d, OutcomeKind::Postpone { until_ms });
                    }
                }
                continue;
            }
            if let Some(wait) = &mut self.waiting {
                match wait.poll_unpin(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(()) => self.waiting = None,
                }
            }
            if let Some(d) = self.buffer.pop_front() {
                // Refill before running dry, so slots never wait on a round trip.
                if self.buffer.len() < self.fetch_size && self.fetching.is_none() {
                    self.start_fetch();
                }
                if let Some(limit) = d.rate_limit.clone() {
                    let member = format!("{}:{}", d.id, d.fence);
                    let namespace = self.queue.config().namespace.clone();
                    let conn = self.queue.conn();
                    let (ws, id, grace) = (d.workspace.clone(), d.id.clone(), self.queue.config().lease);
                    let fut =
                        async move { rate_limit::admit(conn, &namespace, &ws, &limit, &id, &member, grace).await };
                    self.admitting = Some((fut.boxed(), d));
                    continue;
                }
                if let Some(task) = self.make_task(d) {
                    return Poll::Ready(Some(Ok(task)));
                }
                continue;
            }
            if self.fetching.is_none() {
                self.start_fetch();
                continue;
            }
            // The in-flight fetch was polled above and registered the waker.
            self.starved = true;
            return Poll::Pending;
        }
    }

    fn poll_close(&mut self, cx: &mut Context<'_>, _w: &WorkerContext) -> Poll<Result<(), QueueError>> {
        // A prefetch in flight has leased jobs: wait for it, so they are
        // released below instead of expiring (which would cost an attempt).
        if let Some((fut, _, _)) = &mut self.fetching {
            let Poll::Ready(reply) = fut.poll_unpin(cx) else {
                return Poll::Pending;
            };
            self.fetching = None;
            if let Ok(reply) = reply {
                for d in reply.jobs {
                    self.settle_later(&d, OutcomeKind::Release);
                }
            }
        }
        // Buffered jobs never started: hand them back right away rather than
        // letting their leases run out.
        for d in std::mem::take(&mut self.buffer) {
            self.settle_later(&d, OutcomeKind::Release);
        }
        if let Some((_, d)) = self.admitting.take() {
            self.settle_later(&d, OutcomeKind::Release);
        }
        self.waiting = None;
        let Some((handle, stop)) = &mut self.keeper else {
            return Poll::Ready(Ok(()));
        };
        if let Some(stop) = stop.take() {
            let _ = stop.send(());
        }
        match handle.poll_unpin(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(_) => {
                self.keeper = None;
                Poll::Ready(Ok(()))
            }
        }
    }
}

impl<Args> BackendConfig for FairBackend<Args> {
    type Args = Args;
    type Id = String;
    type Kind = Ephemeral;
    type Config = QueueConfig;
    type Layer = OutcomeLayer;

    fn config(&self) -> &QueueConfig {
        self.queue.config()
    }

    fn middleware(&mut self, _worker: &mut WorkerContext) -> OutcomeLayer {
        OutcomeLayer { outcomes: self.outcomes.clone(), backoff: self.queue.config().backoff.clone() }
    }
}

impl<Args> Drop for FairBackend<Args> {
    fn drop(&mut self) {
        if let Some((handle, Some(stop))) = self.keeper.take() {
            // Let the keeper flush what it has; it exits on its own.
            let _ = stop.send(());
            drop(handle);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn fetch_reply_groups_jobs_by_workspace_visit_and_carries_rate_limits() {
        let reply = vec![
            Value::Int(250),
            Value::Int(1),
            Value::Int(3),
            // Visit 1: workspace a, two jobs, the second rate limited.
            bulk("a"),
            Value::Int(2),
            bulk("j1"),
            bulk("41"),
            Value::Int(1),
            bulk("3"),
            bulk("{\"n\":1}"),
            bulk(""),
            bulk("j2"),
            bulk("42"),
            Value::Int(2),
            bulk("5"),
            bulk("{\"n\":2}"),
            bulk("twilio:+1555"),
            bulk("2"),
            bulk("1000"),
            bulk("1"),
            // Visit 2: workspace b, one job.
            bulk("b"),
            Value::Int(1),
            bulk("j3"),
            bulk("43"),
            Value::Int(1),
            bulk("3"),
            bulk("{\"n\":3}"),
            bulk(""),
        ];
        let out = parse_fetch(reply).unwrap();
        assert_eq!(out.next_wake, Some(Duration::from_millis(250)));
        assert!(out.more);
        let got: Vec<_> = out.jobs.iter().map(|d| (d.id.as_str(), d.fence, d.attempts, d.workspace.as_str())).collect();
        assert_eq!(got, vec![("j1", 41, 1, "a"), ("j2", 42, 2, "a"), ("j3", 43, 1, "b")]);
        assert_eq!(out.jobs[1].max_attempts, 5);
        assert_eq!(out.jobs[1].payload, "{\"n\":2}");
        let rl = out.jobs[1].rate_limit.as_ref().unwrap();
        assert_eq!(
            (rl.key.as_str(), rl.max, rl.per, rl.urgent),
            ("twilio:+1555", 2, Duration::from_millis(1000), true)
        );
        assert!(out.jobs[0].rate_limit.is_none() && out.jobs[2].rate_limit.is_none());
    }

    #[test]
    fn malformed_fetch_replies_are_protocol_errors() {
        let short = vec![Value::Int(-1), Value::Int(0), Value::Int(1), bulk("a"), Value::Int(1), bulk("j1")];
        assert!(matches!(parse_fetch(short), Err(QueueError::Protocol(_))));
        let trailing = vec![Value::Int(-1), Value::Int(0), Value::Int(0), bulk("x")];
        assert!(matches!(parse_fetch(trailing), Err(QueueError::Protocol(_))));
        let empty = parse_fetch(vec![Value::Int(-1), Value::Int(0), Value::Int(0)]).unwrap();
        assert!(empty.jobs.is_empty() && empty.next_wake.is_none() && !empty.more);
    }
}
