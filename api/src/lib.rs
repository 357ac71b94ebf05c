//! The HTTP service. Handlers are thin: extract (auth or signature, then the
//! workspace), make one call into the store, map the result.

mod error;
mod inflight;
mod metrics;
pub mod routes;
mod server;
mod state;
mod webhooks;

pub use error::ApiError;
pub use inflight::InFlightBudget;
pub use metrics::WebhookMetrics;
pub use server::{MAX_HEAD_BYTES, MAX_HEADERS};
pub use state::{AppState, PlatformSecrets};
pub use webhooks::signing_keys::SigningKeys;

use std::time::Duration;

use axum::{Router, http::HeaderName};
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole application router; `serve` and the tests mount exactly this.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(routes::health::router())
        .merge(routes::unsubscribe::router())
        .merge(webhooks::router(&state))
        .with_state(state)
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
    server::serve(listener, app(state), shutdown).await
}
