//! Model selection by k-fold cross-validation on the TRAINING rows only
//! (the held-out rows never choose anything). Run
//! `cargo run --release -p frontdesk-classifier --features model-selection --example model_selection`.
//!
//! Five folds are noisy on a few hundred rows (one message moves a class F1
//! by a point or more), so the figure is averaged over repeated 5-fold
//! splits: repetition 0 assigns row i to fold i % 5, later ones shuffle the
//! rows with a fixed seed first.

use crate::{dataset, text, train};

const FOLDS: usize = 5;
const REPETITIONS: usize = 10;

fn per_class_f1(pairs: &[(usize, usize)], k: usize) -> Vec<f64> {
    (0..k)
        .map(|c| {
            let tp = pairs.iter().filter(|(t, p)| *t == c && *p == c).count() as f64;
            let pred = pairs.iter().filter(|(_, p)| *p == c).count() as f64;
            let sup = pairs.iter().filter(|(t, _)| *t == c).count() as f64;
            let (pr, rc) = (if pred > 0.0 { tp / pred } else { 0.0 }, if sup > 0.0 { tp / sup } else { 0.0 });
            if pr + rc > 0.0 { 2.0 * pr * rc / (pr + rc) } else { 0.0 }
        })
        .collect()
}

fn macro_f1(pairs: &[(usize, usize)], k: usize) -> f64 {
    per_class_f1(pairs, k).iter().sum::<f64>() / k as f64
}

/// Fold of each row for one repetition.
fn folds(n: usize, repetition: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    if repetition > 0 {
        let mut seed: u64 = 0x00c0_ffee + repetition as u64;
        for i in (1..n).rev() {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            order.swap(i, (seed >> 33) as usize % (i + 1));
        }
    }
    let mut fold = vec![0; n];
    for (position, &row) in order.iter().enumerate() {
        fold[row] = position % FOLDS;
    }
    fold
}

/// (true, predicted) intent pairs over all repetitions.
fn cross_validate(spec: &text::FeatureSpec, params: train::Params, repetitions: usize) -> Vec<(usize, usize)> {
    let tsv = include_str!("../data/leads.tsv");
    let rows: Vec<_> = dataset::parse(tsv).unwrap().into_iter().filter(|e| !e.is_held_out()).collect();
    let label = |e: &dataset::Example| dataset::INTENTS.iter().position(|c| *c == e.intent).unwrap();
    let features: Vec<_> = rows.iter().map(|e| text::features_with(e.text, spec)).collect();
    let mut pairs = Vec::new();
    for repetition in 0..repetitions {
        let fold_of = folds(rows.len(), repetition);
        for fold in 0..FOLDS {
            let train_set: Vec<_> = (0..rows.len())
                .filter(|i| fold_of[*i] != fold)
                .map(|i| (features[i].clone(), label(&rows[i])))
                .collect();
            let model = train::train(&dataset::INTENTS, &train_set, params);
            let index: std::collections::HashMap<u32, usize> =
                model.feature_ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
            for i in (0..rows.len()).filter(|i| fold_of[*i] == fold) {
                let mut scores = [0f32; 8];
                for (id, v) in &features[i] {
                    if let Some(row) = index.get(id) {
                        for (c, s) in scores.iter_mut().enumerate() {
                            *s += model.weights[row * 8 + c] * v;
                        }
                    }
                }
                let best = (0..8).max_by(|a, b| scores[*a].total_cmp(&scores[*b])).unwrap();
                pairs.push((label(&rows[i]), best));
            }
        }
    }
    pairs
}

/// One configuration's cross-validated intent figures.
#[derive(Debug, Clone)]
pub struct CvResult {
    pub description: String,
    pub macro_f1: f64,
    /// (intent, F1) per class.
    pub per_class: Vec<(&'static str, f64)>,
}

fn result(description: String, pairs: &[(usize, usize)]) -> CvResult {
    let per_class = dataset::INTENTS.iter().copied().zip(per_class_f1(pairs, dataset::INTENTS.len())).collect();
    CvResult { description, macro_f1: macro_f1(pairs, dataset::INTENTS.len()), per_class }
}

/// The grid the intent model's parameters were chosen from.
pub fn grid() -> Vec<CvResult> {
    let mut results = Vec::new();
    for cue_weight in [0.0, 3.0, 4.0, 6.0, 8.0, 10.0] {
        for balanced in [false, true] {
            for (epochs, learning_rate) in [(10, 0.1), (20, 0.1), (30, 0.1), (20, 0.2)] {
                let spec = text::FeatureSpec { cue_weight, ..text::FeatureSpec::DEFAULT };
                let params = train::Params { epochs, learning_rate, balanced, ..train::Params::INTENT };
                let pairs = cross_validate(&spec, params, REPETITIONS);
                let description = format!("cue_w {cue_weight} balanced {balanced} epochs {epochs} lr {learning_rate}");
                results.push(result(description, &pairs));
            }
        }
    }
    results
}

/// The figure for the configuration `build.rs` uses.
pub fn chosen() -> CvResult {
    let pairs = cross_validate(&text::FeatureSpec::DEFAULT, train::Params::INTENT, REPETITIONS);
    result(format!("{REPETITIONS}x{FOLDS}-fold cv, the configuration build.rs uses"), &pairs)
}

#[cfg(test)]
mod tests {
    #[test]
    fn folds_put_every_row_in_exactly_one_fold_of_equal_size() {
        for repetition in [0, 3] {
            let fold = super::folds(103, repetition);
            let sizes: Vec<usize> = (0..super::FOLDS).map(|f| fold.iter().filter(|&&x| x == f).count()).collect();
            assert!(sizes.iter().all(|&n| n == 20 || n == 21), "{sizes:?}");
        }
        assert_ne!(super::folds(50, 1), super::folds(50, 2), "repetitions shuffle differently");
    }
}
