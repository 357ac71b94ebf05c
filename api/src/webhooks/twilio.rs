//! Twilio: inbound SMS, voice status / `<Dial action>`, outbound status callbacks.
//! Each workspace has its own Twilio account, so the signature is checked
//! with the routed workspace's auth token from the vault.

use axum::{
    body::Bytes,
    extract::{OriginalUri, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use frontdesk_jobs::FollowupId;
use frontdesk_store::{
    inbound::{self, CallStatus, InboundMessage, Outcome, Sender, StatusUpdate, Unrecognised},
    integrations,
    messages::Channel,
    routes::{self, Route, RouteProvider},
    vault::{SEND_REFERENCE, Secret},
};
use hmac::{KeyInit, Mac};
use subtle::ConstantTimeEq;

use super::{
    delivery::{begin, commit, report_unrecognised, unroutable},
    form::{Form, phone, provider_id},
    require_content_type,
};
use crate::{ApiError, AppState};

const SIGNATURE: &str = "x-twilio-signature";
const STATUSES: &[&str] = &[
    "queued",
    "sending",
    "sent",
    "delivered",
    "undelivered",
    "failed",
    "read",
    "accepted",
    "scheduled",
    "canceled",
    "receiving",
    "received",
];
const CALL_STATUSES: &[&str] =
    &["queued", "ringing", "in-progress", "completed", "busy", "failed", "no-answer", "canceled"];

#[utoipa::path(post, path = "/webhooks/twilio/sms", tag = "webhooks", security(()), request_body(content_type = "application/x-www-form-urlencoded", content = Object, description = "Twilio inbound SMS"),
    params(("X-Twilio-Signature" = String, Header)),
    responses((status = 200, description = "empty TwiML", content_type = "text/xml"), (status = 403, description = "signature missing or wrong"), (status = 404, description = "no workspace claims it"), (status = 400, description = "bad input")))]
pub async fn sms(
    State(state): State<AppState>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    // Everything is validated before routing; nothing is written before the signature verifies.
    let (route, form) = verified(&state, &uri, &headers, &body, |f| {
        f.id("MessageSid")?;
        phone("From", f.require("From")?)?;
        Ok(routes::twilio_keys(
            optional_id(f, "MessagingServiceSid")?,
            f.id("AccountSid")?,
            phone("To", f.require("To")?)?.as_str(),
        ))
    })
    .await?;
    let from = phone("From", form.require("From")?)?;
    let payload = form.to_json();
    let message = InboundMessage {
        provider: "twilio",
        event_id: form.id("MessageSid")?,
        channel: Channel::Sms,
        from: Sender::Phone(&from),
        name: None,
        body: form.get("Body").unwrap_or(""),
        subject: None,
        rfc_message_id: None,
        payload: &payload,
        unrecognised: None,
        body_truncated: false,
        replying_to: None,
    };
    let mut tx = begin(&state, route.workspace_id).await?;
    let outcome = inbound::message(&mut tx, &message).await?;
    commit(&state, tx, outcome).await?;
    Ok(twiml())
}

#[utoipa::path(post, path = "/webhooks/twilio/voice", tag = "webhooks", security(()), request_body(content_type = "application/x-www-form-urlencoded", content = Object, description = "Twilio call status or <Dial action>"),
    params(("X-Twilio-Signature" = String, Header)),
    responses((status = 200, description = "empty TwiML", content_type = "text/xml"), (status = 403, description = "signature missing or wrong"), (status = 404, description = "no workspace claims it"), (status = 400, description = "bad input")))]
pub async fn voice(
    State(state): State<AppState>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (route, form) = verified(&state, &uri, &headers, &body, |f| {
        f.id("CallSid")?;
        phone("From", f.require("From")?)?;
        Ok(routes::twilio_keys(None, f.id("AccountSid")?, phone("To", f.require("To")?)?.as_str()))
    })
    .await?;
    let from = phone("From", form.require("From")?)?;
    let to = phone("To", form.require("To")?)?;
    let status = provider_id("CallStatus", form.require("CallStatus")?)?;
    let payload = form.to_json();
    let call = CallStatus {
        call_sid: form.id("CallSid")?,
        from: &from,
        to: &to,
        status,
        dial_status: optional_id(&form, "DialCallStatus")?,
        payload: &payload,
        unrecognised: (!CALL_STATUSES.contains(&status)).then_some(Unrecognised {
            field: "CallStatus",
            value: status,
            action: "call logged with this status; no missed-call text-back decided from it",
        }),
    };
    let mut tx = begin(&state, route.workspace_id).await?;
    let outcome = inbound::call(&mut tx, &call).await?;
    let reported = call.unrecognised.filter(|_| matches!(outcome, Outcome::Accepted(_)));
    commit(&state, tx, outcome).await?;
    if let Some(u) = reported {
        report_unrecognised(&state, "twilio", route.workspace_id, call.call_sid, &u);
    }
    Ok(twiml())
}

