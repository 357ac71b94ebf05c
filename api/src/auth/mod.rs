//! Who is calling the studio API. The [`authenticate`] middleware resolves
//! the bearer token (session or API key) through the store's one
//! credential lookup, records the workspace on the request span, applies
//! the credential's rate limit and leaves a [`Credential`] in the request;
//! handlers take it (or [`Admin`] / [`Owner`]) as an extractor, so a
//! handler cannot run unauthenticated or forget the workspace: the
//! workspace comes from the credential and from nowhere else.

pub mod passwords;
pub mod tokens;

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequestParts, Request, State},
    http::{HeaderMap, header, request::Parts},
    middleware::Next,
    response::Response,
};
use frontdesk_jobs::{UserId, WorkspaceId};
use frontdesk_store::{
    credentials::{self, CredentialKind},
    users::Role,
};
use tracing::Span;
use uuid::Uuid;

use crate::{
    ApiError, AppState,
    rate_limit::{Limit, WhenDown},
};

/// A verified session or API key.
#[derive(Clone, Debug)]
pub struct Credential {
    pub workspace_id: WorkspaceId,
    pub user_id: UserId,
    pub role: Role,
    pub kind: CredentialKind,
    /// The session's or key's id: idempotency keys and rate limits are per credential.
    pub id: Uuid,
}

impl Credential {
    pub fn is_admin(&self) -> bool {
        self.role >= Role::Admin
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Credential {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Only `authenticate` puts it there; a route without that layer fails closed.
        parts.extensions.get::<Credential>().cloned().ok_or(ApiError::Unauthorized)
    }
}

/// A credential of an owner or admin: integrations, users and keys.
#[derive(Clone, Debug)]
pub struct Admin(pub Credential);

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let credential = Credential::from_request_parts(parts, state).await?;
        if !credential.is_admin() {
            return Err(ApiError::NotAllowed("only the studio's owner or an admin may do this"));
        }
        Ok(Admin(credential))
    }
}

/// A credential of the workspace's owner: deleting the workspace.
#[derive(Clone, Debug)]
pub struct Owner(pub Credential);

impl<S: Send + Sync> FromRequestParts<S> for Owner {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let credential = Credential::from_request_parts(parts, state).await?;
        if credential.role != Role::Owner {
            return Err(ApiError::NotAllowed("only the studio's owner may do this"));
        }
        Ok(Owner(credential))
    }
}

/// The `Authorization: Bearer` token, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Resolves the bearer token; every failure is the same 401.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = bearer(request.headers()).ok_or(ApiError::Unauthorized)?;
    let kind = tokens::classify(token).filter(|k| *k != CredentialKind::Invitation).ok_or(ApiError::Unauthorized)?;
    let resolved = credentials::resolve(&state.db, kind, &tokens::hash(token)).await?.ok_or(ApiError::Unauthorized)?;
    Span::current().record("workspace_id", tracing::field::display(resolved.workspace_id));
    let limit =
        Limit { max: state.studio.rate_limits.per_credential_per_minute, window: std::time::Duration::from_secs(60) };
    state.limiter.check("credential", &resolved.credential_id.to_string(), limit, WhenDown::Allow).await?;
    request.extensions_mut().insert(Credential {
        workspace_id: resolved.workspace_id,
        user_id: resolved.user_id,
        role: resolved.role,
        kind,
        id: resolved.credential_id,
    });
    Ok(next.run(request).await)
}

/// The client's address for sign-in limits: the TCP peer, or behind a load
/// balancer the last entry of the configured header (the one our own proxy
/// appended; entries before it are whatever the client sent).
pub fn client_address(state: &AppState, headers: &HeaderMap, peer: Option<&ConnectInfo<SocketAddr>>) -> String {
    if let Some(name) = &state.studio.client_ip_header {
        let forwarded = headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok());
        if let Some(ip) = forwarded {
            return ip.to_string();
        }
    }
    peer.map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string())
}

/// The client's address (see [`client_address`]), for sign-in limits.
pub struct ClientAddress(pub String);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>();
        Ok(ClientAddress(client_address(state, &parts.headers, peer)))
    }
}

/// The `User-Agent`, shortened, so a studio can tell its sessions apart.
pub struct UserAgent(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for UserAgent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let agent = parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
        Ok(UserAgent(agent.map(|a| a.chars().filter(|c| !c.is_control()).take(300).collect())))
    }
}
