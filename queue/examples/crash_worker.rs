//! A worker process for the crash test (`tests/it/crash.rs`), which SIGKILLs
//! it mid-batch. It records every delivery it starts (job id and fencing
//! token) in Redis before working on it, so the test can replay its acks late.
//!
//! Env: FD_REDIS_URL, FD_NAMESPACE, FD_QUEUE, FD_LEASE_MS.

use std::time::Duration;

use apalis::prelude::*;
use frontdesk_queue::{Lease, QueueConfig, RedisQueue};

async fn slow(
    _job: serde_json::Value,
    lease: Lease,
    log: Data<(redis::aio::ConnectionManager, String)>,
) -> Result<(), BoxDynError> {
    let (mut conn, key) = (*log).clone();
    let entry = format!("{}|{}|{}", lease.job_id, lease.fence, lease.workspace_id);
    let _: i64 = redis::cmd("RPUSH").arg(&key).arg(entry).query_async(&mut conn).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let env = |k: &str| std::env::var(k).map_err(|_| anyhow::anyhow!("{k} not set"));
    let url = env("FD_REDIS_URL")?;
    let namespace = env("FD_NAMESPACE")?;
    let queue_name = env("FD_QUEUE")?;
    let lease = Duration::from_millis(env("FD_LEASE_MS")?.parse()?);
    let config = QueueConfig {
        namespace: namespace.clone(),
        lease,
        heartbeat: lease / 4,
        batch_size: 8,
        ..QueueConfig::default()
    };
    let queue = RedisQueue::connect(&url, config).await?;
    let conn = redis::Client::open(url.as_str())?.get_connection_manager().await?;
    let log_key = format!("{{{namespace}:{queue_name}}}:child-starts");
    let worker = WorkerBuilder::new("crash-worker")
        .backend(queue.backend_for::<serde_json::Value>(&queue_name))
        .data((conn, log_key))
        .concurrency(8)
        .build(slow);
    worker.run().await?;
    Ok(())
}
