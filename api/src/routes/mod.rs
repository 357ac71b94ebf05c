//! One module per resource, each with a `router()` of utoipa-registered
//! routes: a route cannot be served without being in `/openapi.json`.

pub mod auth;
pub mod health;
pub mod integrations;
pub mod keys;
pub mod onboarding;
pub mod unsubscribe;
pub mod users;
pub mod workspace;

/// A bare, lower-case address: `local@domain.tld`.
pub(crate) fn is_email(addr: &str) -> bool {
    addr.len() <= 254
        && !addr.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
        && addr.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
}
