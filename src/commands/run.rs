//! The long-running commands: serve, api, worker.

use std::sync::Arc;

use anyhow::Context;
use frontdesk_api::{AppState, WebhookMetrics};
use frontdesk_classifier::OfflineClassifier;
use frontdesk_jobs::Jobs;
use frontdesk_queue::RedisQueue;
use frontdesk_store::{Db, vault::Vault};
use frontdesk_worker::handlers::classify_lead::ClassifyDeps;
use frontdesk_worker::{
    GuardMetrics, WorkerConfig, WorkerDeps,
    outbox_relay::{self, RelayConfig},
    scheduler::Scheduler,
};
use std::time::Duration;
use tokio::sync::watch;

use crate::config::Config;

struct Runtime {
    db: Db,
    queue: RedisQueue,
    vault: Vault,
}

async fn connect(config: &Config) -> anyhow::Result<Runtime> {
    // Migrations are idempotent and run as the owner, so a fresh machine
    // needs no separate step; the runtime pool then logs in as frontdesk_app.
    frontdesk_store::migrate(&config.database_url).await.context("applying migrations")?;
    let db = Db::connect(&config.db()).await.context("connecting to Postgres as the runtime role")?;
    let queue = RedisQueue::connect(&config.redis_url, config.queue(&config.queue_prefix))
        .await
        .context("connecting to Redis")?;
    let vault = Vault::new(config.master_keys()?);
    Ok(Runtime { db, queue, vault })
}

pub async fn serve(config: &Config) -> anyhow::Result<()> {
    let rt = connect(config).await?;
    let stop = shutdown_signal();
    tokio::try_join!(run_api(config, &rt, stop.clone()), run_worker(config, &rt, stop))?;
    Ok(())
}

pub async fn api(config: &Config) -> anyhow::Result<()> {
    let rt = connect(config).await?;
    run_api(config, &rt, shutdown_signal()).await
}

pub async fn worker(config: &Config) -> anyhow::Result<()> {
    let rt = connect(config).await?;
    run_worker(config, &rt, shutdown_signal()).await
}

async fn run_api(config: &Config, rt: &Runtime, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
    let state = AppState {
        db: rt.db.clone(),
        jobs: Jobs::new(rt.queue.clone()),
        vault: rt.vault.clone(),
        public_url: config.public_url(),
        secrets: Arc::new(config.platform_secrets()),
        metrics: Arc::new(WebhookMetrics::default()),
        signing_keys: Arc::new(frontdesk_api::SigningKeys::default()),
    };
    let listener =
        tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    tracing::info!(listen = %config.listen, public_url = %config.public_url(), "api listening");
    frontdesk_api::serve(listener, state, async move {
        let _ = stop.wait_for(|s| *s).await;
    })
    .await
    .context("api server")
}

async fn run_worker(config: &Config, rt: &Runtime, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
    let jobs = Jobs::new(rt.queue.clone());
    let deps = WorkerDeps {
        db: rt.db.clone(),
        queue: rt.queue.clone(),
        jobs: jobs.clone(),
        metrics: Arc::new(GuardMetrics::default()),
        classify: ClassifyDeps {
            offline: Arc::new(OfflineClassifier::new()),
            platform_llm: config.platform_llm(),
            default_daily_budget: Some(config.ai_daily_token_budget),
            vault: rt.vault.clone(),
        },
        send: config.send_deps(rt.vault.clone()),
    };
    let relay_config =
        RelayConfig { stale_after: Duration::from_secs(config.outbox_timeout_secs), idle: Duration::from_secs(1) };
    let relay = tokio::spawn(outbox_relay::run(rt.db.clone(), jobs.clone(), relay_config, stop.clone()));
    let scheduler = Scheduler::new(rt.db.clone(), jobs, config.scheduler());
    let scheduler = tokio::spawn(scheduler.run(stop.clone()));
    let worker_config = WorkerConfig { concurrency: config.worker_concurrency, ..WorkerConfig::default() };
    tracing::info!(concurrency = worker_config.concurrency, "workers starting");
    let heartbeat = tokio::spawn(heartbeat(config.data_dir.join("worker.heartbeat")));
    let result = frontdesk_worker::run_workers(deps, worker_config, async move {
        let _ = stop.wait_for(|s| *s).await;
        Ok(())
    })
    .await
    .context("workers");
    heartbeat.abort();
    let _ = relay.await;
    let _ = scheduler.await;
    result
}

/// Touches `path` every few seconds while the worker runtime is alive, for
/// container health checks (the worker serves no HTTP).
async fn heartbeat(path: std::path::PathBuf) {
    if let Some(dir) = path.parent() {
        let _ = tokio::fs::create_dir_all(dir).await;
    }
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tick.tick().await;
        if let Err(e) = tokio::fs::write(&path, unix_seconds()).await {
            tracing::warn!(error = %e, path = %path.display(), "could not write worker heartbeat");
        }
    }
}

fn unix_seconds() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    secs.to_string()
}

/// Flips to true on SIGINT or SIGTERM; every component drains on it.
fn shutdown_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
        let _ = tx.send(true);
    });
    rx
}
