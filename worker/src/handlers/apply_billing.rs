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

pub async fn handle(job: ApplyBillingEvent, cx: JobContext) -> Result<(), JobError> {
    let mut tx = cx.tenant().await?;
    let event = webhook_events::find(&mut tx, job.webhook_event_id)
        .await?
        .ok_or_else(|| JobError::permanent("billing event vanished"))?;
    if event.processed {
        return Ok(());
    }
    let object = &event.payload["data"]["object"];
    let subscription_status = || {
        object["status"].as_str().filter(|s| SUBSCRIPTION_STATUSES.contains(s)).ok_or_else(|| {
            JobError::permanent(format!("subscription event without a known status: {:?}", object["status"]))
        })
    };
    let (status, kind) = match event.kind.as_str() {
        "customer.subscription.created" => (subscription_status()?, BillingEvent::Subscription { rank: 1 }),
        "customer.subscription.updated" => (subscription_status()?, BillingEvent::Subscription { rank: 2 }),
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
    tx.commit().await?;
    Ok(())
}
