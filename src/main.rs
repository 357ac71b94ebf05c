//! `frontdesk`: the one binary. `serve` runs api + worker (+ scheduler) in
//! one process; `api` and `worker` run them apart for production.

mod commands;
mod config;
mod telemetry;

use clap::{Parser, Subcommand};

use crate::config::Config;

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
    /// API, workers and scheduler in one process (the default).
    Serve,
    /// Only the HTTP API.
    Api,
    /// Only the workers (and the scheduler).
    Worker,
    /// Apply database migrations to DATABASE_URL and exit.
    Migrate,
    /// Credential master keys.
    Keys {
        #[command(subcommand)]
        command: commands::keys::KeysCommand,
    },
    /// Benchmarks with machine-readable output.
    Bench {
        #[command(subcommand)]
        command: commands::bench::BenchCommand,
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
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => commands::run::serve(&config).await,
        Command::Api => commands::run::api(&config).await,
        Command::Worker => commands::run::worker(&config).await,
        Command::Migrate => commands::migrate::run(&config).await,
        Command::Keys { command } => commands::keys::run(&config, command).await,
        Command::Workspace { command } => commands::workspace::run(&config, command).await,
        Command::Bench { command } => commands::bench::run(&config, command).await,
    }
}
