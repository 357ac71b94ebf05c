//! The outbox relay: pushes outbox entries that were never pushed (Redis was
//! down when the api committed) or whose job has not run within the timeout
//! (the api died before pushing, or Redis lost the job). Several relays may
//! run at once: claiming uses `FOR UPDATE SKIP LOCKED`.

use std::time::Duration;

use frontdesk_jobs::{Jobs, Report};
use frontdesk_store::{Db, outbox};
use tokio::sync::watch;
use tracing::{info, warn};

const BATCH: i64 = 200;

#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// Re-push an entry whose job has not run this long after its last push.
    pub stale_after: Duration,
    /// Pause between scans when the last one found nothing.
    pub idle: Duration,
}

/// Runs until `stop` turns true.
pub async fn run(db: Db, jobs: Jobs, config: RelayConfig, mut stop: watch::Receiver<bool>) {
    loop {
        let pushed = match relay_once(&db, &jobs, config.stale_after).await {
            Ok(n) => n,
            Err(e) => {
                warn!(error = %Report(&e), "outbox relay scan failed");
                0
            }
        };
        if pushed > 0 {
            info!(pushed, "outbox relay pushed jobs");
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(config.idle) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// One scan: claims due entries and pushes them. Returns how many were pushed.
pub async fn relay_once(db: &Db, jobs: &Jobs, stale_after: Duration) -> Result<usize, frontdesk_store::StoreError> {
    let mut claimed = outbox::claim(db, BATCH, stale_after).await?.into_iter();
    let mut pushed = 0;
    while let Some(entry) = claimed.next() {
        let (id, workspace_id) = (entry.id, entry.envelope.workspace_id);
        if let Err(e) = jobs.enqueue_envelope(entry.envelope).await {
            warn!(error = %Report(&e), outbox_id = %id, attempts = entry.relay_attempts, "relay push failed");
            // Redis is down: hand this entry and the rest of the claim back
            // for the next scan instead of failing each in turn.
            outbox::release(db, workspace_id, id).await?;
            for rest in claimed {
                outbox::release(db, rest.envelope.workspace_id, rest.id).await?;
            }
            break;
        }
        pushed += 1;
    }
    Ok(pushed)
}
