//! Webhook routing: which workspace a provider delivery belongs to.

use frontdesk_jobs::{IntegrationId, WorkspaceId};
use uuid::Uuid;

use crate::{Db, StoreError, TenantTx};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteProvider {
    Twilio,
    Whatsapp,
    Email,
    Stripe,
    GoogleCalendar,
}

impl RouteProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteProvider::Twilio => "twilio",
            RouteProvider::Whatsapp => "whatsapp",
            RouteProvider::Email => "email",
            RouteProvider::Stripe => "stripe",
            RouteProvider::GoogleCalendar => "google_calendar",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Route {
    pub workspace_id: WorkspaceId,
    pub integration_id: Option<IntegrationId>,
    /// Google push channel token (compare in constant time).
    pub channel_token: Option<String>,
}

/// The one lookup that crosses workspaces: the request does not say whose it
/// is. It runs through the `route_webhook` SECURITY DEFINER function, which
/// returns ids only. `keys` are tried in order.
pub async fn resolve(db: &Db, provider: RouteProvider, keys: &[String]) -> Result<Option<Route>, StoreError> {
    let row = sqlx::query!(
        r#"SELECT workspace_id AS "workspace_id!: WorkspaceId", integration_id AS "integration_id: IntegrationId", channel_token
           FROM route_webhook($1, $2)"#,
        provider.as_str(),
        keys
    )
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| Route {
        workspace_id: r.workspace_id,
        integration_id: r.integration_id,
        channel_token: r.channel_token,
    }))
}

#[derive(Clone, Debug)]
pub struct NewRoute {
    pub provider: RouteProvider,
    pub route_key: String,
    pub integration_id: Option<IntegrationId>,
    pub channel_token: Option<String>,
}

/// Registers a route for the transaction's workspace. A key already routed
/// (to any workspace) is a conflict.
pub async fn add(tx: &mut TenantTx, route: &NewRoute) -> Result<(), StoreError> {
    let ws = tx.workspace_id();
    sqlx::query!(
        "INSERT INTO webhook_routes (workspace_id, id, provider, route_key, integration_id, channel_token)
         VALUES ($1, $2, $3, $4, $5, $6)",
        ws as WorkspaceId,
        Uuid::now_v7(),
        route.provider.as_str(),
        route.route_key,
        route.integration_id as Option<IntegrationId>,
        route.channel_token
    )
    .execute(tx.conn())
    .await
    .map_err(|e| match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict(format!("{} route {} is already registered", route.provider.as_str(), route.route_key))
        }
        other => other.into(),
    })?;
    Ok(())
}

/// The route key of one Twilio number (E.164) in one Twilio account.
pub fn twilio_number_key(account_sid: &str, number: &str) -> String {
    format!("num:{account_sid}:{number}")
}

/// The route key of a Twilio Messaging Service (`MG…`).
pub fn twilio_messaging_service_key(sid: &str) -> String {
    format!("mss:{sid}")
}

/// Twilio route keys, most specific first.
pub fn twilio_keys(messaging_service_sid: Option<&str>, account_sid: &str, to: &str) -> Vec<String> {
    let mut keys = Vec::with_capacity(2);
    if let Some(mss) = messaging_service_sid.filter(|s| !s.is_empty()) {
        keys.push(twilio_messaging_service_key(mss));
    }
    keys.push(twilio_number_key(account_sid, to));
    keys
}

/// Keeps a delivery no workspace claims, for ops. Ids and route keys only:
/// the body was not authenticated against any workspace.
pub async fn record_unroutable(
    db: &Db,
    provider: &str,
    reason: &str,
    route_key: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO unroutable_webhooks (id, provider, reason, route_key) VALUES ($1, $2, $3, $4)",
        Uuid::now_v7(),
        provider,
        reason,
        route_key
    )
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Removes every route of one integration (before registering its new ones
/// when its numbers or addresses change).
pub async fn remove_for_integration(tx: &mut TenantTx, integration_id: IntegrationId) -> Result<u64, StoreError> {
    let ws = tx.workspace_id();
    let done = sqlx::query!(
        "DELETE FROM webhook_routes WHERE workspace_id = $1 AND integration_id = $2",
        ws as WorkspaceId,
        integration_id as IntegrationId
    )
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected())
}
