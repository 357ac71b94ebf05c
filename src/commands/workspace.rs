//! `frontdesk workspace`: create a studio and its owner from the command line.

use anyhow::Context;
use chrono::Utc;
use clap::Subcommand;
use frontdesk_api::auth::tokens;
use frontdesk_app::Config;
use frontdesk_store::{
    Db,
    users::{self, NewUser, Role},
    workspaces,
};

#[derive(Subcommand)]
pub enum WorkspaceCommand {
    /// Create a workspace and its owner; print the owner's one-time sign-in token.
    Create {
        #[arg(long)]
        name: String,
        /// IANA timezone, e.g. Europe/Madrid.
        #[arg(long, default_value = "UTC")]
        timezone: String,
        /// The owner's email: they sign in with it.
        #[arg(long)]
        owner_email: String,
        #[arg(long, default_value = "")]
        owner_name: String,
    },
}

pub async fn run(config: &Config, command: WorkspaceCommand) -> anyhow::Result<()> {
    match command {
        WorkspaceCommand::Create { name, timezone, owner_email, owner_name } => {
            let email = owner_email.trim().to_ascii_lowercase();
            anyhow::ensure!(
                email.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.')) && email.len() <= 254,
                "--owner-email {owner_email:?} is not an email address"
            );
            frontdesk_store::migrate(&config.database_url).await.context("applying migrations")?;
            let db = Db::connect(&config.db()).await.context("connecting to Postgres")?;
            let id = workspaces::create(&db, &workspaces::NewWorkspace { name, timezone }).await?;
            let invitation = tokens::new_invitation();
            let expires_at = Utc::now() + chrono::Duration::hours(config.invitation_ttl_hours.max(1) as i64);
            let mut tx = db.tenant(id).await?;
            let owner = NewUser {
                email: &email,
                name: owner_name.trim(),
                role: Role::Owner,
                invite_token_hash: invitation.hash,
                invite_expires_at: expires_at,
            };
            if let Err(e) = users::invite(&mut tx, &owner).await {
                tx.rollback().await?;
                // No studio without an owner: undo the workspace.
                workspaces::delete(&db, id).await?;
                return Err(e).context("creating the owner");
            }
            tx.commit().await?;
            let url = config.public_url();
            println!("workspace_id: {id}");
            println!("owner_email: {email}");
            println!("invitation_token: {}", invitation.token);
            println!("invitation_expires_at: {}", expires_at.to_rfc3339());
            println!();
            println!("Set the owner's password and sign in (the token works once):");
            println!(
                "  curl -X POST {}/v1/auth/invitations/accept -H 'content-type: application/json' -d '{{\"token\": \"{}\", \"password\": \"<choose one>\"}}'",
                url.trim_end_matches('/'),
                invitation.token
            );
            Ok(())
        }
    }
}
