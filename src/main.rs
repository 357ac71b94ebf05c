//! `frontdesk`: the one binary. `serve` runs api + worker (+ scheduler) in
//! one process; `api` and `worker` run them apart for production.

mod commands;
mod telemetry;

use clap::{Parser, Subcommand};
use frontdesk_app::Config;

#[derive(Parser)]
#[command(name = "frontdesk", version, about = "Multi-tenant lead pipeline for fitness studios")]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// API, workers and scheduler in one process (the default). Applies
    /// pending migrations first unless --no-migrate.
    Serve {
        /// Leave migrations to `frontdesk migrate` (refuse a schema that is behind).
        #[arg(long)]
        no_migrate: bool,
    },
    /// Only the HTTP API. Never migrates: refuses a schema that is behind.
    Api,
    /// Only the workers, the outbox relay and the scheduler. Never migrates.
    Worker,
    /// Apply database migrations to DATABASE_URL and exit.
    Migrate,
    /// Credential master keys.
    Keys {
        #[command(subcommand)]
        command: commands::keys::KeysCommand,
    },
    /// Benchmarks with machine-readable output.
    #[cfg(feature = "bench")]
    Bench {
        #[command(subcommand)]
        command: frontdesk_bench::BenchCommand,
    },
    /// Workspaces (tenants).
    Workspace {
        #[command(subcommand)]
        command: commands::workspace::WorkspaceCommand,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(cli.config.log_format);
    let config = cli.config;
    match cli.command.unwrap_or(Command::Serve { no_migrate: false }) {
        Command::Serve { no_migrate } => commands::run::serve(config, !no_migrate).await,
        Command::Api => commands::run::api(config).await,
        Command::Worker => commands::run::worker(config).await,
        Command::Migrate => commands::migrate::run(&config).await,
        Command::Keys { command } => commands::keys::run(&config, command).await,
        Command::Workspace { command } => commands::workspace::run(&config, command).await,
        #[cfg(feature = "bench")]
        Command::Bench { command } => frontdesk_bench::run(config, command).await,
    }
}
