use std::{net::SocketAddr, path::PathBuf};

use frontdesk_queue::QueueError;
use frontdesk_store::{StoreError, vault::VaultError};
use frontdesk_worker::WorkerRunError;

/// Why the app could not be built or stopped running.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("connecting to Postgres as the runtime role")]
    Postgres(#[source] StoreError),
    #[error("the database or its runtime role does not exist yet: run `frontdesk migrate` as the database owner first")]
    NotMigrated(#[source] StoreError),
    #[error(
        "the database schema is behind this binary (missing migrations: {}): run `frontdesk migrate` as the database owner first",
        missing.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
    )]
    SchemaBehind { missing: Vec<i64> },
    #[error(
        "the runtime role cannot see which migrations are applied (the schema predates this binary, or its grants were lost): run `frontdesk migrate` as the database owner first"
    )]
    SchemaUnreadable,
    #[error("checking the database schema")]
    SchemaCheck(#[source] StoreError),
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
