//! What each verified, routed provider delivery writes to a workspace's
//! data. Every function runs inside the caller's tenant transaction and
//! writes, in that one transaction: the received event (the dedupe), the
//! domain rows, the activity log and the outbox entries for the jobs it
//! triggers. The decisions (is this an opt-out, was the call missed, which
//! channel gets the text-back) are `frontdesk_domain`'s; this module only
//! sequences the queries around them.

use chrono::{DateTime, Utc};
use frontdesk_domain::{
    Phone, inbound_text, missed_call,
    opt_out::{self, Keyword},
};
use frontdesk_jobs::{
    ApplyBillingEvent, Envelope, FollowupId, IntegrationId, Job, OutboxId, ProcessInboundMessage, SyncCalendar,
};

use crate::{
    StoreError, TenantTx, activity,
    activity::Activity,
    call_logs::{self, CallUpdate},
    followups::{self, NewFollowup},
    integrations::{self, Provider},
    leads,
    messages::{self, Channel, NewInbound},
    outbox, unknown_sends,
    webhook_events::{self, NewEvent},
};

/// Jobs to push once the transaction has committed.
pub type Triggered = Vec<(OutboxId, Envelope)>;

#[derive(Debug)]
pub enum Outcome {
    /// Already received: acknowledged, nothing changed.
    Duplicate,
    Accepted(Triggered),
}

/// Who sent an inbound message.
#[derive(Clone, Debug)]
pub enum Sender<'a> {
    Phone(&'a Phone),
    Email(&'a str),
}

#[derive(Clone, Debug)]
pub struct InboundMessage<'a> {
    pub provider: &'a str,
    /// MessageSid, wamid or Mailgun token: the provider's id for this delivery.
    pub event_id: &'a str,
    pub channel: Channel,
    pub from: Sender<'a>,
    pub name: Option<&'a str>,
    pub body: &'a str,
    pub subject: Option<&'a str>,
    /// Email only: the `Message-ID` header, without brackets.
    pub rfc_message_id: Option<&'a str>,
    pub payload: &'a serde_json::Value,
    /// A message type we keep only as a placeholder body.
    pub unrecognised: Option<Unrecognised<'a>>,
    /// The body was already cut before it got here (a large email is read
    /// only up to its cap).
    pub body_truncated: bool,
    /// Email: the `Message-ID` this message answers (`In-Reply-To`).
    pub replying_to: Option<&'a str>,
}

pub async fn message(tx: &mut TenantTx, m: &InboundMessage<'_>) -> Result<Outcome, StoreError> {
    let event = NewEvent {
        provider: m.provider,
        provider_event_id: m.event_id,
        kind: "message",
        payload: m.payload,
        provider_created_at: None,
    };
    if webhook_events::record(tx, &event).await?.is_none() {
        return Ok(Outcome::Duplicate);
    }
    let source = m.channel.as_str();
    let lead_id = match m.from {
        Sender::Phone(phone) => leads::upsert_by_phone(tx, phone, m.name, source).await?,
        Sender::Email(email) => leads::upsert_by_email(tx, email, m.name, source).await?,
    };
    let (body, cut) = inbound_text::cap(m.body, inbound_text::stored_chars(m.channel));
    let message_id = messages::insert_inbound(
        tx,
        &NewInbound {
            lead_id,
            channel: m.channel,
            body: body.to_owned(),
            provider_message_id: Some(m.event_id.to_owned()),
            subject: m.subject.map(|s| inbound_text::cap(s, inbound_text::FIELD_CHARS).0.to_owned()),
            rfc_message_id: m.rfc_message_id.map(str::to_owned),
            body_truncated: cut || m.body_truncated,
        },
    )
    .await?;
    leads::record_inbound(tx, lead_id, m.channel == Channel::Whatsapp).await?;
    if let Some(ours) = m.replying_to {
        // A reply to one of our emails proves it arrived, if we did not know.
        unknown_sends::replied_to(tx, ours).await?;
    }
    if let Some(u) = &m.unrecognised {
        note_unrecognised(tx, m.provider, m.event_id, Some(lead_id), u).await?;
    }

    if let Some(keyword) = opt_out::keyword(m.channel, m.body, m.subject) {
        let opted_out = keyword == Keyword::OptOut;
        leads::set_opted_out(tx, lead_id, m.channel, opted_out).await?;
        let kind = if opted_out { "opted_out" } else { "opted_in" };
        let detail =
            serde_json::json!({ "channel": m.channel.as_str(), "message_id": message_id, "keyword": m.body.trim() });
        activity::record(tx, &Activity { kind, lead_id: Some(lead_id), is_security: false, detail }).await?;
        // A keyword is a compliance instruction, not a conversation: nothing to classify.
        return Ok(Outcome::Accepted(Vec::new()));
    }
    let detail = serde_json::json!({ "channel": m.channel.as_str(), "message_id": message_id });
    activity::record(tx, &Activity { kind: "inbound_message", lead_id: Some(lead_id), is_security: false, detail })
        .await?;
    let job = ProcessInboundMessage { workspace_id: tx.workspace_id(), message_id };
    Ok(Outcome::Accepted(push(tx, &job, None).await?))
}

