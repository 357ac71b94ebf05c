//! Lead classification for frontdesk, without any database:
//!
//! - [`OfflineClassifier`]: logistic-regression models (intent, temperature)
//!   trained by `build.rs` from `data/leads.tsv` and embedded;
//! - [`language`]: which of the seven supported languages a message is in
//!   (whatlang plus function words), or `None` when it is too short to tell;
//! - [`injection`]: text that tries to instruct the classifier, flagged as
//!   `suspected_injection` and kept from raising the temperature;
//! - [`rules`]: a workspace's `ai_rules` rows compiled into a [`RuleSet`] that
//!   builds the system prompt, pre-empts or overrides a model, and names actions;
//! - [`LlmClient`]: an OpenAI-compatible chat-completions client with a strict
//!   JSON-schema response format, retries and token accounting;
//! - [`evaluate_holdout`] for quality figures (`frontdesk bench classify`
//!   prints them with latency), and [`model_selection`] for choosing
//!   hyper-parameters by cross-validation.

mod classification;
mod dataset;
mod error;
mod evaluate;
pub mod excerpt;
pub mod injection;
mod labels;
pub mod language;
pub mod llm;
mod model;
#[cfg(any(test, feature = "model-selection"))]
pub mod model_selection;
mod offline;
pub mod rules;
mod text;
// build.rs trains with all of it; the library needs `softmax` and model selection the rest.
#[allow(dead_code)]
mod train;

pub use classification::{Classification, DEFAULT_MAX_REPLY_CHARS, DecidedBy, MAX_SUMMARY_CHARS};
pub use error::LlmError;
pub use evaluate::{ClassMetrics, Evaluation, Slice, evaluate_holdout, holdout_texts};
pub use labels::{Intent, Temperature};
pub use language::Language;
pub use llm::{LlmClient, LlmConfig, LlmOutcome, TokenUsage};
pub use offline::{HOT_THRESHOLD, OfflineClassifier};
pub use rules::{Action, RuleIssue, RuleSet, RulesOutcome, StudioContext};
