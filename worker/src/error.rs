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
    #[error("{what}")]
    Permanent {
        what: String,
        #[source]
        cause: Option<BoxError>,
    },
    /// Worth retrying with backoff (database or provider outage, 429, 5xx).
    #[error("{what}")]
    Retryable {
        what: String,
        #[source]
        cause: Option<BoxError>,
    },
    /// Retry, but not before `after` (the provider's `Retry-After`).
    #[error("{what} (retry after {after:?})")]
    RetryAfter { what: String, after: Duration },
}

impl JobError {
    pub fn permanent(what: impl Into<String>) -> Self {
        JobError::Permanent { what: what.into(), cause: None }
    }

    pub fn retryable(what: impl Into<String>) -> Self {
        JobError::Retryable { what: what.into(), cause: None }
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
            JobError::Permanent { what: "the job's data cannot be used".into(), cause }
        } else {
            JobError::Retryable { what: "database unavailable".into(), cause }
        }
    }
}
