//! Provider clients for outbound messages. Each call classifies failures
//! the way the send job needs: permanent (never retry), transient (retry
//! with backoff), or one of the provider outcomes with a specific remedy.

pub mod openai;
pub mod smtp;
pub mod twilio;
pub mod whatsapp;

use std::time::Duration;

/// The provider accepted the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    pub provider_message_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The recipient opted out (Twilio 21610): mark the lead, never retry.
    #[error("recipient has opted out: {0}")]
    OptedOut(String),
    /// Free-form WhatsApp outside the 24-hour window (131047): send the template instead.
    #[error("outside the WhatsApp 24-hour window: {0}")]
    OutsideWindow(String),
    /// Retrying cannot help: invalid number (21211), bad credentials, other 4xx.
    #[error("rejected by provider: {0}")]
    Permanent(String),
    /// The provider answered and did not take the message (429, 5xx), or we
    /// never reached it (connection refused): retry with backoff.
    #[error("provider temporarily unavailable: {detail}")]
    Transient { detail: String, retry_after: Option<Duration> },
    /// The request may have reached the provider but we do not know what it
    /// did (timeout after sending, connection dropped, unreadable success
    /// reply). Sending again could message the customer twice.
    #[error("outcome unknown: {0}")]
    Unknown(String),
}

impl SendError {
    fn from_http(e: reqwest::Error) -> Self {
        if e.is_connect() || e.is_builder() {
            // Never left this machine: safe to retry.
            return SendError::Transient { detail: format!("http: {e}"), retry_after: None };
        }
        SendError::Unknown(format!("http: {e}"))
    }
}

/// A provider's answer, read whole: status, `Retry-After`, body.
struct Reply {
    status: reqwest::StatusCode,
    retry_after: Option<Duration>,
    body: String,
}

impl Reply {
    /// Sends `request` and reads the whole answer.
    async fn send(request: reqwest::RequestBuilder) -> Result<Self, SendError> {
        Self::read(request.send().await.map_err(SendError::from_http)?).await
    }

    async fn read(res: reqwest::Response) -> Result<Self, SendError> {
        let status = res.status();
        let retry_after = retry_after(res.headers());
        let body = res.text().await.map_err(SendError::from_http)?;
        Ok(Self { status, retry_after, body })
    }

    /// Parses a success body. The provider said yes but we cannot tell to
    /// what, so an unreadable one is an unknown outcome, never a retry.
    fn parse<T: serde::de::DeserializeOwned>(&self, provider: &str) -> Result<T, SendError> {
        serde_json::from_str(&self.body)
            .map_err(|e| SendError::Unknown(format!("unreadable {provider} success response: {e}")))
    }
}

impl Reply {
    /// `HTTP <status> code <code> <message>`, for failures.
    fn detail(&self, code: Option<i64>, message: &str) -> String {
        format!("HTTP {} code {} {message}", self.status.as_u16(), code.unwrap_or(0))
    }

    /// A gateway error: the request may have reached the provider behind it.
    fn is_gateway_error(&self) -> bool {
        matches!(self.status.as_u16(), 502 | 504)
    }

    /// What a failure with no provider-specific code means. A gateway error
    /// may come after the provider took the message (unknown); 429 and the
    /// other 5xx were refused for now (transient); anything else is permanent.
    fn failure(&self, detail: String) -> SendError {
        match self.status.as_u16() {
            _ if self.is_gateway_error() => SendError::Unknown(detail),
            429 | 500..=599 => SendError::Transient { detail, retry_after: self.retry_after },
            _ => SendError::Permanent(detail),
        }
    }
}

/// `Retry-After` in seconds (the form providers use), capped at an hour.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let secs: u64 = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs.min(3600)))
}

/// A client with the timeouts every provider call gets.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(20))
        .build()
        .expect("static reqwest configuration")
}
