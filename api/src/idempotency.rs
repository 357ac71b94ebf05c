//! `Idempotency-Key` on every studio POST and PATCH (IETF httpapi draft
//! `draft-ietf-httpapi-idempotency-key-header`): the first request with a
//! key runs and its answer is kept 24 hours, scoped to (workspace,
//! credential, method + route); a retry with the same key and body gets
//! that answer again (`Idempotent-Replayed: true`); the same key with a
//! different body is 422; a retry while the first still runs is 409.
//!
//! The claim is committed before the handler runs, so a concurrent
//! duplicate sees it. An answer of 5xx is not kept (the client may retry
//! it). If the process dies between the handler's commit and recording the
//! answer, the claim is taken over after `ABANDONED_AFTER` and the request
//! runs again: the one window where a retry can repeat work, and the
//! integrations' one-per-provider constraint turns that into a 409.
//!
//! Kept answers are sealed by the vault: a `POST /v1/keys` answer holds an
//! API key that must not rest in clear.
//!
//! Sign-in and accepting an invitation (the two unauthenticated POSTs) are
//! outside it: there is no credential yet to scope a key to, and their
//! answer is a fresh session token, which must not be kept for replay. A
//! retried sign-in simply opens another session.

use std::time::Duration;

use axum::{
    body::{Body, to_bytes},
    extract::{MatchedPath, Request, State},
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use frontdesk_store::{
    idempotency::{self, Claim, Key},
    vault::Secret,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{ApiError, AppState, auth::Credential, extract};

pub const HEADER: HeaderName = HeaderName::from_static("idempotency-key");
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// Longer than the api's request timeout (30 s): a claim this old belongs
/// to a request that can no longer finish.
const ABANDONED_AFTER: Duration = Duration::from_secs(60);
/// The vault label kept answers are sealed under.
const SEAL_LABEL: &str = "idempotency";

#[derive(Serialize, Deserialize)]
struct Kept {
    headers: Vec<(String, String)>,
    body: String,
}

pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Result<Response, ApiError> {
    if !matches!(*request.method(), Method::POST | Method::PATCH) {
        return Ok(next.run(request).await);
    }
    let Some(raw) = request.headers().get(&HEADER) else { return Ok(next.run(request).await) };
    let key = parse_key(raw)?;
    let credential = request.extensions().get::<Credential>().cloned().ok_or(ApiError::Unauthorized)?;
    let route = match request.extensions().get::<MatchedPath>() {
        Some(path) => format!("{} {}", request.method(), path.as_str()),
        None => return Err(ApiError::internal("idempotency layer outside a matched route")),
    };
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, extract::LIMIT)
        .await
        .map_err(|_| ApiError::MalformedBody(format!("the request body must be at most {} bytes", extract::LIMIT)))?;
    let claim_key = Key { credential_id: credential.id, route: &route, key: &key, fingerprint: fingerprint(&bytes) };
    let mut tx = state.db.tenant(credential.workspace_id).await?;
    let claim = idempotency::claim(&mut tx, &claim_key, ABANDONED_AFTER).await?;
    tx.commit().await?;
    let id = match claim {
        Claim::Acquired(id) => id,
        Claim::InProgress => return Err(ApiError::IdempotencyInProgress),
        Claim::Mismatch => return Err(ApiError::IdempotencyKeyReused),
        Claim::Completed { status, response } => {
            let opened = state
                .vault
                .open(credential.workspace_id, SEAL_LABEL, &response)
                .map_err(|e| ApiError::Internal(Box::new(e)))?;
            let kept: Kept = serde_json::from_str(opened.expose()).map_err(|e| ApiError::Internal(Box::new(e)))?;
            return Ok(replay(status, kept));
        }
    };
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    let status = response.status();
    let mut tx = state.db.tenant(credential.workspace_id).await?;
    if status.is_server_error() {
        idempotency::release(&mut tx, id).await?;
        tx.commit().await?;
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, 1024 * 1024).await.map_err(|e| ApiError::Internal(Box::new(e)))?;
    let Ok(text) = String::from_utf8(bytes.to_vec()) else {
        // Studio answers are JSON; anything else is not worth replaying.
        idempotency::release(&mut tx, id).await?;
        tx.commit().await?;
        return Ok(Response::from_parts(parts, Body::from(bytes)));
    };
    let headers = [header::CONTENT_TYPE, header::LOCATION, header::RETRY_AFTER]
        .iter()
        .filter_map(|name| Some((name.as_str().to_owned(), parts.headers.get(name)?.to_str().ok()?.to_owned())))
        .collect();
    let kept = Kept { headers, body: text };
    let sealed = state.vault.seal(
        credential.workspace_id,
        SEAL_LABEL,
        &Secret::new(serde_json::to_string(&kept).map_err(|e| ApiError::Internal(Box::new(e)))?),
    );
    idempotency::complete(&mut tx, id, status.as_u16() as i16, &sealed).await?;
    tx.commit().await?;
    Ok(Response::from_parts(parts, Body::from(kept.body)))
}

/// A key is an RFC 8941 sf-string (`"…"`); a bare token is taken as well,
/// since many clients send one.
fn parse_key(raw: &HeaderValue) -> Result<String, ApiError> {
    let text = raw.to_str().map_err(|_| ApiError::BadIdempotencyKey)?.trim();
    let text = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text);
    let valid = (1..=255).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    if valid { Ok(text.to_owned()) } else { Err(ApiError::BadIdempotencyKey) }
}

/// SHA-256 of the body, JSON made canonical first (keys sorted, no
/// whitespace), so a client that re-serialises the same request is not
/// told its body changed.
fn fingerprint(body: &[u8]) -> [u8; 32] {
    let canonical = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| serde_json::to_vec(&v).ok())
        .unwrap_or_else(|| body.to_vec());
    Sha256::digest(&canonical).into()
}

fn replay(status: i16, kept: Kept) -> Response {
    let status = u16::try_from(status).ok().and_then(|s| StatusCode::from_u16(s).ok()).unwrap_or(StatusCode::OK);
    let mut response = (status, kept.body).into_response();
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_TYPE);
    for (name, value) in kept.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            headers.insert(name, value);
        }
    }
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sf_strings_or_tokens_of_bounded_length() {
        assert_eq!(parse_key(&HeaderValue::from_static("\"abc-1\"")).unwrap(), "abc-1");
        assert_eq!(parse_key(&HeaderValue::from_static("8e03978e-40d5-43e8")).unwrap(), "8e03978e-40d5-43e8");
        assert!(parse_key(&HeaderValue::from_static("\"\"")).is_err());
        assert!(parse_key(&HeaderValue::from_str(&"k".repeat(256)).unwrap()).is_err());
    }

    #[test]
    fn the_fingerprint_ignores_key_order_and_whitespace_only() {
        assert_eq!(fingerprint(br#"{"a": 1, "b": [2]}"#), fingerprint(br#"{"b":[2],"a":1}"#));
        assert_ne!(fingerprint(br#"{"a": 1}"#), fingerprint(br#"{"a": 2}"#));
    }
}
