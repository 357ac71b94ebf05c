//! An OpenAI-compatible chat-completions client for lead classification.
//!
//! Built on async-openai with our own transport (see `transport.rs`) so that
//! one retry loop here sees `Retry-After` and also counts malformed or invalid
//! model output as a failed attempt.

mod schema;
mod transport;

use std::time::Duration;

use async_openai::{
    Client,
    config::OpenAIConfig,
    error::OpenAIError,
    types::chat::{
        ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage, ChatCompletionRequestSystemMessageContent,
        ChatCompletionRequestUserMessage, ChatCompletionRequestUserMessageContent, CompletionUsage,
        CreateChatCompletionRequest, CreateChatCompletionRequestArgs,
    },
};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::{Classification, DEFAULT_MAX_REPLY_CHARS, Intent, Language, LlmError, Temperature};
use transport::{HttpFailure, RetryAfterAware};

pub use schema::schema as classification_schema;

/// What a classification request costs beyond its two messages' text: the
/// response schema it carries and the chat framing (estimated like the
/// text, see [`crate::excerpt::estimate_tokens`]).
pub fn request_overhead_tokens() -> u32 {
    crate::excerpt::estimate_tokens(&schema::schema().to_string()) + 64
}

/// Where and how to call the model. A workspace with its own key gets its own
/// `LlmConfig` (and client); keys are never shared across workspaces here.
#[derive(Clone)]
pub struct LlmConfig {
    /// Up to and including the version segment, e.g. `https://api.openai.com/v1`
    /// or `http://127.0.0.1:11434/v1` for Ollama.
    pub base_url: String,
    pub model: String,
    pub api_key: String,
    /// Per HTTP attempt, connect to last byte.
    pub timeout: Duration,
    /// Total attempts, including the first (≥ 1).
    pub max_attempts: u32,
    /// First backoff when the server gives no `Retry-After`; doubles per attempt.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// A longer `Retry-After` than this ends the call with a transient error
    /// instead of holding a worker slot; the job is rescheduled or falls back.
    pub max_retry_after: Duration,
    pub max_reply_chars: usize,
    pub max_completion_tokens: u32,
}

impl LlmConfig {
    pub fn new(base_url: impl Into<String>, model: impl Into<String>, api_key: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            model: model.into(),
            api_key: api_key.into(),
            timeout: Duration::from_secs(20),
            max_attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(30),
            max_reply_chars: DEFAULT_MAX_REPLY_CHARS,
            max_completion_tokens: 400,
        }
    }
}

/// Redacts the key: configs end up in logs and panics.
impl std::fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &"<redacted>")
            .field("timeout", &self.timeout)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// Tokens spent, summed over every attempt of one call (failed attempts
/// that reached the model cost tokens too, and budgets must see them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

impl TokenUsage {
    pub fn total(&self) -> u32 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }

    fn add(&mut self, usage: &CompletionUsage) {
        self.prompt_tokens = self.prompt_tokens.saturating_add(usage.prompt_tokens);
        self.completion_tokens = self.completion_tokens.saturating_add(usage.completion_tokens);
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LlmOutcome {
    pub classification: Classification,
    pub usage: TokenUsage,
    pub attempts: u32,
}

#[derive(Clone)]
pub struct LlmClient {
    client: Client<OpenAIConfig>,
    config: LlmConfig,
}

impl std::fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmClient").field("config", &self.config).finish_non_exhaustive()
    }
}