/// Status callbacks for messages we sent: our number is `From`.
#[utoipa::path(post, path = "/webhooks/twilio/status", tag = "webhooks", security(()), request_body(content_type = "application/x-www-form-urlencoded", content = Object, description = "Twilio outbound message status callback"),
    params(("X-Twilio-Signature" = String, Header)),
    responses((status = 204, description = "applied"), (status = 403, description = "signature missing or wrong"), (status = 404, description = "no workspace claims it"), (status = 400, description = "bad input")))]
pub async fn status(
    State(state): State<AppState>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (route, form) = verified(&state, &uri, &headers, &body, |f| {
        f.id("MessageSid")?;
        Ok(routes::twilio_keys(
            optional_id(f, "MessagingServiceSid")?,
            f.id("AccountSid")?,
            phone("From", f.require("From")?)?.as_str(),
        ))
    })
    .await?;
    let status = provider_id("MessageStatus", form.require("MessageStatus")?)?;
    let followup = send_reference(&state, &route, &uri)?;
    let payload = form.to_json();
    let update = StatusUpdate {
        provider: "twilio",
        channel: Channel::Sms,
        provider_message_id: form.id("MessageSid")?,
        status,
        error_code: optional_id(&form, "ErrorCode")?,
        payload: &payload,
        unrecognised: (!STATUSES.contains(&status)).then_some(Unrecognised {
            field: "MessageStatus",
            value: status,
            action: "kept; the message's status is unchanged",
        }),
        followup,
    };
    let mut tx = begin(&state, route.workspace_id).await?;
    let outcome = inbound::message_status(&mut tx, &update).await?;
    let reported = update.unrecognised.filter(|_| matches!(outcome, Outcome::Accepted(_)));
    commit(&state, tx, outcome).await?;
    if let Some(u) = reported {
        report_unrecognised(&state, "twilio", route.workspace_id, update.provider_message_id, &u);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The follow-up our `StatusCallback` URL names (`?followup=<id>&ref=<token>`),
/// checked against the routed workspace: Twilio signed the URL, and the
/// token binds the follow-up to its workspace, so a callback cannot be
/// replayed against another studio's follow-up.
fn send_reference(state: &AppState, route: &Route, uri: &OriginalUri) -> Result<Option<FollowupId>, ApiError> {
    let query = uri.0.query().unwrap_or("");
    let param = |name: &str| url_params(query).find(|(k, _)| *k == name).map(|(_, v)| v);
    let (Some(followup), Some(token)) = (param("followup"), param("ref")) else { return Ok(None) };
    match followup.parse::<FollowupId>() {
        Ok(id) if state.vault.verify_link_token(route.workspace_id, SEND_REFERENCE, &id.to_string(), token) => {
            Ok(Some(id))
        }
        _ => {
            state.metrics.bad_signature();
            tracing::warn!(security = true, workspace_id = %route.workspace_id, "status callback names a follow-up it may not");
            Err(ApiError::Forbidden)
        }
    }
}

/// `k=v` pairs of a query string we wrote ourselves (ids and url-safe tokens).
fn url_params(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query.split('&').filter_map(|pair| pair.split_once('='))
}

fn optional_id<'f>(form: &'f Form, key: &str) -> Result<Option<&'f str>, ApiError> {
    form.get(key).map(|v| provider_id(key, v)).transpose()
}

fn twiml() -> Response {
    ([(header::CONTENT_TYPE, "text/xml")], "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>")
        .into_response()
}

