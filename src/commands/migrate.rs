use anyhow::Context;

use frontdesk_app::Config;

pub async fn run(config: &Config) -> anyhow::Result<()> {
    frontdesk_store::migrate(&config.database_url).await.context("applying migrations")?;
    tracing::info!("migrations applied");
    Ok(())
}
