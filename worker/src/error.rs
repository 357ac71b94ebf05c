use std::time::Duration;

use frontdesk_jobs::BoxError;
use frontdesk_store::StoreError;

/// A handler's failure, split by what the queue should do next. Each keeps
/// its cause, so the guard's log line and the dead set's reason show the
/// whole chain.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Retrying cannot help (bad reference, opted-out recipient, 4xx): the
    /// job goes straight to the dead set with this reason.
    #[error("{reason}")]
    Permanent {
        reason: String,
        #[source]
        cause: Option<BoxError>,
    },
    /// Worth retrying with backoff (database or provider outage, 429, 5xx).
    #[error("{reason}")]
    Retryable {
        reason: String,
        #[source]
        cause: Option<BoxError>,
    },
    /// Retry, but not before `after` (the provider's `Retry-After`).
    #[error("{reason} (retry after {after:?})")]
    RetryAfter { reason: String, after: Duration },
}

impl JobError {
    pub fn permanent(reason: impl Into<String>) -> Self {
        JobError::Permanent { reason: reason.into(), cause: None }
    }

    pub fn retryable(reason: impl Into<String>) -> Self {
        JobError::Retryable { reason: reason.into(), cause: None }
    }

    pub fn is_permanent(&self) -> bool {
        matches!(self, JobError::Permanent { .. })
    }
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        let permanent = matches!(e, StoreError::NotFound { .. } | StoreError::Invalid(_) | StoreError::Vault(_));
        let cause = Some(Box::new(e) as BoxError);
        if permanent {
            JobError::Permanent { reason: "the job's data cannot be used".into(), cause }
        } else {
            JobError::Retryable { reason: "database unavailable".into(), cause }
        }
    }
}