/// Parses the form, routes it with `keys`, and checks the signature with the
/// routed workspace's auth token. Nothing is written before this succeeds
/// (an unroutable request is logged for ops, without its body).
async fn verified(
    state: &AppState,
    uri: &OriginalUri,
    headers: &HeaderMap,
    body: &[u8],
    keys: impl FnOnce(&Form) -> Result<Vec<String>, ApiError>,
) -> Result<(Route, Form), ApiError> {
    require_content_type(headers, "application/x-www-form-urlencoded")?;
    let signature = headers.get(SIGNATURE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let Some(signature) = signature else {
        state.metrics.bad_signature();
        return Err(ApiError::Forbidden);
    };
    let form = Form::parse(body)?;
    let keys = keys(&form)?;
    let url = format!(
        "{}{}",
        state.public_url.trim_end_matches('/'),
        uri.0.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let verifies = |token: &Secret| url_variants(&url).iter().any(|u| signature_matches(token, u, &form, &signature));
    if let Some((route, token)) = state.signing_keys.get(&keys) {
        if verifies(&token) {
            return Ok((route, form));
        }
        // Rotated token or moved number: decide from the database.
        state.signing_keys.forget(&keys);
    }
    let Some(route) = routes::resolve(&state.db, RouteProvider::Twilio, &keys).await? else {
        unroutable(state, "twilio", "no workspace for account and number", keys.last().map(String::as_str)).await?;
        return Err(ApiError::NotFound);
    };
    let token = auth_token(state, &route).await?;
    if !verifies(&token) {
        state.metrics.bad_signature();
        tracing::warn!(workspace_id = %route.workspace_id, "twilio signature does not verify");
        return Err(ApiError::Forbidden);
    }
    state.signing_keys.put(keys, route.clone(), token);
    Ok((route, form))
}

async fn auth_token(state: &AppState, route: &Route) -> Result<Secret, ApiError> {
    let integration = route.integration_id.ok_or(ApiError::internal("twilio route without integration"))?;
    let mut tx = state.db.tenant(route.workspace_id).await?;
    let token = integrations::secret(&mut tx, &state.vault, integration).await?;
    tx.rollback().await?;
    Ok(token)
}

/// `base64(HMAC-SHA1(token, url + Σ sorted(key + value)))`, compared in constant time.
pub fn signature_matches(token: &Secret, url: &str, form: &Form, signature: &str) -> bool {
    let expected = sign(token.expose(), url, &form.0);
    expected.as_bytes().ct_eq(signature.trim().as_bytes()).into()
}

pub fn sign(token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).expect("HMAC takes any key length");
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Twilio may sign the URL with or without the scheme's default port.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    for (scheme, port) in [("https://", ":443"), ("http://", ":80")] {
        let Some(rest) = url.strip_prefix(scheme) else { continue };
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if let Some(bare) = host.strip_suffix(port) {
            variants.push(format!("{scheme}{bare}{path}"));
        } else if !host.contains(':') {
            variants.push(format!("{scheme}{host}{port}{path}"));
        }
    }
    variants
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector_params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const EXPECTED: &str = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";

    #[test]
    fn golden_vector_from_providers_md_verifies() {
        assert_eq!(sign("12345", URL, &vector_params()), EXPECTED);
        assert!(signature_matches(&Secret::new("12345"), URL, &Form(vector_params()), EXPECTED));
    }

    #[test]
    fn one_changed_byte_fails() {
        let mut params = vector_params();
        params[2].1 = "1235".into();
        assert!(!signature_matches(&Secret::new("12345"), URL, &Form(params), EXPECTED));
        let mut bad = EXPECTED.as_bytes().to_vec();
        bad[0] ^= 1;
        assert!(!signature_matches(
            &Secret::new("12345"),
            URL,
            &Form(vector_params()),
            std::str::from_utf8(&bad).unwrap()
        ));
        assert!(!signature_matches(&Secret::new("12346"), URL, &Form(vector_params()), EXPECTED));
    }

    #[test]
    fn wrong_url_fails() {
        assert!(!signature_matches(
            &Secret::new("12345"),
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            &Form(vector_params()),
            EXPECTED
        ));
        assert!(!signature_matches(
            &Secret::new("12345"),
            "https://evil.com/myapp.php?foo=1&bar=2",
            &Form(vector_params()),
            EXPECTED
        ));
    }

    #[test]
    fn default_port_is_optional() {
        let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        assert!(url_variants(with_port).iter().any(|u| u == URL));
        assert!(url_variants(URL).iter().any(|u| u == with_port));
        assert_eq!(url_variants("https://a.com:8443/x").len(), 1);
    }
}
