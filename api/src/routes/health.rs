//! Liveness and readiness for load balancers and compose health checks.

use axum::{Json, Router, extract::State, routing::get};
use serde_json::{Value, json};

use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(live)).route("/readyz", get(ready))
}

async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready only when Postgres answers as the runtime role.
async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    sqlx_ping(&state).await?;
    Ok(Json(json!({ "status": "ready" })))
}

async fn sqlx_ping(state: &AppState) -> Result<(), ApiError> {
    state.db.ping().await.map_err(ApiError::from)
}
