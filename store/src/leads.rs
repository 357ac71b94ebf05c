//! Leads: the people who contacted a studio.

use frontdesk_domain::{Channel, Phone, whatsapp_window};
use frontdesk_jobs::{LeadId, WorkspaceId};

use crate::{StoreError, TenantTx};

#[derive(Clone, Debug, Default)]
pub struct NewLead {
    pub name: Option<String>,
    pub phone: Option<Phone>,
    pub email: Option<String>,
    pub source: String,
}

#[derive(Clone, Debug)]
pub struct Lead {
    pub id: LeadId,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub status: String,
    pub opted_out_sms: bool,
    pub opted_out_whatsapp: bool,
    pub opted_out_email: bool,
    pub last_inbound_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Start of the WhatsApp 24-hour customer-service window.
    pub last_inbound_whatsapp_at: Option<chrono::DateTime<chrono::Utc>>,
    /// ISO 639-1, as the classifier last detected it; `None` before then.
    pub language: Option<String>,
}

impl Lead {
    /// Inside WhatsApp's 24-hour customer-service window at `now`: the lead
    /// wrote on WhatsApp within the last day, so free-form text is allowed.
    pub fn in_whatsapp_window(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        whatsapp_window::is_open(self.last_inbound_whatsapp_at, now)
    }

    pub fn opted_out(&self, channel: Channel) -> bool {
        match channel {
            Channel::Sms => self.opted_out_sms,
            Channel::Whatsapp => self.opted_out_whatsapp,
            Channel::Email => self.opted_out_email,
        }
    }

    /// The first word of the name, for `{first_name}`.
    pub fn first_name(&self) -> Option<&str> {
        self.name.as_deref()?.split_whitespace().next()
    }

    /// Where a message on `channel` goes, if the lead has that address.
    pub fn address(&self, channel: Channel) -> Option<&str> {
        match channel {
            Channel::Sms | Channel::Whatsapp => self.phone.as_deref(),
            Channel::Email => self.email.as_deref(),
        }
    }
}

pub async fn create(tx: &mut TenantTx, new: &NewLead) -> Result<LeadId, StoreError> {
    let id = LeadId::new();
    let ws = tx.workspace_id();
    sqlx::query!(
        "INSERT INTO leads (workspace_id, id, name, phone, email, source) VALUES ($1, $2, $3, $4, $5, $6)",
        ws as WorkspaceId,
        id as LeadId,
        new.name,
        new.phone.as_ref().map(Phone::as_str),
        new.email,
        new.source
    )
    .execute(tx.conn())
    .await?;
    Ok(id)
}

/// `find`, locking the lead for the rest of the transaction: sends to one
/// lead decide one at a time, so two follow-ups cannot both pass the
/// frequency cap.
pub async fn find_for_update(tx: &mut TenantTx, id: LeadId) -> Result<Option<Lead>, StoreError> {
    let ws = tx.workspace_id();
    let lead = sqlx::query_as!(
        Lead,
        r#"SELECT id AS "id: LeadId", name, phone, email, status, opted_out_sms, opted_out_whatsapp, opted_out_email,
                  last_inbound_at, last_inbound_whatsapp_at, language
           FROM leads WHERE workspace_id = $1 AND id = $2 FOR UPDATE"#,
        ws as WorkspaceId,
        id as LeadId
    )
    .fetch_optional(tx.conn())
    .await?;
    Ok(lead)
}

pub async fn find(tx: &mut TenantTx, id: LeadId) -> Result<Option<Lead>, StoreError> {
    let ws = tx.workspace_id();
    let lead = sqlx::query_as!(
        Lead,
        r#"SELECT id AS "id: LeadId", name, phone, email, status, opted_out_sms, opted_out_whatsapp, opted_out_email,
                  last_inbound_at, last_inbound_whatsapp_at, language
           FROM leads WHERE workspace_id = $1 AND id = $2"#,
        ws as WorkspaceId,
        id as LeadId
    )
    .fetch_optional(tx.conn())
    .await?;
    Ok(lead)
}

/// Leads of the workspace that have been classified at least once.
pub async fn count_classified(tx: &mut TenantTx) -> Result<i64, StoreError> {
    let ws = tx.workspace_id();
    let n = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM leads WHERE workspace_id = $1 AND classified_at IS NOT NULL"#,
        ws as WorkspaceId
    )
    .fetch_one(tx.conn())
    .await?;
    Ok(n)
}

