//! Model selection by k-fold cross-validation on the TRAINING rows only.
//! Run: `cargo test -p frontdesk-classifier --lib cv -- --ignored --nocapture`.

use crate::{dataset, text, train};

fn macro_f1(pairs: &[(usize, usize)], k: usize) -> f64 {
    (0..k)
        .map(|c| {
            let tp = pairs.iter().filter(|(t, p)| *t == c && *p == c).count() as f64;
            let pred = pairs.iter().filter(|(_, p)| *p == c).count() as f64;
            let sup = pairs.iter().filter(|(t, _)| *t == c).count() as f64;
            let (pr, rc) = (if pred > 0.0 { tp / pred } else { 0.0 }, if sup > 0.0 { tp / sup } else { 0.0 });
            if pr + rc > 0.0 { 2.0 * pr * rc / (pr + rc) } else { 0.0 }
        })
        .sum::<f64>()
        / k as f64
}

fn cross_validate(spec: &text::FeatureSpec, params: train::Params) -> f64 {
    let tsv = include_str!("../data/leads.tsv");
    let rows: Vec<_> = dataset::parse(tsv).unwrap().into_iter().filter(|e| !e.is_held_out()).collect();
    let label = |e: &dataset::Example| dataset::INTENTS.iter().position(|c| *c == e.intent).unwrap();
    let folds = 5;
    let mut pairs = Vec::new();
    for fold in 0..folds {
        let train_set: Vec<_> = rows
            .iter()
            .enumerate()
            .filter(|(i, _)| i % folds != fold)
            .map(|(_, e)| (text::features_with(e.text, spec), label(e)))
            .collect();
        let model = train::train(&dataset::INTENTS, &train_set, params);
        let index: std::collections::HashMap<u32, usize> =
            model.feature_ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        for (_, e) in rows.iter().enumerate().filter(|(i, _)| i % folds == fold) {
            let mut scores = [0f32; 8];
            for (id, v) in text::features_with(e.text, spec) {
                if let Some(row) = index.get(&id) {
                    for (c, s) in scores.iter_mut().enumerate() {
                        *s += model.weights[row * 8 + c] * v;
                    }
                }
            }
            let best = (0..8).max_by(|a, b| scores[*a].total_cmp(&scores[*b])).unwrap();
            pairs.push((label(e), best));
        }
    }
    macro_f1(&pairs, 8)
}

#[test]
#[ignore = "model selection; slow in debug builds"]
fn cv_grid() {
    for (cmin, cmax) in [(2, 4), (1, 4), (3, 5)] {
        for ww in [2.0, 3.0, 4.0] {
            for (epochs, lr, l2) in [(10, 0.2, 1e-5), (20, 0.2, 1e-5), (20, 0.1, 0.0), (30, 0.2, 1e-6)] {
                let spec = text::FeatureSpec { char_min: cmin, char_max: cmax, word_weight: ww };
                let f1 = cross_validate(&spec, train::Params { epochs, learning_rate: lr, l2 });
                println!("chars {cmin}-{cmax} word_w {ww} epochs {epochs} lr {lr} l2 {l2}: cv macro-F1 {f1:.3}");
            }
        }
    }
}
