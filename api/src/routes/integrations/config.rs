//! Each provider's integration fields: what a studio sends, how each field
//! is checked, and what is stored where (identifiers in `external_id` and
//! `settings`, the credential sealed by the vault). The stored shape is the
//! one the send and classify jobs read. `setup.rs` takes it from there.

use frontdesk_domain::Phone;
use frontdesk_store::{
    integrations::{IntegrationRecord, Provider},
    vault::Secret,
};
use frontdesk_worker::providers::smtp::Security;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::{ApiError, error::FieldError, extract};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Sends go to the provider.
    #[default]
    Live,
    /// Sends are recorded as sent without calling the provider; live checks are skipped.
    Sandbox,
}

/// Twilio: one account per workspace, one number and/or messaging service.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TwilioFields {
    pub mode: Option<Mode>,
    /// `AC` and 32 hex digits.
    pub account_sid: Option<String>,
    /// The account's auth token (32 characters). Write-only: answers show its last 4.
    pub auth_token: Option<String>,
    /// The studio's number (E.164) that sends and receives SMS.
    pub from: Option<String>,
    /// A Messaging Service (`MG…`) that sends instead of `from`.
    pub messaging_service_sid: Option<String>,
    /// Sends per second through this sender (default 1).
    pub max_per_second: Option<u32>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateFields {
    /// The approved template's name.
    pub name: String,
    /// Its language code, e.g. `en_US`.
    pub language: String,
    /// Body placeholders in order; `{first_name}`, `{studio_name}` and `{booking_link}` are filled in.
    #[serde(default)]
    pub parameters: Vec<String>,
}

/// WhatsApp Cloud API: one sender (`phone_number_id`) per workspace.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatsappFields {
    pub mode: Option<Mode>,
    pub phone_number_id: Option<String>,
    /// A system-user access token. Write-only.
    pub access_token: Option<String>,
    /// The approved template sent outside the 24-hour window.
    pub template: Option<TemplateFields>,
    pub max_per_second: Option<u32>,
}

/// The studio's own SMTP account for outbound email, and the inbound
/// address Mailgun receives for it.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmtpFields {
    pub mode: Option<Mode>,
    pub host: Option<String>,
    pub port: Option<u16>,
    /// `starttls` (default), `tls` (implicit, port 465) or `none` (development only).
    #[schema(value_type = Option<String>)]
    pub security: Option<Security>,
    pub username: Option<String>,
    /// Write-only.
    pub password: Option<String>,
    /// `Studio Name <hello@studio.example>`.
    pub from: Option<String>,
    /// The address leads write to, received by Mailgun and forwarded to `/webhooks/email`.
    pub inbound_address: Option<String>,
    pub max_per_second: Option<u32>,
}

/// An OpenAI-compatible endpoint for lead classification.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenAiFields {
    pub mode: Option<Mode>,
    /// e.g. `https://api.openai.com/v1` or Ollama's `http://127.0.0.1:11434/v1`.
    pub base_url: Option<String>,
    pub model: Option<String>,
    /// Write-only.
    pub api_key: Option<String>,
}

/// The body of `POST /v1/integrations`: `provider` and that provider's fields.
#[derive(ToSchema)]
#[serde(tag = "provider", rename_all = "snake_case")]
#[allow(dead_code)]
pub enum NewIntegrationRequest {
    Twilio(TwilioFields),
    Whatsapp(WhatsappFields),
    Smtp(SmtpFields),
    Openai(OpenAiFields),
}

/// One provider's fields, as sent (every field optional until validated).
#[derive(Clone, Debug)]
pub enum Fields {
    Twilio(TwilioFields),
    Whatsapp(WhatsappFields),
    Smtp(SmtpFields),
    OpenAi(OpenAiFields),
}

/// Validated configuration: what is stored and checked.
#[derive(Clone, Debug)]
pub struct Config {
    pub provider: Provider,
    pub mode: Mode,
    pub external_id: Option<String>,
    pub settings: Value,
    /// The credential, when the request carries one (an update may keep the stored one).
    pub secret: Option<Secret>,
}

