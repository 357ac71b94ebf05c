//! First step for every stored inbound message: mark it handled, stop the
//! lead's follow-up sequences, and hand the lead to classification (one pending classification per lead absorbs
//! a burst of messages).

use frontdesk_jobs::{ClassifyLead, Envelope, ProcessInboundMessage};
use frontdesk_store::{activity, activity::Activity, followups, messages, outbox};

use crate::{JobContext, JobError};

pub async fn handle(job: ProcessInboundMessage, cx: JobContext) -> Result<(), JobError> {
    let mut tx = cx.tenant().await?;
    let message = messages::find(&mut tx, job.message_id)
        .await?
        .ok_or_else(|| JobError::permanent("message vanished after the guard saw it"))?;
    let mut triggered = Vec::new();
    // A redelivered job finds the message already processed and does nothing.
    if messages::mark_processed(&mut tx, message.id).await? {
        let detail = serde_json::json!({ "message_id": message.id, "channel": message.channel });
        activity::record(
            &mut tx,
            &Activity { kind: "message_processed", lead_id: Some(message.lead_id), is_security: false, detail },
        )
        .await?;
        // A reply stops the lead's sequences (the send job checks again).
        followups::cancel_sequences(&mut tx, message.lead_id, "lead_replied").await?;
        let classify = ClassifyLead { workspace_id: job.workspace_id, lead_id: message.lead_id };
        let envelope = Envelope::of(&classify).map_err(|e| JobError::Permanent {
            reason: "cannot encode the classify job".into(),
            cause: Some(e.into()),
        })?;
        let coalesce = format!("classify-lead:{}", message.lead_id);
        triggered.extend(outbox::add(&mut tx, &envelope, Some(&coalesce)).await?);
    }
    tx.commit().await?;
    cx.push_committed(triggered).await;
    Ok(())
}
