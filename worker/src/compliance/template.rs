//! Follow-up templates: `{first_name}`, `{studio_name}`, `{booking_link}`…
//! Values are inserted verbatim and never re-scanned, so a lead named
//! `{booking_link}` cannot smuggle a variable in. A variable with no value is
//! an error: a customer never receives "Hi , …".

use std::collections::HashMap;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("template variable {{{0}}} has no value")]
    Missing(String),
    #[error("unclosed {{ in template")]
    Unclosed,
    #[error("invalid variable name {0:?}")]
    BadName(String),
}

/// Renders `template`; `{{` and `}}` are literal braces.
pub fn render(template: &str, vars: &HashMap<&str, String>) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        if let Some(after) = tail.strip_prefix('}') {
            out.push('}');
            rest = after;
            continue;
        }
        let end = tail.find('}').ok_or(TemplateError::Unclosed)?;
        let name = &tail[1..end];
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return Err(TemplateError::BadName(name.to_owned()));
        }
        match vars.get(name).filter(|v| !v.trim().is_empty()) {
            Some(value) => out.push_str(value),
            None => return Err(TemplateError::Missing(name.to_owned())),
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&'static str, &str)]) -> HashMap<&'static str, String> {
        pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
    }

    #[test]
    fn renders_known_variables() {
        let v = vars(&[("first_name", "Ana"), ("studio_name", "Iron Temple"), ("booking_link", "https://x.test/b")]);
        assert_eq!(
            render("Hi {first_name}! {studio_name} here. Book: {booking_link}", &v).unwrap(),
            "Hi Ana! Iron Temple here. Book: https://x.test/b"
        );
    }

    #[test]
    fn a_missing_or_blank_variable_is_an_error_not_an_empty_string() {
        assert_eq!(render("Hi {first_name}", &vars(&[])), Err(TemplateError::Missing("first_name".into())));
        assert_eq!(
            render("Hi {first_name}", &vars(&[("first_name", "  ")])),
            Err(TemplateError::Missing("first_name".into()))
        );
    }

    #[test]
    fn values_are_not_re_expanded() {
        let v = vars(&[("first_name", "{booking_link}"), ("booking_link", "SECRET")]);
        assert_eq!(render("Hi {first_name}", &v).unwrap(), "Hi {booking_link}");
    }

    #[test]
    fn braces_escape_and_malformed_templates_fail() {
        assert_eq!(render("{{literal}} }}", &vars(&[])).unwrap(), "{literal} }");
        assert_eq!(render("Hi {first_name", &vars(&[])), Err(TemplateError::Unclosed));
        assert_eq!(render("Hi {First Name}", &vars(&[])), Err(TemplateError::BadName("First Name".into())));
    }
}
