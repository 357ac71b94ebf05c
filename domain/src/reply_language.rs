//! Which language a message to a lead goes out in.
//!
//! A template may have per-language variants. The lead's own language (as
//! the classifier last detected it) wins, then the studio's default, then
//! the template as written. Codes compare on their first two letters, so a
//! variant keyed `pt` serves a lead detected as `pt-BR`.

use std::collections::BTreeMap;

/// The variant for `lead_language`, else for `studio_language`, else `base`.
pub fn pick<'a>(
    base: &'a str,
    variants: &'a BTreeMap<String, String>,
    lead_language: Option<&str>,
    studio_language: &str,
) -> &'a str {
    let find = |code: &str| {
        let code = primary(code)?;
        variants.iter().find(|(k, v)| primary(k).as_deref() == Some(&code) && !v.trim().is_empty()).map(|(_, v)| v)
    };
    lead_language.and_then(find).or_else(|| find(studio_language)).map_or(base, String::as_str)
}

/// `"pt-BR"` → `"pt"`; `None` for anything that is not a language code.
fn primary(code: &str) -> Option<String> {
    let head = code.trim().split(['-', '_']).next()?.to_ascii_lowercase();
    (head.len() == 2 && head.bytes().all(|b| b.is_ascii_lowercase())).then_some(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variants() -> BTreeMap<String, String> {
        [("es", "Hola"), ("pt", "Olá"), ("fr", "  ")].into_iter().map(|(k, v)| (k.into(), v.into())).collect()
    }

    #[test]
    fn the_lead_language_wins_then_the_studio_default_then_the_base() {
        let v = variants();
        assert_eq!(pick("Hi", &v, Some("es"), "pt"), "Hola");
        assert_eq!(pick("Hi", &v, Some("de"), "pt"), "Olá");
        assert_eq!(pick("Hi", &v, None, "pt"), "Olá");
        assert_eq!(pick("Hi", &v, None, "en"), "Hi");
        assert_eq!(pick("Hi", &BTreeMap::new(), Some("es"), "es"), "Hi");
    }

    #[test]
    fn regions_and_case_do_not_matter_and_blank_variants_are_skipped() {
        let v = variants();
        assert_eq!(pick("Hi", &v, Some("PT-br"), "en"), "Olá");
        assert_eq!(pick("Hi", &v, Some("fr"), "es"), "Hola");
        assert_eq!(pick("Hi", &v, Some("not a code"), "en"), "Hi");
    }
}
