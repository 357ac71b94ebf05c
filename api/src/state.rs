use std::{sync::Arc, time::Duration};

use axum::http::HeaderName;
use frontdesk_jobs::Jobs;
use frontdesk_store::{
    Db,
    vault::{Secret, Vault},
};
use frontdesk_worker::providers::{
    smtp::{SmtpAccount, SmtpPolicy},
    twilio::TwilioClient,
    whatsapp::WhatsappClient,
};

use crate::{auth::passwords::Passwords, metrics::WebhookMetrics, rate_limit::RateLimiter};

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
    /// The studio API's settings.
    pub studio: Arc<StudioSettings>,
    /// Request limits shared by every api replica (Redis).
    pub limiter: RateLimiter,
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

/// How the studio API signs people in, limits them, and reaches providers
/// for integration checks and invitation emails.
#[derive(Clone, Debug)]
pub struct StudioSettings {
    /// A session's lifetime from sign-in (not extended by use).
    pub session_ttl: Duration,
    /// How long an invitation (or the owner's first sign-in token) is good for.
    pub invitation_ttl: Duration,
    pub passwords: Passwords,
    pub rate_limits: RateLimits,
    /// Behind a load balancer: the header carrying the client's address
    /// (e.g. `x-forwarded-for`); unset, the TCP peer is the client.
    pub client_ip_header: Option<HeaderName>,
    pub checks: ProviderChecks,
    /// The platform's own mail server for invitations, used when the
    /// workspace has no live SMTP integration.
    pub platform_smtp: Option<SmtpAccount>,
}

#[derive(Clone, Copy, Debug)]
pub struct RateLimits {
    /// Requests per minute per session or API key, across all replicas.
    pub per_credential_per_minute: u32,
    /// Sign-in attempts per email address per `signin_window`.
    pub signin_per_email: u32,
    /// Sign-in attempts per client address per `signin_window`.
    pub signin_per_address: u32,
    pub signin_window: Duration,
}

/// The provider clients integration checks use, pointed at the configured
/// base URLs (tests: local fakes).
#[derive(Clone, Debug)]
pub struct ProviderChecks {
    pub http: reqwest::Client,
    pub twilio: TwilioClient,
    pub whatsapp: WhatsappClient,
    /// Which SMTP hosts a studio may name (no private addresses in production).
    pub smtp: SmtpPolicy,
}
