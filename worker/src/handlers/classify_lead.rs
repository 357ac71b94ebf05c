//! Classifies a lead from its recent conversation and acts on the result.
//!
//! Order of authority: a workspace rule that pre-empts the model decides
//! outright; otherwise the LLM (the workspace's own key, else the platform
//! default) while the workspace's daily token budget lasts; otherwise — no
//! endpoint, an endpoint that keeps failing, or a spent budget — the offline
//! model. Override rules then adjust the result, and the rules' actions run
//! for this lead only. The lead's text reaches the model only as a user
//! message; nothing in it can name another lead, workspace or action.

use std::sync::Arc;

use chrono::Utc;
use frontdesk_classifier::{
    Action, DecidedBy, Language, LlmClient, LlmConfig, OfflineClassifier, RuleSet, RulesOutcome,
    excerpt::{EXCERPT_CHARS, Said, estimate_tokens, excerpt},
    llm::request_overhead_tokens,
    rules::AiRule,
};
use frontdesk_jobs::{ClassifyLead, LeadId, Report};
use frontdesk_store::{
    TenantTx, activity,
    activity::Activity,
    ai::{self, ClassificationRecord},
    followups::{self, NewFollowup},
    integrations::{self, Provider},
    leads,
    messages::Channel,
    vault::Vault,
    workspaces,
};
use tracing::warn;

use crate::{JobContext, JobError};

/// Inbound messages the classification reads at most (newest first).
const CONVERSATION: i64 = 10;

/// What the classify worker shares across jobs.
#[derive(Clone)]
pub struct ClassifyDeps {
    pub offline: Arc<OfflineClassifier>,
    /// The platform default endpoint; `None` means offline unless a workspace brings its own.
    pub platform_llm: Option<LlmConfig>,
    /// Daily tokens per workspace unless the workspace sets its own budget.
    pub default_daily_budget: Option<i64>,
    pub vault: Vault,
}

