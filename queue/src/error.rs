use frontdesk_jobs::EnqueueError;

/// The one error type of the queue crate.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("redis")]
    Redis(#[from] redis::RedisError),
    #[error("could not encode job")]
    Encode(#[from] serde_json::Error),
    #[error("unexpected reply from a queue script: {0}")]
    Protocol(String),
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A query the queue's design cannot answer cheaply (see `board.rs`).
    #[error("not supported: {0}")]
    Unsupported(&'static str),
}

impl From<QueueError> for EnqueueError {
    fn from(err: QueueError) -> Self {
        match err {
            QueueError::Encode(e) => EnqueueError::Encode(e),
            other => EnqueueError::Unavailable(Box::new(other)),
        }
    }
}
