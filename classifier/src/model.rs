//! The embedded models: decoding `build.rs`'s output and scoring features.

use std::sync::LazyLock;

use crate::train::softmax;

static INTENT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/intent.bin"));
static TEMPERATURE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/temperature.bin"));

pub(crate) struct Models {
    pub intent: Model,
    pub temperature: Model,
}

/// Decoded once per process; the bytes were written by our own build script
/// from the checked-in dataset, so a decode failure is a build bug.
pub(crate) static MODELS: LazyLock<Models> = LazyLock::new(|| Models {
    intent: Model::decode(INTENT).expect("embedded intent model"),
    temperature: Model::decode(TEMPERATURE).expect("embedded temperature model"),
});
pub(crate) struct Model {
    pub classes: Vec<String>,
    feature_ids: Vec<u32>,
    weights: Vec<f32>,
}

impl Model {
    /// Reads the layout documented on `train::Trained::encode`.
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut at = 0usize;
        let mut take = |n: usize| -> Result<&[u8], String> {
            let slice = bytes.get(at..at + n).ok_or("truncated model")?;
            at += n;
            Ok(slice)
        };
        if take(4)? != b"FDC1" {
            return Err("bad magic".into());
        }
        let u32_at = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let k = u32_at(take(4)?) as usize;
        let mut classes = Vec::with_capacity(k);
        for _ in 0..k {
            let len = take(1)?[0] as usize;
            classes.push(String::from_utf8(take(len)?.to_vec()).map_err(|e| e.to_string())?);
        }
        let n = u32_at(take(4)?) as usize;
        let feature_ids = take(n * 4)?.chunks_exact(4).map(u32_at).collect();
        let weights = take(n * k * 4)?.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        Ok(Self { classes, feature_ids, weights })
    }

    /// Class probabilities for already-extracted features. Both id lists are
    /// sorted, so one merge walk finds the weights without a hash map.
    pub fn probabilities(&self, features: &[(u32, f32)]) -> Vec<f32> {
        let k = self.classes.len();
        let mut scores = vec![0f32; k];
        let mut lo = 0usize;
        for (id, value) in features {
            match self.feature_ids[lo..].binary_search(id) {
                Ok(pos) => {
                    let row = lo + pos;
                    for (c, s) in scores.iter_mut().enumerate() {
                        *s += self.weights[row * k + c] * value;
                    }
                    lo = row + 1;
                }
                Err(pos) => lo += pos,
            }
        }
        softmax(&mut scores);
        scores
    }
}