/// How the result was reached, as recorded on the lead.
fn classified_by(decided: DecidedBy, fallback: Option<&'static str>) -> &'static str {
    match (decided, fallback) {
        (DecidedBy::Offline, Some(why)) => why,
        (decided, _) => decided.as_str(),
    }
}

pub async fn handle(job: ClassifyLead, cx: JobContext, deps: ClassifyDeps) -> Result<(), JobError> {
    let mut tx = cx.tenant().await?;
    let lead = leads::find(&mut tx, job.lead_id).await?.ok_or_else(|| JobError::permanent("lead vanished"))?;
    // Each message is cut in the database: a worker never holds more than
    // CONVERSATION × this, however long the lead's emails were.
    let said = ai::recent_inbound(&mut tx, lead.id, CONVERSATION, 2 * EXCERPT_CHARS as i32).await?;
    let text = excerpt(said.iter().map(|s| Said { email: s.channel == "email", text: &s.body }), EXCERPT_CHARS);
    if text.trim().is_empty() {
        return Ok(()); // nothing the lead said yet
    }
    let rule_rows = ai::rules(&mut tx).await?;
    let (spent, own_budget) = ai::budget_state(&mut tx).await?;
    // What short messages ("ok", "price?") are taken to be written in. A
    // studio language the classifier does not support reads as English for
    // the offline replies; the lead row keeps what was detected.
    let studio_language = Language::from_code(&workspaces::default_language(&mut tx).await?).unwrap_or(Language::En);
    let (llm, misconfigured) = match llm_config(&mut tx, &deps).await {
        Ok(llm) => (llm, false),
        // A broken workspace endpoint (no key, a key sealed under a retired
        // master key, no model) must not stop classification.
        Err(e) => {
            warn!(error = %Report(&e), "workspace LLM integration unusable; classifying offline");
            (None, true)
        }
    };
    tx.commit().await?; // no transaction is held across the model call

    let rules = RuleSet::compile(&rule_rows.into_iter().map(to_rule).collect::<Vec<_>>());
    for issue in rules.issues() {
        warn!(rule_id = %issue.rule_id, problem = %issue.problem, "ignoring invalid AI rule");
    }
    let budget = own_budget.or(deps.default_daily_budget);
    let mut usage = (0_i64, 0_i64);
    let system_prompt = rules.system_prompt();
    // Checked before the call, from the prompt's size and the most the
    // answer may take, so one call never spends more than is left.
    let affordable = |config: &LlmConfig| {
        let worst_case = i64::from(estimate_tokens(&system_prompt))
            + i64::from(estimate_tokens(&text))
            + i64::from(config.max_completion_tokens)
            + i64::from(request_overhead_tokens());
        budget.is_none_or(|b| spent + worst_case <= b)
    };
    let input = Input { rules: &rules, system_prompt: &system_prompt, text: &text, language: studio_language };
    let (outcome, fallback) = if let Some(outcome) = rules.preempt(&text, studio_language) {
        (outcome, None)
    } else {
        match llm {
            Some(config) if !affordable(&config) => (offline(&deps, &input), Some("offline_budget")),
            Some(config) => match classify_with_llm(config, &input).await {
                Ok((outcome, prompt, completion)) => {
                    usage = (prompt, completion);
                    (outcome, None)
                }
                Err(e) if e.is_transient() => {
                    warn!(error = %Report(&e), "LLM unavailable; classifying offline");
                    (offline(&deps, &input), Some("offline_fallback"))
                }
                // A bad key or unknown model will not heal by retrying; the studio still gets a result.
                Err(e) => {
                    warn!(error = %Report(&e), "LLM rejected the request; classifying offline");
                    (offline(&deps, &input), Some("offline_fallback"))
                }
            },
            None if misconfigured => (offline(&deps, &input), Some("offline_fallback")),
            None => (offline(&deps, &input), None),
        }
    };
    record(&cx, lead.id, &outcome, classified_by(outcome.decided_by, fallback), usage, fallback.is_some()).await
}

/// What every classifier on this path is given.
struct Input<'a> {
    rules: &'a RuleSet,
    system_prompt: &'a str,
    /// The lead's recent inbound messages.
    text: &'a str,
    /// The studio's language, for messages too short to tell.
    language: Language,
}

fn offline(deps: &ClassifyDeps, input: &Input) -> RulesOutcome {
    let classification = deps.offline.classify(input.text, input.language);
    input.rules.after_model(input.text, classification, DecidedBy::Offline)
}

async fn classify_with_llm(
    config: LlmConfig,
    input: &Input<'_>,
) -> Result<(RulesOutcome, i64, i64), frontdesk_classifier::LlmError> {
    let client = LlmClient::new(config)?;
    let answer = client.classify(input.system_prompt, input.text, input.language).await?;
    let outcome = input.rules.after_model(input.text, answer.classification, DecidedBy::Llm);
    Ok((outcome, answer.usage.prompt_tokens.into(), answer.usage.completion_tokens.into()))
}

/// The workspace's own endpoint and key (an `openai` integration, key in
/// the vault, bound to this workspace), else the platform default.
async fn llm_config(tx: &mut TenantTx, deps: &ClassifyDeps) -> Result<Option<LlmConfig>, JobError> {
    let Some(integration) = integrations::find_by_provider(tx, Provider::OpenAi).await? else {
        return Ok(deps.platform_llm.clone());
    };
    let settings = integration.settings;
    let key = integrations::secret(tx, &deps.vault, integration.id).await?;
    let platform = deps.platform_llm.as_ref();
    let base_url = settings["base_url"].as_str().map(str::to_owned).or_else(|| platform.map(|p| p.base_url.clone()));
    let model = settings["model"].as_str().map(str::to_owned).or_else(|| platform.map(|p| p.model.clone()));
    let (Some(base_url), Some(model)) = (base_url, model) else {
        return Err(JobError::permanent("workspace LLM integration has no base_url/model and no platform default"));
    };
    let mut config = platform.cloned().unwrap_or_else(|| LlmConfig::new(&base_url, &model, ""));
    config.base_url = base_url;
    config.model = model;
    config.api_key = key.expose().to_owned();
    Ok(Some(config))
}

