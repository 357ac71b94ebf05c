use axum::{
    Json,
    body::Body,
    extract::Request,
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use frontdesk_jobs::{BoxError, Report};
use frontdesk_store::StoreError;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

/// The api's one error type. Webhook routes answer JSON `{code, detail}`
/// (providers and their dashboards see that); the studio API under `/v1`
/// answers the same error as RFC 9457 `application/problem+json` (see
/// [`problem_json`]). Anything unexpected is logged, with its whole cause
/// chain, once here, and becomes an opaque 5xx. Nothing from the database
/// reaches a client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// No credential, or one that is unknown, mistyped, expired or revoked.
    /// One answer for all of them, so a caller learns nothing about which.
    #[error("a valid session token or API key is required (Authorization: Bearer …)")]
    Unauthorized,
    /// Sign-in with an email and password that do not match (or an
    /// invitation token that is unknown, used or expired).
    #[error("{0}")]
    BadCredentials(&'static str),
    /// A signature that does not verify.
    #[error("signature does not verify")]
    Forbidden,
    /// A verified credential whose role may not do this.
    #[error("{0}")]
    NotAllowed(&'static str),
    #[error("expected content type {0}")]
    UnsupportedMediaType(&'static str),
    /// The provider's "accepted, do not retry" for an input we refuse (Mailgun: 406).
    #[error("{1}")]
    Refused(StatusCode, String),
    /// A platform secret this endpoint needs is not configured.
    #[error("{0} webhooks are not configured on this server")]
    NotConfigured(&'static str),
    #[error("not found")]
    NotFound,
    /// No route has this path (the router's own fallback).
    #[error("no such route")]
    NoRoute,
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    #[error("conflict: {0}")]
    Conflict(String),
    /// A request body that is not the JSON the route takes (syntax).
    #[error("{0}")]
    MalformedBody(String),
    /// Fields that are present and readable but not acceptable.
    #[error("the request has invalid fields")]
    Invalid(Vec<FieldError>),
    #[error("too many requests; retry after {retry_after} s")]
    RateLimited { retry_after: u64 },
    #[error("the Idempotency-Key header must be 1 to 255 visible ASCII characters")]
    BadIdempotencyKey,
    #[error("this Idempotency-Key was already used with a different request body")]
    IdempotencyKeyReused,
    #[error("a request with this Idempotency-Key is still being processed; retry later")]
    IdempotencyInProgress,
    /// A live check against the provider refused the credentials or settings.
    #[error("{0}")]
    CheckFailed(String),
    /// Neither the workspace nor the platform has a way to send email.
    #[error(
        "no way to send the invitation: add a live smtp integration (POST /v1/integrations) or configure FRONTDESK_SMTP_URL on the server"
    )]
    NoMailer,
    /// The mail server did not take the invitation.
    #[error("the invitation email could not be sent: {0}")]
    MailFailed(String),
    /// Postgres (or Redis, for sign-in limits) is unreachable: clients retry on 503.
    #[error("service unavailable")]
    Unavailable(#[source] BoxError),
    #[error("internal error")]
    Internal(#[source] BoxError),
}

/// One invalid field: where it is in the request body, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// RFC 6901 JSON pointer into the request body, e.g. `/auth_token`.
    pub pointer: String,
    pub detail: String,
}

impl FieldError {
    pub fn new(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { pointer: pointer.into(), detail: detail.into() }
    }
}

/// RFC 9457 problem details, as every `/v1` error answers.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:frontdesk:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code; clients branch on this.
    pub code: String,
    /// For validation failures: one entry per invalid field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl ApiError {
    /// An internal fault with no error value behind it (a broken invariant).
    pub fn internal(what: &'static str) -> Self {
        ApiError::Internal(what.into())
    }

    /// One invalid field.
    pub fn invalid(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError::Invalid(vec![FieldError::new(pointer, detail)])
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::BadCredentials(_) => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "bad_signature"),
            ApiError::NotAllowed(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            ApiError::Refused(status, _) => (*status, "refused"),
            ApiError::NotConfigured(_) => (StatusCode::SERVICE_UNAVAILABLE, "not_configured"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::NoRoute => (StatusCode::NOT_FOUND, "no_route"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::MalformedBody(_) => (StatusCode::BAD_REQUEST, "malformed_body"),
            ApiError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::BadIdempotencyKey => (StatusCode::BAD_REQUEST, "bad_idempotency_key"),
            ApiError::IdempotencyKeyReused => (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused"),
            ApiError::IdempotencyInProgress => (StatusCode::CONFLICT, "idempotency_key_in_use"),
            ApiError::CheckFailed(_) => (StatusCode::UNPROCESSABLE_ENTITY, "integration_check_failed"),
            ApiError::NoMailer => (StatusCode::CONFLICT, "email_not_configured"),
            ApiError::MailFailed(_) => (StatusCode::BAD_GATEWAY, "email_failed"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            ApiError::Unavailable(Box::new(e))
        } else if e.is_unique_violation() {
            ApiError::Conflict("already exists".into())
        } else {
            match e {
                StoreError::Invalid(why) => ApiError::BadRequest(why),
                StoreError::NotFound { .. } => ApiError::NotFound,
                // Store conflicts are written for clients ("already registered").
                StoreError::Conflict(why) => ApiError::Conflict(why),
                other => ApiError::Internal(Box::new(other)),
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        match &self {
            ApiError::Unavailable(_) => tracing::warn!(error = %Report(&self), "dependency unavailable"),
            ApiError::Internal(_) => tracing::error!(error = %Report(&self), "internal error"),
            _ => {}
        }
        let detail = match &self {
            ApiError::Internal(_) => "internal error".to_owned(),
            ApiError::Unavailable(_) => "service unavailable".to_owned(),
            other => other.to_string(),
        };
        let retry_after = match &self {
            ApiError::RateLimited { retry_after } => Some(*retry_after),
            _ => None,
        };
        let errors = match self {
            ApiError::Invalid(errors) => errors,
            _ => Vec::new(),
        };
        let title = status.canonical_reason().unwrap_or("Error").to_owned();
        let problem = Problem {
            kind: format!("urn:frontdesk:problem:{code}"),
            title,
            status: status.as_u16(),
            detail: detail.clone(),
            code: code.to_owned(),
            errors,
        };
        let mut response = (status, Json(json!({ "code": code, "detail": detail }))).into_response();
        if let Some(secs) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        // The /v1 layer renders this instead of the webhook body.
        response.extensions_mut().insert(problem);
        response
    }
}

/// Middleware for the studio API: an error answer becomes RFC 9457
/// `application/problem+json`. Webhook paths never pass through it.
pub async fn problem_json(request: Request, next: Next) -> Response {
    let studio = request.uri().path().starts_with("/v1/") || request.uri().path() == "/v1";
    let mut response = next.run(request).await;
    if !studio {
        return response;
    }
    let Some(problem) = response.extensions_mut().remove::<Problem>() else { return response };
    let (mut parts, _) = response.into_parts();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    Response::from_parts(parts, Body::from(body))
}

/// The router's fallbacks, so an unknown path or method answers in the
/// same shape as every other error.
pub async fn no_route() -> ApiError {
    ApiError::NoRoute
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
