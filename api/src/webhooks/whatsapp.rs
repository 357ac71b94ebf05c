//! Meta WhatsApp Cloud API: the verification handshake, inbound messages
//! and delivery statuses. One app secret signs for the whole platform; one
//! POST may carry entries for several workspaces, which are split apart.

use std::collections::BTreeMap;

use axum::{
    body::Bytes,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use frontdesk_domain::Phone;
use frontdesk_domain::inbound_text;
use frontdesk_jobs::{FollowupId, WorkspaceId};
use frontdesk_store::{
    inbound::{self, InboundMessage, Outcome, Sender, StatusUpdate, Unrecognised},
    messages::Channel,
    routes::{self, RouteProvider},
    vault::SEND_REFERENCE,
};
use hmac::{KeyInit, Mac};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::{
    delivery::{begin, commit, report_unrecognised, unroutable},
    form::{json_without_nul, phone, provider_id},
    require_content_type,
};
use crate::{ApiError, AppState};

#[derive(Deserialize)]
pub struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

#[utoipa::path(get, path = "/webhooks/whatsapp", tag = "webhooks", security(()),
    params(("hub.mode" = String, Query), ("hub.verify_token" = String, Query), ("hub.challenge" = String, Query)),
    responses((status = 200, description = "the challenge, echoed"), (status = 403, description = "wrong verify token")))]
pub async fn verify(State(state): State<AppState>, Query(h): Query<Handshake>) -> Result<Response, ApiError> {
    let expected = state.secrets.whatsapp_verify_token.as_ref().ok_or(ApiError::NotConfigured("whatsapp"))?;
    let token_ok: bool = h.verify_token.as_deref().unwrap_or("").as_bytes().ct_eq(expected.expose().as_bytes()).into();
    match (h.mode.as_deref(), h.challenge) {
        (Some("subscribe"), Some(challenge)) if token_ok => Ok((StatusCode::OK, challenge).into_response()),
        _ => Err(ApiError::Forbidden),
    }
}

#[utoipa::path(post, path = "/webhooks/whatsapp", tag = "webhooks", security(()),
    request_body(content = Object, description = "WhatsApp Cloud API notification"), params(("X-Hub-Signature-256" = String, Header)),
    responses((status = 200, description = "accepted"), (status = 403, description = "signature missing or wrong"), (status = 404, description = "no workspace claims it"), (status = 400, description = "bad input")))]
pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let secret = state.secrets.meta_app_secret.as_ref().ok_or(ApiError::NotConfigured("whatsapp"))?;
    let signature = headers.get("x-hub-signature-256").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !signature_matches(secret.expose(), &body, signature) {
        state.metrics.bad_signature();
        return Err(ApiError::Forbidden);
    }
    require_content_type(&headers, "application/json")?;
    let raw: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("invalid WhatsApp notification: {e}")))?;
    json_without_nul(&raw)?;
    let notification: Notification =
        serde_json::from_value(raw).map_err(|e| ApiError::BadRequest(format!("invalid WhatsApp notification: {e}")))?;
    if notification.object != "whatsapp_business_account" {
        return Err(ApiError::BadRequest(format!("unexpected object {:?}", notification.object)));
    }

    // Validate every change first, then route them all, then write: a
    // request with one bad change writes nothing at all.
    let mut changes = Vec::new();
    for change in notification.entry.into_iter().flat_map(|e| e.changes) {
        if change.field != "messages" {
            continue;
        }
        let value = change.value;
        let Some(metadata) = value.metadata else {
            return Err(ApiError::BadRequest("change without metadata".into()));
        };
        provider_id("phone_number_id", &metadata.phone_number_id)?;
        let items = items(&value.contacts, value.messages, value.statuses)?;
        if !items.is_empty() {
            changes.push((metadata.phone_number_id, items));
        }
    }
    let mut by_workspace: BTreeMap<WorkspaceId, Vec<Item>> = BTreeMap::new();
    let mut unrouted = Vec::new();
    for (phone_number_id, items) in changes {
        match routes::resolve(&state.db, RouteProvider::Whatsapp, std::slice::from_ref(&phone_number_id)).await? {
            Some(route) => by_workspace.entry(route.workspace_id).or_default().extend(items),
            None => unrouted.push(phone_number_id),
        }
    }
    for phone_number_id in &unrouted {
        unroutable(&state, "whatsapp", "no workspace for phone_number_id", Some(phone_number_id)).await?;
    }
    if by_workspace.is_empty() && !unrouted.is_empty() {
        return Err(ApiError::NotFound);
    }
    // Every follow-up reference is checked against its routed workspace
    // before anything is written.
    for (workspace_id, items) in by_workspace.iter_mut() {
        for item in items.iter_mut() {
            if let Item::Status { reference: Some(reference), followup, .. } = item {
                *followup = Some(verified_reference(&state, *workspace_id, reference)?);
            }
        }
    }
    for (workspace_id, items) in by_workspace {
        let mut tx = begin(&state, workspace_id).await?;
        let mut jobs = Vec::new();
        let mut reports = Vec::new();
        let mut any_new = false;
        for item in &items {
            let outcome = match item {
                Item::Message { from, name, id, body, payload, unknown_type } => {
                    let unrecognised = unknown_type.as_deref().map(|kind| Unrecognised {
                        field: "type",
                        value: kind,
                        action: "kept as a placeholder message with its payload",
                    });
                    let m = InboundMessage {
                        provider: "whatsapp",
                        event_id: id,
                        channel: Channel::Whatsapp,
                        from: Sender::Phone(from),
                        name: name.as_deref(),
                        body,
                        subject: None,
                        rfc_message_id: None,
                        payload,
                        unrecognised,
                        body_truncated: false,
                        replying_to: None,
                    };
                    (inbound::message(&mut tx, &m).await?, id, unrecognised)
                }
                Item::Status { id, status, error_code, payload, known, followup, .. } => {
                    let unrecognised = (!known).then_some(Unrecognised {
                        field: "status",
                        value: status,
                        action: "kept; the message's status is unchanged",
                    });
                    let s = StatusUpdate {
                        provider: "whatsapp",
                        channel: Channel::Whatsapp,
                        provider_message_id: id,
                        status,
                        error_code: error_code.as_deref(),
                        payload,
                        unrecognised,
                        followup: *followup,
                    };
                    (inbound::message_status(&mut tx, &s).await?, id, unrecognised)
                }
            };
            if let (Outcome::Accepted(more), id, unrecognised) = outcome {
                any_new = true;
                jobs.extend(more);
                reports.extend(unrecognised.map(|u| (id.as_str(), u)));
            }
        }
        let outcome = if any_new { Outcome::Accepted(jobs) } else { Outcome::Duplicate };
        commit(&state, tx, outcome).await?;
        for (id, u) in reports {
            report_unrecognised(&state, "whatsapp", workspace_id, id, &u);
        }
    }
    Ok(StatusCode::OK.into_response())
}

