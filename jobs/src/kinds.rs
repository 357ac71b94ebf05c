//! One struct per job kind. Jobs carry ids only: the worker loads the rest
//! inside the job's tenant transaction, so a stale or forged payload can never
//! carry another workspace's data.

use serde::{Serialize, de::DeserializeOwned};

use crate::ids::*;

/// Queue names are explicit constants, never `type_name`, so renaming a Rust
/// type never silently moves a queue's Redis keys.
pub mod queue {
    pub const PROCESS_INBOUND: &str = "process-inbound";
    pub const CLASSIFY_LEAD: &str = "classify-lead";
    pub const SEND_FOLLOWUP: &str = "send-followup";
    pub const SYNC_CALENDAR: &str = "sync-calendar";
    pub const APPLY_BILLING: &str = "apply-billing";
    pub const RECONCILE_SEND: &str = "reconcile-send";

    pub const ALL: &[&str] =
        &[PROCESS_INBOUND, CLASSIFY_LEAD, SEND_FOLLOWUP, SYNC_CALENDAR, APPLY_BILLING, RECONCILE_SEND];
}

/// What a job kind may do to the outside world. The worker's assertion layer
/// checks it against the workspace's billing state before the handler runs
/// (a canceled studio may still classify, but not message anyone).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capability {
    /// Touches only our own database.
    Internal,
    /// Sends something to a customer of the studio.
    OutboundMessaging,
    /// Calls a paid or rate-limited third-party API on the studio's behalf.
    ExternalSync,
    /// Records what the billing provider says. Runs whatever the workspace's
    /// state: a suspended studio that pays must come back paid.
    Billing,
}

/// An entity a job names. The assertion layer proves each one lives in the
/// job's workspace before the handler runs; a job naming a foreign entity is
/// failed permanently as a security event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntityRef {
    Lead(LeadId),
    Message(MessageId),
    Followup(FollowupId),
    Integration(IntegrationId),
    WebhookEvent(WebhookEventId),
}

pub trait Job: Serialize + DeserializeOwned + Clone + Send + Sync + Unpin + 'static {
    const QUEUE: &'static str;
    /// Attempts before the job is dead-lettered (the queue backend applies
    /// exponential backoff with jitter between them).
    const MAX_ATTEMPTS: u32;
    const CAPABILITY: Capability;

    fn workspace_id(&self) -> WorkspaceId;

    /// Entities that must exist inside `workspace_id` for the job to run.
    fn references(&self) -> Vec<EntityRef>;

    /// Jobs with the same key enqueued while one is pending collapse into one.
    fn dedupe_key(&self) -> Option<String> {
        None
    }
}

macro_rules! job_kind {
    (
        $(#[$doc:meta])*
        $name:ident { $($field:ident : $ty:ty),* $(,)? }
        queue = $queue:expr, attempts = $attempts:expr, capability = $cap:expr,
        references = |$this:ident| $refs:expr
    ) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            pub workspace_id: WorkspaceId,
            $(pub $field: $ty,)*
        }

        impl Job for $name {
            const QUEUE: &'static str = $queue;
            const MAX_ATTEMPTS: u32 = $attempts;
            const CAPABILITY: Capability = $cap;

            fn workspace_id(&self) -> WorkspaceId {
                self.workspace_id
            }

            fn references(&self) -> Vec<EntityRef> {
                let $this = self;
                $refs
            }
        }
    };
}

job_kind!(
    /// A stored inbound message (SMS, WhatsApp, email) to act on.
    ProcessInboundMessage { message_id: MessageId }
    queue = queue::PROCESS_INBOUND, attempts = 10, capability = Capability::Internal,
    references = |j| vec![EntityRef::Message(j.message_id)]
);

job_kind!(
    /// Classify a lead from its recent conversation.
    ClassifyLead { lead_id: LeadId }
    queue = queue::CLASSIFY_LEAD, attempts = 8, capability = Capability::Internal,
    references = |j| vec![EntityRef::Lead(j.lead_id)]
);

job_kind!(
    /// Send one follow-up (its channel, body and lead live on the row).
    SendFollowup { followup_id: FollowupId }
    queue = queue::SEND_FOLLOWUP, attempts = 8, capability = Capability::OutboundMessaging,
    references = |j| vec![EntityRef::Followup(j.followup_id)]
);

job_kind!(
    /// Find out at the provider whether a follow-up's send, left with an
    /// unknown outcome by a delivery that stopped mid-call, was accepted.
    ReconcileSend { followup_id: FollowupId }
    queue = queue::RECONCILE_SEND, attempts = 12, capability = Capability::ExternalSync,
    references = |j| vec![EntityRef::Followup(j.followup_id)]
);

job_kind!(
    /// Incremental sync of one Google Calendar integration.
    SyncCalendar { integration_id: IntegrationId }
    queue = queue::SYNC_CALENDAR, attempts = 6, capability = Capability::ExternalSync,
    references = |j| vec![EntityRef::Integration(j.integration_id)]
);

job_kind!(
    /// Apply a verified Stripe event to the workspace's subscription.
    ApplyBillingEvent { webhook_event_id: WebhookEventId }
    queue = queue::APPLY_BILLING, attempts = 10, capability = Capability::Billing,
    references = |j| vec![EntityRef::WebhookEvent(j.webhook_event_id)]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_without_workspace_id_does_not_deserialize() {
        let lead = LeadId::new();
        let err = serde_json::from_value::<ClassifyLead>(serde_json::json!({ "lead_id": lead })).unwrap_err();
        assert!(err.to_string().contains("workspace_id"), "{err}");
    }

    #[test]
    fn a_job_with_an_extra_tenant_field_does_not_deserialize() {
        // A payload smuggling a second workspace must not be silently accepted.
        let err = serde_json::from_value::<ClassifyLead>(serde_json::json!({
            "workspace_id": WorkspaceId::new(),
            "lead_id": LeadId::new(),
            "other_workspace_id": WorkspaceId::new(),
        }))
        .unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn queue_names_are_unique() {
        let mut names = queue::ALL.to_vec();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), queue::ALL.len());
    }
}
