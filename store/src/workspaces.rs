//! The tenant itself, and the billing state that gates what its jobs may do.

use frontdesk_jobs::{Capability, WorkspaceId};

use crate::{Db, StoreError, TenantTx};

#[derive(Clone, Debug)]
pub struct NewWorkspace {
    pub name: String,
    pub timezone: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkspaceStatus {
    Active,
    Paused,
    Suspended,
}

impl WorkspaceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkspaceStatus::Active => "active",
            WorkspaceStatus::Paused => "paused",
            WorkspaceStatus::Suspended => "suspended",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "active" => WorkspaceStatus::Active,
            "paused" => WorkspaceStatus::Paused,
            // The CHECK constraint admits nothing else; fail closed if it ever does.
            _ => WorkspaceStatus::Suspended,
        }
    }
}

/// What the worker needs to decide whether a job may run.
#[derive(Clone, Debug)]
pub struct WorkspaceState {
    pub id: WorkspaceId,
    pub name: String,
    pub timezone: String,
    pub status: WorkspaceStatus,
    /// Stripe subscription status; `None` before any billing event.
    pub subscription_status: Option<String>,
}

impl WorkspaceState {
    /// Whether a job with `capability` may run now. Paused or suspended
    /// workspaces run nothing; a studio whose subscription has lapsed keeps
    /// its internal bookkeeping but sends and syncs nothing.
    pub fn permits(&self, capability: Capability) -> Result<(), &'static str> {
        if capability == Capability::Billing {
            return Ok(());
        }
        if self.status != WorkspaceStatus::Active {
            return Err("workspace is not active");
        }
        let lapsed = matches!(
            self.subscription_status.as_deref(),
            Some("canceled" | "unpaid" | "incomplete_expired" | "paused")
        );
        match capability {
            Capability::Internal => Ok(()),
            Capability::OutboundMessaging | Capability::ExternalSync if lapsed => {
                Err("subscription does not allow outbound work")
            }
            _ => Ok(()),
        }
    }
}

/// Creates a workspace with its subscription and onboarding rows.
pub async fn create(db: &Db, new: &NewWorkspace) -> Result<WorkspaceId, StoreError> {
    if new.timezone.parse::<chrono_tz::Tz>().is_err() {
        return Err(StoreError::Invalid(format!("unknown timezone {:?}", new.timezone)));
    }
    let id = WorkspaceId::new();
    let mut tx = db.tenant(id).await?;
    sqlx::query!(
        "INSERT INTO workspaces (id, name, timezone) VALUES ($1, $2, $3)",
        id as WorkspaceId,
        new.name,
        new.timezone
    )
    .execute(tx.conn())
    .await?;
    sqlx::query!(
        "INSERT INTO subscriptions (workspace_id, id) VALUES ($1, $2)",
        id as WorkspaceId,
        uuid::Uuid::now_v7()
    )
    .execute(tx.conn())
    .await?;
    sqlx::query!(
        "INSERT INTO wizard_progress (workspace_id, id) VALUES ($1, $2)",
        id as WorkspaceId,
        uuid::Uuid::now_v7()
    )
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Deletes a workspace; every tenant row goes with it (the composite
/// foreign keys cascade).
pub async fn delete(db: &Db, id: WorkspaceId) -> Result<(), StoreError> {
    let mut tx = db.tenant(id).await?;
    sqlx::query!("DELETE FROM workspaces WHERE id = $1", id as WorkspaceId).execute(tx.conn()).await?;
    tx.commit().await
}

/// The transaction's own workspace, or `None` if it does not exist.
pub async fn load_state(tx: &mut TenantTx) -> Result<Option<WorkspaceState>, StoreError> {
    let ws = tx.workspace_id();
    let row = sqlx::query!(
        r#"SELECT w.id AS "id: WorkspaceId", w.name, w.timezone, w.status, s.status AS "subscription_status?"
           FROM workspaces w
           LEFT JOIN subscriptions s ON s.workspace_id = w.id
           WHERE w.id = $1"#,
        ws as WorkspaceId
    )
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.map(|r| WorkspaceState {
        id: r.id,
        name: r.name,
        timezone: r.timezone,
        status: WorkspaceStatus::parse(&r.status),
        subscription_status: r.subscription_status,
    }))
}

pub async fn set_status(tx: &mut TenantTx, status: WorkspaceStatus) -> Result<(), StoreError> {
    let ws = tx.workspace_id();
    let done = sqlx::query!(
        "UPDATE workspaces SET status = $2, updated_at = now() WHERE id = $1",
        ws as WorkspaceId,
        status.as_str()
    )
    .execute(tx.conn())
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound { entity: "workspace", workspace_id: ws });
    }
    Ok(())
}

