//! How frontdesk is put together, in one place.
//!
//! [`App::build`] turns a [`Config`] into every part: the runtime Postgres
//! pool (checked against the binary's migrations), the Redis queue, the
//! credential vault, the api's state and the workers' dependencies.
//! [`App::start`] runs any mix of [`Services`] (the HTTP api, the workers
//! with the outbox relay, the follow-up scheduler) until told to stop.
//! `frontdesk serve|api|worker`, every benchmark and the end-to-end tests
//! build the app this way and differ only in configuration.

mod config;
mod error;

pub use config::{Config, LogFormat};
pub use error::AppError;

use std::{future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use frontdesk_api::{AppState, InFlightBudget, RateLimiter, SigningKeys, WebhookMetrics};
use frontdesk_classifier::{LlmConfig, OfflineClassifier};
use frontdesk_jobs::{Jobs, Report};
use frontdesk_queue::RedisQueue;
use frontdesk_store::{Db, SchemaStatus, vault::Vault};
use frontdesk_worker::{
    WorkerDeps, WorkerMetrics, handlers::classify_lead::ClassifyDeps, outbox_relay, scheduler::Scheduler,
};
use tokio::{sync::watch, task::JoinSet};

/// Which parts of frontdesk a process runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Services {
    /// The HTTP api on `Config::listen`.
    pub api: bool,
    /// Every registered job kind's workers (and, for health checks, the
    /// heartbeat file they keep fresh).
    pub workers: bool,
    /// The outbox relay, which pushes jobs committed but not in Redis, for
    /// every workspace of the database.
    pub relay: bool,
    /// The follow-up scheduler (due follow-ups, cron rules).
    pub scheduler: bool,
}

impl Services {
    /// `frontdesk serve`: everything in one process.
    pub const ALL: Self = Self { api: true, workers: true, relay: true, scheduler: true };
    /// `frontdesk api`.
    pub const API: Self = Self { api: true, workers: false, relay: false, scheduler: false };
    /// `frontdesk worker`: workers, relay and scheduler.
    pub const WORKER: Self = Self { api: false, workers: true, relay: true, scheduler: true };
}

/// Every part of frontdesk, connected and ready to run.
pub struct App {
    config: Config,
    db: Db,
    queue: RedisQueue,
    vault: Vault,
    api: AppState,
    worker: WorkerDeps,
}

