//! Keyword and regex rules.

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

use super::{Action, AiRule, AiRuleId};
use crate::{Intent, Temperature, text};

/// Compiled-program bound: a studio's regex must not cost the worker memory
/// or time, whatever they type.
const REGEX_SIZE_LIMIT: usize = 256 * 1024;
const MAX_PATTERN_CHARS: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchMode {
    /// Decide before (and instead of) the model.
    Preempt,
    /// Let the model run, then replace the fields this rule sets.
    Override,
}

/// `config` of a `keyword` or `regex` rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchConfig {
    pub mode: MatchMode,
    #[serde(default)]
    pub intent: Option<Intent>,
    #[serde(default)]
    pub temperature: Option<Temperature>,
    #[serde(default)]
    pub score: Option<u8>,
    /// Open a staff task with this title when the rule matches.
    #[serde(default)]
    pub task: Option<String>,
}

#[derive(Debug, Clone)]
enum Pattern {
    /// Normalised words, padded with spaces for whole-word matching.
    Keyword(String),
    Regex(Regex),
}

#[derive(Debug, Clone)]
pub(super) struct Matcher {
    pub id: AiRuleId,
    pub name: String,
    pub config: MatchConfig,
    pattern: Pattern,
}

impl Matcher {
    pub fn compile(rule: &AiRule) -> Result<Self, String> {
        let raw = rule.pattern.as_deref().unwrap_or("").trim();
        if raw.is_empty() {
            return Err("empty pattern".into());
        }
        if raw.chars().count() > MAX_PATTERN_CHARS {
            return Err(format!("pattern longer than {MAX_PATTERN_CHARS} characters"));
        }
        let config: MatchConfig =
            serde_json::from_value(rule.config.clone()).map_err(|e| format!("invalid {} config: {e}", rule.kind))?;
        if config.intent.is_none() && config.temperature.is_none() && config.score.is_none() && config.task.is_none() {
            return Err("rule sets nothing: give it an intent, temperature, score or task".into());
        }
        if config.mode == MatchMode::Preempt && config.intent.is_none() {
            return Err("a preempt rule must name the intent it decides".into());
        }
        if config.score.is_some_and(|s| s > 100) {
            return Err("score must be 0..=100".into());
        }
        if config.task.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err("empty task title".into());
        }
        let pattern = if rule.kind == "regex" {
            let re = RegexBuilder::new(raw)
                .case_insensitive(true)
                .size_limit(REGEX_SIZE_LIMIT)
                .dfa_size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| format!("invalid regex: {e}"))?;
            Pattern::Regex(re)
        } else {
            let words = words(raw);
            if words.trim().is_empty() {
                return Err("keyword has no words".into());
            }
            Pattern::Keyword(words)
        };
        Ok(Self { id: rule.id, name: rule.name.clone(), config, pattern })
    }

    pub fn matches(&self, message: &str) -> bool {
        match &self.pattern {
            Pattern::Keyword(words_pattern) => words(message).contains(words_pattern.as_str()),
            Pattern::Regex(re) => re.is_match(message),
        }
    }

    pub fn task(&self) -> Option<Action> {
        self.config.task.as_ref().map(|title| Action::CreateTask { title: title.trim().to_owned() })
    }
}

/// The same normalisation the model uses (case, accents, punctuation), so
/// "Cancelar" matches "cancelar" and "CANCEL my membership!!" matches
/// "cancel my membership".
fn words(s: &str) -> String {
    let mut out = String::from(" ");
    for w in text::normalize(s).split_whitespace() {
        out.push_str(w);
        out.push(' ');
    }
    out
}
