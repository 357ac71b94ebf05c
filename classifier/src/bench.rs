//! Offline-classifier benchmark for `frontdesk bench classify`. Returns
//! numbers; the CLI prints them.

use std::time::Instant;

use serde::Serialize;

use crate::{OfflineClassifier, evaluate};

/// At least this many timed classifications, cycling through the held-out set.
const MIN_CLASSIFICATIONS: usize = 10_000;

#[derive(Debug, Clone, Serialize)]
pub struct OfflineBench {
    pub accuracy: f64,
    pub macro_f1: f64,
    /// Median latency of one `classify` call, microseconds.
    pub p50_us: f64,
    pub p99_us: f64,
    /// Mean latency, microseconds.
    pub per_message_us: f64,
    pub classifications: usize,
}

pub fn offline() -> OfflineBench {
    let eval = evaluate::evaluate_holdout();
    let texts: Vec<&str> = evaluate::holdout().iter().map(|e| e.text).collect();
    let classifier = OfflineClassifier::new();
    let rounds = MIN_CLASSIFICATIONS.div_ceil(texts.len().max(1));
    let mut samples = Vec::with_capacity(rounds * texts.len());
    let mut sink = 0u64;
    for _ in 0..rounds {
        for text in &texts {
            let start = Instant::now();
            let out = classifier.classify(text);
            samples.push(start.elapsed().as_secs_f64() * 1e6);
            // Keeps the optimiser from discarding the work.
            sink = sink.wrapping_add(u64::from(out.score));
        }
    }
    std::hint::black_box(sink);
    let total: f64 = samples.iter().sum();
    samples.sort_by(f64::total_cmp);
    let pct = |p: f64| samples.get(((samples.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0.0);
    OfflineBench {
        accuracy: eval.accuracy,
        macro_f1: eval.macro_f1,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        per_message_us: total / samples.len().max(1) as f64,
        classifications: samples.len(),
    }
}

#[cfg(test)]
mod tests {
    /// `cargo test -p frontdesk-classifier --release --lib bench -- --ignored --nocapture`
    #[test]
    #[ignore = "prints numbers; meaningful only in release builds"]
    fn print_offline_bench() {
        println!("{:#?}", super::offline());
    }
}
