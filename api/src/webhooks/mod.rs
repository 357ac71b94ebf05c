//! Provider webhooks. Every request is verified before anything else,
//! routed to its workspace, deduplicated by the provider's event id and
//! persisted in one transaction before it is acknowledged.
//!
//! These paths are pasted into provider consoles: never rename them.

mod delivery;
mod email;
mod form;
mod google;
pub(crate) mod signing_keys;
mod stripe;
mod twilio;
mod whatsapp;

use axum::extract::DefaultBodyLimit;
use tower_http::limit::RequestBodyLimitLayer;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;

/// Provider payloads are small; email may carry attachments.
const FORM_LIMIT: usize = 64 * 1024;
const EMAIL_LIMIT: usize = 10 * 1024 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    let small = OpenApiRouter::new()
        .routes(routes!(twilio::sms))
        .routes(routes!(twilio::voice))
        .routes(routes!(twilio::status))
        .routes(routes!(whatsapp::receive, whatsapp::verify))
        .routes(routes!(stripe::receive))
        .routes(routes!(google::push))
        // Rejects on Content-Length before reading, and caps chunked bodies while streaming.
        .layer(RequestBodyLimitLayer::new(FORM_LIMIT))
        .layer(DefaultBodyLimit::max(FORM_LIMIT));
    let email = OpenApiRouter::new()
        .routes(routes!(email::receive))
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
