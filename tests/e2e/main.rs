//! End-to-end: the real `frontdesk` binary against real Postgres and Redis.

mod app;
mod bounded_input;
mod classification;
mod crash_windows;
mod followups;
mod helpers;
mod jobs_run_in_worker_process;
mod migrations;
mod webhook_bad_input;
mod webhooks;