impl LlmClient {
    pub fn new(config: LlmConfig) -> Result<Self, LlmError> {
        if config.base_url.trim().is_empty() || config.model.trim().is_empty() {
            return Err(LlmError::Config("base_url and model are required".into()));
        }
        if config.max_attempts == 0 {
            return Err(LlmError::Config("max_attempts must be at least 1".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| LlmError::Config(format!("http client: {e}")))?;
        let openai = OpenAIConfig::new()
            .with_api_base(config.base_url.trim_end_matches('/'))
            .with_api_key(config.api_key.clone());
        let client = Client::with_config(openai).with_http_service(RetryAfterAware::new(http));
        Ok(Self { client, config })
    }

    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    /// Classifies `user_text` (the lead's words, sent only as the user
    /// message) under the `system` instructions. The model's answer can only
    /// become a validated [`Classification`]; it cannot name a workspace,
    /// lead or action, and our injection rules have the last word on it
    /// ([`Classification::guarded`]). `default_language` is the studio's, for
    /// messages too short to tell.
    pub async fn classify(
        &self,
        system: &str,
        user_text: &str,
        default_language: Language,
    ) -> Result<LlmOutcome, LlmError> {
        let request = self.request(system, user_text)?;
        let mut usage = TokenUsage::default();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let error = match self.attempt(request.clone(), &mut usage).await {
                Ok(answer) => {
                    let classification = answer.guarded(user_text, default_language);
                    return Ok(LlmOutcome { classification, usage, attempts: attempt });
                }
                Err(e) => e,
            };
            if !error.is_transient() {
                return Err(error);
            }
            let exhausted = |last: LlmError| LlmError::Exhausted { attempts: attempt, last: Box::new(last), usage };
            if attempt >= self.config.max_attempts {
                return Err(exhausted(error));
            }
            let delay = match error.retry_after() {
                Some(wait) if wait > self.config.max_retry_after => return Err(exhausted(error)),
                Some(wait) => wait,
                None => self.backoff(attempt),
            };
            tracing::warn!(attempt, delay_ms = delay.as_millis() as u64, error = %error, "LLM attempt failed; retrying");
            tokio::time::sleep(delay).await;
        }
    }

    fn request(&self, system: &str, user_text: &str) -> Result<CreateChatCompletionRequest, LlmError> {
        let messages: Vec<ChatCompletionRequestMessage> = vec![
            ChatCompletionRequestSystemMessage {
                content: ChatCompletionRequestSystemMessageContent::Text(system.to_owned()),
                name: None,
            }
            .into(),
            ChatCompletionRequestUserMessage {
                content: ChatCompletionRequestUserMessageContent::Text(user_text.to_owned()),
                name: None,
            }
            .into(),
        ];
        CreateChatCompletionRequestArgs::default()
            .model(self.config.model.clone())
            .messages(messages)
            .response_format(schema::response_format())
            .max_completion_tokens(self.config.max_completion_tokens)
            .build()
            .map_err(|e| LlmError::Config(format!("request: {e}")))
    }

    async fn attempt(
        &self,
        request: CreateChatCompletionRequest,
        usage: &mut TokenUsage,
    ) -> Result<Classification, LlmError> {
        let response = self.client.chat().create(request).await.map_err(from_openai)?;
        if let Some(u) = &response.usage {
            usage.add(u);
        }
        let message = response
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| LlmError::Malformed("response has no choices".into()))?
            .message;
        if let Some(refusal) = message.refusal {
            return Err(LlmError::Malformed(format!("model refused: {refusal}")));
        }
        let content = message.content.ok_or_else(|| LlmError::Malformed("response has no content".into()))?;
        let parsed: ModelAnswer = serde_json::from_str(&content)
            .map_err(|e| LlmError::Malformed(format!("content is not the schema: {e}")))?;
        parsed.into_classification().validated(self.config.max_reply_chars)
    }

    /// Exponential with "equal jitter": half fixed, half random, so many
    /// workers hitting one rate limit do not retry in lockstep.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.config.initial_backoff.saturating_mul(1 << (attempt - 1).min(16)).min(self.config.max_backoff);
        let half = exp / 2;
        half + half.mul_f64(rand::rng().random::<f64>())
    }
}

/// What the model may say: exactly the schema's fields. Unknown fields are
/// rejected (output that adds fields, say a `workspace_id` or a
/// `suspected_injection: false` an injection asked for, broke the schema and
/// counts as malformed rather than being silently trimmed).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelAnswer {
    intent: Intent,
    temperature: Temperature,
    score: u8,
    language: String,
    summary: String,
    suggested_reply: Option<String>,
    confidence: f32,
}

impl ModelAnswer {
    fn into_classification(self) -> Classification {
        Classification {
            intent: self.intent,
            temperature: self.temperature,
            score: self.score,
            language: self.language,
            summary: self.summary,
            suggested_reply: self.suggested_reply,
            confidence: self.confidence,
            // Ours to decide, in `Classification::guarded`.
            suspected_injection: false,
        }
    }
}

fn from_openai(error: OpenAIError) -> LlmError {
    match error {
        OpenAIError::Boxed(boxed) => match boxed.downcast::<HttpFailure>() {
            // OpenAI signals a spent account as a 429; waiting will not fix it.
            Ok(f) if f.status == 429 && f.body.contains("insufficient_quota") => {
                LlmError::Rejected { status: f.status, message: f.body }
            }
            Ok(f) => LlmError::Status { status: f.status, message: f.body, retry_after: f.retry_after },
            Err(other) => LlmError::Transport(other.to_string()),
        },
        OpenAIError::ApiError(e) => {
            let status = e.status_code.as_u16();
            if status == 429 || e.status_code.is_server_error() {
                LlmError::Status { status, message: e.api_error.message, retry_after: None }
            } else {
                LlmError::Rejected { status, message: e.api_error.message }
            }
        }
        OpenAIError::Reqwest(e) => LlmError::Transport(e.to_string()),
        OpenAIError::JSONDeserialize(e, _) => LlmError::Malformed(format!("not a chat completion: {e}")),
        OpenAIError::InvalidArgument(e) => LlmError::Config(e),
        other => LlmError::Transport(other.to_string()),
    }
}
