use std::sync::Arc;

use frontdesk_jobs::Jobs;
use frontdesk_store::{
    Db,
    vault::{Secret, Vault},
};

use crate::metrics::WebhookMetrics;

/// Shared by every handler. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub db: Db,
    pub jobs: Jobs,
    pub vault: Vault,
    /// The base URL providers call; Twilio signs it, not our Host header.
    pub public_url: String,
    pub secrets: Arc<PlatformSecrets>,
    pub metrics: Arc<WebhookMetrics>,
    /// Twilio routes and auth tokens, briefly cached.
    pub signing_keys: Arc<crate::SigningKeys>,
    /// What all in-flight requests together may make this process hold.
    pub inflight: crate::InFlightBudget,
}

/// Platform-wide webhook secrets (per-workspace ones live in the vault).
/// A provider whose secret is unset answers 503 rather than accept unverified input.
#[derive(Clone, Debug, Default)]
pub struct PlatformSecrets {
    pub meta_app_secret: Option<Secret>,
    pub whatsapp_verify_token: Option<Secret>,
    pub stripe_webhook_secret: Option<Secret>,
    pub mailgun_signing_key: Option<Secret>,
}
