//! WhatsApp Cloud API: `POST {base}/{version}/{phone_number_id}/messages`
//! with a Bearer token.

use frontdesk_store::vault::Secret;
use serde::Deserialize;
use serde_json::json;

use super::{Reply, SendError, Sent};

/// Free-form text outside the 24-hour customer-service window.
pub const OUTSIDE_WINDOW: i64 = 131047;

#[derive(Clone, Debug)]
pub struct WhatsappClient {
    http: reqwest::Client,
    base: String,
    version: String,
}

/// One workspace's WhatsApp sender.
#[derive(Clone, Debug)]
pub struct WhatsappSender {
    pub phone_number_id: String,
    pub access_token: Secret,
}

#[derive(Clone, Debug)]
pub enum WhatsappMessage<'a> {
    Text {
        body: &'a str,
    },
    /// An approved template; `parameters` fill its body placeholders in order.
    Template {
        name: &'a str,
        language: &'a str,
        parameters: Vec<String>,
    },
}

impl WhatsappClient {
    /// `base` is `https://graph.facebook.com` in production.
    pub fn new(http: reqwest::Client, base: impl Into<String>, version: impl Into<String>) -> Self {
        Self { http, base: base.into().trim_end_matches('/').to_owned(), version: version.into() }
    }

    /// `to` is E.164; the API wants digits only. `reference` goes out as
    /// `biz_opaque_callback_data`, which Meta returns in this message's
    /// status webhooks.
    pub async fn send(
        &self,
        sender: &WhatsappSender,
        to: &str,
        message: &WhatsappMessage<'_>,
        reference: Option<&str>,
    ) -> Result<Sent, SendError> {
        let to = to.trim_start_matches('+');
        let mut body = match message {
            WhatsappMessage::Text { body } => {
                json!({ "messaging_product": "whatsapp", "to": to, "type": "text", "text": { "body": body } })
            }
            WhatsappMessage::Template { name, language, parameters } => {
                let params: Vec<_> = parameters.iter().map(|p| json!({ "type": "text", "text": p })).collect();
                let components =
                    if params.is_empty() { json!([]) } else { json!([{ "type": "body", "parameters": params }]) };
                json!({
                    "messaging_product": "whatsapp", "to": to, "type": "template",
                    "template": { "name": name, "language": { "code": language }, "components": components }
                })
            }
        };
        if let Some(reference) = reference {
            body["biz_opaque_callback_data"] = json!(reference);
        }
        let url = format!("{}/{}/{}/messages", self.base, self.version, sender.phone_number_id);
        let reply = Reply::send(self.http.post(url).bearer_auth(sender.access_token.expose()).json(&body)).await?;
        if reply.status.is_success() {
            let accepted: Accepted = reply.parse("WhatsApp")?;
            let id = accepted
                .messages
                .into_iter()
                .next()
                .map(|m| m.id)
                .ok_or_else(|| SendError::Unknown("WhatsApp accepted without a message id".into()))?;
            return Ok(Sent { provider_message_id: id });
        }
        let error = serde_json::from_str::<ErrorEnvelope>(&reply.body).map(|e| e.error).unwrap_or_default();
        let detail = reply.detail(error.code, &error.message);
        Err(match error.code {
            Some(OUTSIDE_WINDOW) => SendError::OutsideWindow(detail),
            // 130429: throughput limit; 131056: pair rate limit. Both pass.
            Some(130429 | 131056) if !reply.is_gateway_error() => {
                SendError::Transient { detail, retry_after: reply.retry_after }
            }
            _ => reply.failure(detail),
        })
    }
}

#[derive(Deserialize)]
struct Accepted {
    messages: Vec<AcceptedMessage>,
}

#[derive(Deserialize)]
struct AcceptedMessage {
    id: String,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: GraphError,
}

#[derive(Deserialize, Default)]
struct GraphError {
    code: Option<i64>,
    #[serde(default)]
    message: String,
}

impl WhatsappClient {
    /// The integration's live check: `GET /{version}/{phone_number_id}` with
    /// the sender's token, which Graph answers only for a number the token
    /// may send from. Returns the number's display form.
    pub async fn fetch_phone_number(&self, sender: &WhatsappSender) -> Result<String, SendError> {
        let url = format!("{}/{}/{}", self.base, self.version, sender.phone_number_id);
        let request = self
            .http
            .get(url)
            .query(&[("fields", "display_phone_number,verified_name")])
            .bearer_auth(sender.access_token.expose());
        let reply = Reply::send(request).await?;
        if reply.status.is_success() {
            let number: PhoneNumber = reply.parse("WhatsApp")?;
            return Ok(number.display_phone_number.unwrap_or_default());
        }
        let error = serde_json::from_str::<ErrorEnvelope>(&reply.body).map(|e| e.error).unwrap_or_default();
        Err(reply.failure(reply.detail(error.code, &error.message)))
    }
}

#[derive(Deserialize)]
struct PhoneNumber {
    display_phone_number: Option<String>,
}
