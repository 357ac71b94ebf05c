//! Builds and runs the apalis workers. Every worker gets the workspace guard.

use std::{future::Future, sync::Arc, time::Duration};

use apalis::prelude::{Monitor, WorkerBuilder, WorkerBuilderExt};
use frontdesk_jobs::{ApplyBillingEvent, ClassifyLead, Jobs, ProcessInboundMessage, SendFollowup, queue};
use frontdesk_store::Db;

use frontdesk_queue::RedisQueue;

use crate::{
    GuardMetrics, WorkspaceGuardLayer, handlers,
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
    pub metrics: Arc<GuardMetrics>,
    pub classify: ClassifyDeps,
    pub send: SendDeps,
}

#[derive(Debug, thiserror::Error)]
#[error("worker monitor failed: {0}")]
pub struct WorkerRunError(String);

/// Runs every queue's workers until `shutdown` resolves, then drains.
pub async fn run_workers(
    deps: WorkerDeps,
    config: WorkerConfig,
    shutdown: impl Future<Output = std::io::Result<()>> + Send + 'static,
) -> Result<(), WorkerRunError> {
    let guard =
        WorkspaceGuardLayer::new(deps.db.clone(), deps.jobs.clone(), config.guard_cache_ttl, deps.metrics.clone());
    // Unique names per process make each worker identifiable in logs.
    let instance = uuid::Uuid::new_v4().simple().to_string();
    let (queue, billing_queue) = (deps.queue.clone(), deps.queue.clone());
    let billing_guard = guard.clone();
    let billing_instance = instance.clone();
    let (classify_queue, classify_guard, classify_instance) = (deps.queue.clone(), guard.clone(), instance.clone());
    let classify = deps.classify.clone();
    let (send_queue, send_guard, send_instance) = (deps.queue.clone(), guard.clone(), instance.clone());
    let send = deps.send.clone();
    Monitor::new()
        .shutdown_timeout(Duration::from_secs(30))
        .register(move |i| {
            WorkerBuilder::new(format!("{}-{instance}-{i}", queue::PROCESS_INBOUND))
                .backend(queue.backend::<ProcessInboundMessage>())
                .layer(guard.clone())
                .concurrency(config.concurrency)
                .build(handlers::process_inbound::handle)
        })
        .register(move |i| {
            WorkerBuilder::new(format!("{}-{billing_instance}-{i}", queue::APPLY_BILLING))
                .backend(billing_queue.backend::<ApplyBillingEvent>())
                .layer(billing_guard.clone())
                .concurrency(4)
                .build(handlers::apply_billing::handle)
        })
        .register(move |i| {
            WorkerBuilder::new(format!("{}-{classify_instance}-{i}", queue::CLASSIFY_LEAD))
                .backend(classify_queue.backend::<ClassifyLead>())
                .data(classify.clone())
                .layer(classify_guard.clone())
                .concurrency(config.concurrency)
                .build(handlers::classify_lead::handle)
        })
        .register(move |i| {
            WorkerBuilder::new(format!("{}-{send_instance}-{i}", queue::SEND_FOLLOWUP))
                .backend(send_queue.backend::<SendFollowup>())
                .data(send.clone())
                .layer(send_guard.clone())
                .concurrency(config.concurrency)
                .build(handlers::send_followup::handle)
        })
        .run_with_signal(shutdown)
        .await
        .map_err(|e| WorkerRunError(e.to_string()))
}
