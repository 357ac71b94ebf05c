//! The onboarding wizard: six steps, which are done, and what each needs.

use axum::{Json, extract::State, http::StatusCode};
use frontdesk_classifier::rules::StudioContext;
use frontdesk_domain::onboarding::{self, Facts, SmtpFacts, Status, Step, WhatsappFacts};
use frontdesk_store::{ai, integrations, wizard, workspaces};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    ApiError, AppState,
    auth::{Admin, Credential},
    error::{FieldError, Problem},
    extract::JsonBody,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(progress)).routes(routes!(ai_rules)).routes(routes!(skip))
}

#[derive(Serialize, ToSchema)]
pub struct Onboarding {
    /// Every step is done or skipped (a pending step does not hold this up).
    pub complete: bool,
    /// The first step still to do.
    pub current_step: Option<String>,
    pub steps: Vec<StepView>,
    /// What has come through so far: send a test message to a connected number or address.
    pub traffic: TrafficView,
}

#[derive(Serialize, ToSchema)]
pub struct TrafficView {
    /// Inbound messages stored.
    pub inbound_messages: i64,
    /// Leads the classifier has decided.
    pub classified_leads: i64,
}

#[derive(Serialize, ToSchema)]
pub struct StepView {
    /// `profile`, `twilio`, `whatsapp`, `email`, `google_calendar` or `ai_rules`.
    pub step: String,
    /// `done`, `skipped`, `pending` (not available yet) or `todo`.
    pub status: String,
    /// What is still missing.
    pub needs: Vec<String>,
}

/// The studio context the classifier's instructions carry.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AiRules {
    /// e.g. "Reformer Pilates", "Open gym".
    #[serde(default)]
    pub classes: Vec<String>,
    /// One line each, e.g. "Monthly unlimited: €59".
    #[serde(default)]
    pub prices: Vec<String>,
    /// How replies should sound, e.g. "friendly, uses first names".
    pub tone: Option<String>,
}

/// Which steps are done and what each still needs.
#[utoipa::path(get, path = "/v1/onboarding", tag = "onboarding", security(("bearer" = [])),
    responses((status = 200, body = Onboarding), (status = 401, body = Problem)))]
async fn progress(State(state): State<AppState>, credential: Credential) -> Result<Json<Onboarding>, ApiError> {
    let mut tx = state.db.tenant(credential.workspace_id).await?;
    let progress = wizard::progress(&mut tx).await?;
    let profile = workspaces::profile(&mut tx).await?;
    let records = integrations::list(&mut tx).await?;
    let ai_rules_saved = ai::has_studio_context(&mut tx).await?;
    let traffic = wizard::traffic(&mut tx).await?;
    tx.rollback().await?;
    let find = |p: &str| records.iter().find(|r| r.provider == p);
    let facts = Facts {
        profile_saved: progress.completed.iter().any(|s| s == Step::Profile.as_str()),
        default_language: profile.default_language.is_some(),
        twilio: find("twilio").is_some(),
        whatsapp: find("whatsapp").map(|r| WhatsappFacts { template: r.settings.get("template").is_some() }),
        smtp: find("smtp").map(|r| SmtpFacts { inbound_address: r.settings.get("inbound_address").is_some() }),
        ai_rules_saved,
        skipped: progress.skipped.iter().filter_map(|s| Step::parse(s)).collect(),
    };
    let states = onboarding::evaluate(&facts);
    let current = onboarding::current(&states);
    Ok(Json(Onboarding {
        complete: states.iter().all(|s| s.status != Status::Todo),
        current_step: current.map(|s| s.as_str().to_owned()),
        steps: states
            .into_iter()
            .map(|s| StepView {
                step: s.step.as_str().to_owned(),
                status: serde_json::to_value(s.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                needs: s.needs.into_iter().map(str::to_owned).collect(),
            })
            .collect(),
        traffic: TrafficView { inbound_messages: traffic.inbound_messages, classified_leads: traffic.classified_leads },
    }))
}

/// Saves the studio context (the AI-rules step). Replaces an earlier one.
#[utoipa::path(post, path = "/v1/onboarding/ai-rules", tag = "onboarding", security(("bearer" = [])), request_body = AiRules,
    params(("Idempotency-Key" = Option<String>, Header, description = "retry safely")),
    responses((status = 204), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn ai_rules(
    State(state): State<AppState>,
    Admin(credential): Admin,
    JsonBody(body): JsonBody<AiRules>,
) -> Result<StatusCode, ApiError> {
    let mut errors = Vec::new();
    let mut lines = |pointer: &str, items: &[String]| {
        if items.len() > 40 {
            errors.push(FieldError::new(pointer, "at most 40 entries"));
        }
        for (i, item) in items.iter().enumerate() {
            if item.trim().is_empty() || item.chars().count() > 300 {
                errors.push(FieldError::new(format!("{pointer}/{i}"), "1 to 300 characters"));
            }
        }
    };
    lines("/classes", &body.classes);
    lines("/prices", &body.prices);
    if body.tone.as_ref().is_some_and(|t| t.chars().count() > 300) {
        errors.push(FieldError::new("/tone", "at most 300 characters"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let mut tx = state.db.tenant(credential.workspace_id).await?;
    let profile = workspaces::profile(&mut tx).await?;
    let context = StudioContext {
        name: profile.name,
        classes: body.classes,
        prices: body.prices,
        tone: body.tone,
        booking_link: profile.booking_link,
    };
    let config = serde_json::to_value(&context).map_err(|e| ApiError::Internal(Box::new(e)))?;
    ai::replace_studio_context(&mut tx, config).await?;
    wizard::set_done(&mut tx, Step::AiRules.as_str(), true).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Skips a step the studio does not need (every step but the profile).
#[utoipa::path(post, path = "/v1/onboarding/steps/{step}/skip", tag = "onboarding", security(("bearer" = [])),
    params(("step" = String, Path, description = "twilio, whatsapp, email, google_calendar or ai_rules"),
           ("Idempotency-Key" = Option<String>, Header, description = "retry safely")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn skip(
    State(state): State<AppState>,
    Admin(credential): Admin,
    axum::extract::Path(step): axum::extract::Path<String>,
) -> Result<StatusCode, ApiError> {
    let step = Step::parse(&step).ok_or(ApiError::NotFound)?;
    if !step.skippable() {
        return Err(ApiError::invalid("/step", "the studio profile cannot be skipped"));
    }
    let mut tx = state.db.tenant(credential.workspace_id).await?;
    wizard::skip(&mut tx, step.as_str()).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
