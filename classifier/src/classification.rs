//! The result of classifying one lead message, whoever decided it.

use serde::{Deserialize, Serialize};

use crate::{Intent, Language, LlmError, OfflineClassifier, Temperature, injection, offline};

/// A one-line summary for staff; longer output is rejected, not truncated,
/// because a model ignoring this bound is likely ignoring others too.
pub const MAX_SUMMARY_CHARS: usize = 200;
/// Default bound on a suggested reply: about four SMS segments.
pub const DEFAULT_MAX_REPLY_CHARS: usize = 640;

/// Unknown fields are rejected: output that adds fields (say, a
/// `workspace_id` a prompt injection asked for) broke the schema, so it counts
/// as malformed rather than being silently trimmed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Classification {
    pub intent: Intent,
    pub temperature: Temperature,
    /// 0–100, higher is hotter.
    pub score: u8,
    /// ISO 639-1 code, lowercase (`en`, `es`).
    pub language: String,
    pub summary: String,
    pub suggested_reply: Option<String>,
    /// 0.0–1.0: the offline model's top intent probability, or the LLM's own estimate.
    pub confidence: f32,
    /// The text tried to instruct the classifier (see `injection`). Set by
    /// our own detector whoever classified; a model cannot clear it.
    #[serde(default)]
    pub suspected_injection: bool,
}

/// Which classifier produced the final classification; the lead row records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecidedBy {
    Rule,
    Llm,
    Offline,
}

impl DecidedBy {
    pub const fn as_str(self) -> &'static str {
        match self {
            DecidedBy::Rule => "rule",
            DecidedBy::Llm => "llm",
            DecidedBy::Offline => "offline",
        }
    }
}

impl Classification {
    /// Applies our own rules to a model's answer for `text`. A message too
    /// short to tell its language gets `default_language` (the studio's),
    /// whatever the model guessed. The injection flag is set by our
    /// detector, never by the model; a message that is only
    /// instructions becomes cold spam with no reply; otherwise the answer
    /// may not be hotter than the offline model finds the message without
    /// the injected sentences, and its suggested reply (which the injection
    /// may have written) is replaced by the neutral one for its intent.
    pub fn guarded(mut self, text: &str, default_language: Language) -> Self {
        if crate::language::detect(text).is_none() {
            self.language = default_language.code().to_owned();
        }
        let scan = injection::prepare(text);
        if !scan.suspected {
            self.suspected_injection = false;
            return self;
        }
        let language = Language::from_code(&self.language).unwrap_or(default_language);
        let residue = OfflineClassifier::new().classify_scanned(text, &scan, language);
        if scan.is_pure() {
            return Classification { language: self.language, ..residue };
        }
        if heat(self.temperature) > heat(residue.temperature) {
            self.temperature = residue.temperature;
        }
        self.score = self.score.min(residue.score);
        self.suggested_reply = offline::suggested_reply(self.intent, language).map(str::to_owned);
        self.suspected_injection = true;
        self
    }

    /// Checks what the type system cannot: ranges and lengths. Normalises
    /// harmless variations (whitespace, language case, empty reply) first.
    pub fn validated(mut self, max_reply_chars: usize) -> Result<Self, LlmError> {
        let invalid = |why: String| Err(LlmError::InvalidOutput(why));
        if self.score > 100 {
            return invalid(format!("score {} is outside 0..=100", self.score));
        }
        if !(0.0..=1.0).contains(&self.confidence) {
            return invalid(format!("confidence {} is outside 0..=1", self.confidence));
        }
        self.language = self.language.trim().to_ascii_lowercase();
        if !(2..=3).contains(&self.language.len()) || !self.language.bytes().all(|b| b.is_ascii_lowercase()) {
            return invalid(format!("language {:?} is not an ISO 639-1 code", self.language));
        }
        self.summary = self.summary.split_whitespace().collect::<Vec<_>>().join(" ");
        let summary_chars = self.summary.chars().count();
        if summary_chars == 0 || summary_chars > MAX_SUMMARY_CHARS {
            return invalid(format!("summary has {summary_chars} characters, expected 1..={MAX_SUMMARY_CHARS}"));
        }
        self.suggested_reply = self.suggested_reply.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
        if let Some(reply) = &self.suggested_reply {
            let chars = reply.chars().count();
            if chars > max_reply_chars {
                return invalid(format!("suggested reply has {chars} characters, limit {max_reply_chars}"));
            }
        }
        Ok(self)
    }
}

/// Hot > warm > cold.
fn heat(t: Temperature) -> u8 {
    match t {
        Temperature::Hot => 2,
        Temperature::Warm => 1,
        Temperature::Cold => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Classification {
        Classification {
            intent: Intent::Pricing,
            temperature: Temperature::Warm,
            score: 50,
            language: " EN ".into(),
            summary: "Asks\nthe price".into(),
            suggested_reply: Some("  ".into()),
            confidence: 0.5,
            suspected_injection: false,
        }
    }

    #[test]
    fn validation_normalises_harmless_variation() {
        let c = sample().validated(100).unwrap();
        assert_eq!((c.language.as_str(), c.summary.as_str(), c.suggested_reply), ("en", "Asks the price", None));
    }

    #[test]
    fn validation_rejects_out_of_range_values() {
        assert!(Classification { score: 101, ..sample() }.validated(100).is_err());
        assert!(Classification { confidence: 1.5, ..sample() }.validated(100).is_err());
        assert!(Classification { summary: "x".repeat(201), ..sample() }.validated(100).is_err());
        assert!(Classification { suggested_reply: Some("y".repeat(101)), ..sample() }.validated(100).is_err());
        assert!(Classification { language: "english".into(), ..sample() }.validated(100).is_err());
        assert!(Classification { summary: " ".into(), ..sample() }.validated(100).is_err());
    }

    #[test]
    fn serde_uses_snake_case_labels() {
        let json = serde_json::to_value(Classification { intent: Intent::TrialBooking, ..sample() }).unwrap();
        assert_eq!(json["intent"], "trial_booking");
        assert_eq!(json["temperature"], "warm");
    }
}
