//! The outbox relay: makes sure every committed job reaches Redis.
//!
//! - An entry the api could not push (Redis down) is handed back and pushed
//!   on the next scan.
//! - An entry not done `grace` after it was committed is checked against
//!   Redis: the api may have died between commit and push. Found, it is
//!   left to run; missing, it is pushed. So a committed webhook has its
//!   effect within seconds of an api crash, not after the long timeout.
//! - An entry confirmed in Redis but still not done `stale_after` later is
//!   pushed again (Redis lost the job).
//! - When Redis lost its data (the namespace's epoch is gone), every entry
//!   not done is pushed again at once, and fencing tokens are raised above
//!   every token Postgres has recorded.
//!
//! Several relays may run at once: claiming uses `FOR UPDATE SKIP LOCKED`,
//! and a job pushed twice is a duplicate by its job id.

use std::time::Duration;

use frontdesk_jobs::{Jobs, Report};
use frontdesk_queue::{Epoch, RedisQueue};
use frontdesk_store::{Db, StoreError, outbox};
use tokio::sync::watch;
use tracing::{info, warn};

const BATCH: i64 = 200;

#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// Re-push an entry confirmed in Redis that has not run this long after.
    pub stale_after: Duration,
    /// Check an entry not done this long after its commit (the api's own
    /// push normally lands in milliseconds).
    pub grace: Duration,
    /// Pause between scans when the last one found nothing.
    pub idle: Duration,
}

/// Runs until `stop` turns true.
pub async fn run(db: Db, jobs: Jobs, queue: RedisQueue, config: RelayConfig, mut stop: watch::Receiver<bool>) {
    let mut epoch = None;
    loop {
        if let Err(e) = watch_for_data_loss(&db, &queue, &mut epoch).await {
            warn!(error = %Report(&e), "could not check whether Redis lost its data");
        }
        let pushed = match relay_once(&db, &jobs, &queue, &config).await {
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

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("outbox")]
    Store(#[from] StoreError),
    #[error("queue")]
    Queue(#[from] frontdesk_queue::QueueError),
}

/// On a (first or) new epoch: raise fencing tokens above Postgres's and
/// re-drive every entry not done.
async fn watch_for_data_loss(db: &Db, queue: &RedisQueue, seen: &mut Option<String>) -> Result<(), RelayError> {
    let first = seen.is_none();
    if queue.check_epoch(seen).await? == Epoch::Same {
        return Ok(());
    }
    let floor = db.max_fencing_token().await?;
    queue.raise_fence_floor(u64::try_from(floor).unwrap_or(0)).await?;
    let redriven = outbox::redrive_all(db).await?;
    if first {
        info!(redriven, fence_floor = floor, "queue epoch checked at start");
    } else {
        warn!(redriven, fence_floor = floor, "Redis lost its data; every job not done is pushed again");
    }
    Ok(())
}

/// One scan: claims due entries, checks the unconfirmed ones against Redis
/// and pushes what is missing. Returns how many were pushed.
pub async fn relay_once(db: &Db, jobs: &Jobs, queue: &RedisQueue, config: &RelayConfig) -> Result<usize, RelayError> {
    let claimed = outbox::claim(db, BATCH, config.stale_after, config.grace).await?;
    // Entries never confirmed: push only those Redis does not have.
    let unconfirmed: Vec<(&str, String)> = claimed
        .iter()
        .filter(|c| !c.verified)
        .map(|c| (c.envelope.queue, c.envelope.job_id.clone().unwrap_or_default()))
        .collect();
    let exists = queue.jobs_exist(&unconfirmed.iter().map(|(q, id)| (*q, id.as_str())).collect::<Vec<_>>()).await?;
    let mut found = exists.into_iter();
    let (mut confirmed, mut to_push) = (Vec::new(), Vec::new());
    for entry in claimed {
        // The released and never-pushed ones (enqueued_at NULL) are unverified too.
        if !entry.verified && found.next().unwrap_or(false) {
            confirmed.push(entry.id);
        } else {
            to_push.push(entry);
        }
    }
    let mut pushed = 0;
    let mut entries = to_push.into_iter();
    while let Some(entry) = entries.next() {
        let (id, workspace_id) = (entry.id, entry.envelope.workspace_id);
        if let Err(e) = jobs.enqueue_envelope(entry.envelope).await {
            warn!(error = %Report(&e), outbox_id = %id, attempts = entry.relay_attempts, "relay push failed");
            // Redis is down: hand this entry and the rest of the claim back
            // for the next scan instead of failing each in turn.
            outbox::release(db, workspace_id, id).await?;
            for rest in entries {
                outbox::release(db, rest.envelope.workspace_id, rest.id).await?;
            }
            break;
        }
        confirmed.push(id);
        pushed += 1;
    }
    outbox::mark_verified(db, &confirmed).await?;
    Ok(pushed)
}
