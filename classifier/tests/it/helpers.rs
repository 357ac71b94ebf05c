use std::time::Duration;

use frontdesk_classifier::{LlmClient, LlmConfig};
use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

pub const KEY: &str = "sk-test-workspace-a";

/// An OpenAI-compatible fake at `/v1/chat/completions`.
pub struct FakeLlm {
    pub server: MockServer,
}

impl FakeLlm {
    pub async fn start() -> Self {
        Self { server: MockServer::start().await }
    }

    /// Fast backoff so retry tests take milliseconds, unless the server asks
    /// for longer with Retry-After.
    pub fn config(&self, key: &str) -> LlmConfig {
        let mut config = LlmConfig::new(format!("{}/v1", self.server.uri()), "gpt-test", key);
        config.max_attempts = 3;
        config.initial_backoff = Duration::from_millis(10);
        config.max_backoff = Duration::from_millis(40);
        config.timeout = Duration::from_secs(5);
        config
    }

    pub fn client(&self) -> LlmClient {
        LlmClient::new(self.config(KEY)).expect("valid config")
    }

    /// Answers the next `times` requests with `response` (mounted mocks are
    /// tried in order, so queue them in the order they should be served).
    pub async fn respond(&self, times: u64, response: ResponseTemplate) {
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(response)
            .up_to_n_times(times)
            .expect(times)
            .mount(&self.server)
            .await;
    }

    pub async fn request_bodies(&self) -> Vec<Value> {
        let requests = self.server.received_requests().await.unwrap_or_default();
        requests.iter().map(|r| serde_json::from_slice(&r.body).expect("JSON request body")).collect()
    }
}

pub fn valid_content() -> String {
    json!({
        "intent": "trial_booking",
        "temperature": "hot",
        "score": 88,
        "language": "en",
        "summary": "Wants a free trial class on Saturday morning",
        "suggested_reply": "Great! Saturday 9am works. Book here: https://iron.example/book",
        "confidence": 0.93
    })
    .to_string()
}

/// A complete `chat.completion` object as OpenAI returns it.
pub fn completion(content: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_764_230_400,
        "model": "gpt-test",
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": content, "refusal": null },
            "finish_reason": "stop",
            "logprobs": null
        }],
        "usage": { "prompt_tokens": 120, "completion_tokens": 40, "total_tokens": 160 }
    }))
}

pub fn api_error(status: u16, kind: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error": { "message": format!("fake {status}"), "type": kind, "param": null, "code": null }
    }))
}
