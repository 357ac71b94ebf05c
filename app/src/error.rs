use std::{net::SocketAddr, path::PathBuf};

use frontdesk_queue::QueueError;
use frontdesk_store::{StoreError, vault::VaultError};
use frontdesk_worker::WorkerRunError;

/// Why the app could not be built or stopped running.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("connecting to Postgres as the runtime role")]
    Postgres(#[source] StoreError),
    #[error(
        "the database schema is behind this binary (newest applied migration: {}, this binary needs: {required}): run `frontdesk migrate` as the database owner first",
        applied.map_or_else(|| "none visible".to_owned(), |v| v.to_string())
    )]
    SchemaBehind { applied: Option<i64>, required: i64 },
    #[error("connecting to Redis")]
    Redis(#[source] QueueError),
    #[error("master keys from {origin}")]
    MasterKeys {
        origin: String,
        #[source]
        source: VaultError,
    },
    #[error("development key file {}", path.display())]
    KeyFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("binding {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("api server")]
    Api(#[source] std::io::Error),
    #[error("workers")]
    Workers(#[source] WorkerRunError),
    #[error("configuration: {0}")]
    Config(String),
    #[error("a service panicked: {0}")]
    Panicked(String),
    #[error("a service stopped before it was asked to")]
    Stopped,
}
