use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use apalis::prelude::*;
use frontdesk_jobs::{Envelope, WorkspaceId};
use frontdesk_queue::{Backoff, Lease, PushOptions, QueueConfig, RedisQueue};
use serde::{Deserialize, Serialize};

pub const QUEUE: &str = "test-jobs";

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A config with short timings, in a fresh namespace.
pub fn test_config() -> QueueConfig {
    QueueConfig {
        namespace: format!("t-{}", uuid::Uuid::new_v4().simple()),
        lease: Duration::from_secs(2),
        heartbeat: Duration::from_millis(500),
        backoff: Backoff { base: Duration::from_millis(100), factor: 2.0, max: Duration::from_secs(5), jitter: 0.2 },
        idle_poll: Duration::from_millis(500),
        ..QueueConfig::default()
    }
}

pub async fn connect(config: QueueConfig) -> RedisQueue {
    RedisQueue::connect(&redis_url(), config).await.expect("connect to redis")
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TestJob {
    pub workspace_id: WorkspaceId,
    pub n: u64,
    #[serde(default)]
    pub key: String,
}

pub fn envelope(ws: WorkspaceId, n: u64) -> Envelope {
    envelope_with(ws, n, "", 5)
}

pub fn envelope_with(ws: WorkspaceId, n: u64, key: &str, max_attempts: u32) -> Envelope {
    Envelope {
        queue: QUEUE,
        workspace_id: ws,
        payload: serde_json::to_value(TestJob { workspace_id: ws, n, key: key.into() }).unwrap(),
        dedupe_key: None,
        job_id: None,
        run_at: None,
        max_attempts,
        rate_limit: None,
    }
}

pub async fn push_all(queue: &RedisQueue, envelopes: Vec<Envelope>) {
    let jobs = envelopes.into_iter().map(|e| (e, PushOptions::default())).collect();
    queue.push_batch(jobs).await.expect("push batch");
}

/// What handlers saw, for assertions.
#[derive(Default)]
pub struct Recorder {
    pub starts: Mutex<Vec<(TestJob, Lease, Instant)>>,
    pub running: Mutex<HashMap<WorkspaceId, usize>>,
    pub max_running: Mutex<HashMap<WorkspaceId, usize>>,
}

impl Recorder {
    pub fn start(&self, job: &TestJob, lease: &Lease) {
        self.starts.lock().unwrap().push((job.clone(), lease.clone(), Instant::now()));
        let mut running = self.running.lock().unwrap();
        let r = running.entry(job.workspace_id).or_default();
        *r += 1;
        let mut max = self.max_running.lock().unwrap();
        let m = max.entry(job.workspace_id).or_default();
        *m = (*m).max(*r);
    }

    pub fn finish(&self, job: &TestJob) {
        *self.running.lock().unwrap().get_mut(&job.workspace_id).unwrap() -= 1;
    }

    pub fn count(&self) -> usize {
        self.starts.lock().unwrap().len()
    }

    pub fn starts_of(&self, n: u64) -> Vec<(Lease, Instant)> {
        self.starts.lock().unwrap().iter().filter(|(j, _, _)| j.n == n).map(|(_, l, t)| (l.clone(), *t)).collect()
    }
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes.
pub async fn eventually(timeout: Duration, mut cond: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cond().await
}

/// Runs an ordinary apalis worker on the test queue until the guard drops.
macro_rules! spawn_worker {
    ($queue:expr, $rec:expr, $concurrency:expr, $handler:expr) => {{
        use apalis::prelude::*;
        let worker = WorkerBuilder::new(format!("test-worker-{}", uuid::Uuid::new_v4().simple()))
            .backend($queue.backend_for::<$crate::helpers::TestJob>($crate::helpers::QUEUE))
            .data($rec.clone())
            .concurrency($concurrency)
            .build($handler);
        $crate::helpers::WorkerGuard(tokio::spawn(async move {
            worker.run().await.expect("worker died");
        }))
    }};
}

pub struct WorkerGuard(pub tokio::task::JoinHandle<()>);

impl WorkerGuard {
    /// Panics if the worker exited (it never should on its own).
    pub fn assert_alive(&self) {
        assert!(!self.0.is_finished(), "worker exited");
    }
}

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A handler that records the start and succeeds at once.
pub async fn ok_handler(job: TestJob, rec: Data<Arc<Recorder>>, lease: Lease) -> Result<(), BoxDynError> {
    rec.start(&job, &lease);
    rec.finish(&job);
    Ok(())
}

/// Deletes the test's keys; only the big tests bother, the rest are small.
pub async fn drop_namespace(queue: &RedisQueue) {
    frontdesk_testkit::redis::purge(&redis_url(), &format!("{{{}:", queue.config().namespace)).await.unwrap();
}
