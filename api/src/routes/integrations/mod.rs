//! `/v1/integrations` (owner or admin): how credentials enter the vault and
//! how webhook routes are created. Every write checks the fields, makes the
//! live check before any transaction opens (no transaction waits on a
//! provider), then writes the integration, its webhook routes and the
//! onboarding step in one transaction.

pub mod config;
pub mod setup;

use axum::{Json, extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use frontdesk_domain::onboarding::Step;
use frontdesk_jobs::IntegrationId;
use frontdesk_store::{
    TenantTx,
    integrations::{self, IntegrationChange, IntegrationRecord, NewIntegration, Provider},
    routes,
    vault::Secret,
    wizard,
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use self::{
    config::{Config, Fields, Mode, NewIntegrationRequest, PROVIDERS},
    setup::{CheckReport, WebhookSetup},
};
use crate::{
    ApiError, AppState,
    auth::{Admin, Credential},
    error::Problem,
    extract::{IdPath, JsonBody},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(get, update, delete))
}

#[derive(Serialize, ToSchema)]
pub struct IntegrationView {
    pub id: Uuid,
    /// `twilio`, `whatsapp`, `smtp` or `openai`.
    pub provider: String,
    pub mode: Mode,
    /// Identifiers and settings; never the credential.
    #[schema(value_type = Object)]
    pub settings: Value,
    /// The last four characters of the stored credential.
    pub credential_last4: Option<String>,
    /// Paste these into the provider's console.
    pub webhooks: Vec<WebhookSetup>,
    /// The live check of this write (absent on reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckReport>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl IntegrationView {
    fn new(record: IntegrationRecord, public_url: &str, check: Option<CheckReport>) -> Self {
        Self {
            id: record.id.as_uuid(),
            webhooks: setup::webhooks(&record.provider, record.external_id.as_deref(), &record.settings, public_url),
            settings: setup::public_settings(&record),
            mode: if record.sandbox { Mode::Sandbox } else { Mode::Live },
            credential_last4: record.secret_hint,
            provider: record.provider,
            check,
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }
}

/// The workspace's integrations.
#[utoipa::path(get, path = "/v1/integrations", tag = "integrations", security(("bearer" = [])),
    responses((status = 200, body = Vec<IntegrationView>), (status = 403, body = Problem)))]
async fn list(State(state): State<AppState>, Admin(credential): Admin) -> Result<Json<Vec<IntegrationView>>, ApiError> {
    let mut tx = state.db.tenant(credential.workspace_id).await?;
    let records = integrations::list(&mut tx).await?;
    tx.rollback().await?;
    Ok(Json(records.into_iter().map(|r| IntegrationView::new(r, &state.public_url, None)).collect()))
}

/// Connects a provider: checks the fields and (live mode) the credentials
/// with the provider, seals the credential, and routes the provider's
/// webhooks to this workspace.
#[utoipa::path(post, path = "/v1/integrations", tag = "integrations", security(("bearer" = [])),
    request_body = NewIntegrationRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "retry safely")),
    responses((status = 201, body = IntegrationView), (status = 403, body = Problem),
              (status = 409, body = Problem, description = "the provider is already connected, or its number/address routes to a workspace"),
              (status = 422, body = Problem, description = "invalid fields, or the live check failed")))]
async fn create(
    State(state): State<AppState>,
    Admin(credential): Admin,
    JsonBody(body): JsonBody<Value>,
) -> Result<(StatusCode, Json<IntegrationView>), ApiError> {
    let (provider, rest) = split_provider(body)?;
    let config = Fields::parse(provider, rest)?.validate(false)?;
    let check = config.check(config.secret.as_ref(), &state.studio.checks).await?;
    let mut tx = state.db.tenant(credential.workspace_id).await?;
    let new = NewIntegration {
        provider,
        sandbox: config.mode == Mode::Sandbox,
        external_id: config.external_id.clone(),
        settings: config.settings.clone(),
        secret: config.secret.clone(),
    };
    let id = integrations::create_with_hint(&mut tx, &state.vault, &new).await?;
    let record = finish_write(&mut tx, id, &config).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(IntegrationView::new(record, &state.public_url, Some(check)))))
}