#[derive(Clone, Debug)]
pub struct CallStatus<'a> {
    pub call_sid: &'a str,
    pub from: &'a Phone,
    pub to: &'a Phone,
    pub status: &'a str,
    /// Present on `<Dial action>` callbacks.
    pub dial_status: Option<&'a str>,
    pub payload: &'a serde_json::Value,
    /// A call status we do not know: the call is logged with it, and no
    /// missed-call text-back is decided from it.
    pub unrecognised: Option<Unrecognised<'a>>,
}

pub async fn call(tx: &mut TenantTx, c: &CallStatus<'_>) -> Result<Outcome, StoreError> {
    // One call produces several callbacks; each (status, dial status) is one event.
    let event_id = format!("{}:{}:{}", c.call_sid, c.status, c.dial_status.unwrap_or(""));
    let event = NewEvent {
        provider: "twilio",
        provider_event_id: &event_id,
        kind: "call",
        payload: c.payload,
        provider_created_at: None,
    };
    if webhook_events::record(tx, &event).await?.is_none() {
        return Ok(Outcome::Duplicate);
    }
    let lead_id = leads::upsert_by_phone(tx, c.from, None, "call").await?;
    let status = c.dial_status.unwrap_or(c.status);
    let update = CallUpdate { lead_id, call_sid: c.call_sid, status, from: c.from.as_str(), to: c.to.as_str() };
    call_logs::upsert(tx, &update).await?;
    if let Some(u) = &c.unrecognised {
        note_unrecognised(tx, "twilio", &event_id, Some(lead_id), u).await?;
        return Ok(Outcome::Accepted(Vec::new()));
    }
    if !missed_call::is_missed(c.status, c.dial_status) {
        return Ok(Outcome::Accepted(Vec::new()));
    }
    // Serialize missed calls per lead so two racing callbacks cannot both
    // decide "no text-back yet".
    sqlx::query!("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", lead_id.to_string())
        .fetch_one(tx.conn())
        .await?;
    let detail = serde_json::json!({ "call_sid": c.call_sid, "status": status });
    activity::record(tx, &Activity { kind: "missed_call", lead_id: Some(lead_id), is_security: false, detail }).await?;
    if followups::exists_recent(tx, lead_id, followups::MISSED_CALL, missed_call::WINDOW).await? {
        return Ok(Outcome::Accepted(Vec::new()));
    }
    let lead = leads::find(tx, lead_id)
        .await?
        .ok_or(StoreError::NotFound { entity: "lead", workspace_id: tx.workspace_id() })?;
    let in_whatsapp_window = lead.in_whatsapp_window(Utc::now());
    let caller = missed_call::Caller {
        in_whatsapp_window,
        // Only asked when it can matter (one query fewer per missed call).
        studio_sends_whatsapp: in_whatsapp_window
            && integrations::find_by_provider(tx, Provider::Whatsapp).await?.is_some(),
        opted_out_sms: lead.opted_out_sms,
        opted_out_whatsapp: lead.opted_out_whatsapp,
    };
    let Some(channel) = missed_call::text_back_channel(caller) else {
        return Ok(Outcome::Accepted(Vec::new()));
    };
    let new = NewFollowup {
        lead_id,
        kind: followups::MISSED_CALL,
        channel,
        template: missed_call::TEXT,
        variants: missed_call::TEXTS,
        subject: None,
        due_at: Utc::now(),
    };
    Ok(Outcome::Accepted(followups::create_enqueued(tx, &new).await?))
}

