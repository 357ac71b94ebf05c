//! The HTTP transport under async-openai.
//!
//! async-openai 0.43 turns a 429/5xx into `OpenAIError::ApiError`, which keeps
//! the status but drops the response headers, so `Retry-After` is lost by the
//! time our retry loop sees the error. (Its own default retry layer does read
//! `Retry-After`, but with a fixed 3 retries, no cap on the wait, and no way to
//! count malformed output as an attempt.) So we install this service instead:
//! plain reqwest, no retries, and 429/5xx come back as an [`HttpFailure`]
//! carrying the status, the requested wait and the error body.

use std::{future::Future, pin::Pin, task::Poll, time::Duration};

use async_openai::{
    error::OpenAIError,
    middleware::{HttpRequestFactory, ReqwestService},
};
use reqwest::{Response, header::HeaderMap};

#[derive(Debug)]
pub(crate) struct HttpFailure {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: String,
}

impl std::fmt::Display for HttpFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}: {}", self.status, self.body)
    }
}

impl std::error::Error for HttpFailure {}

#[derive(Clone, Debug)]
pub(crate) struct RetryAfterAware {
    inner: ReqwestService,
}

impl RetryAfterAware {
    pub fn new(client: reqwest::Client) -> Self {
        Self { inner: ReqwestService::new(client) }
    }
}

impl tower::Service<HttpRequestFactory> for RetryAfterAware {
    type Response = Response;
    type Error = OpenAIError;
    type Future = Pin<Box<dyn Future<Output = Result<Response, OpenAIError>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: HttpRequestFactory) -> Self::Future {
        let sent = self.inner.call(request);
        Box::pin(async move {
            let response = sent.await?;
            let status = response.status();
            if status.as_u16() != 429 && !status.is_server_error() {
                return Ok(response);
            }
            let retry_after = retry_after(response.headers());
            // Error bodies are small JSON; cap what we keep for the log line.
            let body: String = response.text().await.unwrap_or_default().chars().take(500).collect();
            Err(OpenAIError::Boxed(Box::new(HttpFailure { status: status.as_u16(), retry_after, body })))
        })
    }
}

/// `retry-after-ms` (sent by OpenAI, finer-grained) wins over `Retry-After`
/// in seconds. The HTTP-date form is not parsed; we fall back to backoff.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok().filter(|v| *v >= 0.0);
    number("retry-after-ms")
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .or_else(|| number("retry-after").map(Duration::from_secs_f64))
}
