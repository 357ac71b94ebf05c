//! Per-workspace AI rules (the `ai_rules` table), compiled into a [`RuleSet`].
//!
//! Kinds and their `pattern` / `config`:
//!
//! | kind | pattern | config |
//! |---|---|---|
//! | `studio_context` | – | [`StudioContext`] |
//! | `keyword` | a word or phrase, matched case- and accent-insensitively on whole words | [`MatchConfig`] |
//! | `regex` | a regular expression, case-insensitive, size-limited | [`MatchConfig`] |
//! | `intent_action` | an intent name or `*` | [`IntentActionConfig`] |
//! | `sequence`, `cron` | (used by the follow-up scheduler) | – |
//!
//! **Order:** rules apply by ascending `priority`, then name, then id, so
//! the order never depends on how the rows were loaded.
//!
//! **Use:** call [`RuleSet::preempt`] first; if it decides, skip the model.
//! Otherwise run the LLM or offline classifier and pass its result to
//! [`RuleSet::after_model`], which applies `override` rules and names actions.

mod matcher;
mod studio;

pub use frontdesk_jobs::AiRuleId;
use serde::{Deserialize, Serialize};

pub use matcher::{MatchConfig, MatchMode};
pub use studio::{StudioContext, system_prompt};

use crate::{
    Classification, DecidedBy, Intent, Language, OfflineClassifier, Temperature, classification::MAX_SUMMARY_CHARS,
    injection,
};
use matcher::Matcher;

/// One `ai_rules` row, as the store loads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AiRule {
    pub id: AiRuleId,
    pub name: String,
    pub kind: String,
    pub pattern: Option<String>,
    pub config: serde_json::Value,
    pub priority: i32,
    pub enabled: bool,
}

/// A rule that could not be used; the rest of the set still works.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleIssue {
    pub rule_id: AiRuleId,
    pub name: String,
    pub problem: String,
}

/// What should happen after a lead is classified. The caller enqueues these
/// for the lead's own workspace; nothing here can name another workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Start the follow-up sequence defined by this `sequence` rule.
    StartSequence {
        rule_id: AiRuleId,
    },
    CreateTask {
        title: String,
    },
    /// Explicitly do nothing (and skip lower-priority intent actions).
    None,
}

/// `config` of an `intent_action` rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentActionConfig {
    #[serde(flatten)]
    pub action: ActionConfig,
    /// Only when the lead has this temperature.
    #[serde(default)]
    pub temperature: Option<Temperature>,
    /// Only when the score is at least this.
    #[serde(default)]
    pub min_score: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ActionConfig {
    StartSequence { sequence_id: AiRuleId },
    CreateTask { title: String },
    None,
}

#[derive(Debug, Clone)]
struct IntentAction {
    intent: Option<Intent>,
    config: IntentActionConfig,
}

/// The final word on one message: the classification, who decided it, which
/// rules matched, and the actions to enqueue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RulesOutcome {
    pub classification: Classification,
    pub decided_by: DecidedBy,
    pub matched_rules: Vec<AiRuleId>,
    pub actions: Vec<Action>,
}

/// A workspace's enabled rules, validated and sorted.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    studio: Option<StudioContext>,
    matchers: Vec<Matcher>,
    intent_actions: Vec<IntentAction>,
    issues: Vec<RuleIssue>,
}

impl RuleSet {
    /// Compiles the rows; unusable rules are skipped and listed in
    /// [`RuleSet::issues`] rather than failing the whole set.
    pub fn compile(rules: &[AiRule]) -> Self {
        let mut sorted: Vec<&AiRule> = rules.iter().filter(|r| r.enabled).collect();
        sorted.sort_by(|a, b| (a.priority, &a.name, a.id).cmp(&(b.priority, &b.name, b.id)));
        let sequences: Vec<AiRuleId> = sorted.iter().filter(|r| r.kind == "sequence").map(|r| r.id).collect();
        let mut set = RuleSet::default();
        for rule in sorted {
            let issue = |problem: String| RuleIssue { rule_id: rule.id, name: rule.name.clone(), problem };
            match rule.kind.as_str() {
                "studio_context" => match serde_json::from_value::<StudioContext>(rule.config.clone()) {
                    // The highest-priority context wins; a second one is a mistake worth reporting.
                    Ok(_) if set.studio.is_some() => {
                        set.issues.push(issue("another studio_context rule has higher priority".into()))
                    }
                    Ok(ctx) => set.studio = Some(ctx),
                    Err(e) => set.issues.push(issue(format!("invalid studio context: {e}"))),
                },
                "keyword" | "regex" => match Matcher::compile(rule) {
                    Ok(m) => set.matchers.push(m),
                    Err(problem) => set.issues.push(issue(problem)),
                },
                "intent_action" => match compile_intent_action(rule, &sequences) {
                    Ok(a) => set.intent_actions.push(a),
                    Err(problem) => set.issues.push(issue(problem)),
                },
                "sequence" | "cron" => {}
                other => set.issues.push(issue(format!("unknown rule kind {other:?}"))),
            }
        }
        set
    }

    pub fn issues(&self) -> &[RuleIssue] {
        &self.issues
    }

    pub fn studio_context(&self) -> Option<&StudioContext> {
        self.studio.as_ref()
    }