impl App {
    /// Connects to Postgres as the runtime role and refuses a schema that is
    /// behind this binary (`frontdesk migrate` applies it; nothing here needs
    /// owner rights), connects to Redis and opens the vault.
    pub async fn build(config: Config) -> Result<Self, AppError> {
        let db = Db::connect(&config.db()).await.map_err(|e| {
            if e.is_missing_database_or_role() { AppError::NotMigrated(e) } else { AppError::Postgres(e) }
        })?;
        match db.schema_status().await.map_err(AppError::SchemaCheck)? {
            SchemaStatus::Current => {}
            SchemaStatus::Behind { missing } => return Err(AppError::SchemaBehind { missing }),
            SchemaStatus::Unreadable => return Err(AppError::SchemaUnreadable),
        }
        let queue = RedisQueue::connect(&config.redis_url, config.queue()).await.map_err(AppError::Redis)?;
        let vault = Vault::new(config.master_keys()?);
        let jobs = Jobs::new(queue.clone());
        let api = AppState {
            db: db.clone(),
            jobs: jobs.clone(),
            vault: vault.clone(),
            public_url: config.public_url(),
            secrets: Arc::new(config.platform_secrets()),
            metrics: Arc::new(WebhookMetrics::default()),
            signing_keys: Arc::new(SigningKeys::default()),
            inflight: InFlightBudget::new(config.inflight_bytes),
            studio: Arc::new(config.studio()?),
            limiter: RateLimiter::new(queue.connection(), &config.queue_prefix),
        };
        let worker = WorkerDeps {
            db: db.clone(),
            queue: queue.clone(),
            jobs,
            metrics: Arc::new(WorkerMetrics::default()),
            classify: ClassifyDeps {
                offline: Arc::new(OfflineClassifier::new()),
                platform_llm: config.platform_llm(),
                default_daily_budget: Some(config.ai_daily_token_budget),
                vault: vault.clone(),
            },
            send: config.send_deps(vault.clone()),
        };
        Ok(Self { config, db, queue, vault, api, worker })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn queue(&self) -> &RedisQueue {
        &self.queue
    }

    pub fn jobs(&self) -> &Jobs {
        &self.api.jobs
    }

    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// The api's shared state (webhook counters live here).
    pub fn api_state(&self) -> &AppState {
        &self.api
    }

    /// The workers' dependencies (guard counters, the job-finished signal).
    pub fn worker_deps(&self) -> &WorkerDeps {
        &self.worker
    }

    /// Replaces the platform's default LLM endpoint with one tuned beyond
    /// what the configuration says (retries, timeouts).
    pub fn set_platform_llm(&mut self, llm: Option<LlmConfig>) {
        self.worker.classify.platform_llm = llm;
    }

    /// A scheduler over this app's database and queue, for callers that
    /// drive its ticks themselves.
    pub fn scheduler(&self) -> Scheduler {
        Scheduler::new(self.db.clone(), self.api.jobs.clone(), self.config.scheduler())
    }

    /// Starts `services` in the background and returns once the api (if
    /// any) is listening.
    pub async fn start(&self, services: Services) -> Result<Running, AppError> {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let mut api_addr = None;
        if services.api {
            let listen = self.config.listen;
            let listener =
                tokio::net::TcpListener::bind(listen).await.map_err(|e| AppError::Bind { addr: listen, source: e })?;
            let addr = listener.local_addr().map_err(|e| AppError::Bind { addr: listen, source: e })?;
            api_addr = Some(addr);
            tracing::info!(listen = %addr, public_url = %self.config.public_url(), "api listening");
            let (state, stopped) = (self.api.clone(), stopped.clone());
            tasks.spawn(async move {
                frontdesk_api::serve(listener, state, stopped_future(stopped)).await.map_err(AppError::Api)
            });
        }
        if services.relay {
            let relay = outbox_relay::run(
                self.db.clone(),
                self.api.jobs.clone(),
                self.queue.clone(),
                self.config.relay(),
                stopped.clone(),
            );
            tasks.spawn(async move {
                relay.await;
                Ok(())
            });
        }
        if services.workers {
            let (deps, config) = (self.worker.clone(), self.config.workers());
            tracing::info!(concurrency = config.concurrency, "workers starting");
            let heartbeat = heartbeat(self.config.data_dir.join("worker.heartbeat"));
            let stopped = stopped.clone();
            tasks.spawn(async move {
                let workers = frontdesk_worker::run_workers(deps, config, async move {
                    stopped_future(stopped).await;
                    Ok(())
                });
                // The heartbeat lives exactly as long as the workers: if they
                // end on their own, the health check must see it.
                tokio::select! {
                    result = workers => result.map_err(AppError::Workers),
                    never = heartbeat => match never {},
                }
            });
        }
        if services.scheduler {
            let scheduler = self.scheduler().run(stopped.clone());
            tasks.spawn(async move {
                scheduler.await;
                Ok(())
            });
        }
        Ok(Running { api_addr, stop, tasks })
    }

    /// Runs `services` until `shutdown` resolves (or one of them fails),
    /// then stops them all and waits for them to drain.
    pub async fn run(&self, services: Services, shutdown: impl Future<Output = ()>) -> Result<(), AppError> {
        let mut running = self.start(services).await?;
        tokio::select! {
            () = shutdown => {}
            failed = running.next_exit() => {
                running.stop();
                // The first failure is the cause; what stopping adds is logged only.
                if let Err(e) = running.wait().await {
                    tracing::warn!(error = %Report(&e), "a service also failed while stopping");
                }
                return failed;
            }
        }
        running.stop();
        running.wait().await
    }
}

/// Services started by [`App::start`]. Call [`Running::stop`] and then
/// [`Running::wait`] to let in-flight work finish; dropping it signals stop
/// and aborts whatever is still running.
pub struct Running {
    api_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<Result<(), AppError>>,
}

impl Running {
    /// Where the api listens (the real port when `listen` asked for port 0).
    pub fn api_addr(&self) -> Option<SocketAddr> {
        self.api_addr
    }

    /// Asks every service to stop (in-flight requests and jobs finish).
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Waits for every service to end; the first failure wins.
    pub async fn wait(mut self) -> Result<(), AppError> {
        let mut first = Ok(());
        while let Some(joined) = self.tasks.join_next().await {
            let result = joined.unwrap_or_else(|e| Err(AppError::Panicked(e.to_string())));
            if let (Err(e), Ok(())) = (result, &first) {
                first = Err(e);
            }
        }
        first
    }

    /// Resolves when any service ends on its own (a service ending before
    /// it is told to is a failure, even without an error).
    async fn next_exit(&mut self) -> Result<(), AppError> {
        match self.tasks.join_next().await {
            Some(Ok(Err(e))) => Err(e),
            Some(Err(e)) => Err(AppError::Panicked(e.to_string())),
            Some(Ok(Ok(()))) | None => Err(AppError::Stopped),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn stopped_future(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}

/// Touches `path` every few seconds, for container health checks; it runs
/// until the workers it stands for end.
async fn heartbeat(path: PathBuf) -> std::convert::Infallible {
    if let Some(dir) = path.parent() {
        let _ = tokio::fs::create_dir_all(dir).await;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        if let Err(e) = tokio::fs::write(&path, now.to_string()).await {
            tracing::warn!(error = %Report(&e), path = %path.display(), "could not write worker heartbeat");
        }
    }
}
