//! Worker integration tests: real Postgres; the guard and handlers are
//! driven directly as tower services (the end-to-end suite runs them in a
//! real worker process against Redis).

mod guard;
mod helpers;
mod providers;
mod registry;
