//! One module per resource, each with a `router()`.

pub mod health;
pub mod unsubscribe;