    /// Instructions plus this studio's context, for the LLM's system message.
    pub fn system_prompt(&self) -> String {
        system_prompt(self.studio.as_ref())
    }

    /// The first matching `preempt` rule decides outright; the model is not
    /// asked. Rules read the message without injected instructions (see
    /// [`injection`]), so an injection cannot trigger a rule, and the
    /// outcome carries the flag. `default_language` is the studio's.
    pub fn preempt(&self, text: &str, default_language: Language) -> Option<RulesOutcome> {
        let scan = injection::prepare(text);
        let residue = scan.residue.as_str();
        let rule = self.matchers.iter().find(|m| m.config.mode == MatchMode::Preempt && m.matches(residue))?;
        let intent = rule.config.intent.unwrap_or(Intent::Other);
        let temperature = rule.config.temperature.unwrap_or_else(|| default_temperature(intent));
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let summary: String = format!("Rule \"{}\": {flat}", rule.name).chars().take(MAX_SUMMARY_CHARS).collect();
        let classification = Classification {
            intent,
            temperature,
            score: rule.config.score.unwrap_or_else(|| temperature.default_score()).min(100),
            language: OfflineClassifier::new().detect_language(residue, default_language).code().to_owned(),
            summary,
            suggested_reply: None,
            confidence: 1.0,
            suspected_injection: scan.suspected,
        };
        let mut actions: Vec<Action> = rule.task().into_iter().collect();
        actions.extend(self.intent_actions_for(&classification));
        Some(RulesOutcome {
            classification,
            decided_by: DecidedBy::Rule,
            matched_rules: vec![rule.id],
            actions: dedup(actions),
        })
    }

    /// Applies matching `override` rules to a model's result (a field set by a
    /// higher-priority rule is not changed by a lower one), then names actions.
    /// Like [`RuleSet::preempt`], rules read the message without injected
    /// instructions.
    pub fn after_model(&self, text: &str, mut classification: Classification, decided_by: DecidedBy) -> RulesOutcome {
        let residue = injection::prepare(text).residue;
        let mut matched = Vec::new();
        let mut actions = Vec::new();
        let (mut intent_set, mut temp_set, mut score_set) = (false, false, false);
        for rule in self.matchers.iter().filter(|m| m.config.mode == MatchMode::Override && m.matches(&residue)) {
            matched.push(rule.id);
            if let (Some(intent), false) = (rule.config.intent, intent_set) {
                classification.intent = intent;
                intent_set = true;
            }
            if let (Some(t), false) = (rule.config.temperature, temp_set) {
                classification.temperature = t;
                temp_set = true;
                if !score_set && rule.config.score.is_none() {
                    classification.score = t.default_score();
                }
            }
            if let (Some(score), false) = (rule.config.score, score_set) {
                classification.score = score.min(100);
                score_set = true;
            }
            actions.extend(rule.task());
        }
        actions.extend(self.intent_actions_for(&classification));
        RulesOutcome { classification, decided_by, matched_rules: matched, actions: dedup(actions) }
    }

    fn intent_actions_for(&self, c: &Classification) -> Vec<Action> {
        let mut out = Vec::new();
        for rule in &self.intent_actions {
            let applies = rule.intent.is_none_or(|i| i == c.intent)
                && rule.config.temperature.is_none_or(|t| t == c.temperature)
                && rule.config.min_score.is_none_or(|s| c.score >= s);
            if !applies {
                continue;
            }
            match &rule.config.action {
                ActionConfig::StartSequence { sequence_id } => {
                    out.push(Action::StartSequence { rule_id: *sequence_id })
                }
                ActionConfig::CreateTask { title } => out.push(Action::CreateTask { title: title.clone() }),
                ActionConfig::None => {
                    out.push(Action::None);
                    break;
                }
            }
        }
        out
    }
}

fn compile_intent_action(rule: &AiRule, sequences: &[AiRuleId]) -> Result<IntentAction, String> {
    let pattern = rule.pattern.as_deref().map(str::trim).unwrap_or("*");
    let intent = match pattern {
        "*" | "" => None,
        name => Some(Intent::from_name(name).ok_or_else(|| format!("unknown intent {name:?}"))?),
    };
    let config: IntentActionConfig =
        serde_json::from_value(rule.config.clone()).map_err(|e| format!("invalid intent_action config: {e}"))?;
    match &config.action {
        ActionConfig::StartSequence { sequence_id } if !sequences.contains(sequence_id) => {
            return Err(format!("sequence {sequence_id} is not an enabled sequence rule of this workspace"));
        }
        ActionConfig::CreateTask { title } if title.trim().is_empty() => return Err("empty task title".into()),
        _ => {}
    }
    Ok(IntentAction { intent, config })
}

/// Sales sense for a rule that names an intent but no temperature.
fn default_temperature(intent: Intent) -> Temperature {
    match intent {
        Intent::TrialBooking => Temperature::Hot,
        Intent::Pricing | Intent::ClassSchedule | Intent::MembershipQuestion => Temperature::Warm,
        Intent::Cancellation | Intent::Complaint | Intent::Spam | Intent::Other => Temperature::Cold,
    }
}

fn dedup(actions: Vec<Action>) -> Vec<Action> {
    let mut out: Vec<Action> = Vec::with_capacity(actions.len());
    for a in actions {
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}
