//! Text normalisation and feature hashing.
//!
//! This file is compiled twice: by `build.rs` (training) and by the library
//! (prediction), so it may only use `std`. Training and prediction must see
//! byte-identical features or the embedded weights mean nothing.

/// Hashed feature ids live in a 2^22 space: collisions are rare at our
/// vocabulary size, and the model only stores ids that occurred in training.
const FEATURE_BITS: u32 = 22;

/// Lowercases, folds Latin accents (so "clase", "cláse" and "CLASE" meet),
/// turns emoji into word tokens, URLs into `urltok`, digit runs into `0`, and
/// punctuation into spaces (keeping `?`, which marks questions).
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for raw in text.split_whitespace() {
        if looks_like_url(raw) {
            out.push_str(" urltok ");
            continue;
        }
        let mut in_digits = false;
        for ch in raw.chars() {
            if ch.is_ascii_digit() {
                if !in_digits {
                    out.push('0');
                }
                in_digits = true;
                continue;
            }
            in_digits = false;
            if let Some(name) = emoji_token(ch) {
                out.push(' ');
                out.push_str(name);
                out.push(' ');
            } else if ch == '?' || ch == '¿' {
                out.push_str(" ? ");
            } else if matches!(ch, '$' | '€' | '£') {
                out.push_str(" moneytok ");
            } else if ch.is_alphabetic() {
                for lower in ch.to_lowercase() {
                    out.push(fold_accent(lower));
                }
            } else if ch == '\'' || ch == '’' {
                // "can't" → "cant", "what's" → "whats": matches how people text.
            } else {
                out.push(' ');
            }
        }
        out.push(' ');
    }
    out
}

fn looks_like_url(token: &str) -> bool {
    let t = token.trim_matches(|c: char| !c.is_alphanumeric()).to_ascii_lowercase();
    if t.contains("://") || t.starts_with("www.") {
        return true;
    }
    // bare domains like "bit.ly/x" or "win-prizes.co": letters, a dot, a 2-4 letter TLD
    let host = t.split('/').next().unwrap_or("");
    match host.rsplit_once('.') {
        Some((name, tld)) => {
            name.chars().any(|c| c.is_ascii_alphabetic())
                && (2..=4).contains(&tld.len())
                && tld.chars().all(|c| c.is_ascii_alphabetic())
                && !name.ends_with('.')
        }
        None => false,
    }
}

fn fold_accent(ch: char) -> char {
    match ch {
        'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' => 'a',
        'é' | 'è' | 'ê' | 'ë' => 'e',
        'í' | 'ì' | 'î' | 'ï' => 'i',
        'ó' | 'ò' | 'ô' | 'ö' | 'õ' => 'o',
        'ú' | 'ù' | 'û' | 'ü' => 'u',
        'ñ' => 'n',
        'ç' => 'c',
        other => other,
    }
}

/// Emoji carry intent and mood ("😡" in a complaint, "🚀💰" in crypto spam),
/// so the common ones become words; the rest share one token.
fn emoji_token(ch: char) -> Option<&'static str> {
    let name = match ch {
        '😡' | '🤬' | '😠' | '😤' | '👎' => "emoangry",
        '😔' | '😕' | '😢' | '😞' => "emosad",
        '🔥' | '💪' | '🙌' | '🚴' | '💃' => "emohype",
        '😊' | '🙂' | '😄' | '😁' | '👋' | '👍' | '🎉' | '🎄' | '🌞' => "emohappy",
        '🙏' => "emoplease",
        '🚀' | '💰' | '💸' | '📈' | '📊' | '🤑' | '💳' => "emomoney",
        '😘' | '😎' | '🎁' => "emobait",
        '❤' | '💑' | '🤝' => "emoheart",
        _ => {
            let c = ch as u32;
            let pictographic = (0x1F300..=0x1FAFF).contains(&c) || (0x2600..=0x27BF).contains(&c);
            return pictographic.then_some("emoji");
        }
    };
    Some(name)
}

