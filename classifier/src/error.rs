//! The crate's one error type. Everything fallible here is the LLM path;
//! rule problems are reported as `RuleIssue` values, and the offline
//! classifier cannot fail.

use std::time::Duration;

use crate::llm::TokenUsage;

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("invalid LLM configuration: {0}")]
    Config(String),
    /// 429 or 5xx; `retry_after` is what the server asked for, if anything.
    #[error("LLM endpoint answered {status}: {message}")]
    Status { status: u16, message: String, retry_after: Option<Duration> },
    /// Any other non-success status (bad key, unknown model, bad request).
    #[error("LLM endpoint rejected the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("LLM transport error: {0}")]
    Transport(String),
    /// The response was not a chat completion or its content was not our JSON.
    #[error("LLM output is malformed: {0}")]
    Malformed(String),
    /// Parsed, but out of range (score, lengths, language code).
    #[error("LLM output failed validation: {0}")]
    InvalidOutput(String),
    /// Every attempt failed; `usage` counts tokens the failed attempts still cost.
    #[error("LLM gave up after {attempts} attempts: {last}")]
    Exhausted { attempts: u32, last: Box<LlmError>, usage: TokenUsage },
}

impl LlmError {
    /// Worth retrying later (or falling back to the offline classifier now):
    /// rate limits, server errors, timeouts and bad model output. Bad keys,
    /// unknown models and config errors are not.
    pub fn is_transient(&self) -> bool {
        match self {
            LlmError::Status { .. } | LlmError::Transport(_) => true,
            LlmError::Malformed(_) | LlmError::InvalidOutput(_) => true,
            LlmError::Config(_) | LlmError::Rejected { .. } => false,
            LlmError::Exhausted { last, .. } => last.is_transient(),
        }
    }

    /// The server's requested wait, if the last failure carried one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            LlmError::Status { retry_after, .. } => *retry_after,
            LlmError::Exhausted { last, .. } => last.retry_after(),
            _ => None,
        }
    }
}
