//! Inbound email, as a Mailgun-style route forward (form-encoded, or
//! multipart when attachments are present). One platform signing key.
//!
//! A forward can be megabytes (HTML, attachments, newsletters). It is read
//! as a stream and only the fields in [`kept`] are collected, each up to its
//! cap; the rest is read past and never held. The stored payload is those
//! fields, so nothing later has a large body to load.

use axum::{
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::Utc;
use frontdesk_domain::inbound_text;
use frontdesk_store::{
    inbound::{self, InboundMessage, Sender},
    messages::Channel,
    routes::{self, RouteProvider},
    webhook_events,
};
use hmac::{KeyInit, Mac};

use super::{
    bounded_form::{self, Kept},
    delivery::{begin, commit, unroutable},
    form::provider_id,
};
use crate::{ApiError, AppState};

/// Older (or further in the future) than this, a signed request is a replay.
pub const MAX_AGE_SECS: i64 = 300;

/// The fields of a forward we keep, and how. The text bodies are cut at
/// what the store keeps of an email; routing and signature fields must
/// arrive whole; HTML bodies, the full header list, signatures and
/// attachments are not read.
fn kept(name: &str) -> Option<Kept> {
    match name {
        "stripped-text" | "body-plain" => Some(Kept::Cut(inbound_text::stored_chars(Channel::Email))),
        "from" | "To" | "subject" | "Message-Id" | "In-Reply-To" | "References" | "Date" => {
            Some(Kept::Cut(inbound_text::FIELD_CHARS))
        }
        "recipient" | "sender" | "attachment-count" | "timestamp" | "token" | "signature" => {
            Some(Kept::Whole(inbound_text::FIELD_CHARS))
        }
        _ => None,
    }
}

/// Bytes one forward can make us hold (the in-flight budget reserves this).
pub fn max_held() -> usize {
    let text = inbound_text::stored_chars(Channel::Email);
    bounded_form::max_held(&[text, text]) + bounded_form::max_held(&[inbound_text::FIELD_CHARS; 13])
}

#[utoipa::path(post, path = "/webhooks/email", tag = "webhooks", security(()), request_body(content_type = "application/x-www-form-urlencoded", content = Object, description = "Mailgun route forward (form or multipart)"),
    responses((status = 200, description = "accepted"), (status = 406, description = "no workspace for the recipient (Mailgun: do not retry)"), (status = 403, description = "signature missing, wrong or stale"), (status = 400, description = "bad input")))]
pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let key = state.secrets.mailgun_signing_key.as_ref().ok_or(ApiError::NotConfigured("email"))?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let bounded_form::Read { form, cut } = bounded_form::read(content_type, body, kept).await?;
    let (timestamp, token, signature) =
        (form.get("timestamp").unwrap_or(""), form.get("token").unwrap_or(""), form.get("signature").unwrap_or(""));
    if !signature_matches(key.expose(), timestamp, token, signature) {
        state.metrics.bad_signature();
        return Err(ApiError::Forbidden);
    }
    let fresh = timestamp
        .parse::<i64>()
        .ok()
        .and_then(|t| Utc::now().timestamp().checked_sub(t))
        .is_some_and(|age| age.abs() <= MAX_AGE_SECS);
    if !fresh {
        state.metrics.bad_signature();
        return Err(ApiError::Forbidden);
    }
    let recipient = address("recipient", form.require("recipient")?)?;
    let sender = address("sender", form.require("sender")?)?;
    let Some(route) = routes::resolve(&state.db, RouteProvider::Email, std::slice::from_ref(&recipient)).await? else {
        unroutable(&state, "email", "no workspace for recipient", Some(&recipient)).await?;
        // 406 is Mailgun's "refused, do not retry".
        return Err(ApiError::Refused(StatusCode::NOT_ACCEPTABLE, "no workspace for this recipient".into()));
    };
    let text_field = if form.get("stripped-text").is_some() { "stripped-text" } else { "body-plain" };
    let text = form.get(text_field).unwrap_or("");
    let mut payload = form.to_json();
    if let Some(map) = payload.as_object_mut() {
        // Signature material is not data.
        for k in ["signature", "token", "timestamp"] {
            map.remove(k);
        }
    }
    let message = InboundMessage {
        provider: "mailgun",
        // Mailgun's token is unique per delivery: the replay guard.
        event_id: provider_id("token", token)?,
        channel: Channel::Email,
        from: Sender::Email(&sender),
        name: display_name(form.get("from")),
        body: text,
        subject: form.get("subject"),
        rfc_message_id: rfc_message_id(form.get("Message-Id")),
        replying_to: form.get("In-Reply-To").and_then(|v| rfc_message_id(Some(v))),
        payload: &payload,
        unrecognised: None,
        body_truncated: cut.iter().any(|f| f == text_field),
    };
    let mut tx = begin(&state, route.workspace_id).await?;
    // The signature does not cover the recipient: a token first delivered
    // to another studio is a replay, refused in this same transaction.
    if !webhook_events::claim_nonce(&mut tx, "mailgun", message.event_id).await? {
        state.metrics.bad_signature();
        tracing::warn!(security = true, workspace_id = %route.workspace_id, "mailgun token replayed to another recipient");
        return Err(ApiError::Forbidden);
    }
    let outcome = inbound::message(&mut tx, &message).await?;
    commit(&state, tx, outcome).await?;
    Ok(StatusCode::OK.into_response())
}

