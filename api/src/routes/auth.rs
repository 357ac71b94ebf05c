//! Sign-in, invitations, sessions and sign-out.

use axum::{Json, extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use frontdesk_jobs::{SessionId, UserId, WorkspaceId};
use frontdesk_store::{
    credentials::{self, CredentialKind},
    sessions::{self, NewSession},
    users,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::users::UserView;
use crate::{
    ApiError, AppState,
    auth::{ClientAddress, Credential, UserAgent, passwords, tokens},
    error::Problem,
    extract::{IdPath, JsonBody},
    rate_limit::{Limit, WhenDown},
};

/// Routes anyone may call (they hand out credentials).
pub fn public_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(login)).routes(routes!(accept_invitation))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(logout))
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(me))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub email: String,
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    /// The `fd_invite_…` token from `frontdesk workspace create` or the invitation email.
    pub token: String,
    /// The password to sign in with from now on (10 to 256 characters).
    pub password: String,
}

/// A new session. The token is shown here only: keep it.
#[derive(Serialize, ToSchema)]
pub struct SignedIn {
    /// `fd_sess_…`: send as `Authorization: Bearer <token>`.
    pub token: String,
    pub session: SessionView,
    pub user: UserView,
    pub workspace_id: Uuid,
}

#[derive(Serialize, ToSchema)]
pub struct SessionView {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub user_agent: Option<String>,
    /// The session this request was made with.
    pub current: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    pub user: UserView,
    pub workspace_id: Uuid,
    /// `session` or `api_key`.
    pub credential: String,
    pub credential_id: Uuid,
}

/// Signs in with email and password; answers a session token.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", security(()), request_body = Login,
    responses((status = 201, body = SignedIn), (status = 401, body = Problem, description = "email or password is wrong"),
              (status = 422, body = Problem), (status = 429, body = Problem, description = "too many attempts (Retry-After)")))]
async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    UserAgent(agent): UserAgent,
    JsonBody(body): JsonBody<Login>,
) -> Result<(StatusCode, Json<SignedIn>), ApiError> {
    let email = body.email.trim().to_ascii_lowercase();
    password_length(&body.password)?;
    let limits = state.studio.rate_limits;
    let window = |max| Limit { max, window: limits.signin_window };
    // Emails are hashed before they become Redis keys.
    let subject = hex::encode(&Sha256::digest(email.as_bytes())[..16]);
    state.limiter.check("signin-email", &subject, window(limits.signin_per_email), WhenDown::Refuse).await?;
    state.limiter.check("signin-address", &address, window(limits.signin_per_address), WhenDown::Refuse).await?;
    let found = users::find_by_email(&state.db, &email).await?;
    let stored = match found {
        Some((ws, user)) => {
            let mut tx = state.db.tenant(ws).await?;
            let hash = users::password_hash(&mut tx, user).await?;
            tx.rollback().await?;
            hash
        }
        None => None,
    };
    let (Some((ws, user)), true) = (found, state.studio.passwords.verify(&body.password, stored).await?) else {
        return Err(ApiError::BadCredentials("email or password is wrong"));
    };
    open_session(&state, ws, user, agent.as_deref()).await
}

/// Accepts an invitation: sets the password and signs in. The token works once.
#[utoipa::path(post, path = "/v1/auth/invitations/accept", tag = "auth", security(()), request_body = AcceptInvitation,
    responses((status = 201, body = SignedIn), (status = 401, body = Problem, description = "unknown, used or expired token"),
              (status = 422, body = Problem)))]
async fn accept_invitation(
    State(state): State<AppState>,
    UserAgent(agent): UserAgent,
    JsonBody(body): JsonBody<AcceptInvitation>,
) -> Result<(StatusCode, Json<SignedIn>), ApiError> {
    password_length(&body.password)?;
    let refused = ApiError::BadCredentials("the invitation token is unknown, already used or expired");
    if tokens::classify(body.token.trim()) != Some(CredentialKind::Invitation) {
        return Err(refused);
    }
    let hash = tokens::hash(body.token.trim());
    let invited = credentials::resolve(&state.db, CredentialKind::Invitation, &hash).await?.ok_or(refused)?;
    let password_hash = state.studio.passwords.hash(&body.password).await?;
    let mut tx = state.db.tenant(invited.workspace_id).await?;
    if !users::accept_invitation(&mut tx, invited.user_id, &hash, &password_hash).await? {
        return Err(ApiError::BadCredentials("the invitation token is unknown, already used or expired"));
    }
    tx.commit().await?;
    open_session(&state, invited.workspace_id, invited.user_id, agent.as_deref()).await
}

