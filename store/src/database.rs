//! Pools and migrations. Two identities touch the database:
//! - the **owner** (the `DATABASE_URL` user) runs migrations and admin
//!   commands, and nothing else;
//! - the **runtime role** `frontdesk_app` runs every request and job. It owns
//!   no table, is not a superuser and cannot bypass RLS.

use std::{str::FromStr, time::Duration};

use sqlx::{
    ConnectOptions, Connection, Executor, PgConnection, PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tracing::info;

use crate::{MIGRATOR, StoreError};

/// The login role runtime queries use; created by the first migration.
pub const APP_ROLE: &str = "frontdesk_app";

/// A duration as a Postgres interval query argument.
pub(crate) fn interval(d: Duration) -> Result<sqlx::postgres::types::PgInterval, StoreError> {
    sqlx::postgres::types::PgInterval::try_from(d).map_err(|e| StoreError::Invalid(e.to_string()))
}

#[derive(Clone, Debug)]
pub struct DbConfig {
    /// Owner connection (migrations).
    pub database_url: String,
    /// Runtime connection; defaults to the owner URL with the user swapped
    /// for [`APP_ROLE`] and no password (trust or peer auth on one machine).
    pub app_database_url: Option<String>,
    pub max_connections: u32,
}

/// The runtime pool. Cloning is cheap; it is the handle every crate passes around.
#[derive(Clone, Debug)]
pub struct Db {
    pool: PgPool,
}

impl Db {
    pub async fn connect(config: &DbConfig) -> Result<Self, StoreError> {
        let owner = PgConnectOptions::from_str(&config.database_url)?;
        let options = match &config.app_database_url {
            Some(url) => PgConnectOptions::from_str(url)?,
            None => runtime_options(&owner),
        };
        Self::connect_with(options, config.max_connections).await
    }

    /// A runtime pool from explicit options (tests derive them from a test
    /// database's owner options with [`runtime_options`]).
    pub async fn connect_with(options: PgConnectOptions, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            // No ping per checkout (a round trip on every transaction): a
            // connection that died fails its one query, and webhooks and jobs
            // are retried by their senders.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.pool.acquire().await?.ping().await?;
        Ok(())
    }

    /// Whether every migration this binary was built with is applied. The
    /// runtime role may read `_sqlx_migrations` (granted by a migration), so
    /// a process that never migrates can still refuse a schema that is behind.
    pub async fn schema_status(&self) -> Result<SchemaStatus, StoreError> {
        let applied = sqlx::query_scalar!("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(&self.pool)
            .await;
        let applied = match applied {
            Ok(versions) => versions,
            // No table (never migrated), or no grant (older than the
            // migration that grants it, or grants lost in a restore).
            Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("42P01" | "42501")) => {
                return Ok(SchemaStatus::Unreadable);
            }
            Err(e) => return Err(e.into()),
        };
        let missing: Vec<i64> = MIGRATOR
            .iter()
            .filter(|m| m.migration_type.is_up_migration() && !applied.contains(&m.version))
            .map(|m| m.version)
            .collect();
        Ok(if missing.is_empty() { SchemaStatus::Current } else { SchemaStatus::Behind { missing } })
    }

    /// The highest fencing token recorded on a message still `sending`
    /// (across workspaces): after Redis loses its counters, new tokens must
    /// start above it, or a delivery could not take over such a message.
    pub async fn max_fencing_token(&self) -> Result<i64, StoreError> {
        let max = sqlx::query_scalar!(r#"SELECT max_fencing_token() AS "max!""#).fetch_one(&self.pool).await?;
        Ok(max)
    }

    /// Ids of every workspace, through a narrow SECURITY DEFINER function
    /// (the runtime role cannot list tenants by itself).
    pub async fn all_workspace_ids(&self) -> Result<Vec<frontdesk_jobs::WorkspaceId>, StoreError> {
        let ids =
            sqlx::query_scalar!(r#"SELECT id AS "id!: frontdesk_jobs::WorkspaceId" FROM system_workspace_ids() AS id"#)
                .fetch_all(&self.pool)
                .await?;
        Ok(ids)
    }
}

/// What [`Db::schema_status`] found. A database *ahead* of the binary (a
/// newer release migrated it) is current: migrations are additive, so old
/// processes keep running through a rolling deploy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SchemaStatus {
    Current,
    /// These migrations of the binary are not applied.
    Behind {
        missing: Vec<i64>,
    },
    /// The runtime role cannot see which migrations are applied: the schema
    /// predates the migration that lets it, or its grants were lost.
    Unreadable,
}

/// The owner's connection options with the user swapped for the runtime role.
pub fn runtime_options(owner: &PgConnectOptions) -> PgConnectOptions {
    owner.clone().username(APP_ROLE).password("")
}

/// Creates the database named in `database_url` if it is missing, so a fresh
/// machine needs no manual `createdb`.
pub async fn ensure_database_exists(database_url: &str) -> Result<(), StoreError> {
    let options = PgConnectOptions::from_str(database_url)?;
    let Some(name) = options.get_database().map(str::to_owned) else {
        return Ok(());
    };
    let mut admin = PgConnection::connect_with(&options.clone().database("postgres")).await?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&name)
        .fetch_one(&mut admin)
        .await?;
    if !exists {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        match admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {quoted}"))).await {
            Ok(_) => info!(database = %name, "created database"),
            // Another process created it between our check and our CREATE.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(e) => return Err(e.into()),
        }
    }
    admin.close().await?;
    Ok(())
}

/// Applies the migrations as the owner.
pub async fn migrate(database_url: &str) -> Result<(), StoreError> {
    ensure_database_exists(database_url).await?;
    let options = PgConnectOptions::from_str(database_url)?.log_statements(tracing::log::LevelFilter::Debug);
    let mut conn = PgConnection::connect_with(&options).await?;
    MIGRATOR.run(&mut conn).await?;
    conn.close().await?;
    Ok(())
}
