//! Tenant-scoped database access and the credential vault.
//!
//! Every tenant query in frontdesk goes through a [`TenantTx`]: a transaction
//! that has set `app.workspace_id` locally before its first statement, so
//! Postgres row-level security confines it to one workspace. Query functions
//! take the `TenantTx` first and still bind its workspace in their `WHERE`
//! clauses: RLS is the second lock, not the only one.

mod database;
mod error;
mod tenant;
pub mod vault;

pub mod activity;
pub mod ai;
pub mod api_keys;
pub mod call_logs;
pub mod credentials;
pub mod followups;
pub mod idempotency;
pub mod inbound;
pub mod integrations;
pub mod leads;
pub mod messages;
pub mod outbox;
pub mod references;
pub mod routes;
pub mod sessions;
pub mod unknown_sends;
pub mod users;
pub mod webhook_events;
pub mod wizard;
pub mod workspaces;

pub use database::{APP_ROLE, Db, DbConfig, SchemaStatus, ensure_database_exists, migrate, runtime_options};
pub use error::StoreError;
pub use tenant::TenantTx;

/// The embedded migrations; `frontdesk migrate` and the tests apply these.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");
