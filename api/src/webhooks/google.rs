//! Google Calendar push notifications. They are not signed: the channel
//! token we chose at watch time is compared in constant time.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use frontdesk_store::{
    inbound::{self, CalendarPush},
    routes::{self, RouteProvider},
};
use subtle::ConstantTimeEq;

use super::{
    delivery::{begin, commit, unroutable},
    form::provider_id,
};
use crate::{ApiError, AppState};

#[utoipa::path(post, path = "/webhooks/google/calendar", tag = "webhooks", security(()),
    params(("X-Goog-Channel-ID" = String, Header), ("X-Goog-Channel-Token" = String, Header), ("X-Goog-Resource-State" = String, Header)),
    responses((status = 200, description = "accepted"), (status = 403, description = "channel token wrong"), (status = 404, description = "unknown channel")))]
pub async fn push(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let header = |name: &'static str| headers.get(name).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty());
    let channel_id = header("x-goog-channel-id").ok_or(ApiError::BadRequest("missing X-Goog-Channel-ID".into()))?;
    provider_id("X-Goog-Channel-ID", channel_id)?;
    let token = header("x-goog-channel-token").unwrap_or("");
    let Some(route) = routes::resolve(&state.db, RouteProvider::GoogleCalendar, &[channel_id.to_owned()]).await? else {
        unroutable(&state, "google_calendar", "unknown channel", Some(channel_id)).await?;
        return Err(ApiError::NotFound);
    };
    let expected = route.channel_token.as_deref().unwrap_or("");
    let token_ok = !expected.is_empty() && bool::from(token.as_bytes().ct_eq(expected.as_bytes()));
    if !token_ok {
        state.metrics.bad_signature();
        return Err(ApiError::Forbidden);
    }
    let state_header =
        header("x-goog-resource-state").ok_or(ApiError::BadRequest("missing X-Goog-Resource-State".into()))?;
    if !matches!(state_header, "sync" | "exists" | "not_exists") {
        return Err(ApiError::BadRequest(format!("unknown resource state {state_header:?}")));
    }
    let number = header("x-goog-message-number").ok_or(ApiError::BadRequest("missing X-Goog-Message-Number".into()))?;
    if number.len() > 20 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::BadRequest("X-Goog-Message-Number is not a number".into()));
    }
    let integration_id = route.integration_id.ok_or(ApiError::internal("calendar route without integration"))?;
    let push = CalendarPush { integration_id, channel_id, message_number: number, resource_state: state_header };
    let mut tx = begin(&state, route.workspace_id).await?;
    let outcome = inbound::calendar_push(&mut tx, &push).await?;
    commit(&state, tx, outcome).await?;
    Ok(StatusCode::OK.into_response())
}
