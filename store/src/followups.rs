//! Follow-ups: one row per intended outbound message, with its due time.
//!
//! A follow-up moves `scheduled → enqueued → sending → sent`, or ends
//! `skipped` (opted out, no address), `canceled` (the lead replied or
//! booked) or `failed`. The send job may put it back to `scheduled` with a
//! later `due_at` (quiet hours, frequency cap); the scheduler enqueues it
//! again then.

use std::time::Duration;

use chrono::{DateTime, Utc};
use frontdesk_jobs::{Envelope, FollowupId, LeadId, OutboxId, RateLimit, SendFollowup, WorkspaceId};

use crate::{
    Db, StoreError, TenantTx,
    database::interval,
    integrations::{self, Provider},
    messages::Channel,
    outbox,
};

/// The kind of the text-back a missed call gets. It answers something the
/// lead just did, so its send is urgent (see [`RateLimit::urgent`]).
pub const MISSED_CALL: &str = "missed_call";

/// The provider limit a send of a follow-up of `kind` counts against.
fn limit_for(kind: &str, limit: Option<RateLimit>) -> Option<RateLimit> {
    if kind == MISSED_CALL { limit.map(RateLimit::urgent) } else { limit }
}

#[derive(Clone, Debug)]
pub struct NewFollowup<'a> {
    pub lead_id: LeadId,
    pub kind: &'a str,
    pub channel: Channel,
    pub template: &'a str,
    /// Per-language versions of `template`, as (ISO 639-1 code, template);
    /// the send job picks one (`frontdesk_domain::reply_language`).
    pub variants: &'a [(&'a str, &'a str)],
    /// Email only.
    pub subject: Option<&'a str>,
    pub due_at: DateTime<Utc>,
}

/// `variants` as the `template_variants` column stores them.
fn variants_json(variants: &[(&str, &str)]) -> serde_json::Value {
    serde_json::Value::Object(
        variants.iter().map(|(language, template)| ((*language).to_owned(), (*template).into())).collect(),
    )
}

/// Creates a follow-up to send now: `enqueued`, with the outbox entry that
/// sends it (rate-limited per provider sender, like scheduled ones).
pub async fn create_enqueued(
    tx: &mut TenantTx,
    new: &NewFollowup<'_>,
) -> Result<Vec<(OutboxId, Envelope)>, StoreError> {
    let ws = tx.workspace_id();
    let id = FollowupId::new();
    sqlx::query!(
        "INSERT INTO followups
            (workspace_id, id, lead_id, kind, channel, template, template_variants, subject, due_at, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'enqueued')",
        ws as WorkspaceId,
        id as FollowupId,
        new.lead_id as LeadId,
        new.kind,
        new.channel.as_str(),
        new.template,
        variants_json(new.variants),
        new.subject,
        new.due_at
    )
    .execute(tx.conn())
    .await?;
    let limit = limit_for(new.kind, sender_rate_limit(tx, new.channel).await?);
    add_send(tx, id, limit).await
}

/// Whether the lead got a follow-up of `kind` created within `window`.
pub async fn exists_recent(
    tx: &mut TenantTx,
    lead_id: LeadId,
    kind: &str,
    window: std::time::Duration,
) -> Result<bool, StoreError> {
    let ws = tx.workspace_id();
    let since = Utc::now() - chrono::Duration::from_std(window).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let found = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM followups
                          WHERE workspace_id = $1 AND lead_id = $2 AND kind = $3 AND created_at > $4) AS "found!""#,
        ws as WorkspaceId,
        lead_id as LeadId,
        kind,
        since
    )
    .fetch_one(tx.conn())
    .await?;
    Ok(found)
}

