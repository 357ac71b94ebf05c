//! What a validated integration sets up: the webhook routes it owns, the
//! live check against the provider, and the URLs to paste into the
//! provider's console.

use frontdesk_jobs::IntegrationId;
use frontdesk_store::{
    integrations::{IntegrationRecord, Provider},
    routes::{self, NewRoute, RouteProvider},
    vault::Secret,
};
use frontdesk_worker::providers::{
    SendError, openai,
    smtp::{self, Security, SmtpAccount},
    whatsapp::WhatsappSender,
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::config::{Config, Mode};
use crate::{ApiError, state::ProviderChecks};

/// What the live check found.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CheckReport {
    /// `passed` or `skipped` (a failed check refuses the request instead).
    pub status: String,
    pub detail: String,
}

impl Config {
    /// The webhook routes this integration owns: how a provider's delivery
    /// finds this workspace.
    pub fn routes(&self, integration_id: IntegrationId) -> Vec<NewRoute> {
        let route = |provider, route_key: String| NewRoute {
            provider,
            route_key,
            integration_id: Some(integration_id),
            channel_token: None,
        };
        let s = &self.settings;
        match self.provider {
            Provider::Twilio => {
                let sid = self.external_id.clone().unwrap_or_default();
                let mut out = Vec::new();
                if let Some(mss) = s["messaging_service_sid"].as_str() {
                    out.push(route(RouteProvider::Twilio, routes::twilio_messaging_service_key(mss)));
                }
                if let Some(from) = s["from"].as_str() {
                    out.push(route(RouteProvider::Twilio, routes::twilio_number_key(&sid, from)));
                }
                out
            }
            Provider::Whatsapp => {
                self.external_id.iter().map(|id| route(RouteProvider::Whatsapp, id.clone())).collect()
            }
            Provider::Smtp => {
                s["inbound_address"].as_str().map(|a| route(RouteProvider::Email, a.to_owned())).into_iter().collect()
            }
            Provider::OpenAi | Provider::GoogleCalendar => Vec::new(),
        }
    }

    /// The live check: the provider accepts these credentials. Skipped in
    /// sandbox mode, where nothing is ever sent to the provider.
    pub async fn check(&self, secret: Option<&Secret>, checks: &ProviderChecks) -> Result<CheckReport, ApiError> {
        if self.mode == Mode::Sandbox {
            return Ok(CheckReport {
                status: "skipped".into(),
                detail: "sandbox mode: the provider was not called".into(),
            });
        }
        let s = &self.settings;
        let empty = Secret::new("");
        let secret = secret.unwrap_or(&empty);
        let outcome = match self.provider {
            Provider::Twilio => {
                let sid = self.external_id.as_deref().unwrap_or_default();
                checks
                    .twilio
                    .fetch_account(sid, secret)
                    .await
                    .map(|()| "Twilio accepted the account SID and auth token".to_owned())
            }
            Provider::Whatsapp => {
                let sender = WhatsappSender {
                    phone_number_id: self.external_id.clone().unwrap_or_default(),
                    access_token: secret.clone(),
                };
                checks
                    .whatsapp
                    .fetch_phone_number(&sender)
                    .await
                    .map(|n| format!("WhatsApp sender {n} is reachable with this token"))
            }
            Provider::Smtp => {
                let account = smtp_account(s, Some(secret.clone()));
                match checks.smtp.resolve(&account).await {
                    Err(why) => return Err(ApiError::invalid("/host", why)),
                    Ok(connect_to) => smtp::check(&account, connect_to)
                        .await
                        .map(|()| format!("{}:{} accepted the connection and login", account.host, account.port)),
                }
            }
            Provider::OpenAi => {
                let (base, model) = (s["base_url"].as_str().unwrap_or(""), s["model"].as_str().unwrap_or(""));
                openai::check_model(&checks.http, base, model, secret)
                    .await
                    .map(|()| format!("the endpoint offers {model}"))
            }
            Provider::GoogleCalendar => Err(SendError::Permanent("not supported".into())),
        };
        match outcome {
            Ok(detail) => Ok(CheckReport { status: "passed".into(), detail }),
            Err(e) => {
                Err(ApiError::CheckFailed(format!("{} check failed: {}", self.provider.as_str(), check_detail(e))))
            }
        }
    }
}

