use frontdesk_store::StoreError;

/// A handler's failure, split by what the queue should do next.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Retrying cannot help (bad reference, opted-out recipient, 4xx): the
    /// job goes straight to the dead set with this reason.
    #[error("permanent: {0}")]
    Permanent(String),
    /// Worth retrying with backoff (database or provider outage, 429, 5xx).
    #[error("retryable: {0}")]
    Retryable(String),
    /// Retry, but not before `after` (the provider's `Retry-After`).
    #[error("retryable after {after:?}: {detail}")]
    RetryAfter { detail: String, after: std::time::Duration },
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } | StoreError::Invalid(_) | StoreError::Vault(_) => {
                JobError::Permanent(e.to_string())
            }
            other => JobError::Retryable(other.to_string()),
        }
    }
}
