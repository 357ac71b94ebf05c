//! End-to-end: the real `frontdesk` binary against real Postgres and Redis.

mod app;
mod bounded_input;
mod classification;
mod crash_windows;
mod followups;
mod helpers;
mod integrations;
mod jobs_run_in_worker_process;
mod migrations;
mod onboarding;
mod studio;
mod studio_bad_input;
mod webhook_bad_input;
mod webhooks;
