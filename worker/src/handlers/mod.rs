//! One module per job kind. Handlers are plain `async fn(job, JobContext)`.

pub mod process_inbound;
