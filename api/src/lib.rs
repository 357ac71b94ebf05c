//! The HTTP service. Handlers are thin: extract (auth or signature, then the
//! workspace), make one call into the store, map the result.

pub mod auth;
mod error;
mod extract;
mod idempotency;
mod inflight;
mod mailer;
mod metrics;
mod openapi;
pub mod rate_limit;
pub mod routes;
mod server;
mod state;
mod webhooks;

pub use auth::passwords::Passwords;
pub use error::{ApiError, FieldError, Problem};
pub use inflight::InFlightBudget;
pub use metrics::WebhookMetrics;
pub use rate_limit::RateLimiter;
pub use server::{MAX_HEAD_BYTES, MAX_HEADERS};
pub use state::{AppState, PlatformSecrets, ProviderChecks, RateLimits, StudioSettings};
pub use webhooks::signing_keys::SigningKeys;

use std::time::Duration;

use axum::{Router, http::HeaderName, middleware};
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};
use utoipa_swagger_ui::SwaggerUi;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole application router; `serve` and the tests mount exactly this.
///
/// Besides the registered routes it serves the spec at `/openapi.json` and
/// a browsable reference at `/docs` (Swagger UI, its files embedded in the
/// binary: no CDN).
pub fn app(state: AppState) -> Router {
    let (routes, spec) = openapi::build(&state);
    routes
        .merge(SwaggerUi::new("/docs").url("/openapi.json", spec))
        .fallback(error::no_route)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state)
        .layer(middleware::from_fn(error::problem_json))
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let request_id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
            // Unsubscribe paths carry a credential: log the route, not the token.
            let path = req.uri().path();
            let path = if path.starts_with("/unsubscribe/") { "/unsubscribe/…" } else { path };
            tracing::info_span!("request", method = %req.method(), path = %path, request_id, workspace_id = tracing::field::Empty)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Serves `app` on `listener` until `shutdown` resolves (see `server.rs`
/// for the limits on connections and request heads).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The server injects the peer address (`ConnectInfo`), which feeds the
    // sign-in limit per client.
    server::serve(listener, app(state), shutdown).await
}
