//! First step for every stored inbound message: mark it handled and log it.
//! (Classification and follow-ups hang off this step in later issues.)

use frontdesk_jobs::ProcessInboundMessage;
use frontdesk_store::{activity, activity::Activity, leads, messages};

use crate::{JobContext, JobError};

pub async fn handle(job: ProcessInboundMessage, cx: JobContext) -> Result<(), JobError> {
    let mut tx = cx.tenant().await?;
    let message = messages::find(&mut tx, job.message_id)
        .await?
        .ok_or_else(|| JobError::Permanent("message vanished after the guard saw it".into()))?;
    // A redelivered job finds the message already processed and does nothing.
    if messages::mark_processed(&mut tx, message.id).await? {
        leads::touch_contacted(&mut tx, message.lead_id).await?;
        activity::record(
            &mut tx,
            &Activity {
                kind: "message_received",
                lead_id: Some(message.lead_id),
                is_security: false,
                detail: serde_json::json!({ "message_id": message.id, "channel": message.channel }),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