/// A sequence step waiting for its time (the scheduler enqueues it when due).
/// `None` when this lead already has this step: a sequence runs once per lead.
pub async fn schedule(
    tx: &mut TenantTx,
    new: &NewFollowup<'_>,
    rule_id: frontdesk_jobs::AiRuleId,
    step: i32,
) -> Result<Option<FollowupId>, StoreError> {
    let ws = tx.workspace_id();
    let id = FollowupId::new();
    let inserted = sqlx::query!(
        "INSERT INTO followups
            (workspace_id, id, lead_id, rule_id, step, kind, channel, template, template_variants, subject, due_at,
             status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'scheduled')
         ON CONFLICT (workspace_id, lead_id, rule_id, step) WHERE rule_id IS NOT NULL AND kind = 'sequence'
         DO NOTHING",
        ws as WorkspaceId,
        id as FollowupId,
        new.lead_id as LeadId,
        rule_id as frontdesk_jobs::AiRuleId,
        step,
        new.kind,
        new.channel.as_str(),
        new.template,
        variants_json(new.variants),
        new.subject,
        new.due_at
    )
    .execute(tx.conn())
    .await?;
    Ok((inserted.rows_affected() == 1).then_some(id))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Scheduled,
    Enqueued,
    Sending,
    Sent,
    Skipped,
    Canceled,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Scheduled => "scheduled",
            Status::Enqueued => "enqueued",
            Status::Sending => "sending",
            Status::Sent => "sent",
            Status::Skipped => "skipped",
            Status::Canceled => "canceled",
            Status::Failed => "failed",
        }
    }

    /// The studio's activity entry for a follow-up that ended in this
    /// status (a status that is not an end is logged as a failure).
    pub fn activity_kind(self) -> &'static str {
        match self {
            Status::Sent => "followup_sent",
            Status::Canceled => "followup_canceled",
            Status::Skipped => "followup_skipped",
            _ => "followup_failed",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "scheduled" => Status::Scheduled,
            "enqueued" => Status::Enqueued,
            "sending" => Status::Sending,
            "sent" => Status::Sent,
            "skipped" => Status::Skipped,
            "canceled" => Status::Canceled,
            "failed" => Status::Failed,
            other => return Err(StoreError::Invalid(format!("unknown follow-up status {other:?}"))),
        })
    }

    /// Nothing more will happen to it.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Sent | Status::Skipped | Status::Canceled | Status::Failed)
    }
}

pub fn parse_channel(s: &str) -> Result<Channel, StoreError> {
    Channel::parse(s).ok_or_else(|| StoreError::Invalid(format!("unknown channel {s:?}")))
}

#[derive(Clone, Debug)]
pub struct Followup {
    pub id: FollowupId,
    pub lead_id: LeadId,
    pub kind: String,
    pub channel: Channel,
    pub template: String,
    /// Per-language versions of `template` (ISO 639-1 code → template).
    pub template_variants: std::collections::BTreeMap<String, String>,
    pub subject: Option<String>,
    pub status: Status,
    pub due_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// The idempotency key of a follow-up's message: one message per follow-up,
/// whatever its job's deliveries do.
pub fn message_key(id: FollowupId) -> String {
    format!("followup:{id}")
}

/// The follow-up a message was sent for, and its lead.
pub async fn of_message(
    tx: &mut TenantTx,
    message_id: frontdesk_jobs::MessageId,
) -> Result<Option<(FollowupId, LeadId)>, StoreError> {
    let ws = tx.workspace_id();
    let row = sqlx::query!(
        r#"SELECT id AS "id: FollowupId", lead_id AS "lead_id: LeadId" FROM followups
           WHERE workspace_id = $1 AND message_id = $2"#,
        ws as WorkspaceId,
        message_id as frontdesk_jobs::MessageId
    )
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.map(|r| (r.id, r.lead_id)))
}

