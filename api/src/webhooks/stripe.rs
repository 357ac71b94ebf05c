//! Stripe: subscription and invoice events for the platform account. One
//! customer (and subscription) per workspace.

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Datelike, Utc};
use frontdesk_store::{
    inbound::{self, BillingEvent},
    routes::{self, RouteProvider},
};
use hmac::{KeyInit, Mac};
use serde::Deserialize;

use super::{
    delivery::{begin, commit, unroutable},
    form::{json_without_nul, provider_id},
    require_content_type,
};
use crate::{ApiError, AppState};

/// Stripe's default: a signature older than this is a replay.
pub const TOLERANCE_SECS: i64 = 300;

const HANDLED: &[&str] = &[
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.paid",
    "invoice.payment_failed",
];

#[utoipa::path(post, path = "/webhooks/stripe", tag = "webhooks", security(()),
    request_body(content = Object, description = "Stripe event"), params(("Stripe-Signature" = String, Header)),
    responses((status = 200, description = "accepted"), (status = 403, description = "signature missing or wrong"), (status = 404, description = "no workspace claims it"), (status = 400, description = "bad input")))]
pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let secret = state.secrets.stripe_webhook_secret.as_ref().ok_or(ApiError::NotConfigured("stripe"))?;
    let header = headers.get("stripe-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
    if verify(secret.expose(), header, &body, Utc::now().timestamp()).is_err() {
        state.metrics.bad_signature();
        return Err(ApiError::Forbidden);
    }
    require_content_type(&headers, "application/json")?;
    let payload: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("invalid Stripe event: {e}")))?;
    json_without_nul(&payload)?;
    let event: Event = serde_json::from_value(payload.clone())
        .map_err(|e| ApiError::BadRequest(format!("invalid Stripe event: {e}")))?;
    provider_id("event id", &event.id)?;
    if !HANDLED.contains(&event.kind.as_str()) {
        // Acknowledged so Stripe stops sending it; we do not act on it.
        return Ok(StatusCode::OK.into_response());
    }
    let customer = event
        .data
        .object
        .customer
        .as_deref()
        .ok_or_else(|| ApiError::BadRequest("event object has no customer".into()))?;
    provider_id("customer", customer)?;
    let Some(route) = routes::resolve(&state.db, RouteProvider::Stripe, &[customer.to_owned()]).await? else {
        unroutable(&state, "stripe", "no workspace for customer", Some(customer)).await?;
        return Err(ApiError::NotFound);
    };
    // Stripe did not exist before 2010; Postgres timestamps end long before chrono's do.
    let created = DateTime::from_timestamp(event.created, 0)
        .filter(|t| (2010..=2200).contains(&t.year()))
        .ok_or_else(|| ApiError::BadRequest("created is out of range".into()))?;
    let billing = BillingEvent { event_id: &event.id, kind: &event.kind, created, payload: &payload };
    let mut tx = begin(&state, route.workspace_id).await?;
    let outcome = inbound::billing(&mut tx, &billing).await?;
    commit(&state, tx, outcome).await?;
    Ok(StatusCode::OK.into_response())
}

#[derive(Debug, PartialEq, Eq)]
pub enum SignatureError {
    Malformed,
    TooOld,
    Mismatch,
}

/// `Stripe-Signature: t=<unix>,v1=<hex>[,v1=...]`; HMAC-SHA256 of
/// `"{t}.{raw body}"`. Any `v1` may match (secret rollover); constant-time.
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", sig)) => candidates.extend(hex::decode(sig).ok()),
            _ => {}
        }
    }
    let t = timestamp.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if now.checked_sub(t).is_none_or(|age| age.abs() > TOLERANCE_SECS) {
        return Err(SignatureError::TooOld);
    }
    let matches = candidates.iter().any(|sig| {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.verify_slice(sig).is_ok()
    });
    if matches { Ok(()) } else { Err(SignatureError::Mismatch) }
}

#[derive(Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    created: i64,
    data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    object: EventObject,
}

#[derive(Deserialize)]
struct EventObject {
    customer: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"id":"evt_1","object":"event"}"#;
    const HEADER: &str = "t=1700000000,v1=4c15fb2a43f93ef61eaa3e0893866d57cad9cad4223242cfb96f362480cb4021";

    #[test]
    fn golden_vector_from_providers_md_verifies_at_its_time() {
        assert_eq!(verify("whsec_test", HEADER, BODY, 1_700_000_000), Ok(()));
        assert_eq!(verify("whsec_test", HEADER, BODY, 1_700_000_000 + TOLERANCE_SECS), Ok(()));
    }

    #[test]
    fn the_vector_is_rejected_by_age_when_checked_live() {
        assert_eq!(verify("whsec_test", HEADER, BODY, Utc::now().timestamp()), Err(SignatureError::TooOld));
    }

    #[test]
    fn one_changed_byte_fails() {
        let mut body = BODY.to_vec();
        body[2] ^= 1;
        assert_eq!(verify("whsec_test", HEADER, &body, 1_700_000_000), Err(SignatureError::Mismatch));
        assert_eq!(verify("whsec_tesT", HEADER, BODY, 1_700_000_000), Err(SignatureError::Mismatch));
        let header = HEADER.replace("v1=4c", "v1=5c");
        assert_eq!(verify("whsec_test", &header, BODY, 1_700_000_000), Err(SignatureError::Mismatch));
    }

    #[test]
    fn any_of_several_v1_signatures_may_match_and_malformed_headers_fail() {
        let rolled = HEADER.replace("t=1700000000,", "t=1700000000,v1=00ff,");
        assert_eq!(verify("whsec_test", &rolled, BODY, 1_700_000_000), Ok(()));
        for bad in ["", "t=1700000000", "v1=abcd", "t=x,v1=abcd"] {
            assert_eq!(verify("whsec_test", bad, BODY, 1_700_000_000), Err(SignatureError::Malformed), "{bad}");
        }
    }
}
