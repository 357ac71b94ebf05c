//! Provider webhooks. Every request is verified before anything else,
//! routed to its workspace, deduplicated by the provider's event id and
//! persisted in one transaction before it is acknowledged.
//!
//! These paths are pasted into provider consoles: never rename them.

mod bounded_form;
mod delivery;
mod email;
mod form;
mod google;
pub(crate) mod signing_keys;
mod stripe;
mod twilio;
mod whatsapp;

use axum::{extract::DefaultBodyLimit, middleware};
use tower_http::limit::RequestBodyLimitLayer;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    inflight::{self, Guarded, Reservation},
};

/// Provider payloads are small; email may carry attachments (we read past
/// them; see `email.rs`).
const FORM_LIMIT: usize = 64 * 1024;
const EMAIL_LIMIT: usize = 10 * 1024 * 1024;
/// Parsing a form or JSON body into values holds a few times its size.
const PARSE_EXPANSION: usize = 8;

pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    let guarded = |reservation| Guarded { budget: state.inflight.clone(), reservation };
    let small_budget = guarded(Reservation { per_byte: PARSE_EXPANSION, at_most: PARSE_EXPANSION * FORM_LIMIT });
    // An email holds at most its kept fields, read while streaming, and
    // the copies its transaction writes.
    let email_budget = guarded(Reservation { per_byte: 2, at_most: 2 * email::max_held() });
    let small = OpenApiRouter::new()
        .routes(routes!(twilio::sms))
        .routes(routes!(twilio::voice))
        .routes(routes!(twilio::status))
        .routes(routes!(whatsapp::receive, whatsapp::verify))
        .routes(routes!(stripe::receive))
        .routes(routes!(google::push))
        .layer(middleware::from_fn_with_state(small_budget, inflight::reserve))
        // Rejects on Content-Length before reading, and caps chunked bodies while streaming.
        .layer(RequestBodyLimitLayer::new(FORM_LIMIT))
        .layer(DefaultBodyLimit::max(FORM_LIMIT));
    let email = OpenApiRouter::new()
        .routes(routes!(email::receive))
        .layer(middleware::from_fn_with_state(email_budget, inflight::reserve))
        .layer(RequestBodyLimitLayer::new(EMAIL_LIMIT))
        .layer(DefaultBodyLimit::max(EMAIL_LIMIT));
    small.merge(email)
}

/// Checks the request's media type (parameters such as charset ignored).
fn require_content_type(headers: &axum::http::HeaderMap, expected: &'static str) -> Result<(), crate::ApiError> {
    let actual = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = actual.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case(expected) { Ok(()) } else { Err(crate::ApiError::UnsupportedMediaType(expected)) }
}