/// Loads a follow-up and locks it for the rest of the transaction, so two
/// deliveries of its job decide one at a time.
pub async fn find_for_update(tx: &mut TenantTx, id: FollowupId) -> Result<Option<Followup>, StoreError> {
    let ws = tx.workspace_id();
    let row = sqlx::query!(
        r#"SELECT id AS "id: FollowupId", lead_id AS "lead_id: LeadId", kind, channel, template, template_variants,
                  subject, status, due_at, created_at
           FROM followups WHERE workspace_id = $1 AND id = $2 FOR UPDATE"#,
        ws as WorkspaceId,
        id as FollowupId
    )
    .fetch_optional(tx.conn())
    .await?;
    row.map(|r| {
        Ok(Followup {
            id: r.id,
            lead_id: r.lead_id,
            kind: r.kind,
            channel: parse_channel(&r.channel)?,
            template: r.template,
            // The CHECK keeps it an object; a non-text value is skipped, not fatal.
            template_variants: r
                .template_variants
                .as_object()
                .map(|o| o.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
                .unwrap_or_default(),
            subject: r.subject,
            status: Status::parse(&r.status)?,
            due_at: r.due_at,
            created_at: r.created_at,
        })
    })
    .transpose()
}

/// Moves a follow-up to `status`, recording why and which message it sent.
pub async fn set_status(
    tx: &mut TenantTx,
    id: FollowupId,
    status: Status,
    reason: Option<&str>,
    message_id: Option<frontdesk_jobs::MessageId>,
) -> Result<(), StoreError> {
    let ws = tx.workspace_id();
    sqlx::query!(
        "UPDATE followups SET status = $3, reason = COALESCE($4, reason), message_id = COALESCE($5, message_id),
                updated_at = now()
         WHERE workspace_id = $1 AND id = $2",
        ws as WorkspaceId,
        id as FollowupId,
        status.as_str(),
        reason,
        message_id as Option<frontdesk_jobs::MessageId>
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Back to `scheduled` for `due_at` (quiet hours, frequency cap).
pub async fn reschedule(
    tx: &mut TenantTx,
    id: FollowupId,
    due_at: DateTime<Utc>,
    reason: &str,
) -> Result<(), StoreError> {
    let ws = tx.workspace_id();
    sqlx::query!(
        "UPDATE followups SET status = 'scheduled', due_at = $3, reason = $4, updated_at = now()
         WHERE workspace_id = $1 AND id = $2",
        ws as WorkspaceId,
        id as FollowupId,
        due_at,
        reason
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Stops the lead's sequences: steps not yet sent are canceled. Returns how many.
pub async fn cancel_sequences(tx: &mut TenantTx, lead_id: LeadId, reason: &str) -> Result<u64, StoreError> {
    let ws = tx.workspace_id();
    let done = sqlx::query!(
        "UPDATE followups SET status = 'canceled', reason = $3, updated_at = now()
         WHERE workspace_id = $1 AND lead_id = $2 AND kind = 'sequence' AND status IN ('scheduled', 'enqueued')",
        ws as WorkspaceId,
        lead_id as LeadId,
        reason
    )
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected())
}

/// Workspaces (active ones) with follow-ups due now or stranded longer than
/// `stranded`, longest-waiting first. Crosses workspaces through the
/// id-only `followups_due_workspaces`.
pub async fn due_workspaces(db: &Db, limit: i64, stranded: Duration) -> Result<Vec<WorkspaceId>, StoreError> {
    let stranded = interval(stranded)?;
    let ids = sqlx::query_scalar!(
        r#"SELECT workspace_id AS "id!: WorkspaceId" FROM followups_due_workspaces($1, $2)"#,
        limit.clamp(1, i32::MAX as i64) as i32,
        stranded
    )
    .fetch_all(db.pool())
    .await?;
    Ok(ids)
}

/// Follow-ups whose job is gone, untouched for `stranded`: one still
/// `enqueued` lost its job (discarded from the dead set, refused while the
/// studio was lapsed) and is scheduled again, due now; one still `sending`
/// lost its worker mid-send and may have gone out, so it fails as
/// `outcome_unknown` rather than risk a second message. A follow-up whose
/// outbox entry is still pending has a live job (perhaps waiting out a rate
/// limit) and is left to it.
pub async fn reap_stranded(tx: &mut TenantTx, stranded: Duration) -> Result<u64, StoreError> {
    let ws = tx.workspace_id();
    let stranded = interval(stranded)?;
    let requeued = sqlx::query!(
        "UPDATE followups SET status = 'scheduled', due_at = now(), reason = 'rescheduled: its job was lost',
                updated_at = now()
         WHERE workspace_id = $1 AND status = 'enqueued' AND updated_at < now() - $2::interval
           AND NOT EXISTS (SELECT 1 FROM outbox o
                           WHERE o.workspace_id = $1 AND o.done_at IS NULL AND o.queue = 'send-followup'
                             AND o.payload->>'followup_id' = followups.id::text)",
        ws as WorkspaceId,
        stranded
    )
    .execute(tx.conn())
    .await?;
    let unknown = sqlx::query!(
        "WITH stuck AS (
             UPDATE followups SET status = 'failed', reason = 'outcome_unknown: the worker stopped while sending',
                    updated_at = now()
             WHERE workspace_id = $1 AND status = 'sending' AND updated_at < now() - $2::interval
               AND NOT EXISTS (SELECT 1 FROM outbox o
                               WHERE o.workspace_id = $1 AND o.done_at IS NULL AND o.queue = 'send-followup'
                                 AND o.payload->>'followup_id' = followups.id::text)
             RETURNING message_id)
         UPDATE messages m SET error_code = 'outcome_unknown', updated_at = now()
         FROM stuck WHERE m.workspace_id = $1 AND m.id = stuck.message_id AND m.status = 'sending'",
        ws as WorkspaceId,
        stranded
    )
    .execute(tx.conn())
    .await?;
    Ok(requeued.rows_affected() + unknown.rows_affected())
}

/// A follow-up recorded `sent` whose message the provider later reported
/// undeliverable for `reason`.
pub async fn fail_sent(
    tx: &mut TenantTx,
    channel: Channel,
    provider_message_id: &str,
    reason: &str,
) -> Result<(), StoreError> {
    let ws = tx.workspace_id();
    sqlx::query!(
        "UPDATE followups f SET status = 'failed', reason = $4, updated_at = now()
         FROM messages m
         WHERE m.workspace_id = $1 AND m.channel = $2 AND m.provider_message_id = $3
           AND f.workspace_id = $1 AND f.message_id = m.id AND f.status = 'sent'",
        ws as WorkspaceId,
        channel.as_str(),
        provider_message_id,
        reason
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Claims up to `limit` of this workspace's due follow-ups, oldest first, and
/// writes the outbox entries that send them, in the caller's transaction.
/// Rows another scheduler replica holds are skipped and `scheduled →
/// enqueued` happens once, so each follow-up is enqueued exactly once
/// however many replicas run.
pub async fn claim_due(tx: &mut TenantTx, limit: i64) -> Result<Vec<(OutboxId, Envelope)>, StoreError> {
    let ws = tx.workspace_id();
    let claimed = sqlx::query!(
        // A CTE, not a subquery in FROM: the planner may rescan a subquery
        // for each row it updates, and every rescan takes another LIMIT.
        r#"WITH due AS MATERIALIZED (
               SELECT id FROM followups
               WHERE workspace_id = $1 AND status = 'scheduled' AND due_at <= now()
               ORDER BY due_at
               LIMIT $2
               FOR UPDATE SKIP LOCKED)
           UPDATE followups f SET status = 'enqueued', updated_at = now()
           FROM due
           WHERE f.workspace_id = $1 AND f.id = due.id
           RETURNING f.id AS "id: FollowupId", f.channel, f.kind"#,
        ws as WorkspaceId,
        limit
    )
    .fetch_all(tx.conn())
    .await?;
    let mut triggered = Vec::with_capacity(claimed.len());
    let mut limits = Vec::new();
    for row in claimed {
        let channel = parse_channel(&row.channel)?;
        let limit = match limits.iter().find(|(c, _)| *c == channel) {
            Some((_, limit)) => Option::clone(limit),
            None => {
                let limit = sender_rate_limit(tx, channel).await?;
                limits.push((channel, limit.clone()));
                limit
            }
        };
        // A text-back requeued after its job was lost is still urgent.
        triggered.extend(add_send(tx, row.id, limit_for(&row.kind, limit)).await?);
    }
    Ok(triggered)
}

async fn add_send(
    tx: &mut TenantTx,
    id: FollowupId,
    rate_limit: Option<RateLimit>,
) -> Result<Vec<(OutboxId, Envelope)>, StoreError> {
    let job = SendFollowup { workspace_id: tx.workspace_id(), followup_id: id };
    let mut envelope = Envelope::of(&job).map_err(|e| StoreError::Invalid(frontdesk_jobs::Report(&e).to_string()))?;
    envelope.rate_limit = rate_limit;
    Ok(outbox::add(tx, &envelope, None).await?.into_iter().collect())
}

/// Sends per second one provider sender takes by default: Twilio long codes
/// take 1 message a second, the WhatsApp Cloud API 80, and shared SMTP
/// relays commonly a handful. `settings.max_per_second` overrides it.
fn default_per_second(provider: Provider) -> u32 {
    match provider {
        Provider::Twilio => 1,
        Provider::Whatsapp => 80,
        _ => 5,
    }
}

pub fn sending_provider(channel: Channel) -> Provider {
    match channel {
        Channel::Sms => Provider::Twilio,
        Channel::Whatsapp => Provider::Whatsapp,
        Channel::Email => Provider::Smtp,
    }
}

/// The limit a send on `channel` counts against: one per provider sender
/// (the workspace's integration for the channel). `None` without one: the
/// send job then fails it with a clear reason.
async fn sender_rate_limit(tx: &mut TenantTx, channel: Channel) -> Result<Option<RateLimit>, StoreError> {
    let provider = sending_provider(channel);
    let Some(integration) = integrations::find_by_provider(tx, provider).await? else {
        return Ok(None);
    };
    let per_second = integration.settings["max_per_second"]
        .as_u64()
        .map(|n| n.clamp(1, 10_000) as u32)
        .unwrap_or_else(|| default_per_second(provider));
    Ok(Some(RateLimit::new(format!("{}:{}", provider.as_str(), integration.id), per_second, Duration::from_secs(1))))
}

/// What one run of a cron campaign sends.
#[derive(Clone, Debug)]
pub struct CampaignMessage<'a> {
    pub rule_id: frontdesk_jobs::AiRuleId,
    pub channel: Channel,
    pub template: &'a str,
    /// Per-language versions of `template`, as in [`NewFollowup::variants`].
    pub variants: &'a [(&'a str, &'a str)],
    pub subject: Option<&'a str>,
}

/// A cron rule's follow-ups for the leads it targets this firing, due now.
/// Returns how many were created.
pub async fn schedule_campaign(
    tx: &mut TenantTx,
    campaign: &CampaignMessage<'_>,
    leads: &[LeadId],
) -> Result<u64, StoreError> {
    let ws = tx.workspace_id();
    let ids: Vec<uuid::Uuid> = leads.iter().map(|_| uuid::Uuid::now_v7()).collect();
    let lead_ids: Vec<uuid::Uuid> = leads.iter().map(|l| l.as_uuid()).collect();
    let done = sqlx::query!(
        "INSERT INTO followups
            (workspace_id, id, lead_id, rule_id, kind, channel, template, template_variants, subject, due_at, status)
         SELECT $1, t.id, t.lead_id, $2, 'cron', $3, $4, $8, $5, now(), 'scheduled'
         FROM unnest($6::uuid[], $7::uuid[]) AS t(id, lead_id)
         -- A lead still waiting for this campaign's last message (quiet
         -- hours, frequency cap) does not get a second one queued behind it.
         WHERE NOT EXISTS (SELECT 1 FROM followups p
                           WHERE p.workspace_id = $1 AND p.lead_id = t.lead_id AND p.rule_id = $2
                             AND p.status IN ('scheduled', 'enqueued', 'sending'))",
        ws as WorkspaceId,
        campaign.rule_id as frontdesk_jobs::AiRuleId,
        campaign.channel.as_str(),
        campaign.template,
        campaign.subject,
        &ids,
        &lead_ids,
        variants_json(campaign.variants)
    )
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected())
}
