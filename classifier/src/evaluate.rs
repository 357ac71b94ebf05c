//! Scoring the offline classifier on the held-out rows of the dataset.

use serde::Serialize;

use crate::{Intent, OfflineClassifier, dataset};

static DATASET: &str = include_str!("../data/leads.tsv");

#[derive(Debug, Clone, Serialize)]
pub struct ClassMetrics {
    pub intent: Intent,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Held-out examples of this class.
    pub support: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// Intent accuracy.
    pub accuracy: f64,
    /// Unweighted mean of per-class intent F1.
    pub macro_f1: f64,
    pub per_class: Vec<ClassMetrics>,
    pub temperature_accuracy: f64,
    pub language_accuracy: f64,
    /// Held-out examples scored.
    pub n: usize,
}

/// The held-out rows (every 5th data row), which `build.rs` never trains on.
pub(crate) fn holdout() -> Vec<dataset::Example<'static>> {
    dataset::parse(DATASET).expect("dataset parsed by build.rs").into_iter().filter(|e| e.is_held_out()).collect()
}

/// The held-out messages, for timing the classifier on realistic text.
pub fn holdout_texts() -> Vec<&'static str> {
    holdout().into_iter().map(|e| e.text).collect()
}

pub fn evaluate_holdout() -> Evaluation {
    let classifier = OfflineClassifier::new();
    let examples = holdout();
    let mut pairs = Vec::with_capacity(examples.len());
    let (mut temp_ok, mut lang_ok) = (0usize, 0usize);
    for e in &examples {
        let out = classifier.classify(e.text);
        temp_ok += usize::from(out.temperature.as_str() == e.temperature);
        lang_ok += usize::from(out.language == e.language);
        pairs.push((Intent::from_name(e.intent).expect("validated label"), out.intent));
    }
    let n = examples.len();
    let ratio = |k: usize| if n == 0 { 0.0 } else { k as f64 / n as f64 };
    let per_class: Vec<ClassMetrics> = Intent::ALL
        .into_iter()
        .map(|class| {
            let tp = pairs.iter().filter(|(t, p)| *t == class && *p == class).count();
            let predicted = pairs.iter().filter(|(_, p)| *p == class).count();
            let support = pairs.iter().filter(|(t, _)| *t == class).count();
            let precision = if predicted == 0 { 0.0 } else { tp as f64 / predicted as f64 };
            let recall = if support == 0 { 0.0 } else { tp as f64 / support as f64 };
            let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
            ClassMetrics { intent: class, precision, recall, f1, support }
        })
        .collect();
    Evaluation {
        accuracy: ratio(pairs.iter().filter(|(t, p)| t == p).count()),
        macro_f1: per_class.iter().map(|c| c.f1).sum::<f64>() / per_class.len() as f64,
        per_class,
        temperature_accuracy: ratio(temp_ok),
        language_accuracy: ratio(lang_ok),
        n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The 0.85 target is a quality figure: `frontdesk bench classify`
    // reports it beside the target (0.917 held out at the time of writing;
    // 0.844 before the cue features, class balancing and 83 added rows).
    // This test only guards against regressions.

    /// Regression floor on fixed data: a broken feature pipeline or a
    /// train/predict mismatch drops far below this.
    #[test]
    fn held_out_intent_macro_f1_stays_above_the_regression_floor() {
        let eval = evaluate_holdout();
        assert!(eval.n >= 100, "held-out set too small: {}", eval.n);
        assert!(eval.macro_f1 >= 0.82, "held-out macro-F1 {:.3}: {eval:#?}", eval.macro_f1);
        assert!(eval.language_accuracy >= 0.95, "language accuracy {:.3}", eval.language_accuracy);
    }

    #[test]
    fn every_class_is_represented_in_the_held_out_split() {
        assert!(evaluate_holdout().per_class.iter().all(|c| c.support >= 5));
    }
}
