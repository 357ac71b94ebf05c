//! Turns a handler's result into a queue outcome. The layer is the backend's
//! apalis middleware (`BackendConfig::Layer`), so it sees the final result
//! after every user layer (timeouts, catch-panic, the tenant assertion).
//!
//! - `Ok` → completed.
//! - an [`AbortError`] anywhere in the error's source chain → dead set at
//!   once, with the error as the reason (permanent failure, no retry).
//! - [`RetryAfterError`] → retried after the duration it names.
//! - any other error → retried after exponential backoff with jitter, or dead
//!   once the job's `max_attempts` are used up (the reason says so).
//!
//! Retries happen in Redis (the job goes to the scheduled set), never inside
//! the worker slot; do not add apalis's in-process retry layer on top.

use std::{
    error::Error as StdError,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use apalis_core::{
    error::{AbortError, BoxDynError, RetryAfterError},
    task::Task,
};
use tokio::sync::mpsc;
use tower::{Layer, Service};

use crate::{Lease, retry::Backoff};

#[derive(Clone, Debug)]
pub(crate) struct Outcome {
    pub(crate) job_id: String,
    pub(crate) fence: u64,
    pub(crate) workspace: String,
    pub(crate) kind: OutcomeKind,
}

#[derive(Clone, Debug)]
pub(crate) enum OutcomeKind {
    Done,
    Retry {
        delay: Duration,
        error: String,
    },
    Dead {
        reason: String,
    },
    /// Put back unstarted (shutdown with jobs still buffered).
    Release,
    /// Over a rate limit: run at this Redis time, not counted as an attempt.
    Postpone {
        until_ms: u64,
    },
}

impl OutcomeKind {
    fn of<R>(result: &Result<R, BoxDynError>, lease: &Lease, backoff: &Backoff) -> Self {
        let Err(err) = result else {
            return Self::Done;
        };
        let mut cur: Option<&(dyn StdError + 'static)> = Some(err.as_ref());
        let mut delay = None;
        while let Some(e) = cur {
            if e.is::<AbortError>() {
                return Self::Dead { reason: describe(err.as_ref()) };
            }
            if let Some(r) = e.downcast_ref::<RetryAfterError>() {
                delay = Some(r.get_duration());
                break;
            }
            cur = e.source();
        }
        if lease.attempt >= lease.max_attempts {
            return Self::Dead {
                reason: format!("gave up after {} attempts: {}", lease.attempt, describe(err.as_ref())),
            };
        }
        Self::Retry { delay: delay.unwrap_or_else(|| backoff.delay(lease.attempt)), error: describe(err.as_ref()) }
    }
}

/// The error as the dead set and the retry record keep it: its message and
/// every cause, past apalis's abort/retry wrappers (whose own message only
/// repeats their cause).
fn describe(err: &(dyn StdError + 'static)) -> String {
    let mut e = err;
    while e.is::<AbortError>() || e.is::<RetryAfterError>() {
        match e.source() {
            Some(inner) => e = inner,
            None => break,
        }
    }
    frontdesk_jobs::Report(e).to_string()
}

/// The backend's middleware; see the module docs.
#[derive(Clone, Debug)]
pub struct OutcomeLayer {
    pub(crate) outcomes: mpsc::UnboundedSender<Outcome>,
    pub(crate) backoff: Backoff,
}

impl<S> Layer<S> for OutcomeLayer {
    type Service = OutcomeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OutcomeService { inner, outcomes: self.outcomes.clone(), backoff: self.backoff.clone() }
    }
}

#[derive(Clone, Debug)]
pub struct OutcomeService<S> {
    inner: S,
    outcomes: mpsc::UnboundedSender<Outcome>,
    backoff: Backoff,
}

impl<S, Args> Service<Task<Args>> for OutcomeService<S>
where
    S: Service<Task<Args>>,
    S::Error: Into<BoxDynError>,
{
    type Response = S::Response;
    type Error = BoxDynError;
    type Future = OutcomeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, task: Task<Args>) -> Self::Future {
        let lease = task.ctx().data().get::<Lease>().cloned();
        OutcomeFuture {
            inner: self.inner.call(task),
            report: lease.map(|lease| (lease, self.outcomes.clone(), self.backoff.clone())),
        }
    }
}

pin_project_lite::pin_project! {
    /// Runs the handler, then reports its outcome to the worker's keeper.
    pub struct OutcomeFuture<F> {
        #[pin]
        inner: F,
        report: Option<(Lease, mpsc::UnboundedSender<Outcome>, Backoff)>,
    }
}

impl<F, R, E> Future for OutcomeFuture<F>
where
    F: Future<Output = Result<R, E>>,
    E: Into<BoxDynError>,
{
    type Output = Result<R, BoxDynError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = match this.inner.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r.map_err(Into::into),
        };
        if let Some((lease, outcomes, backoff)) = this.report.take() {
            let kind = OutcomeKind::of(&result, &lease, &backoff);
            // Fails only once the worker's keeper is gone (shutdown); the
            // lease then expires and the job is re-delivered.
            let _ = outcomes.send(Outcome {
                workspace: lease.workspace_id.to_string(),
                job_id: lease.job_id,
                fence: lease.fence,
                kind,
            });
        }
        Poll::Ready(result)
    }
}