/// The `Message-Id` header Mailgun passes on, without angle brackets, so a
/// reply can thread under it. An odd one is dropped, never the email: it
/// only serves threading.
fn rfc_message_id(value: Option<&str>) -> Option<&str> {
    let value = value?.trim().trim_start_matches('<').trim_end_matches('>');
    let valid =
        !value.is_empty() && value.len() <= 250 && value.contains('@') && value.bytes().all(|b| b.is_ascii_graphic());
    if !valid {
        tracing::info!("inbound email Message-Id is not a message id; replies will not thread under it");
    }
    valid.then_some(value)
}

/// `hex(HMAC-SHA256(signing_key, timestamp + token))`.
pub fn signature_matches(key: &str, timestamp: &str, token: &str, signature: &str) -> bool {
    let Ok(given) = hex::decode(signature) else { return false };
    if timestamp.is_empty() || token.is_empty() {
        return false;
    }
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(token.as_bytes());
    mac.verify_slice(&given).is_ok()
}

/// A bare address, lower-cased; `Name <a@b>` is reduced to `a@b`.
fn address(field: &str, raw: &str) -> Result<String, ApiError> {
    let inner = match (raw.find('<'), raw.rfind('>')) {
        (Some(l), Some(r)) if l < r => &raw[l + 1..r],
        _ => raw,
    };
    let addr = inner.trim().to_ascii_lowercase();
    let valid = addr.len() <= 254
        && addr.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        })
        && !addr.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid { Ok(addr) } else { Err(ApiError::BadRequest(format!("{field} is not an email address"))) }
}

fn display_name(from: Option<&str>) -> Option<&str> {
    let from = from?;
    let name = from[..from.find('<')?].trim().trim_matches('"').trim();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(key: &str, timestamp: &str, token: &str) -> String {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(timestamp.as_bytes());
        mac.update(token.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn signature_verifies_and_one_byte_breaks_it() {
        let sig = sign("key-1", "1700000000", "tok");
        assert!(signature_matches("key-1", "1700000000", "tok", &sig));
        assert!(!signature_matches("key-1", "1700000001", "tok", &sig));
        assert!(!signature_matches("key-1", "1700000000", "tol", &sig));
        assert!(!signature_matches("key-2", "1700000000", "tok", &sig));
        assert!(!signature_matches("key-1", "", "", &sign("key-1", "", "")));
    }

    #[test]
    fn addresses_are_normalised_and_validated() {
        assert_eq!(address("sender", "Ana <Ana@Example.com>").unwrap(), "ana@example.com");
        for bad in ["", "ana", "@example.com", "ana@example", "ana@.com", "a na@example.com"] {
            assert!(address("sender", bad).is_err(), "{bad}");
        }
        assert_eq!(display_name(Some("\"Ana Ruiz\" <ana@example.com>")), Some("Ana Ruiz"));
        assert_eq!(display_name(Some("ana@example.com")), None);
    }
}
