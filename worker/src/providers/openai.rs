//! OpenAI-compatible endpoints (OpenAI, Ollama, vLLM): the models list, as
//! a workspace's `openai` integration's live check. Classification itself
//! lives in `frontdesk-classifier`.

use frontdesk_store::vault::Secret;
use serde::Deserialize;

use super::{Reply, SendError};

/// `GET {base_url}/models` with the key; the model must be offered when the
/// endpoint lists any (some compatible servers list none).
pub async fn check_model(
    http: &reqwest::Client,
    base_url: &str,
    model: &str,
    api_key: &Secret,
) -> Result<(), SendError> {
    let url = format!("{}/models", base_url.trim_end_matches('/'));
    let reply = Reply::send(http.get(url).bearer_auth(api_key.expose())).await?;
    if !reply.status.is_success() {
        return Err(reply.failure(reply.detail(None, "the endpoint refused the models request")));
    }
    let models: Models = reply.parse("LLM endpoint")?;
    if !models.data.is_empty() && !models.data.iter().any(|m| m.id == model) {
        return Err(SendError::Permanent(format!("the endpoint does not offer model {model:?}")));
    }
    Ok(())
}

#[derive(Deserialize)]
struct Models {
    #[serde(default)]
    data: Vec<Model>,
}

#[derive(Deserialize)]
struct Model {
    id: String,
}
