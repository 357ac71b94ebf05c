//! The long-running commands: serve, api, worker. Each builds the one app
//! and runs a different mix of its services.

use anyhow::Context;
use frontdesk_app::{App, Config, Services};

pub async fn serve(config: Config, migrate: bool) -> anyhow::Result<()> {
    if migrate {
        // One machine: keep the README's first command working on a fresh
        // database. Production runs `frontdesk migrate` once per release.
        frontdesk_store::migrate(&config.database_url).await.context("applying migrations")?;
    }
    run(config, Services::ALL).await
}

pub async fn api(config: Config) -> anyhow::Result<()> {
    run(config, Services::API).await
}

pub async fn worker(config: Config) -> anyhow::Result<()> {
    run(config, Services::WORKER).await
}

async fn run(config: Config, services: Services) -> anyhow::Result<()> {
    let app = App::build(config).await?;
    app.run(services, shutdown_signal()).await?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM; every service drains on it.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}
