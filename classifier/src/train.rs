//! Multinomial logistic regression over hashed sparse features, trained by
//! `build.rs`. `std` only, deterministic (fixed shuffle seed), so the same
//! dataset always yields the same embedded model.

use std::collections::BTreeMap;

/// Hyper-parameters, chosen by cross-validation on the training rows only.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub epochs: usize,
    pub learning_rate: f32,
    pub l2: f32,
    /// Scale each example's gradient by `n / (k * n_class)`, so a class with
    /// more rows does not win ties by sheer count.
    pub balanced: bool,
}

impl Params {
    /// The intent model: class-balanced, because `complaint` and `other` have
    /// more rows than the other intents (cross-validated in `model_selection`).
    pub const INTENT: Params = Params { epochs: 20, learning_rate: 0.1, l2: 0.0, balanced: true };
    /// The temperature model: not balanced (see `model_selection`); the
    /// hot threshold (`offline::HOT_THRESHOLD`) sets the recall/precision trade.
    pub const TEMPERATURE: Params = Params { epochs: 20, learning_rate: 0.1, l2: 0.0, balanced: false };
}

impl Default for Params {
    fn default() -> Self {
        Self { epochs: 20, learning_rate: 0.1, l2: 0.0, balanced: false }
    }
}

/// A trained model: class names, sorted feature ids, and per feature one
/// weight per class (row-major).
pub struct Trained {
    pub classes: Vec<String>,
    pub feature_ids: Vec<u32>,
    pub weights: Vec<f32>,
}

/// `examples` are (sparse features, class index). AdaGrad SGD on the softmax
/// cross-entropy with L2; AdaGrad because rare features (a typo's n-grams)
/// still need sizeable steps while frequent ones settle.
pub fn train(classes: &[&str], examples: &[(Vec<(u32, f32)>, usize)], params: Params) -> Trained {
    let k = classes.len();
    let mut index: BTreeMap<u32, usize> = BTreeMap::new();
    for (features, _) in examples {
        for (id, _) in features {
            let next = index.len();
            index.entry(*id).or_insert(next);
        }
    }
    let n = index.len();
    let mut w = vec![0f32; n * k];
    let mut g2 = vec![1e-8f32; n * k];
    let dense: Vec<(Vec<(usize, f32)>, usize)> =
        examples.iter().map(|(f, y)| (f.iter().map(|(id, v)| (index[id], *v)).collect(), *y)).collect();

    let mut counts = vec![0usize; k];
    for (_, y) in examples {
        counts[*y] += 1;
    }
    let class_weight: Vec<f32> = counts
        .iter()
        .map(|&n_c| if params.balanced && n_c > 0 { examples.len() as f32 / (k * n_c) as f32 } else { 1.0 })
        .collect();

    let mut order: Vec<usize> = (0..dense.len()).collect();
    let mut seed: u64 = 0x5eed_f00d;
    let mut probs = vec![0f32; k];
    for _ in 0..params.epochs {
        // Fisher–Yates with a fixed LCG: reproducible builds.
        for i in (1..order.len()).rev() {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            order.swap(i, (seed >> 33) as usize % (i + 1));
        }
        for &i in &order {
            let (x, y) = &dense[i];
            scores(&w, k, x, &mut probs);
            softmax(&mut probs);
            for (c, p) in probs.iter().enumerate() {
                let err = (p - if c == *y { 1.0 } else { 0.0 }) * class_weight[*y];
                for (f, v) in x {
                    let at = f * k + c;
                    let grad = err * v + params.l2 * w[at];
                    g2[at] += grad * grad;
                    w[at] -= params.learning_rate * grad / g2[at].sqrt();
                }
            }
        }
    }

    let mut feature_ids: Vec<u32> = index.keys().copied().collect();
    feature_ids.sort_unstable();
    let mut weights = Vec::with_capacity(n * k);
    for id in &feature_ids {
        let row = index[id];
        weights.extend_from_slice(&w[row * k..(row + 1) * k]);
    }
    Trained { classes: classes.iter().map(|c| c.to_string()).collect(), feature_ids, weights }
}

fn scores(w: &[f32], k: usize, x: &[(usize, f32)], out: &mut [f32]) {
    out.iter_mut().for_each(|s| *s = 0.0);
    for (f, v) in x {
        for (c, s) in out.iter_mut().enumerate() {
            *s += w[f * k + c] * v;
        }
    }
}

pub fn softmax(scores: &mut [f32]) {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    for s in scores.iter_mut() {
        *s /= sum;
    }
}

impl Trained {
    /// Binary layout read by `model::Model::decode`:
    /// `b"FDC1"`, u32 class count, per class (u8 length, UTF-8 name),
    /// u32 feature count, the sorted feature ids (u32 each), then
    /// feature count × class count f32 weights. All little-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.feature_ids.len() * 4 + self.weights.len() * 4);
        out.extend_from_slice(b"FDC1");
        out.extend_from_slice(&(self.classes.len() as u32).to_le_bytes());
        for class in &self.classes {
            out.push(class.len() as u8);
            out.extend_from_slice(class.as_bytes());
        }
        out.extend_from_slice(&(self.feature_ids.len() as u32).to_le_bytes());
        for id in &self.feature_ids {
            out.extend_from_slice(&id.to_le_bytes());
        }
        for w in &self.weights {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }
}
