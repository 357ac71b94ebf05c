//! Liveness and readiness for load balancers and compose health checks.

use axum::{Json, extract::State};
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(live)).routes(routes!(ready))
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()), responses((status = 200, description = "alive")))]
async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready only when Postgres answers as the runtime role.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()),
    responses((status = 200, description = "ready"), (status = 503, description = "Postgres unreachable")))]
async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    sqlx_ping(&state).await?;
    Ok(Json(json!({ "status": "ready" })))
}

async fn sqlx_ping(state: &AppState) -> Result<(), ApiError> {
    state.db.ping().await.map_err(ApiError::from)
}
