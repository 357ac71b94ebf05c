//! Google Calendar sync. Until the sync itself exists, a push for a
//! connected calendar must not leave a job in Redis forever: the job says
//! so in the studio's activity log (once per calendar per day, so a busy
//! channel does not flood it) and finishes.

use frontdesk_jobs::SyncCalendar;
use frontdesk_store::{activity, activity::Activity};

use crate::{JobContext, JobError};

pub async fn handle(job: SyncCalendar, cx: JobContext) -> Result<(), JobError> {
    let mut tx = cx.tenant().await?;
    let detail = serde_json::json!({ "integration_id": job.integration_id, "reason": "calendar sync not configured" });
    if !activity::exists_today(&mut tx, "calendar_sync_skipped", &detail).await? {
        let entry = Activity { kind: "calendar_sync_skipped", lead_id: None, is_security: false, detail };
        activity::record(&mut tx, &entry).await?;
    }
    tx.commit().await?;
    tracing::info!(integration_id = %job.integration_id, "calendar sync not configured; push acknowledged");
    Ok(())
}
