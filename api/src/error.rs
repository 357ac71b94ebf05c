use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use frontdesk_jobs::{BoxError, Report};
use frontdesk_store::StoreError;
use serde_json::json;

/// Client errors become JSON `{code, detail}`; anything else is logged, with
/// its whole cause chain, once here, and becomes an opaque 5xx. Nothing from
/// the database reaches a client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("unauthorized")]
    Unauthorized,
    /// A signature that does not verify.
    #[error("signature does not verify")]
    Forbidden,
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
    #[error("conflict: {0}")]
    Conflict(String),
    /// Postgres is unreachable: providers retry on 503.
    #[error("service unavailable")]
    Unavailable(#[source] BoxError),
    #[error("internal error")]
    Internal(#[source] BoxError),
}

impl ApiError {
    /// An internal fault with no error value behind it (a broken invariant).
    pub fn internal(what: &'static str) -> Self {
        ApiError::Internal(what.into())
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
                other => ApiError::Internal(Box::new(other)),
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "bad_signature"),
            ApiError::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            ApiError::Refused(status, _) => (*status, "refused"),
            ApiError::NotConfigured(_) => (StatusCode::SERVICE_UNAVAILABLE, "not_configured"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Unavailable(_) => {
                tracing::warn!(error = %Report(&self), "dependency unavailable");
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            ApiError::Internal(_) => {
                tracing::error!(error = %Report(&self), "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        let detail = match &self {
            ApiError::Internal(_) => "internal error".to_owned(),
            other => other.to_string(),
        };
        (status, Json(json!({ "code": code, "detail": detail }))).into_response()
    }
}
