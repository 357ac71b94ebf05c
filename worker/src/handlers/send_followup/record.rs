//! Step 3: what the provider said, written by the delivery that still holds
//! the message.

use std::time::Duration;

use frontdesk_jobs::Report;

use frontdesk_store::{
    TenantTx, activity,
    activity::Activity,
    followups::{self, Status},
    inbound, leads,
    messages::{self, SendOutcome},
};
use tracing::{error, info, warn};

use super::{Plan, deliver::Delivered};
use crate::{JobContext, JobError, providers::SendError};

/// Tries the write a few times before giving up: once it is lost, the retry
/// can only call a real send `outcome_unknown`.
const WRITE_ATTEMPTS: u32 = 4;

pub(super) async fn record(
    cx: &JobContext,
    plan: &Plan,
    fence: i64,
    result: Result<Delivered, SendError>,
    last_attempt: bool,
) -> Result<(), JobError> {
    let mut attempt = 1;
    loop {
        let written = async {
            let mut tx = cx.tenant().await?;
            let outcome = write(&mut tx, plan, fence, &result, last_attempt).await?;
            tx.commit().await?;
            Ok::<_, JobError>(outcome)
        }
        .await;
        match written {
            Ok(outcome) => return outcome,
            Err(e) if attempt < WRITE_ATTEMPTS => {
                warn!(followup_id = %plan.followup_id, attempt, error = %Report(&e), "could not record a send outcome; retrying");
                tokio::time::sleep(Duration::from_millis(250) * 2u32.pow(attempt)).await;
                attempt += 1;
            }
            Err(e) => {
                let provider_message_id = result.as_ref().ok().map(|d| d.sent.provider_message_id.as_str());
                error!(followup_id = %plan.followup_id, ?provider_message_id, error = %Report(&e), "send outcome lost");
                return Err(e);
            }
        }
    }
}

/// The outer `Result` is the database; the inner one is what the job returns.
async fn write(
    tx: &mut TenantTx,
    plan: &Plan,
    fence: i64,
    result: &Result<Delivered, SendError>,
    last_attempt: bool,
) -> Result<Result<(), JobError>, JobError> {
    let id = plan.message_id;
    let (outcome, status, reason) = match result {
        Ok(delivered) => {
            let outcome = SendOutcome::Sent {
                provider_message_id: &delivered.sent.provider_message_id,
                sandbox: plan.sandbox,
                body: delivered.body.as_deref(),
            };
            (outcome, Status::Sent, plan.sandbox.then(|| "sandbox".to_owned()))
        }
        Err(SendError::OptedOut(detail)) => {
            (SendOutcome::Failed { error_code: "opted_out" }, Status::Skipped, Some(format!("opted_out: {detail}")))
        }
        Err(SendError::OutsideWindow(detail)) => (
            SendOutcome::Failed { error_code: "outside_window" },
            Status::Failed,
            Some(format!("outside the WhatsApp window: {detail}")),
        ),
        Err(SendError::Permanent(detail)) => {
            (SendOutcome::Failed { error_code: "rejected" }, Status::Failed, Some(detail.clone()))
        }
        Err(SendError::Unknown(detail)) => {
            (SendOutcome::Unknown, Status::Failed, Some(format!("outcome_unknown: {detail}")))
        }
        Err(SendError::Transient { detail, .. }) if last_attempt => {
            (SendOutcome::Failed { error_code: "gave_up" }, Status::Failed, Some(format!("gave up: {detail}")))
        }
        Err(SendError::Transient { detail, retry_after }) => {
            // Certainly not accepted: back to queued for the retry.
            if messages::record_outcome(tx, id, fence, &SendOutcome::Requeue { error_code: "transient" }).await? {
                followups::set_status(tx, plan.followup_id, Status::Enqueued, Some(detail), None).await?;
            }
            return Ok(Err(match retry_after {
                Some(after) => JobError::RetryAfter { reason: detail.clone(), after: *after },
                None => JobError::retryable(detail.clone()),
            }));
        }
    };
    if !messages::record_outcome(tx, id, fence, &outcome).await? {
        // A newer delivery took the message over (and called it
        // outcome_unknown): this late result must not overwrite it.
        warn!(followup_id = %plan.followup_id, fence, "send outcome from a delivery that lost the message; ignored");
        return Ok(Ok(()));
    }
    match result {
        Ok(delivered) => {
            leads::mark_contacted(tx, plan.lead_id).await?;
            // Status callbacks that raced ahead of this write apply now.
            inbound::apply_early_statuses(tx, plan.channel, &delivered.sent.provider_message_id).await?;
            info!(followup_id = %plan.followup_id, channel = plan.channel.as_str(), sandbox = plan.sandbox, "follow-up sent");
        }
        Err(SendError::OptedOut(_)) => {
            leads::opt_out(tx, plan.lead_id, plan.channel, "provider").await?;
        }
        Err(e) => warn!(followup_id = %plan.followup_id, error = %e, "follow-up not sent"),
    }
    followups::set_status(tx, plan.followup_id, status, reason.as_deref(), Some(id)).await?;
    let kind = status.activity_kind();
    let detail = serde_json::json!({
        "followup_id": plan.followup_id,
        "message_id": id,
        "channel": plan.channel.as_str(),
        "reason": reason,
    });
    activity::record(tx, &Activity { kind, lead_id: Some(plan.lead_id), is_security: false, detail }).await?;
    // Giving up after the last attempt fails the job; business outcomes do not.
    Ok(match result {
        Err(SendError::Transient { detail, .. }) => Err(JobError::retryable(detail.clone())),
        _ => Ok(()),
    })
}
