//! Model selection by k-fold cross-validation on the TRAINING rows only
//! (the held-out rows never choose anything). Run
//! `cargo run --release -p frontdesk-classifier --features model-selection --example model_selection`.
//!
//! Five folds are noisy on a few hundred rows (one message moves a class F1
//! by a point or more), so the figure is averaged over repeated 5-fold
//! splits: repetition 0 assigns row i to fold i % 5, later ones shuffle the
//! rows with a fixed seed first.
//!
//! Rows are scored the way the library scores messages: quoted email text
//! and injected instructions removed (`injection::prepare`); rows that are
//! nothing but instructions are spam by rule and are left out.

use crate::{dataset, injection, language, offline, text, train};

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

/// Mean F1 over the classes that occur (as label or prediction).
fn macro_f1(pairs: &[(usize, usize)], k: usize) -> f64 {
    let f1 = per_class_f1(pairs, k);
    let present: Vec<f64> = (0..k).filter(|c| pairs.iter().any(|(t, p)| t == c || p == c)).map(|c| f1[c]).collect();
    present.iter().sum::<f64>() / present.len().max(1) as f64
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

/// The training rows as the models see them.
struct Row {
    example: dataset::Example<'static>,
    residue: String,
}

fn training_rows() -> Vec<Row> {
    let tsv = include_str!("../data/leads.tsv");
    dataset::parse(tsv)
        .unwrap()
        .into_iter()
        .filter(|e| !e.is_held_out())
        .filter_map(|example| {
            let scan = injection::prepare(&example.text);
            (!scan.is_pure()).then_some(Row { example, residue: scan.residue })
        })
        .collect()
}

/// Out-of-fold class probabilities for every row and repetition:
/// `(row index, probabilities)`.
fn cross_validate(
    rows: &[Row],
    classes: &[&str],
    label: for<'a> fn(&'a dataset::Example<'a>) -> &'a str,
    spec: &text::FeatureSpec,
    params: train::Params,
    repetitions: usize,
) -> Vec<(usize, Vec<f32>)> {
    let k = classes.len();
    let y = |r: &Row| classes.iter().position(|c| *c == label(&r.example)).unwrap();
    let features: Vec<_> = rows.iter().map(|r| text::features_with(&r.residue, spec)).collect();
    let mut out = Vec::new();
    for repetition in 0..repetitions {
        let fold_of = folds(rows.len(), repetition);
        for fold in 0..FOLDS {
            let train_set: Vec<_> =
                (0..rows.len()).filter(|i| fold_of[*i] != fold).map(|i| (features[i].clone(), y(&rows[i]))).collect();
            let model = train::train(classes, &train_set, params);
            let index: std::collections::HashMap<u32, usize> =
                model.feature_ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
            for i in (0..rows.len()).filter(|i| fold_of[*i] == fold) {
                let mut scores = vec![0f32; k];
                for (id, v) in &features[i] {
                    if let Some(row) = index.get(id) {
                        for (c, s) in scores.iter_mut().enumerate() {
                            *s += model.weights[row * k + c] * v;
                        }
                    }
                }
                train::softmax(&mut scores);
                out.push((i, scores));
            }
        }
    }
    out
}

fn intent_label<'a>(e: &'a dataset::Example<'a>) -> &'a str {
    e.intent
}

fn temperature_label<'a>(e: &'a dataset::Example<'a>) -> &'a str {
    e.temperature
}

fn argmax(p: &[f32]) -> usize {
    (0..p.len()).max_by(|a, b| p[*a].total_cmp(&p[*b])).unwrap()
}

/// One configuration's cross-validated intent figures.
#[derive(Debug, Clone)]
pub struct CvResult {
    pub description: String,
    pub macro_f1: f64,
    /// (intent, F1) per class.
    pub per_class: Vec<(&'static str, f64)>,
    /// (language, macro-F1) and (channel, macro-F1), over the classes present.
    pub per_language: Vec<(&'static str, f64)>,
    pub per_channel: Vec<(&'static str, f64)>,
}

fn result(description: String, rows: &[Row], out: &[(usize, Vec<f32>)]) -> CvResult {
    let k = dataset::INTENTS.len();
    let y = |i: usize| dataset::INTENTS.iter().position(|c| *c == rows[i].example.intent).unwrap();
    let pairs: Vec<(usize, usize)> = out.iter().map(|(i, p)| (y(*i), argmax(p))).collect();
    let sliced = |keep: &dyn Fn(&Row) -> bool| {
        let pairs: Vec<(usize, usize)> =
            out.iter().filter(|(i, _)| keep(&rows[*i])).map(|(i, p)| (y(*i), argmax(p))).collect();
        macro_f1(&pairs, k)
    };
    CvResult {
        description,
        macro_f1: per_class_f1(&pairs, k).iter().sum::<f64>() / k as f64,
        per_class: dataset::INTENTS.iter().copied().zip(per_class_f1(&pairs, k)).collect(),
        per_language: dataset::LANGUAGES.iter().map(|l| (*l, sliced(&|r: &Row| r.example.language == *l))).collect(),
        per_channel: dataset::CHANNELS.iter().map(|c| (*c, sliced(&|r: &Row| r.example.channel == *c))).collect(),
    }
}

/// The grid the intent model's parameters were chosen from (3 repetitions
/// each, to keep it to minutes). Earlier rounds also varied class balancing,
/// epochs and the learning rate, which moved the figure by less than 0.005.
pub fn grid() -> Vec<CvResult> {
    let rows = training_rows();
    let mut results = Vec::new();
    for cue_weight in [4.0, 8.0, 12.0] {
        for word_weight in [1.0, 2.0, 3.0] {
            for char_max in [4, 5] {
                let spec = text::FeatureSpec { cue_weight, word_weight, char_max, ..text::FeatureSpec::DEFAULT };
                let out = cross_validate(&rows, &dataset::INTENTS, intent_label, &spec, train::Params::INTENT, 3);
                let description = format!("cue_w {cue_weight} word_w {word_weight} char 1-{char_max}");
                results.push(result(description, &rows, &out));
            }
        }
    }
    results
}

/// The figure for the configuration `build.rs` uses.
pub fn chosen() -> CvResult {
    let rows = training_rows();
    let out = cross_validate(
        &rows,
        &dataset::INTENTS,
        intent_label,
        &text::FeatureSpec::DEFAULT,
        train::Params::INTENT,
        REPETITIONS,
    );
    result(format!("{REPETITIONS}x{FOLDS}-fold cv, the configuration build.rs uses"), &rows, &out)
}

/// Cross-validated hot precision and recall of the temperature model at
/// several thresholds: `(threshold, precision, recall)`. The chosen one is
/// [`offline::HOT_THRESHOLD`].
pub fn hot_thresholds() -> Vec<(f32, f64, f64)> {
    let rows = training_rows();
    let out = cross_validate(
        &rows,
        &dataset::TEMPERATURES,
        temperature_label,
        &text::FeatureSpec::DEFAULT,
        train::Params::TEMPERATURE,
        REPETITIONS,
    );
    let hot = dataset::TEMPERATURES.iter().position(|t| *t == "hot").unwrap();
    let spam = |i: usize| rows[i].example.intent == "spam";
    [0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, offline::HOT_THRESHOLD]
        .into_iter()
        .map(|threshold| {
            let (mut tp, mut predicted, mut actual) = (0usize, 0usize, 0usize);
            for (i, p) in &out {
                // Spam is cold by rule, as in the library.
                let says_hot = p[hot] >= threshold && !spam(*i);
                let is_hot = rows[*i].example.temperature == "hot";
                tp += usize::from(says_hot && is_hot);
                predicted += usize::from(says_hot);
                actual += usize::from(is_hot);
            }
            (threshold, tp as f64 / predicted.max(1) as f64, tp as f64 / actual.max(1) as f64)
        })
        .collect()
}

/// Language-detection accuracy on training rows of at least 20 characters
/// for several weights of whatlang's vote: `(weight, accuracy)`. The chosen
/// one is [`language::WHATLANG_WEIGHT`]. No training is involved, so this
/// is not cross-validated, but it reads training rows only.
pub fn language_weights() -> Vec<(f32, f64)> {
    let rows: Vec<_> = dataset::parse(include_str!("../data/leads.tsv"))
        .unwrap()
        .into_iter()
        .filter(|e| !e.is_held_out() && e.text.chars().count() >= 20)
        .collect();
    [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 100.0]
        .into_iter()
        .map(|w| {
            let ok = rows
                .iter()
                .filter(|e| language::detect_with(&e.text, w).is_some_and(|l| l.code() == e.language))
                .count();
            (w, ok as f64 / rows.len().max(1) as f64)
        })
        .collect()
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

    #[test]
    fn macro_f1_ignores_classes_absent_from_a_slice() {
        // Classes 0 and 1 occur; class 2 does not and must not count as 0.
        assert_eq!(super::macro_f1(&[(0, 0), (1, 1)], 3), 1.0);
    }
}
