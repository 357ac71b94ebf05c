//! The job registry and the worker runtime. `register_all` is the one
//! table of job kinds: each with its handler, the data the handler needs,
//! and its concurrency. Every worker gets the workspace guard; a test
//! checks that the table covers `jobs::queue::ALL`.

use std::{future::Future, sync::Arc, time::Duration};

use apalis::prelude::{Monitor, WorkerBuilder, WorkerBuilderExt};
use apalis_core::monitor::MonitorError;
use frontdesk_jobs::{
    ApplyBillingEvent, ClassifyLead, Job, Jobs, ProcessInboundMessage, ReconcileSend, SendFollowup, SyncCalendar,
};
use frontdesk_queue::RedisQueue;
use frontdesk_store::Db;

use crate::{
    JobContext, JobError, WorkerMetrics, WorkspaceGuardLayer, handlers,
    handlers::{classify_lead::ClassifyDeps, send_followup::SendDeps},
};

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Jobs in flight per queue in this process.
    pub concurrency: usize,
    /// How long the guard trusts a cached workspace status.
    pub guard_cache_ttl: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self { concurrency: 16, guard_cache_ttl: Duration::from_secs(2) }
    }
}

#[derive(Clone)]
pub struct WorkerDeps {
    pub db: Db,
    pub queue: RedisQueue,
    /// For jobs that handlers trigger (pushed after their outbox commit).
    pub jobs: Jobs,
    pub metrics: Arc<WorkerMetrics>,
    pub classify: ClassifyDeps,
    pub send: SendDeps,
}

#[derive(Debug, thiserror::Error)]
#[error("worker monitor failed")]
pub struct WorkerRunError(#[source] MonitorError);

/// How many jobs of one kind run at once in one worker process.
#[derive(Clone, Copy, Debug)]
enum Concurrency {
    /// `WorkerConfig::concurrency`.
    PerProcess,
    Fixed(usize),
}

/// Every job kind this process runs: its concurrency, the part of the
/// worker's dependencies its handler needs, and the handler.
fn register_all<R: Registrar>(r: R) -> R {
    use Concurrency::{Fixed, PerProcess};
    r.register::<ProcessInboundMessage, _, _, _>(PerProcess, nothing, |job, cx, ()| {
        handlers::process_inbound::handle(job, cx)
    })
    .register::<ClassifyLead, _, _, _>(PerProcess, |d| d.classify.clone(), handlers::classify_lead::handle)
    .register::<SendFollowup, _, _, _>(PerProcess, |d| d.send.clone(), handlers::send_followup::handle)
    // Billing events are rare and ordered per workspace by their own logic.
    .register::<ApplyBillingEvent, _, _, _>(Fixed(4), nothing, |job, cx, ()| handlers::apply_billing::handle(job, cx))
    .register::<SyncCalendar, _, _, _>(Fixed(2), nothing, |job, cx, ()| handlers::sync_calendar::handle(job, cx))
    // Rare (only sends whose outcome a crash hid), each a provider lookup.
    .register::<ReconcileSend, _, _, _>(Fixed(2), |d| d.send.clone(), handlers::reconcile_send::handle)
}

fn nothing(_: &WorkerDeps) {}

/// Something job kinds are registered with: the real monitor, or a list of
/// names (for the coverage test).
trait Registrar: Sized {
    fn register<J, D, F, Fut>(self, concurrency: Concurrency, data: fn(&WorkerDeps) -> D, handler: F) -> Self
    where
        J: Job,
        D: Clone + Send + Sync + 'static,
        F: Fn(J, JobContext, D) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static;
}

/// Registers real apalis workers on our fair backend, each behind the guard.
struct Workers {
    monitor: Monitor,
    deps: WorkerDeps,
    config: WorkerConfig,
    guard: WorkspaceGuardLayer,
    /// Unique per process, so each worker is identifiable in logs.
    instance: String,
}

impl Registrar for Workers {
    fn register<J, D, F, Fut>(self, concurrency: Concurrency, data: fn(&WorkerDeps) -> D, handler: F) -> Self
    where
        J: Job,
        D: Clone + Send + Sync + 'static,
        F: Fn(J, JobContext, D) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        let Workers { monitor, deps, config, guard, instance } = self;
        let concurrency = match concurrency {
            Concurrency::PerProcess => config.concurrency,
            Concurrency::Fixed(n) => n,
        };
        let data = data(&deps);
        // Every registered handler is `fn(job, context)`; its data is bound here.
        let handler = move |job, cx| handler(job, cx, data.clone());
        let (queue, g, name) = (deps.queue.clone(), guard.clone(), format!("{}-{instance}", J::QUEUE));
        let monitor = monitor.register(move |i| {
            WorkerBuilder::new(format!("{name}-{i}"))
                .backend(queue.backend::<J>())
                .layer(g.clone())
                .concurrency(concurrency)
                .build(handler.clone())
        });
        Workers { monitor, deps, config, guard, instance }
    }
}

/// The queues the registry covers.
pub fn registered_queues() -> Vec<&'static str> {
    struct Names(Vec<&'static str>);
    impl Registrar for Names {
        fn register<J, D, F, Fut>(mut self, _: Concurrency, _: fn(&WorkerDeps) -> D, _: F) -> Self
        where
            J: Job,
            D: Clone + Send + Sync + 'static,
            F: Fn(J, JobContext, D) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future<Output = Result<(), JobError>> + Send + 'static,
        {
            self.0.push(J::QUEUE);
            self
        }
    }
    register_all(Names(Vec::new())).0
}

/// Runs every registered job kind's workers until `shutdown` resolves, then drains.
pub async fn run_workers(
    deps: WorkerDeps,
    config: WorkerConfig,
    shutdown: impl Future<Output = std::io::Result<()>> + Send + 'static,
) -> Result<(), WorkerRunError> {
    let guard =
        WorkspaceGuardLayer::new(deps.db.clone(), deps.jobs.clone(), config.guard_cache_ttl, deps.metrics.clone());
    let workers = Workers {
        monitor: Monitor::new().shutdown_timeout(Duration::from_secs(30)),
        deps,
        config,
        guard,
        instance: uuid::Uuid::new_v4().simple().to_string(),
    };
    register_all(workers).monitor.run_with_signal(shutdown).await.map_err(WorkerRunError)
}
