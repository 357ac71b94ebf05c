//! `frontdesk workspace`: create a studio from the command line.

use anyhow::Context;
use clap::Subcommand;
use frontdesk_store::{Db, workspaces};

use frontdesk_app::Config;

#[derive(Subcommand)]
pub enum WorkspaceCommand {
    /// Create a workspace and print its id.
    Create {
        #[arg(long)]
        name: String,
        /// IANA timezone, e.g. Europe/Madrid.
        #[arg(long, default_value = "UTC")]
        timezone: String,
    },
}

pub async fn run(config: &Config, command: WorkspaceCommand) -> anyhow::Result<()> {
    match command {
        WorkspaceCommand::Create { name, timezone } => {
            frontdesk_store::migrate(&config.database_url).await.context("applying migrations")?;
            let db = Db::connect(&config.db()).await.context("connecting to Postgres")?;
            let id = workspaces::create(&db, &workspaces::NewWorkspace { name, timezone }).await?;
            println!("{id}");
            Ok(())
        }
    }
}
