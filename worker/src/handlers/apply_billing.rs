//! Applies a verified Stripe event to the workspace's subscription. The
//! billing state then gates which jobs the workspace may run (see
//! `WorkspaceState::permits`).

use chrono::DateTime;
use frontdesk_jobs::ApplyBillingEvent;
use frontdesk_store::{
    activity::{self, Activity},
    webhook_events,
    workspaces::{self, BillingEvent, SubscriptionChange},
};

use crate::{JobContext, JobError};

const SUBSCRIPTION_STATUSES: &[&str] =
    &["trialing", "active", "past_due", "canceled", "unpaid", "incomplete", "incomplete_expired", "paused"];

/// What a subscription status we do not know counts as. Stripe adds
/// statuses; until we know what one means, the studio is treated as not
/// paying (outbound work stops, bookkeeping goes on) rather than left
/// sending for a subscription that may be over.
const UNKNOWN_STATUS_MEANS: &str = "unpaid";

pub async fn handle(job: ApplyBillingEvent, cx: JobContext) -> Result<(), JobError> {
    let mut tx = cx.tenant().await?;
    let event = webhook_events::find(&mut tx, job.webhook_event_id)
        .await?
        .ok_or_else(|| JobError::permanent("billing event vanished"))?;
    if event.processed {
        return Ok(());
    }
    let object = &event.payload["data"]["object"];
    // The status as Stripe sent it, when it is not one we know.
    let mut unknown_status = None;
    let mut subscription_status = || match object["status"].as_str() {
        Some(known) if SUBSCRIPTION_STATUSES.contains(&known) => known,
        other => {
            unknown_status = Some(other.map_or_else(|| object["status"].to_string(), str::to_owned));
            UNKNOWN_STATUS_MEANS
        }
    };
    let (status, kind) = match event.kind.as_str() {
        "customer.subscription.created" => (subscription_status(), BillingEvent::Subscription { rank: 1 }),
        "customer.subscription.updated" => (subscription_status(), BillingEvent::Subscription { rank: 2 }),
        "customer.subscription.deleted" => ("canceled", BillingEvent::Subscription { rank: 3 }),
        // A paid invoice recovers a subscription that was behind; it never
        // revives a canceled one (only subscription events decide that).
        "invoice.paid" => ("active", BillingEvent::Invoice { from: &["trialing", "past_due", "unpaid", "incomplete"] }),
        "invoice.payment_failed" => ("past_due", BillingEvent::Invoice { from: &["trialing", "active"] }),
        other => return Err(JobError::permanent(format!("unhandled billing event {other}"))),
    };
    let is_subscription = event.kind.starts_with("customer.subscription.");
    let created = event.provider_created_at.ok_or_else(|| JobError::permanent("billing event without created"))?;
    let change = SubscriptionChange {
        status,
        event: kind,
        stripe_customer_id: object["customer"].as_str(),
        stripe_subscription_id: if is_subscription { object["id"].as_str() } else { object["subscription"].as_str() },
        current_period_end: object["current_period_end"].as_i64().and_then(|t| DateTime::from_timestamp(t, 0)),
        event_created_at: created,
    };
    let applied = workspaces::apply_subscription_change(&mut tx, &change).await?;
    webhook_events::mark_processed(&mut tx, event.id).await?;
    let detail = serde_json::json!({ "event": event.kind, "status": status, "applied": applied });
    activity::record(&mut tx, &Activity { kind: "billing_event", lead_id: None, is_security: false, detail }).await?;
    if let Some(received) = &unknown_status {
        let detail = serde_json::json!({
            "provider": "stripe",
            "event_id": event.provider_event_id,
            "field": "status",
            "value": received,
            "action": format!("treated as {UNKNOWN_STATUS_MEANS}: outbound messages and syncs stop until Stripe sends a status we know"),
        });
        let entry = Activity { kind: "event_not_applied", lead_id: None, is_security: false, detail };
        activity::record(&mut tx, &entry).await?;
    }
    tx.commit().await?;
    if let Some(received) = unknown_status {
        cx.metrics.not_applied();
        tracing::warn!(
            workspace_id = %cx.workspace.id, event_id = %event.provider_event_id, received_status = %received,
            applied_as = UNKNOWN_STATUS_MEANS, "unknown Stripe subscription status; applied as the safest state"
        );
    }
    Ok(())
}