#[derive(Clone, Debug)]
pub struct StatusUpdate<'a> {
    pub provider: &'a str,
    pub channel: Channel,
    pub provider_message_id: &'a str,
    pub status: &'a str,
    pub error_code: Option<&'a str>,
    pub payload: &'a serde_json::Value,
    /// A status we do not know: stored, never applied to the message.
    pub unrecognised: Option<Unrecognised<'a>>,
    /// The follow-up the send was for, when the callback carried our signed
    /// reference (already verified by the caller).
    pub followup: Option<FollowupId>,
}

pub async fn message_status(tx: &mut TenantTx, s: &StatusUpdate<'_>) -> Result<Outcome, StoreError> {
    let event_id = format!("{}:{}", s.provider_message_id, s.status);
    let event = NewEvent {
        provider: s.provider,
        provider_event_id: &event_id,
        kind: "status",
        payload: s.payload,
        provider_created_at: None,
    };
    if webhook_events::record(tx, &event).await?.is_none() {
        return Ok(Outcome::Duplicate);
    }
    if let Some(followup) = s.followup {
        // Before the status is applied: a send we had lost track of is
        // resolved first, and the statuses stored for it (this one
        // included) then apply in order.
        unknown_sends::heard(tx, followup, s.channel, s.provider_message_id, "the provider's status callback").await?;
    }
    match &s.unrecognised {
        Some(u) => note_unrecognised(tx, s.provider, &event_id, None, u).await?,
        None => apply_status(tx, s.channel, s.provider_message_id, s.status, s.error_code).await?,
    }
    Ok(Outcome::Accepted(Vec::new()))
}

async fn apply_status(
    tx: &mut TenantTx,
    channel: Channel,
    provider_message_id: &str,
    status: &str,
    error_code: Option<&str>,
) -> Result<(), StoreError> {
    messages::advance_status(tx, channel, provider_message_id, status, error_code).await?;
    if channel == Channel::Whatsapp && status == "failed" && error_code == Some(WHATSAPP_OUTSIDE_WINDOW) {
        // Meta may report 131047 after accepting the send: the follow-up did not reach the lead.
        let reason = "outside the WhatsApp 24-hour window (reported by Meta after sending)";
        followups::fail_sent(tx, channel, provider_message_id, reason).await?;
    }
    Ok(())
}

/// Meta's "re-engagement message" error: free-form text outside the 24-hour window.
const WHATSAPP_OUTSIDE_WINDOW: &str = "131047";

/// Applies status callbacks that arrived before the send recorded the
/// provider's id (Twilio can call back before its own API reply reaches
/// us): they were stored as events and matched no message then.
pub async fn apply_early_statuses(
    tx: &mut TenantTx,
    channel: Channel,
    provider_message_id: &str,
) -> Result<(), StoreError> {
    // The provider whose status callbacks report on this channel's messages.
    let provider = followups::sending_provider(channel).as_str();
    let prefix = format!("{provider_message_id}:");
    for (event_id, payload) in webhook_events::with_id_prefix(tx, provider, "status", &prefix).await? {
        let status = &event_id[prefix.len()..];
        // Twilio's form field, or Meta's first error.
        let code = match &payload["ErrorCode"] {
            serde_json::Value::String(code) => Some(code.clone()),
            _ => payload["errors"][0]["code"].as_i64().map(|c| c.to_string()),
        };
        apply_status(tx, channel, provider_message_id, status, code.as_deref()).await?;
    }
    Ok(())
}

