//! `frontdesk keys`: generate a key entry, rotate credentials to the newest key.

use anyhow::Context;
use clap::Subcommand;
use frontdesk_store::{
    Db, integrations,
    vault::{MasterKeys, Vault},
};

use frontdesk_app::Config;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Print a new random key entry (`<version>:<base64>`) to append to FRONTDESK_MASTER_KEYS.
    Generate {
        #[arg(long, default_value_t = 1)]
        version: i32,
    },
    /// Re-encrypt every stored credential under the newest master key.
    /// Safe while the service runs: keep the old keys configured until it finishes.
    Rotate,
}

pub async fn run(config: &Config, command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Generate { version } => {
            println!("{}", MasterKeys::generate_encoded(version));
            Ok(())
        }
        KeysCommand::Rotate => rotate(config).await,
    }
}

async fn rotate(config: &Config) -> anyhow::Result<()> {
    let vault = Vault::new(config.master_keys()?);
    let db = Db::connect(&config.db()).await.context("connecting to Postgres")?;
    let workspaces = db.all_workspace_ids().await?;
    let total = workspaces.len();
    let mut rewritten = 0;
    // One short transaction per workspace: no long locks, and an interrupted
    // run resumes where it stopped (finished rows are already on the newest key).
    for (done, workspace_id) in workspaces.into_iter().enumerate() {
        let mut tx = db.tenant(workspace_id).await?;
        rewritten +=
            integrations::rotate(&mut tx, &vault).await.with_context(|| format!("workspace {workspace_id}"))?;
        tx.commit().await?;
        if (done + 1) % 100 == 0 || done + 1 == total {
            eprintln!("rotate: {}/{} workspaces, {} credentials re-encrypted", done + 1, total, rewritten);
        }
    }
    println!("rotated {rewritten} credentials in {total} workspaces to key version {}", vault.newest_version());
    Ok(())
}
