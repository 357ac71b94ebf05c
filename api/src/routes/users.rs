//! The studio's users: list, invite by email, remove.

use axum::{Json, extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use frontdesk_jobs::UserId;
use frontdesk_store::users::{self, NewUser, Role, User};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    ApiError, AppState,
    auth::{Admin, Credential, tokens},
    error::Problem,
    extract::{IdPath, JsonBody},
    mailer,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, invite)).routes(routes!(remove))
}

#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    /// `owner`, `admin` or `staff`.
    pub role: String,
    /// False until the user accepted the invitation.
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            id: u.id.as_uuid(),
            email: u.email,
            name: u.name,
            role: u.role.as_str().to_owned(),
            active: u.active,
            created_at: u.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invite {
    pub email: String,
    #[serde(default)]
    pub name: String,
    /// `admin` or `staff` (default), at most the inviter's own role.
    #[serde(default)]
    pub role: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Invited {
    pub user: UserView,
    pub invitation_expires_at: DateTime<Utc>,
    /// `workspace_smtp` or `platform_smtp`.
    pub sent_via: String,
}

/// Everyone in the workspace.
#[utoipa::path(get, path = "/v1/users", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Vec<UserView>), (status = 401, body = Problem)))]
async fn list(State(state): State<AppState>, credential: Credential) -> Result<Json<Vec<UserView>>, ApiError> {
    let mut tx = state.db.tenant(credential.workspace_id).await?;
    let users = users::list(&mut tx).await?;
    tx.rollback().await?;
    Ok(Json(users.into_iter().map(UserView::from).collect()))
}

/// Invites someone by email (owner or admin). The email carries a one-time
/// token for `POST /v1/auth/invitations/accept`.
#[utoipa::path(post, path = "/v1/users", tag = "users", security(("bearer" = [])), request_body = Invite,
    params(("Idempotency-Key" = Option<String>, Header, description = "retry safely")),
    responses((status = 201, body = Invited), (status = 403, body = Problem), (status = 409, body = Problem, description = "email taken, or no way to send email"),
              (status = 422, body = Problem), (status = 502, body = Problem, description = "the mail server refused")))]
async fn invite(
    State(state): State<AppState>,
    Admin(credential): Admin,
    JsonBody(body): JsonBody<Invite>,
) -> Result<(StatusCode, Json<Invited>), ApiError> {
    let (email, name, role) = validate_invite(&body, credential.role)?;
    let minted = tokens::new_invitation();
    let expires_at = Utc::now() + state.studio.invitation_ttl;
    let mut tx = state.db.tenant(credential.workspace_id).await?;
    let new =
        NewUser { email: &email, name: &name, role, invite_token_hash: minted.hash, invite_expires_at: expires_at };
    let id = users::invite(&mut tx, &new).await?;
    let text = format!(
        "You have been invited to a studio on frontdesk.\n\nSet your password and sign in with:\n\n  curl -X POST {}/v1/auth/invitations/accept -H 'content-type: application/json' \\\n    -d '{{\"token\": \"{}\", \"password\": \"<choose one>\"}}'\n\nThe invitation expires at {expires_at}.\n",
        state.public_url.trim_end_matches('/'),
        minted.token
    );
    let via = mailer::send(&state, &mut tx, &email, "Your frontdesk invitation", &text).await?;
    let user = users::get(&mut tx, id).await?.ok_or(ApiError::internal("invited user vanished"))?;
    tx.commit().await?;
    let invited = Invited { user: user.into(), invitation_expires_at: expires_at, sent_via: via.as_str().to_owned() };
    Ok((StatusCode::CREATED, Json(invited)))
}

/// Removes a user (owner or admin); their sessions and keys stop working at once.
#[utoipa::path(delete, path = "/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "user id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn remove(
    State(state): State<AppState>,
    Admin(credential): Admin,
    IdPath(id): IdPath<UserId>,
) -> Result<StatusCode, ApiError> {
    let mut tx = state.db.tenant(credential.workspace_id).await?;
    let user = users::get(&mut tx, id).await?.ok_or(ApiError::NotFound)?;
    if user.role == Role::Owner || user.role > credential.role {
        return Err(ApiError::NotAllowed("the owner, and users above your role, cannot be removed"));
    }
    users::remove(&mut tx, id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

fn validate_invite(body: &Invite, inviter: Role) -> Result<(String, String, Role), ApiError> {
    let mut errors = Vec::new();
    let email = body.email.trim().to_ascii_lowercase();
    if !super::is_email(&email) {
        errors.push(crate::error::FieldError::new("/email", "not an email address"));
    }
    if body.name.chars().count() > 200 || body.name.chars().any(char::is_control) {
        errors.push(crate::error::FieldError::new("/name", "at most 200 characters, no control characters"));
    }
    let role = match body.role.as_deref().unwrap_or("staff") {
        "staff" => Some(Role::Staff),
        "admin" => Some(Role::Admin),
        _ => None,
    };
    match role {
        None => errors.push(crate::error::FieldError::new("/role", "admin or staff")),
        Some(r) if r > inviter => errors.push(crate::error::FieldError::new("/role", "above your own role")),
        Some(_) => {}
    }
    match (errors.is_empty(), role) {
        (true, Some(role)) => Ok((email, body.name.trim().to_owned(), role)),
        _ => Err(ApiError::Invalid(errors)),
    }
}