/// `sha256=<hex HMAC-SHA256(app_secret, raw body)>`, over the raw bytes.
pub fn signature_matches(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.strip_prefix("sha256=") else { return false };
    let Ok(given) = hex::decode(hex_sig.trim()) else { return false };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

enum Item {
    Message {
        from: Phone,
        name: Option<String>,
        id: String,
        body: String,
        payload: serde_json::Value,
        /// The message type, when it is not one the Cloud API documents.
        unknown_type: Option<String>,
    },
    Status {
        id: String,
        status: String,
        error_code: Option<String>,
        payload: serde_json::Value,
        known: bool,
        /// `biz_opaque_callback_data`: the follow-up reference our send set.
        reference: Option<String>,
        /// The reference, once checked against the routed workspace.
        followup: Option<FollowupId>,
    },
}

/// `<follow-up id>.<token>`, as the send job writes it: a token that does
/// not bind that follow-up to this workspace refuses the whole request.
fn verified_reference(state: &AppState, workspace_id: WorkspaceId, reference: &str) -> Result<FollowupId, ApiError> {
    let verified = reference.split_once('.').and_then(|(id, token)| {
        let id: FollowupId = id.parse().ok()?;
        state.vault.verify_link_token(workspace_id, SEND_REFERENCE, &id.to_string(), token).then_some(id)
    });
    verified.ok_or_else(|| {
        state.metrics.bad_signature();
        tracing::warn!(security = true, %workspace_id, "WhatsApp status names a follow-up it may not");
        ApiError::Forbidden
    })
}

const STATUSES: &[&str] = &["sent", "delivered", "read", "failed"];

/// The message types the Cloud API documents. Only `text` has a body we
/// read; the others are kept as a `[type]` placeholder with their payload.
/// A type outside this list is kept the same way, and reported.
const MESSAGE_TYPES: &[&str] = &[
    "text",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "button",
    "reaction",
    "order",
    "system",
    "request_welcome",
    "unsupported",
];

fn items(
    contacts: &Option<Vec<Contact>>,
    messages: Option<Vec<serde_json::Value>>,
    statuses: Option<Vec<serde_json::Value>>,
) -> Result<Vec<Item>, ApiError> {
    let mut items = Vec::new();
    for raw in messages.unwrap_or_default() {
        let m: WaMessage =
            serde_json::from_value(raw.clone()).map_err(|e| ApiError::BadRequest(format!("invalid message: {e}")))?;
        provider_id("message id", &m.id)?;
        let from = phone("from", &format!("+{}", m.from))?;
        let name = contacts
            .as_ref()
            .and_then(|cs| cs.iter().find(|c| c.wa_id == m.from))
            .and_then(|c| c.profile.as_ref())
            .map(|p| p.name.clone());
        let body = match m.text {
            Some(t) => t.body,
            // Media, location, reactions: keep a marker; the payload holds the rest.
            None => format!("[{}]", inbound_text::cap(&m.kind, 40).0),
        };
        let unknown_type = (!MESSAGE_TYPES.contains(&m.kind.as_str())).then_some(m.kind);
        items.push(Item::Message { from, name, id: m.id, body, payload: raw, unknown_type });
    }
    for raw in statuses.unwrap_or_default() {
        let s: WaStatus =
            serde_json::from_value(raw.clone()).map_err(|e| ApiError::BadRequest(format!("invalid status: {e}")))?;
        provider_id("status id", &s.id)?;
        provider_id("status", &s.status)?;
        let known = STATUSES.contains(&s.status.as_str());
        let error_code = s.errors.and_then(|es| es.into_iter().next()).map(|e| e.code.to_string());
        let reference = s.biz_opaque_callback_data.filter(|r| !r.is_empty());
        items.push(Item::Status {
            id: s.id,
            status: s.status,
            error_code,
            payload: raw,
            known,
            reference,
            followup: None,
        });
    }
    Ok(items)
}

// The wire format (Meta adds fields freely, so unknown ones are ignored).
#[derive(Deserialize)]
struct Notification {
    object: String,
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    field: String,
    value: ChangeValue,
}

#[derive(Deserialize)]
struct ChangeValue {
    metadata: Option<Metadata>,
    contacts: Option<Vec<Contact>>,
    messages: Option<Vec<serde_json::Value>>,
    statuses: Option<Vec<serde_json::Value>>,
}

#[derive(Deserialize)]
struct Metadata {
    phone_number_id: String,
}

#[derive(Deserialize)]
struct Contact {
    wa_id: String,
    profile: Option<Profile>,
}

#[derive(Deserialize)]
struct Profile {
    name: String,
}

#[derive(Deserialize)]
struct WaMessage {
    from: String,
    id: String,
    #[serde(rename = "type")]
    kind: String,
    text: Option<Text>,
}

#[derive(Deserialize)]
struct Text {
    body: String,
}

#[derive(Deserialize)]
struct WaStatus {
    id: String,
    status: String,
    errors: Option<Vec<WaErrorBody>>,
    biz_opaque_callback_data: Option<String>,
}

#[derive(Deserialize)]
struct WaErrorBody {
    code: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn signature_over_raw_body_verifies_and_one_byte_breaks_it() {
        let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
        let header = sign("app-secret", body);
        assert!(signature_matches("app-secret", body, &header));
        let mut tampered = body.to_vec();
        tampered[3] ^= 1;
        assert!(!signature_matches("app-secret", &tampered, &header));
        assert!(!signature_matches("other-secret", body, &header));
        assert!(!signature_matches("app-secret", body, header.trim_start_matches("sha256=")));
        assert!(!signature_matches("app-secret", body, "sha256=zz"));
    }
}