/// A provider's answer, for the studio; never contains the credential
/// (provider clients never put it in an error).
fn check_detail(e: SendError) -> String {
    match e {
        SendError::Transient { detail, .. } => {
            format!("the provider could not be reached or is busy ({detail}); try again")
        }
        SendError::Permanent(d) | SendError::Unknown(d) | SendError::OptedOut(d) | SendError::OutsideWindow(d) => d,
    }
}

/// The SMTP account stored settings describe (the shape the send job reads).
pub fn smtp_account(s: &Value, password: Option<Secret>) -> SmtpAccount {
    let text = |key: &str| s[key].as_str().map(str::to_owned);
    let username = text("username");
    SmtpAccount {
        host: text("host").unwrap_or_default(),
        port: s["port"].as_u64().and_then(|p| u16::try_from(p).ok()).unwrap_or(587),
        security: serde_json::from_value(s["security"].clone()).unwrap_or(Security::StartTls),
        password: username.as_ref().and(password),
        username,
        from: text("from").unwrap_or_default(),
    }
}

/// A URL to paste into a provider's console.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WebhookSetup {
    pub event: String,
    pub method: String,
    pub url: String,
    /// Where it goes in the provider's console.
    pub configure: String,
}

/// What to paste where, for an integration stored as `provider` with `settings`.
pub fn webhooks(provider: &str, external_id: Option<&str>, settings: &Value, public_url: &str) -> Vec<WebhookSetup> {
    let base = public_url.trim_end_matches('/');
    let hook = |event: &str, path: &str, configure: String| WebhookSetup {
        event: event.into(),
        method: "POST".into(),
        url: format!("{base}{path}"),
        configure,
    };
    match Provider::parse(provider) {
        Some(Provider::Twilio) => {
            let number = settings["from"].as_str().unwrap_or("your number");
            let inbound = match settings["messaging_service_sid"].as_str() {
                Some(mss) => format!("Messaging Service {mss} > Integration > Send a webhook (Request URL), HTTP POST"),
                None => format!("Phone Numbers > {number} > Messaging > A message comes in: Webhook, HTTP POST"),
            };
            vec![
                hook("inbound SMS", "/webhooks/twilio/sms", inbound),
                hook(
                    "calls (missed-call text-back)",
                    "/webhooks/twilio/voice",
                    format!("Phone Numbers > {number} > Voice > Call status changes, HTTP POST"),
                ),
                hook(
                    "outbound message status",
                    "/webhooks/twilio/status",
                    "nothing to paste: frontdesk sets it as StatusCallback on every message it sends".into(),
                ),
            ]
        }
        Some(Provider::Whatsapp) => vec![hook(
            "WhatsApp messages and statuses",
            "/webhooks/whatsapp",
            format!(
                "set once per platform on the Meta app (Callback URL, with the platform's verify token); subscribe phone number {} to the messages field",
                external_id.unwrap_or("?")
            ),
        )],
        Some(Provider::Smtp) => match settings["inbound_address"].as_str() {
            Some(address) => vec![hook(
                "inbound email",
                "/webhooks/email",
                format!(
                    "Mailgun > Receiving > Create route: match_recipient(\"{address}\") then forward(\"{base}/webhooks/email\")"
                ),
            )],
            None => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// What an answer shows of the stored configuration: identifiers and
/// settings, never the credential.
pub fn public_settings(record: &IntegrationRecord) -> Value {
    let mut shown = record.settings.clone();
    let key = match Provider::parse(&record.provider) {
        Some(Provider::Twilio) => Some("account_sid"),
        Some(Provider::Whatsapp) => Some("phone_number_id"),
        _ => None,
    };
    if let (Some(key), Some(id), Some(map)) = (key, &record.external_id, shown.as_object_mut()) {
        map.insert(key.into(), Value::String(id.clone()));
    }
    shown
}
