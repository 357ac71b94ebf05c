//! The studio's profile (onboarding's first step) and deleting the studio.

use axum::{Json, extract::State, http::StatusCode};
use chrono::{DateTime, NaiveTime, Utc};
use frontdesk_domain::onboarding::Step;
use frontdesk_store::{
    wizard,
    workspaces::{self, Profile, ProfileChange},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    ApiError, AppState,
    auth::{Admin, Credential, Owner},
    error::{FieldError, Problem},
    extract::JsonBody,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get, update, delete))
}

#[derive(Serialize, ToSchema)]
pub struct WorkspaceView {
    pub id: Uuid,
    pub name: String,
    pub timezone: String,
    pub quiet_hours: Option<QuietHours>,
    pub max_messages_per_lead_per_day: i32,
    pub default_language: Option<String>,
    pub booking_link: Option<String>,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

/// Local wall-clock times (`HH:MM`, the studio's timezone) between which nothing is sent.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    pub start: String,
    pub end: String,
}

/// Fields to change; absent fields stay as they are, `null` clears
/// `quiet_hours` and `booking_link`.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    pub name: Option<String>,
    /// IANA timezone, e.g. `Europe/Madrid`.
    pub timezone: Option<String>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<QuietHours>)]
    pub quiet_hours: Option<Option<QuietHours>>,
    /// 1 to 50 messages to one lead in any 24 hours.
    pub max_messages_per_lead_per_day: Option<i32>,
    /// ISO 639-1, optionally with a region: `en`, `es`, `pt-BR`.
    pub default_language: Option<String>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub booking_link: Option<Option<String>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteWorkspace {
    /// The workspace's name, exactly, to confirm.
    pub confirm: String,
}

impl From<Profile> for WorkspaceView {
    fn from(p: Profile) -> Self {
        let hm = |t: NaiveTime| t.format("%H:%M").to_string();
        Self {
            id: p.id.as_uuid(),
            name: p.name,
            timezone: p.timezone,
            quiet_hours: p.quiet_hours.map(|(s, e)| QuietHours { start: hm(s), end: hm(e) }),
            max_messages_per_lead_per_day: p.max_messages_per_lead_per_day,
            default_language: p.default_language,
            booking_link: p.booking_link,
            status: p.status.as_str().to_owned(),
            created_at: p.created_at,
        }
    }
}

/// The studio's profile.
#[utoipa::path(get, path = "/v1/workspace", tag = "workspace", security(("bearer" = [])),
    responses((status = 200, body = WorkspaceView), (status = 401, body = Problem)))]
async fn get(State(state): State<AppState>, credential: Credential) -> Result<Json<WorkspaceView>, ApiError> {
    let mut tx = state.db.tenant(credential.workspace_id).await?;
    let profile = workspaces::profile(&mut tx).await?;
    tx.rollback().await?;
    Ok(Json(profile.into()))
}

/// Changes the profile (owner or admin). Saving it with a default language
/// completes onboarding's profile step.
#[utoipa::path(patch, path = "/v1/workspace", tag = "workspace", security(("bearer" = [])), request_body = ProfilePatch,
    params(("Idempotency-Key" = Option<String>, Header, description = "retry safely")),
    responses((status = 200, body = WorkspaceView), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn update(
    State(state): State<AppState>,
    Admin(credential): Admin,
    JsonBody(patch): JsonBody<ProfilePatch>,
) -> Result<Json<WorkspaceView>, ApiError> {
    let change = validate(patch)?;
    let mut tx = state.db.tenant(credential.workspace_id).await?;
    let profile = workspaces::update_profile(&mut tx, &change).await?;
    if profile.default_language.is_some() {
        wizard::set_done(&mut tx, Step::Profile.as_str(), true).await?;
    }
    tx.commit().await?;
    Ok(Json(profile.into()))
}

/// Deletes the workspace and everything in it (the owner only).
#[utoipa::path(delete, path = "/v1/workspace", tag = "workspace", security(("bearer" = [])), request_body = DeleteWorkspace,
    responses((status = 204), (status = 403, body = Problem), (status = 422, body = Problem, description = "the confirmation does not match")))]
async fn delete(
    State(state): State<AppState>,
    Owner(credential): Owner,
    JsonBody(body): JsonBody<DeleteWorkspace>,
) -> Result<StatusCode, ApiError> {
    let mut tx = state.db.tenant(credential.workspace_id).await?;
    let profile = workspaces::profile(&mut tx).await?;
    tx.rollback().await?;
    if body.confirm != profile.name {
        return Err(ApiError::invalid("/confirm", "type the workspace's name exactly to delete it"));
    }
    workspaces::delete(&state.db, credential.workspace_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn validate(patch: ProfilePatch) -> Result<ProfileChange, ApiError> {
    let mut errors = Vec::new();
    let mut bad = |pointer: &str, detail: &str| errors.push(FieldError::new(pointer, detail));
    if let Some(name) = &patch.name
        && (name.trim().is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control))
    {
        bad("/name", "1 to 200 characters, no control characters");
    }
    if let Some(tz) = &patch.timezone
        && tz.parse::<chrono_tz::Tz>().is_err()
    {
        bad("/timezone", "not an IANA timezone (e.g. Europe/Madrid)");
    }
    let time = |s: &str| NaiveTime::parse_from_str(s, "%H:%M").ok();
    let quiet_hours = match &patch.quiet_hours {
        Some(Some(q)) => match (time(&q.start), time(&q.end)) {
            (Some(s), Some(e)) if s != e => Some(Some((s, e))),
            (Some(_), Some(_)) => {
                bad("/quiet_hours", "start and end must differ");
                None
            }
            (None, _) => {
                bad("/quiet_hours/start", "HH:MM, 24-hour");
                None
            }
            (_, None) => {
                bad("/quiet_hours/end", "HH:MM, 24-hour");
                None
            }
        },
        Some(None) => Some(None),
        None => None,
    };
    if let Some(cap) = patch.max_messages_per_lead_per_day
        && !(1..=50).contains(&cap)
    {
        bad("/max_messages_per_lead_per_day", "1 to 50");
    }
    if let Some(lang) = &patch.default_language
        && !is_language(lang)
    {
        bad("/default_language", "an ISO 639-1 code, optionally with a region: en, es, pt-BR");
    }
    if let Some(Some(link)) = &patch.booking_link
        && !(link.starts_with("https://") && link.len() <= 500 && !link.chars().any(char::is_whitespace))
    {
        bad("/booking_link", "an https URL of at most 500 characters");
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    Ok(ProfileChange {
        name: patch.name.map(|n| n.trim().to_owned()),
        timezone: patch.timezone,
        quiet_hours,
        max_messages_per_lead_per_day: patch.max_messages_per_lead_per_day,
        default_language: patch.default_language,
        booking_link: patch.booking_link,
    })
}

fn is_language(s: &str) -> bool {
    let (lang, region) = s.split_once('-').map_or((s, None), |(l, r)| (l, Some(r)));
    lang.len() == 2
        && lang.bytes().all(|b| b.is_ascii_lowercase())
        && region.is_none_or(|r| r.len() == 2 && r.bytes().all(|b| b.is_ascii_uppercase()))
}

/// `Option<Option<T>>` from JSON: absent → `None`, `null` → `Some(None)`.
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}
