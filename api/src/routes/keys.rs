//! API keys for studio scripts (owner or admin): shown once, stored hashed.

use axum::{Json, extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use frontdesk_jobs::ApiKeyId;
use frontdesk_store::{
    api_keys::{self, ApiKey, NewApiKey},
    credentials::CredentialKind,
    users::Role,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    ApiError, AppState,
    auth::{Admin, tokens},
    error::{FieldError, Problem},
    extract::{IdPath, JsonBody},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(revoke))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// What the key is for, e.g. "booking sync script".
    pub name: String,
    /// `staff` (default) or `admin`, at most the creator's own role. Keys
    /// are never owners: deleting the workspace takes a signed-in owner.
    #[serde(default)]
    pub role: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct KeyView {
    pub id: Uuid,
    pub name: String,
    /// The key's first 16 characters, to tell keys apart.
    pub prefix: String,
    pub role: String,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A new key: `key` is shown in this answer only.
#[derive(Serialize, ToSchema)]
pub struct CreatedKey {
    /// `fd_live_…`: send as `Authorization: Bearer <key>`.
    pub key: String,
    #[serde(flatten)]
    pub view: KeyView,
}

impl From<ApiKey> for KeyView {
    fn from(k: ApiKey) -> Self {
        Self {
            id: k.id.as_uuid(),
            name: k.name,
            prefix: k.prefix,
            role: k.role.as_str().to_owned(),
            created_by: k.user_id.as_uuid(),
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// The workspace's keys, revoked ones included; never the keys themselves.
#[utoipa::path(get, path = "/v1/keys", tag = "keys", security(("bearer" = [])),
    responses((status = 200, body = Vec<KeyView>), (status = 403, body = Problem)))]
async fn list(State(state): State<AppState>, Admin(credential): Admin) -> Result<Json<Vec<KeyView>>, ApiError> {
    let mut tx = state.db.tenant(credential.workspace_id).await?;
    let keys = api_keys::list(&mut tx).await?;
    tx.rollback().await?;
    Ok(Json(keys.into_iter().map(KeyView::from).collect()))
}

/// Creates a key (with a session, not another key); the answer is the only time it is shown.
#[utoipa::path(post, path = "/v1/keys", tag = "keys", security(("bearer" = [])), request_body = NewKey,
    params(("Idempotency-Key" = Option<String>, Header, description = "retry safely; a replay shows the same key")),
    responses((status = 201, body = CreatedKey), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create(
    State(state): State<AppState>,
    Admin(credential): Admin,
    JsonBody(body): JsonBody<NewKey>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    // A leaked key must not be able to mint its own successors.
    if credential.kind != CredentialKind::Session {
        return Err(ApiError::NotAllowed("API keys are created by a signed-in owner or admin, not by another key"));
    }
    let mut errors = Vec::new();
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        errors.push(FieldError::new("/name", "1 to 100 characters, no control characters"));
    }
    let role = match body.role.as_deref().unwrap_or("staff") {
        "staff" => Role::Staff,
        "admin" if credential.role >= Role::Admin => Role::Admin,
        _ => {
            errors.push(FieldError::new("/role", "staff or admin, at most your own role"));
            Role::Staff
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let (minted, prefix) = tokens::new_api_key();
    let mut tx = state.db.tenant(credential.workspace_id).await?;
    let new = NewApiKey { user_id: credential.user_id, name, role, prefix: &prefix, key_hash: minted.hash };
    let key = api_keys::create(&mut tx, &new).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(CreatedKey { key: minted.token, view: key.into() })))
}

/// Revokes a key: every api replica refuses it from its next request on.
#[utoipa::path(delete, path = "/v1/keys/{id}", tag = "keys", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "key id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn revoke(
    State(state): State<AppState>,
    Admin(credential): Admin,
    IdPath(id): IdPath<ApiKeyId>,
) -> Result<StatusCode, ApiError> {
    let mut tx = state.db.tenant(credential.workspace_id).await?;
    if !api_keys::revoke(&mut tx, id).await? {
        return Err(ApiError::NotFound);
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