/// Word uni/bi-grams plus character 1–4-grams of each word (with boundary
/// marks). Character grams make "cancle", "membrship" and "cuánto"/"cuanto"
/// share most of their features with the correct spelling.
///
/// Returns sorted, de-duplicated feature ids with L2-normalised binary values.
pub fn features(text: &str) -> Vec<(u32, f32)> {
    features_with(text, &FeatureSpec::DEFAULT)
}

/// Feature-set knobs, chosen by cross-validation on the training rows
/// (`cv.rs`), never on the held-out rows.
#[derive(Debug, Clone, Copy)]
pub struct FeatureSpec {
    pub char_min: usize,
    pub char_max: usize,
    /// Weight of word uni/bi-gram features relative to character grams.
    pub word_weight: f32,
}

impl FeatureSpec {
    pub const DEFAULT: FeatureSpec = FeatureSpec { char_min: 1, char_max: 4, word_weight: 2.0 };
}

pub fn features_with(text: &str, spec: &FeatureSpec) -> Vec<(u32, f32)> {
    let normalized = normalize(text);
    let words: Vec<&str> = normalized.split_whitespace().collect();
    let mut ids: Vec<(u32, f32)> = Vec::with_capacity(words.len() * 12 + 1);
    ids.push((feature_id(b"bias", &[]), 1.0));
    let mut grams = String::new();
    for (i, word) in words.iter().enumerate() {
        ids.push((feature_id(b"w", &[word.as_bytes()]), spec.word_weight));
        if let Some(next) = words.get(i + 1) {
            ids.push((feature_id(b"b", &[word.as_bytes(), b" ", next.as_bytes()]), spec.word_weight));
        }
        if word.len() < 2 || word.starts_with("emo") || *word == "urltok" {
            continue;
        }
        let chars: Vec<char> = std::iter::once('<').chain(word.chars()).chain(std::iter::once('>')).collect();
        for n in spec.char_min..=spec.char_max {
            for window in chars.windows(n) {
                grams.clear();
                grams.extend(window);
                ids.push((feature_id(b"c", &[grams.as_bytes()]), 1.0));
            }
        }
    }
    // Binary presence: a repeated word in a long email is not more evidence.
    ids.sort_unstable_by_key(|(id, _)| *id);
    ids.dedup_by_key(|(id, _)| *id);
    let norm = ids.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
    for (_, v) in ids.iter_mut() {
        *v /= norm;
    }
    ids
}

/// FNV-1a: stable across builds and Rust versions, unlike `DefaultHasher`,
/// which matters because the ids are baked into the model at build time.
fn feature_id(namespace: &[u8], parts: &[&[u8]]) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in namespace.iter().chain(b":").chain(parts.iter().flat_map(|p| p.iter())) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    ((hash >> 32) ^ hash) as u32 & ((1 << FEATURE_BITS) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_folds_accents_emoji_digits_and_urls() {
        assert_eq!(
            normalize("¿Cuánto cuesta? 🔥 a las 7pm bit.ly/x").split_whitespace().collect::<Vec<_>>(),
            ["?", "cuanto", "cuesta", "?", "emohype", "a", "las", "0pm", "urltok"]
        );
        assert_eq!(normalize("CAN'T wait!!").split_whitespace().collect::<Vec<_>>(), ["cant", "wait"]);
    }

    #[test]
    fn features_are_sorted_unique_and_unit_length() {
        let f = features("hola hola clase");
        assert!(f.windows(2).all(|w| w[0].0 < w[1].0));
        let norm: f32 = f.iter().map(|(_, v)| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-4);
    }

    #[test]
    fn a_typo_shares_most_features_with_the_correct_word() {
        let a: std::collections::HashSet<u32> = features("membership").into_iter().map(|(id, _)| id).collect();
        let b: std::collections::HashSet<u32> = features("membrship").into_iter().map(|(id, _)| id).collect();
        assert!(a.intersection(&b).count() * 2 > a.len());
    }
}
