//! `frontdesk bench`: machine-readable performance figures, each compared
//! with a baseline measured in the same run (these machines are noisy, so
//! ratios within one run are the figures to read, not absolute times).
//! Benchmarks build the app exactly as `frontdesk serve` does, with their
//! own Redis namespace and throwaway workspaces.

mod classify;
mod crash;
mod figures;
mod hostile;
mod ingest;
mod queue;

use clap::{Args, Subcommand};
use frontdesk_app::Config;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Our Redis backend vs stock apalis-redis 1.0: throughput, idle pickup, fairness, RSS.
    Queue(QueueArgs),
    /// Offline classifier quality and latency, and classify-lead job throughput against a local fake LLM.
    Classify(classify::ClassifyArgs),
    /// Signed Twilio SMS webhooks over HTTP against the api, beside pgbench TPC-B on the same Postgres.
    Ingest(ingest::IngestArgs),
    /// Missed calls owed one text-back each while worker and api processes are SIGKILLed: lost, duplicated, resolved.
    Crash(crash::CrashArgs),
}

#[derive(Args)]
pub struct QueueArgs {
    /// Jobs per throughput round.
    #[arg(short = 'n', long, default_value_t = 100_000)]
    jobs: usize,
    /// Worker concurrency; repeat for several levels (default 16 and 64).
    #[arg(short = 'c', long)]
    concurrency: Vec<usize>,
    /// Run only these parts (comma-separated or repeated): throughput, idle, fairness, memory, ratelimit. Default: all.
    #[arg(long, value_delimiter = ',')]
    only: Vec<queue::Scenario>,
}

pub async fn run(config: Config, command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Queue(args) => Ok(queue::run(&config.redis_url, args.jobs, &args.concurrency, &args.only).await?),
        BenchCommand::Classify(args) => classify::run(config, args).await,
        BenchCommand::Ingest(args) => ingest::run(config, args).await,
        BenchCommand::Crash(args) => crash::run(config, args).await,
    }
}

/// A throwaway run: its own Redis namespace and a name for its workspaces.
struct Scratch {
    id: String,
}

impl Scratch {
    fn new() -> Self {
        Self { id: uuid::Uuid::new_v4().simple().to_string() }
    }

    fn prefix(&self) -> String {
        format!("bench-{}", self.id)
    }

    /// The configuration the benchmark's app runs with: migrated (the bench
    /// is an admin tool and runs as the owner), its own namespace, a free port.
    async fn config(&self, base: &Config) -> anyhow::Result<Config> {
        use anyhow::Context;
        frontdesk_store::migrate(&base.database_url).await.context("applying migrations")?;
        Ok(Config {
            queue_prefix: self.prefix(),
            listen: "127.0.0.1:0".parse().expect("literal address"),
            ..base.clone()
        })
    }

    async fn clean_up(&self, app: &frontdesk_app::App, workspace: frontdesk_jobs::WorkspaceId) -> anyhow::Result<()> {
        frontdesk_store::workspaces::delete(app.db(), workspace).await?;
        frontdesk_testkit::redis::purge(&app.config().redis_url, &self.prefix()).await?;
        Ok(())
    }
}
