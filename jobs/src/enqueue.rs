//! The enqueue handle. `api` and the outbox relay hold a [`Jobs`]; which queue
//! backend sits behind it is decided once, at start-up, by whoever builds the
//! [`JobQueue`] implementation.

use std::{fmt, sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{Job, WorkspaceId};

/// A job serialized for the wire, with the routing facts a backend needs
/// (queue and workspace) lifted out so no backend has to parse the payload.
#[derive(Clone, Debug)]
pub struct Envelope {
    pub queue: &'static str,
    pub workspace_id: WorkspaceId,
    pub payload: serde_json::Value,
    pub dedupe_key: Option<String>,
    /// The queue's job id. Enqueue is idempotent by id: the outbox uses its
    /// entry id, so a re-push of a job that is pending or recently finished
    /// is a duplicate. `None`: the backend assigns one.
    pub job_id: Option<String>,
    pub run_at: Option<DateTime<Utc>>,
    pub max_attempts: u32,
    /// The provider limit this job's start counts against (a send through a
    /// Twilio number, a WhatsApp sender, an SMTP account).
    pub rate_limit: Option<RateLimit>,
}

/// At most `max` job starts per `per` for one provider key (e.g.
/// `twilio:<integration id>`) within one workspace. The queue backend
/// enforces it when it hands a job to a worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub key: String,
    pub max: u32,
    pub per: Duration,
    /// Goes ahead of the ordinary jobs already waiting for this key: a job
    /// over the limit takes the next free start instead of the end of the
    /// line. For replies to something a lead just did (a missed call), not
    /// for campaigns. The limit itself holds either way.
    pub urgent: bool,
}

impl RateLimit {
    pub fn new(key: impl Into<String>, max: u32, per: Duration) -> Self {
        Self { key: key.into(), max, per, urgent: false }
    }

    pub fn urgent(self) -> Self {
        Self { urgent: true, ..self }
    }
}

impl Envelope {
    pub fn of<J: Job>(job: &J) -> Result<Self, EnqueueError> {
        Ok(Self {
            queue: J::QUEUE,
            workspace_id: job.workspace_id(),
            payload: serde_json::to_value(job).map_err(EnqueueError::Encode)?,
            dedupe_key: job.dedupe_key(),
            job_id: None,
            run_at: None,
            max_attempts: J::MAX_ATTEMPTS,
            rate_limit: None,
        })
    }
}

/// Whether a push created a job or collapsed into one already pending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enqueued {
    Created,
    Duplicate,
}

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error("could not encode job")]
    Encode(#[source] serde_json::Error),
    #[error("queue backend unavailable")]
    Unavailable(#[source] crate::BoxError),
    #[error("queue {0} is not known to this backend")]
    UnknownQueue(String),
}

/// The small, object-safe trait a queue backend implements.
#[async_trait]
pub trait JobQueue: Send + Sync {
    async fn push(&self, envelope: Envelope) -> Result<Enqueued, EnqueueError>;
}

/// The typed handle passed around the application.
#[derive(Clone)]
pub struct Jobs(Arc<dyn JobQueue>);

impl Jobs {
    pub fn new(backend: impl JobQueue + 'static) -> Self {
        Self(Arc::new(backend))
    }

    pub async fn enqueue<J: Job>(&self, job: &J) -> Result<Enqueued, EnqueueError> {
        self.0.push(Envelope::of(job)?).await
    }

    pub async fn enqueue_at<J: Job>(&self, job: &J, run_at: DateTime<Utc>) -> Result<Enqueued, EnqueueError> {
        let mut envelope = Envelope::of(job)?;
        envelope.run_at = Some(run_at);
        self.0.push(envelope).await
    }

    /// Pushes an already-serialized job (the outbox relay stores envelopes as rows).
    pub async fn enqueue_envelope(&self, envelope: Envelope) -> Result<Enqueued, EnqueueError> {
        self.0.push(envelope).await
    }
}

impl fmt::Debug for Jobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Jobs(..)")
    }
}