/// Ends the session this request was made with.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 400, body = Problem, description = "an API key cannot log out; revoke it"), (status = 401, body = Problem)))]
async fn logout(State(state): State<AppState>, credential: Credential) -> Result<StatusCode, ApiError> {
    if credential.kind != CredentialKind::Session {
        return Err(ApiError::BadRequest("logout ends a session; revoke an API key with DELETE /v1/keys/{id}".into()));
    }
    let mut tx = state.db.tenant(credential.workspace_id).await?;
    sessions::revoke(&mut tx, credential.user_id, SessionId::from_uuid(credential.id)).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's live sessions.
#[utoipa::path(get, path = "/v1/auth/sessions", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Vec<SessionView>), (status = 401, body = Problem)))]
async fn list_sessions(
    State(state): State<AppState>,
    credential: Credential,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    signed_in(&credential)?;
    let mut tx = state.db.tenant(credential.workspace_id).await?;
    let sessions = sessions::list(&mut tx, credential.user_id).await?;
    tx.rollback().await?;
    Ok(Json(
        sessions
            .into_iter()
            .map(|s| SessionView {
                current: s.id.as_uuid() == credential.id,
                id: s.id.as_uuid(),
                created_at: s.created_at,
                expires_at: s.expires_at,
                last_used_at: s.last_used_at,
                user_agent: s.user_agent,
            })
            .collect(),
    ))
}

/// Revokes one of the caller's sessions (another device, or this one).
#[utoipa::path(delete, path = "/v1/auth/sessions/{id}", tag = "auth", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "session id")),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn revoke_session(
    State(state): State<AppState>,
    credential: Credential,
    IdPath(id): IdPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    signed_in(&credential)?;
    let mut tx = state.db.tenant(credential.workspace_id).await?;
    if !sessions::revoke(&mut tx, credential.user_id, SessionId::from_uuid(id)).await? {
        return Err(ApiError::NotFound);
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who the credential belongs to.
#[utoipa::path(get, path = "/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = Problem)))]
async fn me(State(state): State<AppState>, credential: Credential) -> Result<Json<Me>, ApiError> {
    let mut tx = state.db.tenant(credential.workspace_id).await?;
    let user = users::get(&mut tx, credential.user_id).await?.ok_or(ApiError::Unauthorized)?;
    tx.rollback().await?;
    Ok(Json(Me {
        user: user.into(),
        workspace_id: credential.workspace_id.as_uuid(),
        credential: credential.kind.as_str().to_owned(),
        credential_id: credential.id,
    }))
}

async fn open_session(
    state: &AppState,
    ws: WorkspaceId,
    user_id: UserId,
    user_agent: Option<&str>,
) -> Result<(StatusCode, Json<SignedIn>), ApiError> {
    tracing::Span::current().record("workspace_id", tracing::field::display(ws));
    let minted = tokens::new_session();
    let expires_at = Utc::now() + state.studio.session_ttl;
    let mut tx = state.db.tenant(ws).await?;
    let new = NewSession { user_id, token_hash: minted.hash, expires_at, user_agent };
    let id = sessions::create(&mut tx, &new).await?;
    let user = users::get(&mut tx, user_id).await?.ok_or(ApiError::internal("signed-in user vanished"))?;
    tx.commit().await?;
    let session = SessionView {
        id: id.as_uuid(),
        created_at: Utc::now(),
        expires_at,
        last_used_at: None,
        user_agent: user_agent.map(str::to_owned),
        current: true,
    };
    Ok((
        StatusCode::CREATED,
        Json(SignedIn { token: minted.token, session, user: user.into(), workspace_id: ws.as_uuid() }),
    ))
}

/// A person's sessions are theirs to manage: a script's API key (which may
/// leak) can neither see nor end them.
fn signed_in(credential: &Credential) -> Result<(), ApiError> {
    match credential.kind {
        CredentialKind::Session => Ok(()),
        _ => Err(ApiError::NotAllowed("sessions are managed with a session token, not an API key")),
    }
}

pub fn password_length(password: &str) -> Result<(), ApiError> {
    let n = password.chars().count();
    if !(passwords::MIN_LENGTH..=passwords::MAX_LENGTH).contains(&n) {
        return Err(ApiError::invalid(
            "/password",
            format!("a password has {} to {} characters", passwords::MIN_LENGTH, passwords::MAX_LENGTH),
        ));
    }
    Ok(())
}