async fn record(
    cx: &JobContext,
    lead_id: LeadId,
    outcome: &RulesOutcome,
    classified_by: &str,
    (prompt, completion): (i64, i64),
    fallback: bool,
) -> Result<(), JobError> {
    let c = &outcome.classification;
    let mut tx = cx.db.tenant(cx.workspace.id).await?;
    let record = ClassificationRecord {
        intent: c.intent.as_str(),
        temperature: c.temperature.as_str(),
        score: i16::from(c.score),
        language: &c.language,
        summary: &c.summary,
        classified_by,
        suspected_injection: c.suspected_injection,
    };
    ai::store_classification(&mut tx, lead_id, &record).await?;
    ai::record_usage(&mut tx, prompt, completion, fallback).await?;
    let detail = serde_json::json!({
        "intent": c.intent.as_str(),
        "temperature": c.temperature.as_str(),
        "score": c.score,
        "language": c.language,
        "suspected_injection": c.suspected_injection,
        "classified_by": classified_by,
        "matched_rules": outcome.matched_rules,
        "actions": outcome.actions,
    });
    activity::record(
        &mut tx,
        &Activity { kind: "lead_classified", lead_id: Some(lead_id), is_security: false, detail },
    )
    .await?;
    for action in &outcome.actions {
        match action {
            Action::CreateTask { title } => {
                ai::create_task(&mut tx, lead_id, title, &c.summary).await?;
            }
            Action::StartSequence { rule_id } => start_sequence(&mut tx, lead_id, *rule_id).await?,
            Action::None => {}
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Schedules the steps of a `sequence` rule (`config.steps`: delay, channel,
/// template) as follow-ups; the scheduler sends each when due.
async fn start_sequence(tx: &mut TenantTx, lead_id: LeadId, rule_id: frontdesk_jobs::AiRuleId) -> Result<(), JobError> {
    let rules = ai::rules(tx).await?;
    let Some(rule) = rules.into_iter().find(|r| r.id == rule_id && r.kind == "sequence") else {
        warn!(%rule_id, "intent action names a sequence rule that does not exist or is disabled");
        return Ok(());
    };
    let steps = rule.config["steps"].as_array().cloned().unwrap_or_default();
    let lead = leads::find(tx, lead_id).await?.ok_or_else(|| JobError::permanent("lead vanished"))?;
    let now = Utc::now();
    for (n, step) in steps.iter().enumerate() {
        let channel = match step["channel"].as_str() {
            Some("sms") => Channel::Sms,
            Some("whatsapp") => Channel::Whatsapp,
            Some("email") => Channel::Email,
            other => {
                warn!(%rule_id, step = n, channel = ?other, "skipping sequence step with an unknown channel");
                continue;
            }
        };
        let Some(template) = step["template"].as_str() else { continue };
        // `templates`: per-language versions, e.g. {"es": "Hola {first_name}…"}.
        let variants: Vec<(&str, &str)> = step["templates"]
            .as_object()
            .map(|o| o.iter().filter_map(|(language, text)| Some((language.as_str(), text.as_str()?))).collect())
            .unwrap_or_default();
        // Never plan messages on a channel the lead opted out of (the send job checks again).
        if lead.opted_out(channel) {
            continue;
        }
        // Studio-entered: bounded to a year so the date arithmetic cannot overflow.
        let minutes = step["delay_minutes"].as_u64().unwrap_or(0).min(366 * 24 * 60);
        let due_at = now + chrono::Duration::minutes(minutes as i64);
        let subject = step["subject"].as_str();
        let new = NewFollowup { lead_id, kind: "sequence", channel, template, variants: &variants, subject, due_at };
        followups::schedule(tx, &new, rule_id, n as i32).await?;
    }
    Ok(())
}

fn to_rule(row: ai::RuleRow) -> AiRule {
    AiRule {
        id: row.id,
        name: row.name,
        kind: row.kind,
        pattern: row.pattern,
        config: row.config,
        priority: row.priority,
        enabled: true,
    }
}