#[utoipa::path(get, path = "/v1/integrations/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "integration id")),
    responses((status = 200, body = IntegrationView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get(
    State(state): State<AppState>,
    Admin(credential): Admin,
    IdPath(id): IdPath<IntegrationId>,
) -> Result<Json<IntegrationView>, ApiError> {
    let mut tx = state.db.tenant(credential.workspace_id).await?;
    let record = integrations::get(&mut tx, id).await?.ok_or(ApiError::NotFound)?;
    tx.rollback().await?;
    Ok(Json(IntegrationView::new(record, &state.public_url, None)))
}

/// Changes fields (absent ones keep their values; a new credential replaces
/// the sealed one). A new Twilio auth token is used by the next send at
/// once, and verifies inbound webhooks at once; the old one stops verifying
/// on each api replica within its signing-key cache bound (10 s).
#[utoipa::path(patch, path = "/v1/integrations/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "integration id"), ("Idempotency-Key" = Option<String>, Header, description = "retry safely")),
    request_body(content = Object, description = "the provider's fields to change, as in POST"),
    responses((status = 200, body = IntegrationView), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn update(
    State(state): State<AppState>,
    Admin(credential): Admin,
    IdPath(id): IdPath<IntegrationId>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<IntegrationView>, ApiError> {
    let (stored, provider, kept_secret) = stored(&state, &credential, id).await?;
    let rest = same_provider(body, &stored.provider)?;
    let config = Fields::parse(provider, rest)?.over(&stored).validate(kept_secret.is_some())?;
    let check = config.check(config.secret.as_ref().or(kept_secret.as_ref()), &state.studio.checks).await?;
    let mut tx = state.db.tenant(credential.workspace_id).await?;
    let change = IntegrationChange {
        sandbox: config.mode == Mode::Sandbox,
        external_id: config.external_id.clone(),
        settings: config.settings.clone(),
        secret: config.secret.clone(),
    };
    if !integrations::update(&mut tx, &state.vault, id, provider, &change).await? {
        return Err(ApiError::NotFound);
    }
    routes::remove_for_integration(&mut tx, id).await?;
    let record = finish_write(&mut tx, id, &config).await?;
    tx.commit().await?;
    // This process stops honouring a cached old Twilio token now; other replicas within their TTL.
    state.signing_keys.forget_workspace(credential.workspace_id);
    Ok(Json(IntegrationView::new(record, &state.public_url, Some(check))))
}

/// Disconnects a provider: its credential and webhook routes are deleted,
/// so its next delivery to this workspace is unroutable.
#[utoipa::path(delete, path = "/v1/integrations/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "integration id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete(
    State(state): State<AppState>,
    Admin(credential): Admin,
    IdPath(id): IdPath<IntegrationId>,
) -> Result<StatusCode, ApiError> {
    let mut tx = state.db.tenant(credential.workspace_id).await?;
    let stored = integrations::get(&mut tx, id).await?.ok_or(ApiError::NotFound)?;
    integrations::delete(&mut tx, id).await?;
    if let Some(step) = step_of(&stored.provider) {
        wizard::set_done(&mut tx, step.as_str(), false).await?;
    }
    tx.commit().await?;
    state.signing_keys.forget_workspace(credential.workspace_id);
    Ok(StatusCode::NO_CONTENT)
}

/// The integration as stored, its provider, and its credential (an update
/// that leaves the credential out is checked with the stored one).
async fn stored(
    state: &AppState,
    credential: &Credential,
    id: IntegrationId,
) -> Result<(IntegrationRecord, Provider, Option<Secret>), ApiError> {
    let mut tx = state.db.tenant(credential.workspace_id).await?;
    let stored = integrations::get(&mut tx, id).await?.ok_or(ApiError::NotFound)?;
    let provider = Provider::parse(&stored.provider).ok_or(ApiError::NotFound)?;
    let secret = integrations::find_secret(&mut tx, &state.vault, id).await?;
    tx.rollback().await?;
    Ok((stored, provider, secret))
}

/// An update's body without `provider`, which may be repeated but not changed.
fn same_provider(mut body: Value, provider: &str) -> Result<Value, ApiError> {
    match body.as_object_mut().map(|m| m.remove("provider")) {
        None => Err(ApiError::invalid("", "the body must be a JSON object")),
        Some(Some(p)) if p.as_str() != Some(provider) => {
            Err(ApiError::invalid("/provider", "an integration's provider cannot change"))
        }
        Some(_) => Ok(body),
    }
}

fn split_provider(mut body: Value) -> Result<(Provider, Value), ApiError> {
    let Some(map) = body.as_object_mut() else {
        return Err(ApiError::invalid("", "the body must be a JSON object"));
    };
    let provider = match map.remove("provider") {
        Some(Value::String(p)) => Provider::parse(&p).filter(|p| *p != Provider::GoogleCalendar),
        Some(_) => None,
        None => return Err(ApiError::invalid("/provider", format!("required: {PROVIDERS}"))),
    };
    let provider = provider.ok_or_else(|| ApiError::invalid("/provider", format!("one of {PROVIDERS}")))?;
    Ok((provider, body))
}

/// Registers the integration's routes and records its onboarding step,
/// in the write's transaction, and reads back what is stored.
async fn finish_write(tx: &mut TenantTx, id: IntegrationId, config: &Config) -> Result<IntegrationRecord, ApiError> {
    for route in config.routes(id) {
        routes::add(tx, &route).await?;
    }
    if let Some(step) = step_of(config.provider.as_str()) {
        let s = &config.settings;
        let done = match step {
            Step::Whatsapp => s.get("template").is_some(),
            Step::Email => s.get("inbound_address").is_some(),
            _ => true,
        };
        wizard::set_done(tx, step.as_str(), done).await?;
    }
    integrations::get(tx, id).await?.ok_or(ApiError::internal("integration vanished inside its transaction"))
}

fn step_of(provider: &str) -> Option<Step> {
    match Provider::parse(provider)? {
        Provider::Twilio => Some(Step::Twilio),
        Provider::Whatsapp => Some(Step::Whatsapp),
        Provider::Smtp => Some(Step::Email),
        _ => None,
    }
}
