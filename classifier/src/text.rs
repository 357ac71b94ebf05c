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
/// marks), plus the hand-written cue features of [`cue`]. Character grams make
/// "cancle", "membrship" and "cuánto"/"cuanto" share most of their features
/// with the correct spelling.
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
    /// Weight of cue features (see [`cue`]); 0 disables them.
    pub cue_weight: f32,
}

impl FeatureSpec {
    pub const DEFAULT: FeatureSpec = FeatureSpec { char_min: 1, char_max: 4, word_weight: 2.0, cue_weight: 8.0 };
}

/// Hand-written cue words (normalised form, matched as word prefixes) for the
/// kinds of message the word and character grams learn least reliably from a
/// few hundred rows: grievances (faults, billing disputes, rude staff, strong
/// displeasure) and the catch-all "other" (thanks, lost property, directions,
/// jobs, partnerships). Each cue is one shared feature, so a complaint about a
/// broken sauna helps with one about a broken treadmill.
///
/// Sorted, and no cue is a prefix of another, so a binary search on the
/// first byte finds the only candidates instead of a scan of the whole list.
fn cue(word: &str) -> Option<&'static str> {
    let first = *word.as_bytes().first()?;
    let from = CUES.partition_point(|(prefix, _)| prefix.as_bytes()[0] < first);
    CUES[from..]
        .iter()
        .take_while(|(prefix, _)| prefix.as_bytes()[0] == first)
        .find(|(prefix, _)| word.starts_with(prefix))
        .map(|(_, cue)| *cue)
}

/// (word prefix, cue) pairs for [`cue`]: faults and dirt (`cue_fault`),
/// billing disputes (`cue_dispute`), staff behaviour (`cue_staff`),
/// displeasure (`cue_angry`), thanks and small talk (`cue_thanks`), lost
/// property and directions (`cue_place`), jobs, partnerships and press
/// (`cue_business`). English and Spanish, accents folded.
#[rustfmt::skip]
const CUES: &[(&str, &str)] = &[
    ("address", "cue_place"), ("annoy", "cue_angry"), ("aparca", "cue_place"), ("averia", "cue_fault"),
    ("awful", "cue_angry"), ("benefic", "cue_business"), ("borde", "cue_staff"), ("broke", "cue_fault"),
    ("cabread", "cue_angry"), ("cargador", "cue_place"), ("cerca", "cue_place"), ("charged", "cue_dispute"),
    ("charger", "cue_place"), ("charity", "cue_business"), ("cheers", "cue_thanks"), ("cobrad", "cue_dispute"),
    ("cobraron", "cue_dispute"), ("cobrast", "cue_dispute"), ("colabora", "cue_business"), ("collab", "cue_business"),
    ("complain", "cue_angry"), ("crash", "cue_fault"), ("curriculum", "cue_business"), ("cv", "cue_business"),
    ("deje", "cue_place"), ("desastre", "cue_angry"), ("devolucion", "cue_dispute"), ("devolv", "cue_dispute"),
    ("direccion", "cue_place"), ("dirty", "cue_fault"), ("disappoint", "cue_angry"), ("dismissive", "cue_staff"),
    ("dispute", "cue_dispute"), ("donacion", "cue_business"), ("donat", "cue_business"), ("door", "cue_place"),
    ("double", "cue_dispute"), ("duplicad", "cue_dispute"), ("entrevista", "cue_business"),
    ("estropead", "cue_fault"), ("exijo", "cue_angry"), ("expect", "cue_angry"), ("fatal", "cue_angry"),
    ("filth", "cue_fault"), ("forgot", "cue_place"), ("freezing", "cue_fault"), ("frustrat", "cue_angry"),
    ("fuera", "cue_place"), ("gotera", "cue_fault"), ("gracias", "cue_thanks"), ("grit", "cue_staff"),
    ("gross", "cue_fault"), ("hart", "cue_angry"), ("hiring", "cue_business"), ("horrible", "cue_angry"),
    ("huele", "cue_fault"), ("ignor", "cue_staff"), ("inaceptable", "cue_angry"), ("indignad", "cue_angry"),
    ("interview", "cue_business"), ("job", "cue_business"), ("journalist", "cue_business"), ("leak", "cue_fault"),
    ("lost", "cue_place"), ("maleducad", "cue_staff"), ("molest", "cue_angry"), ("nearby", "cue_place"),
    ("ok", "cue_thanks"), ("olvide", "cue_place"), ("outside", "cue_place"), ("overcharg", "cue_dispute"),
    ("park", "cue_place"), ("partnership", "cue_business"), ("patrocin", "cue_business"), ("perdi", "cue_place"),
    ("periodista", "cue_business"), ("practicas", "cue_business"), ("profesionalidad", "cue_staff"),
    ("puerta", "cue_place"), ("queja", "cue_angry"), ("reembols", "cue_dispute"), ("refund", "cue_dispute"),
    ("respet", "cue_staff"), ("ridiculous", "cue_angry"), ("robad", "cue_fault"), ("robo", "cue_fault"),
    ("rota", "cue_fault"), ("roto", "cue_fault"), ("rude", "cue_staff"), ("shout", "cue_staff"),
    ("smell", "cue_fault"), ("sponsor", "cue_business"), ("stink", "cue_fault"), ("stole", "cue_fault"),
    ("sucia", "cue_fault"), ("sucio", "cue_fault"), ("terrible", "cue_angry"), ("thank", "cue_thanks"),
    ("thanx", "cue_thanks"), ("thx", "cue_thanks"), ("trabajo", "cue_business"), ("twice", "cue_dispute"),
    ("unaccept", "cue_angry"), ("unhappy", "cue_angry"), ("unprofessional", "cue_staff"), ("vacante", "cue_business"),
    ("verguenza", "cue_angry"), ("waste", "cue_angry"), ("wifi", "cue_place"), ("worst", "cue_angry"),
];

pub fn features_with(text: &str, spec: &FeatureSpec) -> Vec<(u32, f32)> {
    let normalized = normalize(text);
    let words: Vec<&str> = normalized.split_whitespace().collect();
    let mut ids: Vec<(u32, f32)> = Vec::with_capacity(words.len() * 12 + 1);
    ids.push((feature_id(b"bias", &[]), 1.0));
    let mut grams = String::new();
    for (i, word) in words.iter().enumerate() {
        ids.push((feature_id(b"w", &[word.as_bytes()]), spec.word_weight));
        if spec.cue_weight > 0.0
            && let Some(cue) = cue(word)
        {
            ids.push((feature_id(b"q", &[cue.as_bytes()]), spec.cue_weight));
        }
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
    fn cues_are_sorted_and_none_is_a_prefix_of_another() {
        assert!(CUES.windows(2).all(|w| w[0].0 < w[1].0));
        for (a, _) in CUES {
            assert!(!CUES.iter().any(|(b, _)| b != a && b.starts_with(a)), "{a} is a prefix of another cue");
        }
        assert_eq!(cue("cobrasteis"), Some("cue_dispute"));
        assert_eq!(cue("quejarme"), Some("cue_angry"));
        assert_eq!(cue("clase"), None);
        assert_eq!(cue(""), None);
    }

    #[test]
    fn a_typo_shares_most_features_with_the_correct_word() {
        let a: std::collections::HashSet<u32> = features("membership").into_iter().map(|(id, _)| id).collect();
        let b: std::collections::HashSet<u32> = features("membrship").into_iter().map(|(id, _)| id).collect();
        assert!(a.intersection(&b).count() * 2 > a.len());
    }
}
