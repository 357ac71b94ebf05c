//! One module per job kind. Handlers are plain `async fn(job, JobContext)`.

pub mod apply_billing;
pub mod classify_lead;
pub mod process_inbound;
pub mod reconcile_send;
pub mod send_followup;
pub mod sync_calendar;