/// Part of a verified, routed delivery our code does not know (a status,
/// a message type): the delivery is still stored with its raw payload (so a
/// redelivery is a duplicate), applied as far as it can be, and shown in the
/// studio's activity log; the caller logs it at WARN and counts it. Nothing
/// accepted is dropped without a trace.
#[derive(Clone, Copy, Debug)]
pub struct Unrecognised<'a> {
    /// The field and the value we did not recognise.
    pub field: &'a str,
    pub value: &'a str,
    /// What we did instead, in words the studio can read.
    pub action: &'a str,
}

async fn note_unrecognised(
    tx: &mut TenantTx,
    provider: &str,
    event_id: &str,
    lead_id: Option<frontdesk_jobs::LeadId>,
    u: &Unrecognised<'_>,
) -> Result<(), StoreError> {
    let detail = serde_json::json!({
        "provider": provider,
        "event_id": event_id,
        "field": u.field,
        "value": inbound_text::cap(u.value, 200).0,
        "action": u.action,
    });
    activity::record(tx, &Activity { kind: "event_not_applied", lead_id, is_security: false, detail }).await
}

#[derive(Clone, Debug)]
pub struct BillingEvent<'a> {
    pub event_id: &'a str,
    pub kind: &'a str,
    pub created: DateTime<Utc>,
    pub payload: &'a serde_json::Value,
}

pub async fn billing(tx: &mut TenantTx, b: &BillingEvent<'_>) -> Result<Outcome, StoreError> {
    let event = NewEvent {
        provider: "stripe",
        provider_event_id: b.event_id,
        kind: b.kind,
        payload: b.payload,
        provider_created_at: Some(b.created),
    };
    let Some(webhook_event_id) = webhook_events::record(tx, &event).await? else {
        return Ok(Outcome::Duplicate);
    };
    let job = ApplyBillingEvent { workspace_id: tx.workspace_id(), webhook_event_id };
    Ok(Outcome::Accepted(push(tx, &job, None).await?))
}

#[derive(Clone, Debug)]
pub struct CalendarPush<'a> {
    pub integration_id: IntegrationId,
    pub channel_id: &'a str,
    pub message_number: &'a str,
    pub resource_state: &'a str,
}

pub async fn calendar_push(tx: &mut TenantTx, p: &CalendarPush<'_>) -> Result<Outcome, StoreError> {
    let event_id = format!("{}:{}", p.channel_id, p.message_number);
    let payload = serde_json::json!({ "channel_id": p.channel_id, "message_number": p.message_number, "resource_state": p.resource_state });
    let event = NewEvent {
        provider: "google_calendar",
        provider_event_id: &event_id,
        kind: p.resource_state,
        payload: &payload,
        provider_created_at: None,
    };
    if webhook_events::record(tx, &event).await?.is_none() {
        return Ok(Outcome::Duplicate);
    }
    // `sync` only confirms a new channel; nothing changed yet.
    if p.resource_state == "sync" {
        return Ok(Outcome::Accepted(Vec::new()));
    }
    let job = SyncCalendar { workspace_id: tx.workspace_id(), integration_id: p.integration_id };
    // One pending sync per calendar absorbs a burst of notifications.
    let coalesce = format!("sync-calendar:{}", p.integration_id);
    Ok(Outcome::Accepted(push(tx, &job, Some(&coalesce)).await?))
}

async fn push<J: Job>(tx: &mut TenantTx, job: &J, coalesce: Option<&str>) -> Result<Triggered, StoreError> {
    let envelope = Envelope::of(job).map_err(|e| StoreError::Invalid(frontdesk_jobs::Report(&e).to_string()))?;
    Ok(outbox::add(tx, &envelope, coalesce).await?.into_iter().collect())
}