pub const PROVIDERS: &str = "twilio, whatsapp, smtp or openai";

impl Fields {
    /// Reads `body` (an object) as `provider`'s fields; `provider` itself
    /// must already be removed.
    pub fn parse(provider: Provider, body: Value) -> Result<Self, ApiError> {
        Ok(match provider {
            Provider::Twilio => Fields::Twilio(extract::from_value(body)?),
            Provider::Whatsapp => Fields::Whatsapp(extract::from_value(body)?),
            Provider::Smtp => Fields::Smtp(extract::from_value(body)?),
            Provider::OpenAi => Fields::OpenAi(extract::from_value(body)?),
            Provider::GoogleCalendar => {
                return Err(ApiError::invalid(
                    "/provider",
                    "Google Calendar is connected by its own flow (not available yet)",
                ));
            }
        })
    }

    /// An update's fields over the stored ones: what the update leaves out
    /// keeps its stored value (the credential stays sealed unless replaced).
    pub fn over(self, stored: &IntegrationRecord) -> Self {
        let s = &stored.settings;
        let text = |key: &str| s[key].as_str().map(str::to_owned);
        let per_second = s["max_per_second"].as_u64().and_then(|n| u32::try_from(n).ok());
        let mode = Some(if stored.sandbox { Mode::Sandbox } else { Mode::Live });
        match self {
            Fields::Twilio(f) => Fields::Twilio(TwilioFields {
                mode: f.mode.or(mode),
                account_sid: f.account_sid.or_else(|| stored.external_id.clone()),
                auth_token: f.auth_token,
                from: f.from.or_else(|| text("from")),
                messaging_service_sid: f.messaging_service_sid.or_else(|| text("messaging_service_sid")),
                max_per_second: f.max_per_second.or(per_second),
            }),
            Fields::Whatsapp(f) => Fields::Whatsapp(WhatsappFields {
                mode: f.mode.or(mode),
                phone_number_id: f.phone_number_id.or_else(|| stored.external_id.clone()),
                access_token: f.access_token,
                template: f.template.or_else(|| serde_json::from_value(s["template"].clone()).ok()),
                max_per_second: f.max_per_second.or(per_second),
            }),
            Fields::Smtp(f) => Fields::Smtp(SmtpFields {
                mode: f.mode.or(mode),
                host: f.host.or_else(|| text("host")),
                port: f.port.or_else(|| s["port"].as_u64().and_then(|p| u16::try_from(p).ok())),
                security: f.security.or_else(|| serde_json::from_value(s["security"].clone()).ok()),
                username: f.username.or_else(|| text("username")),
                password: f.password,
                from: f.from.or_else(|| text("from")),
                inbound_address: f.inbound_address.or_else(|| text("inbound_address")),
                max_per_second: f.max_per_second.or(per_second),
            }),
            Fields::OpenAi(f) => Fields::OpenAi(OpenAiFields {
                mode: f.mode.or(mode),
                base_url: f.base_url.or_else(|| text("base_url")),
                model: f.model.or_else(|| text("model")),
                api_key: f.api_key,
            }),
        }
    }

