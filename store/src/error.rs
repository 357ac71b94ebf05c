use frontdesk_jobs::WorkspaceId;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{entity} not found in workspace {workspace_id}")]
    NotFound { entity: &'static str, workspace_id: WorkspaceId },
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("credential vault")]
    Vault(#[from] crate::vault::VaultError),
}

impl StoreError {
    /// True when the failure is Postgres being unreachable or overloaded,
    /// as opposed to a bad query or bad data: callers answer 503 / retry.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Database(
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_)
            )
        )
    }

    /// The database or the role we log in as does not exist: nothing has
    /// been migrated on this server yet.
    pub fn is_missing_database_or_role(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("3D000" | "28000")))
    }

    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::Database(e)) if e.is_unique_violation())
    }
}
