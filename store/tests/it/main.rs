//! Store integration tests: real Postgres, a fresh database per test.

mod helpers;
mod isolation;
mod outbox;
mod schema;
mod vault;