    /// Validates every field, reporting all invalid ones at once.
    /// `has_stored_secret`: an update may leave the credential out.
    pub fn validate(self, has_stored_secret: bool) -> Result<Config, ApiError> {
        let mut v = Validator { errors: Vec::new(), has_stored_secret };
        let config = match self {
            Fields::Twilio(f) => {
                let sid = v.pattern("/account_sid", f.account_sid, "AC", 32, "AC followed by 32 hex digits");
                let token = v.secret(
                    "/auth_token",
                    f.auth_token,
                    |t| t.len() == 32 && t.bytes().all(|b| b.is_ascii_alphanumeric()),
                    "the 32-character auth token from the Twilio console",
                );
                let from = f.from.and_then(|n| match Phone::from_e164(&n) {
                    Ok(p) => Some(p.as_str().to_owned()),
                    Err(e) => v.bad("/from", format!("{e}")),
                });
                let mss = f.messaging_service_sid.and_then(|m| {
                    v.pattern("/messaging_service_sid", Some(m), "MG", 32, "MG followed by 32 hex digits")
                });
                if from.is_none() && mss.is_none() && !v.has_error("/from") && !v.has_error("/messaging_service_sid") {
                    v.bad::<()>("/from", "a sending number (from) or a messaging_service_sid is required");
                }
                let rate = v.rate(f.max_per_second);
                Config {
                    provider: Provider::Twilio,
                    mode: f.mode.unwrap_or_default(),
                    external_id: sid,
                    settings: compact(json!({ "from": from, "messaging_service_sid": mss, "max_per_second": rate })),
                    secret: token,
                }
            }
            Fields::Whatsapp(f) => {
                let id = match f.phone_number_id {
                    Some(id) if (5..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit()) => Some(id),
                    Some(_) => v.bad("/phone_number_id", "the phone number id from WhatsApp Manager (digits)"),
                    None => v.bad("/phone_number_id", "required"),
                };
                let token = v.secret(
                    "/access_token",
                    f.access_token,
                    |t| (20..=2048).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_graphic()),
                    "a WhatsApp Cloud API access token",
                );
                let template = f.template.and_then(|t| v.template(t));
                let rate = v.rate(f.max_per_second);
                Config {
                    provider: Provider::Whatsapp,
                    mode: f.mode.unwrap_or_default(),
                    external_id: id,
                    settings: compact(json!({ "template": template, "max_per_second": rate })),
                    secret: token,
                }
            }
            Fields::Smtp(f) => {
                let host = match f.host {
                    Some(h) if is_host(&h) => Some(h.to_ascii_lowercase()),
                    Some(_) => v.bad("/host", "a host name or IP address"),
                    None => v.bad("/host", "required"),
                };
                let port = match f.port {
                    Some(0) => v.bad("/port", "1 to 65535"),
                    other => other,
                };
                let username = f.username.filter(|u| !u.is_empty());
                if username.as_ref().is_some_and(|u| u.len() > 320 || u.chars().any(char::is_control)) {
                    v.bad::<()>("/username", "at most 320 characters");
                }
                let password = match (&username, f.password) {
                    (Some(_), p) => v.secret("/password", p, |p| (1..=500).contains(&p.len()), "the SMTP password"),
                    (None, Some(_)) => v.bad("/password", "a password needs a username"),
                    (None, None) => None,
                };
                let from = match f.from {
                    Some(from) if is_mailbox(&from) => Some(from.trim().to_owned()),
                    Some(_) => v.bad("/from", "an address, optionally with a name: Studio <hello@studio.example>"),
                    None => v.bad("/from", "required"),
                };
                let inbound = match f.inbound_address.map(|a| a.trim().to_ascii_lowercase()) {
                    Some(a) if super::super::is_email(&a) => Some(a),
                    Some(_) => v.bad("/inbound_address", "an email address"),
                    None => None,
                };
                let rate = v.rate(f.max_per_second);
                let security = f.security.unwrap_or(Security::StartTls);
                Config {
                    provider: Provider::Smtp,
                    mode: f.mode.unwrap_or_default(),
                    external_id: None,
                    settings: compact(json!({
                        "host": host, "port": port.unwrap_or(587), "security": security, "username": username,
                        "from": from, "inbound_address": inbound, "max_per_second": rate,
                    })),
                    secret: password,
                }
            }
            Fields::OpenAi(f) => {
                let base = match f.base_url {
                    Some(u) if is_http_url(&u) => Some(u.trim_end_matches('/').to_owned()),
                    Some(_) => v.bad("/base_url", "an http or https URL"),
                    None => v.bad("/base_url", "required"),
                };
                let model = match f.model {
                    Some(m) if (1..=200).contains(&m.len()) && m.bytes().all(|b| b.is_ascii_graphic()) => Some(m),
                    Some(_) => v.bad("/model", "1 to 200 visible characters"),
                    None => v.bad("/model", "required"),
                };
                let key = v.secret(
                    "/api_key",
                    f.api_key,
                    |k| (1..=500).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()),
                    "the endpoint's API key",
                );
                Config {
                    provider: Provider::OpenAi,
                    mode: f.mode.unwrap_or_default(),
                    external_id: None,
                    settings: compact(json!({ "base_url": base, "model": model })),
                    secret: key,
                }
            }
        };
        if v.errors.is_empty() { Ok(config) } else { Err(ApiError::Invalid(v.errors)) }
    }
}

