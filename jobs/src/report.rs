//! How every crate logs an error: its message, then each cause in turn, so
//! a log line shows why a query failed and not only that it did. Error
//! types keep their causes as `#[source]` (their own message does not
//! repeat the cause's); [`Report`] joins the chain at the one place the
//! error is logged.

use std::{error::Error, fmt};

/// Displays `top: cause: root cause`.
pub struct Report<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(e) = cause {
            write!(f, ": {e}")?;
            cause = e.source();
        }
        Ok(())
    }
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A cause of any type, for error variants that wrap one.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("could not load the lead")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("database error")]
    struct Inner(#[source] std::io::Error);

    #[test]
    fn a_report_shows_every_cause_in_order() {
        let e = Outer(Inner(std::io::Error::other("connection refused")));
        assert_eq!(Report(&e).to_string(), "could not load the lead: database error: connection refused");
    }
}
