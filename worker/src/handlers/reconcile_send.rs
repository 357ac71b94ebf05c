//! Asks the provider whether a send left `outcome_unknown` went out.
//!
//! A delivery that stopped between calling the provider and recording its
//! answer leaves the send flagged for staff. Status callbacks usually
//! resolve it first (see `frontdesk_store::unknown_sends`); this job, run
//! a little later, asks where the provider can be asked: Twilio's message
//! list, filtered by recipient and sender, matched on body and time. What
//! no callback and no lookup explains within [`GIVE_UP_AFTER`] is the real
//! residue: it stays flagged, and the studio's activity log says so once.

use std::time::Duration;

use chrono::Utc;
use frontdesk_jobs::ReconcileSend;
use frontdesk_store::{
    activity,
    activity::Activity,
    followups,
    integrations::{self, Provider},
    leads,
    messages::{self, Channel},
    unknown_sends,
};

use super::send_followup::SendDeps;
use crate::{JobContext, JobError, providers::SendError, providers::twilio::TwilioAccount};

/// After this long without a word from the provider, a send stays unknown.
const GIVE_UP_AFTER: chrono::Duration = chrono::Duration::minutes(10);
/// Between lookups while Twilio's list does not show the message yet.
const ASK_AGAIN: Duration = Duration::from_secs(60);
/// A provider's clock and ours may differ a little.
const CLOCK_SLACK: chrono::Duration = chrono::Duration::seconds(60);

pub async fn handle(job: ReconcileSend, cx: JobContext, deps: SendDeps) -> Result<(), JobError> {
    let mut tx = cx.tenant().await?;
    let key = followups::message_key(job.followup_id);
    let Some(outbound) = messages::find_outbound(&mut tx, &key).await? else { return Ok(()) };
    // Resolved meanwhile (a callback, a reply), or never unknown.
    let Some(send) = messages::unknown_send(&mut tx, outbound.id).await? else { return Ok(()) };
    let sent_at = send.sent_at.unwrap_or_else(Utc::now);
    let lead = leads::find(&mut tx, send.lead_id).await?.ok_or_else(|| JobError::permanent("lead vanished"))?;
    let (Some(to), Some(integration)) =
        (lead.phone.clone(), integrations::find_by_provider(&mut tx, Provider::Twilio).await?)
    else {
        return Ok(());
    };
    if send.channel != Channel::Sms.as_str() || integration.sandbox {
        return Ok(());
    }
    let token = integrations::secret(&mut tx, &deps.vault, integration.id).await?;
    let account = TwilioAccount::from_integration(&integration, token).map_err(JobError::permanent)?;
    tx.commit().await?; // no transaction across the provider call

    match deps.twilio.find_sent(&account, &to, &send.body, sent_at - CLOCK_SLACK).await {
        Ok(Some(found)) => {
            let mut tx = cx.tenant().await?;
            let by = "Twilio's message list";
            if unknown_sends::resolve(&mut tx, job.followup_id, send.id, Channel::Sms, &found.sid, by).await? {
                messages::advance_status(&mut tx, Channel::Sms, &found.sid, &found.status, None).await?;
            }
            tx.commit().await?;
            Ok(())
        }
        Ok(None) if Utc::now() - sent_at < GIVE_UP_AFTER => {
            Err(JobError::RetryAfter { reason: "not in Twilio's message list yet".into(), after: ASK_AGAIN })
        }
        Ok(None) => {
            let mut tx = cx.tenant().await?;
            let detail = serde_json::json!({
                "followup_id": job.followup_id,
                "message_id": send.id,
                "reason": "no status callback and no record at Twilio: check with the lead before sending again",
            });
            let entry =
                Activity { kind: "followup_needs_staff", lead_id: Some(send.lead_id), is_security: false, detail };
            activity::record(&mut tx, &entry).await?;
            tx.commit().await?;
            Ok(())
        }
        Err(SendError::Transient { detail, retry_after }) => {
            Err(JobError::RetryAfter { reason: detail, after: retry_after.unwrap_or(ASK_AGAIN) })
        }
        Err(e) => Err(JobError::Retryable { reason: "Twilio message lookup failed".into(), cause: Some(Box::new(e)) }),
    }
}