struct Validator {
    errors: Vec<FieldError>,
    has_stored_secret: bool,
}

impl Validator {
    fn bad<T>(&mut self, pointer: &str, detail: impl Into<String>) -> Option<T> {
        self.errors.push(FieldError::new(pointer, detail));
        None
    }

    fn has_error(&self, pointer: &str) -> bool {
        self.errors.iter().any(|e| e.pointer == pointer)
    }

    /// `prefix` then `hex` hex digits (Twilio SIDs).
    fn pattern(
        &mut self,
        pointer: &str,
        value: Option<String>,
        prefix: &str,
        hex: usize,
        what: &str,
    ) -> Option<String> {
        match value {
            Some(v)
                if v.len() == prefix.len() + hex
                    && v.starts_with(prefix)
                    && v[prefix.len()..].bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                Some(v)
            }
            Some(_) => self.bad(pointer, what),
            None => self.bad(pointer, "required"),
        }
    }

    fn secret(
        &mut self,
        pointer: &str,
        value: Option<String>,
        ok: impl Fn(&str) -> bool,
        what: &str,
    ) -> Option<Secret> {
        match value {
            Some(s) if ok(&s) => Some(Secret::new(s)),
            // Never echo a rejected credential back.
            Some(_) => self.bad(pointer, format!("not {what}")),
            None if self.has_stored_secret => None,
            None => self.bad(pointer, "required"),
        }
    }

    fn rate(&mut self, value: Option<u32>) -> Option<u32> {
        match value {
            Some(n) if !(1..=10_000).contains(&n) => self.bad("/max_per_second", "1 to 10000"),
            other => other,
        }
    }

    fn template(&mut self, t: TemplateFields) -> Option<TemplateFields> {
        let name_ok = (1..=512).contains(&t.name.len())
            && t.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        let (lang, region) = t.language.split_once('_').map_or((t.language.as_str(), None), |(l, r)| (l, Some(r)));
        let lang_ok = (2..=3).contains(&lang.len())
            && lang.bytes().all(|b| b.is_ascii_lowercase())
            && region.is_none_or(|r| r.len() == 2 && r.bytes().all(|b| b.is_ascii_uppercase()));
        let mut ok = true;
        if !name_ok {
            ok =
                self.bad::<()>("/template/name", "lower-case letters, digits and _ (as in WhatsApp Manager)").is_some();
        }
        if !lang_ok {
            ok = self.bad::<()>("/template/language", "a template language code such as en_US or es").is_some();
        }
        if t.parameters.len() > 10 {
            ok = self.bad::<()>("/template/parameters", "at most 10 parameters").is_some();
        }
        for (i, p) in t.parameters.iter().enumerate() {
            if p.is_empty() || p.chars().count() > 200 {
                ok = self.bad::<()>(&format!("/template/parameters/{i}"), "1 to 200 characters").is_some();
            }
        }
        ok.then_some(t)
    }
}

/// Drops `null` members, so settings hold only what was configured.
fn compact(mut value: Value) -> Value {
    if let Some(map) = value.as_object_mut() {
        map.retain(|_, v| !v.is_null());
    }
    value
}

fn is_host(h: &str) -> bool {
    h.parse::<std::net::IpAddr>().is_ok()
        || ((1..=253).contains(&h.len())
            && h.split('.').all(|label| {
                (1..=63).contains(&label.len())
                    && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            }))
}

fn is_mailbox(from: &str) -> bool {
    let from = from.trim();
    let address = match (from.rfind('<'), from.ends_with('>')) {
        (Some(l), true) => &from[l + 1..from.len() - 1],
        (None, false) => from,
        _ => return false,
    };
    from.len() <= 320 && !from.chars().any(char::is_control) && super::super::is_email(&address.to_ascii_lowercase())
}

fn is_http_url(u: &str) -> bool {
    reqwest::Url::parse(u).is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
}
