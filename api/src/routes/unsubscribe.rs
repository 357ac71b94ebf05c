//! One-click email unsubscribe (RFC 8058), from the signed link in every
//! follow-up email's `List-Unsubscribe` header.
//!
//! `POST` unsubscribes: mail providers send `List-Unsubscribe=One-Click`,
//! and the page's button posts the same. `GET` only shows that button,
//! because link scanners fetch every URL in a message and must not
//! unsubscribe anyone. A link that does not verify answers 404 and reveals
//! nothing.

use axum::{
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use frontdesk_jobs::{LeadId, WorkspaceId};
use frontdesk_store::{leads, messages::Channel, vault::UNSUBSCRIBE_EMAIL};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(page, unsubscribe))
}

type Link = Path<(String, String, String)>;

/// The unsubscribe page: a button that POSTs (link scanners only GET).
#[utoipa::path(get, path = "/unsubscribe/{workspace}/{lead}/{token}", tag = "email", security(()), params(("workspace" = String, Path), ("lead" = String, Path), ("token" = String, Path, description = "signed link token")),
    responses((status = 200, description = "the page", content_type = "text/html"), (status = 404, description = "the link does not verify")))]
async fn page(State(state): State<AppState>, Path((workspace, lead, token)): Link) -> Result<Response, ApiError> {
    verified(&state, &workspace, &lead, &token)?;
    Ok(html(
        StatusCode::OK,
        "<form method=\"post\"><p>Stop receiving emails from this studio?</p>\
         <button type=\"submit\">Unsubscribe</button></form>",
    ))
}

/// One-click unsubscribe (RFC 8058).
#[utoipa::path(post, path = "/unsubscribe/{workspace}/{lead}/{token}", tag = "email", security(()), params(("workspace" = String, Path), ("lead" = String, Path), ("token" = String, Path, description = "signed link token")),
    responses((status = 200, description = "unsubscribed", content_type = "text/html"), (status = 404, description = "the link does not verify")))]
async fn unsubscribe(
    State(state): State<AppState>,
    Path((workspace, lead, token)): Link,
) -> Result<Response, ApiError> {
    let (workspace_id, lead_id) = verified(&state, &workspace, &lead, &token)?;
    let mut tx = state.db.tenant(workspace_id).await?;
    leads::opt_out(&mut tx, lead_id, Channel::Email, "unsubscribe_link").await?;
    tx.commit().await?;
    Ok(html(StatusCode::OK, "<p>You are unsubscribed. You will not receive more emails from this studio.</p>"))
}

fn verified(state: &AppState, workspace: &str, lead: &str, token: &str) -> Result<(WorkspaceId, LeadId), ApiError> {
    let workspace_id: WorkspaceId = workspace.parse().map_err(|_| ApiError::NotFound)?;
    let lead_id: LeadId = lead.parse().map_err(|_| ApiError::NotFound)?;
    if !state.vault.verify_link_token(workspace_id, UNSUBSCRIBE_EMAIL, &lead_id.to_string(), token) {
        return Err(ApiError::NotFound);
    }
    Ok((workspace_id, lead_id))
}

fn html(status: StatusCode, body: &'static str) -> Response {
    let page = format!("<!doctype html><meta charset=\"utf-8\"><title>Unsubscribe</title>{body}");
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}
