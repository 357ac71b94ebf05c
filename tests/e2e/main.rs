//! End-to-end: the real `frontdesk` binary against real Postgres and Redis.

mod helpers;
mod jobs_run_in_worker_process;