/// A message went out to a new lead: it is now `contacted`.
pub async fn mark_contacted(tx: &mut TenantTx, id: LeadId) -> Result<(), StoreError> {
    let ws = tx.workspace_id();
    sqlx::query!(
        "UPDATE leads SET status = 'contacted', updated_at = now()
         WHERE workspace_id = $1 AND id = $2 AND status = 'new'",
        ws as WorkspaceId,
        id as LeadId
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Finds the workspace's lead with this phone or creates it; a known name
/// is kept, a new one fills a blank.
pub async fn upsert_by_phone(
    tx: &mut TenantTx,
    phone: &Phone,
    name: Option<&str>,
    source: &str,
) -> Result<LeadId, StoreError> {
    let ws = tx.workspace_id();
    let id = sqlx::query_scalar!(
        r#"INSERT INTO leads (workspace_id, id, phone, name, source) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (workspace_id, phone) DO UPDATE
               SET name = COALESCE(leads.name, EXCLUDED.name), updated_at = now()
           RETURNING id AS "id: LeadId""#,
        ws as WorkspaceId,
        LeadId::new() as LeadId,
        phone.as_str(),
        name,
        source
    )
    .fetch_one(tx.conn())
    .await?;
    Ok(id)
}

pub async fn upsert_by_email(
    tx: &mut TenantTx,
    email: &str,
    name: Option<&str>,
    source: &str,
) -> Result<LeadId, StoreError> {
    let ws = tx.workspace_id();
    let id = sqlx::query_scalar!(
        r#"INSERT INTO leads (workspace_id, id, email, name, source) VALUES ($1, $2, lower($3), $4, $5)
           ON CONFLICT (workspace_id, email) DO UPDATE
               SET name = COALESCE(leads.name, EXCLUDED.name), updated_at = now()
           RETURNING id AS "id: LeadId""#,
        ws as WorkspaceId,
        LeadId::new() as LeadId,
        email,
        name,
        source
    )
    .fetch_one(tx.conn())
    .await?;
    Ok(id)
}

/// Records an inbound contact on `channel` (the WhatsApp 24-hour window
/// starts from the last inbound WhatsApp message).
pub async fn record_inbound(tx: &mut TenantTx, id: LeadId, whatsapp: bool) -> Result<(), StoreError> {
    let ws = tx.workspace_id();
    sqlx::query!(
        "UPDATE leads SET last_inbound_at = now(),
                last_inbound_whatsapp_at = CASE WHEN $3 THEN now() ELSE last_inbound_whatsapp_at END,
                updated_at = now()
         WHERE workspace_id = $1 AND id = $2",
        ws as WorkspaceId,
        id as LeadId,
        whatsapp
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Sets or clears the opt-out flag for one channel. Returns whether it changed.
pub async fn set_opted_out(
    tx: &mut TenantTx,
    id: LeadId,
    channel: Channel,
    opted_out: bool,
) -> Result<bool, StoreError> {
    let ws = tx.workspace_id();
    let done = sqlx::query!(
        "UPDATE leads SET
            opted_out_sms = CASE WHEN $3 = 'sms' THEN $4 ELSE opted_out_sms END,
            opted_out_whatsapp = CASE WHEN $3 = 'whatsapp' THEN $4 ELSE opted_out_whatsapp END,
            opted_out_email = CASE WHEN $3 = 'email' THEN $4 ELSE opted_out_email END,
            updated_at = now()
         WHERE workspace_id = $1 AND id = $2
           AND $4 <> CASE $3 WHEN 'sms' THEN opted_out_sms WHEN 'whatsapp' THEN opted_out_whatsapp ELSE opted_out_email END",
        ws as WorkspaceId,
        id as LeadId,
        channel.as_str(),
        opted_out
    )
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Which leads a cron campaign targets.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// Lead statuses to include (default: new and contacted).
    #[serde(default)]
    pub statuses: Vec<String>,
    /// Only leads of this temperature.
    pub temperature: Option<String>,
    /// Only leads with no inbound message (or none at all) for this many days.
    pub inactive_days: Option<u32>,
}

/// One page of the leads in `segment` reachable on `channel` (not opted
/// out, with an address), in id order after `after` (keyset paging).
pub async fn in_segment(
    tx: &mut TenantTx,
    segment: &Segment,
    channel: Channel,
    after: Option<LeadId>,
    limit: i64,
) -> Result<Vec<LeadId>, StoreError> {
    let ws = tx.workspace_id();
    let statuses: Vec<String> =
        if segment.statuses.is_empty() { vec!["new".into(), "contacted".into()] } else { segment.statuses.clone() };
    let inactive_days = segment.inactive_days.map(|d| d.min(3650) as i32);
    let ids = sqlx::query_scalar!(
        r#"SELECT id AS "id: LeadId" FROM leads
           WHERE workspace_id = $1
             AND status = ANY($2)
             AND ($3::text IS NULL OR temperature = $3)
             AND ($4::int IS NULL OR coalesce(last_inbound_at, created_at) < now() - make_interval(days => $4))
             AND CASE $5 WHEN 'sms' THEN NOT opted_out_sms AND phone IS NOT NULL
                         WHEN 'whatsapp' THEN NOT opted_out_whatsapp AND phone IS NOT NULL
                         ELSE NOT opted_out_email AND email IS NOT NULL END
             AND ($7::uuid IS NULL OR id > $7)
           ORDER BY id
           LIMIT $6"#,
        ws as WorkspaceId,
        &statuses,
        segment.temperature,
        inactive_days,
        channel.as_str(),
        limit,
        after as Option<LeadId>
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(ids)
}

/// Opts the lead out of `channel` on our side's evidence (`source`: the
/// unsubscribe link in one of our emails, the provider refusing to deliver),
/// with an activity entry the first time.
pub async fn opt_out(tx: &mut TenantTx, id: LeadId, channel: Channel, source: &str) -> Result<(), StoreError> {
    if set_opted_out(tx, id, channel, true).await? {
        let detail = serde_json::json!({ "channel": channel.as_str(), "source": source });
        let entry = crate::activity::Activity { kind: "opted_out", lead_id: Some(id), is_security: false, detail };
        crate::activity::record(tx, &entry).await?;
    }
    Ok(())
}