pub async fn set_subscription_status(tx: &mut TenantTx, status: &str) -> Result<(), StoreError> {
    let ws = tx.workspace_id();
    sqlx::query!(
        "UPDATE subscriptions SET status = $2, updated_at = now() WHERE workspace_id = $1",
        ws as WorkspaceId,
        status
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// What a billing event says about the subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BillingEvent {
    /// `customer.subscription.*`: authoritative for the status. `rank`
    /// orders events of the same second (created 1 < updated 2 < deleted 3).
    Subscription { rank: i16 },
    /// `invoice.*`: moves the status only from `from` (a payment cannot
    /// revive a canceled subscription), only for the subscription on record,
    /// and never past a newer subscription or invoice event.
    Invoice { from: &'static [&'static str] },
}

#[derive(Clone, Debug)]
pub struct SubscriptionChange<'a> {
    pub status: &'a str,
    pub event: BillingEvent,
    pub stripe_customer_id: Option<&'a str>,
    pub stripe_subscription_id: Option<&'a str>,
    pub current_period_end: Option<chrono::DateTime<chrono::Utc>>,
    /// The Stripe event's `created`; older events than the last applied
    /// subscription event are ignored.
    pub event_created_at: chrono::DateTime<chrono::Utc>,
}

/// Applies a billing change unless a newer event already decided the
/// status. Returns whether it applied (Stripe delivers out of order).
pub async fn apply_subscription_change(tx: &mut TenantTx, change: &SubscriptionChange<'_>) -> Result<bool, StoreError> {
    let ws = tx.workspace_id();
    let (authoritative, rank, from): (bool, i16, Vec<String>) = match change.event {
        BillingEvent::Subscription { rank } => (true, rank, Vec::new()),
        BillingEvent::Invoice { from } => (false, 0, from.iter().map(|s| s.to_string()).collect()),
    };
    let done = sqlx::query!(
        "UPDATE subscriptions
         SET status = $2,
             stripe_customer_id = COALESCE($3, stripe_customer_id),
             stripe_subscription_id = CASE WHEN $7 THEN COALESCE($4, stripe_subscription_id)
                                           ELSE stripe_subscription_id END,
             current_period_end = COALESCE($5, current_period_end),
             last_event_created_at = CASE WHEN $7 THEN $6 ELSE last_event_created_at END,
             last_event_rank = CASE WHEN $7 THEN $8 ELSE last_event_rank END,
             last_invoice_event_at = CASE WHEN $7 THEN last_invoice_event_at ELSE $6 END,
             updated_at = now()
         WHERE workspace_id = $1
           AND (last_event_created_at IS NULL OR last_event_created_at < $6
                OR (last_event_created_at = $6 AND (NOT $7 OR last_event_rank <= $8)))
           AND ($7 OR (status = ANY($9)
                       AND (last_invoice_event_at IS NULL OR last_invoice_event_at < $6)
                       AND $4::text IS NOT NULL
                       AND (stripe_subscription_id IS NULL OR stripe_subscription_id = $4)))",
        ws as WorkspaceId,
        change.status,
        change.stripe_customer_id,
        change.stripe_subscription_id,
        change.current_period_end,
        change.event_created_at,
        authoritative,
        rank,
        &from
    )
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// What every outbound send of this workspace obeys.
#[derive(Clone, Debug)]
pub struct SendingPolicy {
    pub name: String,
    pub timezone: String,
    /// Local wall-clock window during which nothing is sent.
    pub quiet_hours: Option<(chrono::NaiveTime, chrono::NaiveTime)>,
    pub booking_link: Option<String>,
    pub max_messages_per_lead_per_day: i32,
    /// ISO 639-1, optionally with a region (`pt-BR`): replies go in this
    /// language when the lead's is unknown; `en` when the studio set none.
    pub default_language: String,
}

pub async fn sending_policy(tx: &mut TenantTx) -> Result<SendingPolicy, StoreError> {
    let ws = tx.workspace_id();
    let r = sqlx::query!(
        r#"SELECT name, timezone, quiet_hours_start, quiet_hours_end, booking_link, max_messages_per_lead_per_day,
                COALESCE(default_language, 'en') AS "default_language!"
         FROM workspaces WHERE id = $1"#,
        ws as WorkspaceId
    )
    .fetch_optional(tx.conn())
    .await?
    .ok_or(StoreError::NotFound { entity: "workspace", workspace_id: ws })?;
    Ok(SendingPolicy {
        name: r.name,
        timezone: r.timezone,
        quiet_hours: r.quiet_hours_start.zip(r.quiet_hours_end),
        booking_link: r.booking_link,
        max_messages_per_lead_per_day: r.max_messages_per_lead_per_day,
        default_language: r.default_language,
    })
}

/// The studio's language: the language of replies to a lead whose own is
/// unknown, and of messages too short to tell. A studio that has not set one
/// (onboarding's profile step) is taken to write English.
pub async fn default_language(tx: &mut TenantTx) -> Result<String, StoreError> {
    let ws = tx.workspace_id();
    let language = sqlx::query_scalar!(
        r#"SELECT COALESCE(default_language, 'en') AS "language!" FROM workspaces WHERE id = $1"#,
        ws as WorkspaceId
    )
    .fetch_optional(tx.conn())
    .await?
    .ok_or(StoreError::NotFound { entity: "workspace", workspace_id: ws })?;
    Ok(language)
}

/// The studio's profile: what onboarding's first step sets.
#[derive(Clone, Debug)]
pub struct Profile {
    pub id: WorkspaceId,
    pub name: String,
    pub timezone: String,
    pub quiet_hours: Option<(chrono::NaiveTime, chrono::NaiveTime)>,
    pub max_messages_per_lead_per_day: i32,
    pub default_language: Option<String>,
    pub booking_link: Option<String>,
    pub status: WorkspaceStatus,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

pub async fn profile(tx: &mut TenantTx) -> Result<Profile, StoreError> {
    let ws = tx.workspace_id();
    let r = sqlx::query!(
        r#"SELECT id AS "id: WorkspaceId", name, timezone, quiet_hours_start, quiet_hours_end,
                  max_messages_per_lead_per_day, default_language, booking_link, status, created_at
           FROM workspaces WHERE id = $1"#,
        ws as WorkspaceId
    )
    .fetch_optional(tx.conn())
    .await?
    .ok_or(StoreError::NotFound { entity: "workspace", workspace_id: ws })?;
    Ok(Profile {
        id: r.id,
        name: r.name,
        timezone: r.timezone,
        quiet_hours: r.quiet_hours_start.zip(r.quiet_hours_end),
        max_messages_per_lead_per_day: r.max_messages_per_lead_per_day,
        default_language: r.default_language,
        booking_link: r.booking_link,
        status: WorkspaceStatus::parse(&r.status),
        created_at: r.created_at,
    })
}

/// A change to the profile; `None` leaves a field as it is. Values are
/// validated by the caller (the CHECK constraints are the last line).
#[derive(Clone, Debug, Default)]
pub struct ProfileChange {
    pub name: Option<String>,
    pub timezone: Option<String>,
    /// `Some(None)` clears the quiet hours.
    pub quiet_hours: Option<Option<(chrono::NaiveTime, chrono::NaiveTime)>>,
    pub max_messages_per_lead_per_day: Option<i32>,
    pub default_language: Option<String>,
    /// `Some(None)` clears the booking link.
    pub booking_link: Option<Option<String>>,
}

pub async fn update_profile(tx: &mut TenantTx, change: &ProfileChange) -> Result<Profile, StoreError> {
    let ws = tx.workspace_id();
    let (set_quiet, quiet) = match change.quiet_hours {
        Some(q) => (true, q),
        None => (false, None),
    };
    let (set_link, link) = match &change.booking_link {
        Some(l) => (true, l.clone()),
        None => (false, None),
    };
    sqlx::query!(
        "UPDATE workspaces SET
            name = COALESCE($2, name),
            timezone = COALESCE($3, timezone),
            quiet_hours_start = CASE WHEN $4 THEN $5 ELSE quiet_hours_start END,
            quiet_hours_end = CASE WHEN $4 THEN $6 ELSE quiet_hours_end END,
            max_messages_per_lead_per_day = COALESCE($7, max_messages_per_lead_per_day),
            default_language = COALESCE($8, default_language),
            booking_link = CASE WHEN $9 THEN $10 ELSE booking_link END,
            updated_at = now()
         WHERE id = $1",
        ws as WorkspaceId,
        change.name,
        change.timezone,
        set_quiet,
        quiet.map(|q| q.0),
        quiet.map(|q| q.1),
        change.max_messages_per_lead_per_day,
        change.default_language,
        set_link,
        link
    )
    .execute(tx.conn())
    .await?;
    profile(tx).await
}
