//! Configuration from the environment (`FRONTDESK_` prefix; `DATABASE_URL`
//! and `REDIS_URL` keep their conventional names) or flags. Defaults work
//! on one machine against local Postgres and Redis, and each default is
//! written once, as a constant both clap and [`Default`] use.

use std::{fs, io::Write, net::SocketAddr, os::unix::fs::OpenOptionsExt, path::PathBuf, time::Duration};

use clap::{Args, ValueEnum};
use frontdesk_store::vault::{MasterKeys, Secret, Vault};

use crate::AppError;

const DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/frontdesk";
const DB_MAX_CONNECTIONS: u32 = 20;
const REDIS_URL: &str = "redis://127.0.0.1:6379";
const QUEUE_PREFIX: &str = "frontdesk";
const QUEUE_LEASE_SECS: u64 = 6;
const WORKSPACE_CONCURRENCY: u32 = 8;
const LISTEN: &str = "127.0.0.1:8080";
const INFLIGHT_BYTES: usize = 32 << 20;
const LLM_MODEL: &str = "gpt-4o-mini";
const AI_DAILY_TOKEN_BUDGET: i64 = 200_000;
const OUTBOX_TIMEOUT_SECS: u64 = 300;
const DATA_DIR: &str = ".frontdesk";
const WORKER_CONCURRENCY: usize = 16;
const GUARD_CACHE_MS: u64 = 2000;
const SCHEDULER_TICK_SECS: f64 = 15.0;
const TWILIO_API_URL: &str = "https://api.twilio.com";
const WHATSAPP_API_URL: &str = "https://graph.facebook.com";
const WHATSAPP_API_VERSION: &str = "v21.0";
const SESSION_TTL_HOURS: u64 = 30 * 24;
const INVITATION_TTL_HOURS: u64 = 72;
// OWASP's argon2id recommendation (see api/src/auth/passwords.rs).
const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
const ARGON2_ITERATIONS: u32 = 2;
const API_RATE_LIMIT: u32 = 600;
const SIGNIN_LIMIT_EMAIL: u32 = 10;
const SIGNIN_LIMIT_ADDRESS: u32 = 50;
const SIGNIN_WINDOW_SECS: u64 = 15 * 60;

#[derive(Args, Clone, Debug)]
pub struct Config {
    /// Owner connection: migrations and admin commands. The database is
    /// created if missing. `api` and `worker` use it only to derive the
    /// runtime URL when FRONTDESK_APP_DATABASE_URL is unset.
    #[arg(long, env = "DATABASE_URL", default_value = DATABASE_URL, global = true)]
    pub database_url: String,

    /// Runtime connection (the non-owner `frontdesk_app` role). Default: the
    /// owner URL with the user swapped for frontdesk_app.
    #[arg(long, env = "FRONTDESK_APP_DATABASE_URL", global = true)]
    pub app_database_url: Option<String>,

    #[arg(long, env = "FRONTDESK_DB_MAX_CONNECTIONS", default_value_t = DB_MAX_CONNECTIONS, global = true)]
    pub db_max_connections: u32,

    #[arg(long, env = "REDIS_URL", default_value = REDIS_URL, global = true)]
    pub redis_url: String,

    /// Prefix of every Redis key, so several deployments (or tests) can share a Redis.
    #[arg(long, env = "FRONTDESK_QUEUE_PREFIX", default_value = QUEUE_PREFIX, global = true)]
    pub queue_prefix: String,

    /// A job held by a worker that stops heartbeating is re-delivered after this.
    #[arg(long, env = "FRONTDESK_QUEUE_LEASE_SECS", default_value_t = QUEUE_LEASE_SECS, global = true)]
    pub queue_lease_secs: u64,

    /// Jobs of one workspace in flight at once, across all workers (per queue).
    #[arg(long, env = "FRONTDESK_WORKSPACE_CONCURRENCY", default_value_t = WORKSPACE_CONCURRENCY, global = true)]
    pub workspace_concurrency: u32,

    /// Where the api listens (port 0 picks a free port).
    #[arg(long, env = "FRONTDESK_LISTEN", default_value = LISTEN, global = true)]
    pub listen: SocketAddr,

    /// Bytes all in-flight api requests together may make the process hold
    /// (each reserves what its route can hold before its body is read;
    /// beyond this, requests get 503 with Retry-After).
    #[arg(long, env = "FRONTDESK_INFLIGHT_BYTES", default_value_t = INFLIGHT_BYTES, global = true)]
    pub inflight_bytes: usize,

    /// The base URL providers call (Twilio signs it). Default: http://<listen>.
    #[arg(long, env = "FRONTDESK_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// `<version>:<base64 32 bytes>[,...]`; the highest version encrypts.
    /// Unset: a development key is generated once into FRONTDESK_DATA_DIR.
    #[arg(long, env = "FRONTDESK_MASTER_KEYS", hide_env_values = true, global = true)]
    pub master_keys: Option<String>,

    /// Meta app secret: verifies `X-Hub-Signature-256` on WhatsApp webhooks.
    #[arg(long, env = "FRONTDESK_META_APP_SECRET", hide_env_values = true, global = true)]
    pub meta_app_secret: Option<String>,

    /// The `hub.verify_token` answered in the WhatsApp webhook handshake.
    #[arg(long, env = "FRONTDESK_WHATSAPP_VERIFY_TOKEN", hide_env_values = true, global = true)]
    pub whatsapp_verify_token: Option<String>,

    /// Stripe endpoint secret (`whsec_...`).
    #[arg(long, env = "FRONTDESK_STRIPE_WEBHOOK_SECRET", hide_env_values = true, global = true)]
    pub stripe_webhook_secret: Option<String>,

    /// Mailgun webhook signing key for inbound email.
    #[arg(long, env = "FRONTDESK_MAILGUN_SIGNING_KEY", hide_env_values = true, global = true)]
    pub mailgun_signing_key: Option<String>,

    /// Default OpenAI-compatible endpoint for lead classification (e.g.
    /// https://api.openai.com/v1 or http://127.0.0.1:11434/v1). Unset: the
    /// offline classifier, unless a workspace configures its own.
    #[arg(long, env = "FRONTDESK_LLM_BASE_URL", global = true)]
    pub llm_base_url: Option<String>,

    #[arg(long, env = "FRONTDESK_LLM_MODEL", default_value = LLM_MODEL, global = true)]
    pub llm_model: String,

    #[arg(long, env = "FRONTDESK_LLM_API_KEY", hide_env_values = true, global = true)]
    pub llm_api_key: Option<String>,

    /// Tokens per workspace per day (UTC) before classification falls back offline.
    #[arg(long, env = "FRONTDESK_AI_DAILY_TOKEN_BUDGET", default_value_t = AI_DAILY_TOKEN_BUDGET, global = true)]
    pub ai_daily_token_budget: i64,

    /// Seconds after which the outbox relay re-pushes a job that has not run.
    #[arg(long, env = "FRONTDESK_OUTBOX_TIMEOUT_SECS", default_value_t = OUTBOX_TIMEOUT_SECS, global = true)]
    pub outbox_timeout_secs: u64,

    /// Where development state (the generated master key, the worker heartbeat) is kept.
    #[arg(long, env = "FRONTDESK_DATA_DIR", default_value = DATA_DIR, global = true)]
    pub data_dir: PathBuf,

    /// Jobs in flight per queue in one worker process.
    #[arg(long, env = "FRONTDESK_WORKER_CONCURRENCY", default_value_t = WORKER_CONCURRENCY, global = true)]
    pub worker_concurrency: usize,

    /// How long the worker guard trusts a workspace's status: a suspended
    /// studio's jobs may still start for this long after the change.
    #[arg(long, env = "FRONTDESK_GUARD_CACHE_MS", default_value_t = GUARD_CACHE_MS, global = true)]
    pub guard_cache_ms: u64,

    /// Seconds between follow-up scheduler ticks (a due follow-up goes out at most this late).
    #[arg(long, env = "FRONTDESK_SCHEDULER_TICK_SECS", default_value_t = SCHEDULER_TICK_SECS, global = true)]
    pub scheduler_tick_secs: f64,

    /// Twilio REST API base (tests point it at a local fake).
    #[arg(long, env = "FRONTDESK_TWILIO_API_URL", default_value = TWILIO_API_URL, global = true)]
    pub twilio_api_url: String,

    /// WhatsApp Cloud API (Graph API) base.
    #[arg(long, env = "FRONTDESK_WHATSAPP_API_URL", default_value = WHATSAPP_API_URL, global = true)]
    pub whatsapp_api_url: String,

    #[arg(long, env = "FRONTDESK_WHATSAPP_API_VERSION", default_value = WHATSAPP_API_VERSION, global = true)]
    pub whatsapp_api_version: String,

    /// Let studio SMTP integrations use local/private hosts, any port and
    /// plain SMTP (development only: otherwise a studio could aim the worker
    /// at internal services).
    #[arg(long, env = "FRONTDESK_ALLOW_PRIVATE_SMTP", default_value_t = false, global = true)]
    pub allow_private_smtp: bool,

    /// How long a studio session lasts from sign-in.
    #[arg(long, env = "FRONTDESK_SESSION_TTL_HOURS", default_value_t = SESSION_TTL_HOURS, global = true)]
    pub session_ttl_hours: u64,

    /// How long an invitation (and the owner's first sign-in token) is good for.
    #[arg(long, env = "FRONTDESK_INVITATION_TTL_HOURS", default_value_t = INVITATION_TTL_HOURS, global = true)]
    pub invitation_ttl_hours: u64,

    /// argon2id memory per password hash, KiB (production: 19456).
    #[arg(long, env = "FRONTDESK_ARGON2_MEMORY_KIB", default_value_t = ARGON2_MEMORY_KIB, global = true)]
    pub argon2_memory_kib: u32,

    /// argon2id iterations per password hash (production: 2).
    #[arg(long, env = "FRONTDESK_ARGON2_ITERATIONS", default_value_t = ARGON2_ITERATIONS, global = true)]
    pub argon2_iterations: u32,

    /// Studio API requests per minute per session or API key, across replicas.
    #[arg(long, env = "FRONTDESK_API_RATE_LIMIT", default_value_t = API_RATE_LIMIT, global = true)]
    pub api_rate_limit: u32,

    /// Sign-in attempts per email address per window.
    #[arg(long, env = "FRONTDESK_SIGNIN_RATE_LIMIT_EMAIL", default_value_t = SIGNIN_LIMIT_EMAIL, global = true)]
    pub signin_rate_limit_email: u32,

    /// Sign-in attempts per client address per window.
    #[arg(long, env = "FRONTDESK_SIGNIN_RATE_LIMIT_ADDRESS", default_value_t = SIGNIN_LIMIT_ADDRESS, global = true)]
    pub signin_rate_limit_address: u32,

    /// The sign-in limits' window, seconds.
    #[arg(long, env = "FRONTDESK_SIGNIN_WINDOW_SECS", default_value_t = SIGNIN_WINDOW_SECS, global = true)]
    pub signin_window_secs: u64,

    /// Behind a load balancer: the header with the client's address (its
    /// last entry is used), e.g. x-forwarded-for. Unset: the TCP peer.
    #[arg(long, env = "FRONTDESK_CLIENT_IP_HEADER", global = true)]
    pub client_ip_header: Option<String>,

    /// The platform's SMTP server for invitation emails when a studio has no
    /// SMTP integration: smtp://user:pass@host:587 (STARTTLS), smtps://…:465
    /// (TLS), or smtp+plain://host:port (development only).
    #[arg(long, env = "FRONTDESK_SMTP_URL", hide_env_values = true, global = true)]
    pub smtp_url: Option<String>,

    /// The From of platform emails, e.g. "frontdesk <no-reply@example.com>".
    #[arg(long, env = "FRONTDESK_SMTP_FROM", global = true)]
    pub smtp_from: Option<String>,

    /// `json` (production) or `pretty`. Default: pretty on a terminal, else json.
    #[arg(long, env = "FRONTDESK_LOG_FORMAT", global = true)]
    pub log_format: Option<LogFormat>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    Json,
    Pretty,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: DATABASE_URL.into(),
            app_database_url: None,
            db_max_connections: DB_MAX_CONNECTIONS,
            redis_url: REDIS_URL.into(),
            queue_prefix: QUEUE_PREFIX.into(),
            queue_lease_secs: QUEUE_LEASE_SECS,
            workspace_concurrency: WORKSPACE_CONCURRENCY,
            listen: LISTEN.parse().expect("default listen address parses"),
            inflight_bytes: INFLIGHT_BYTES,
            public_url: None,
            master_keys: None,
            meta_app_secret: None,
            whatsapp_verify_token: None,
            stripe_webhook_secret: None,
            mailgun_signing_key: None,
            llm_base_url: None,
            llm_model: LLM_MODEL.into(),
            llm_api_key: None,
            ai_daily_token_budget: AI_DAILY_TOKEN_BUDGET,
            outbox_timeout_secs: OUTBOX_TIMEOUT_SECS,
            data_dir: DATA_DIR.into(),
            worker_concurrency: WORKER_CONCURRENCY,
            guard_cache_ms: GUARD_CACHE_MS,
            scheduler_tick_secs: SCHEDULER_TICK_SECS,
            twilio_api_url: TWILIO_API_URL.into(),
            whatsapp_api_url: WHATSAPP_API_URL.into(),
            whatsapp_api_version: WHATSAPP_API_VERSION.into(),
            allow_private_smtp: false,
            session_ttl_hours: SESSION_TTL_HOURS,
            invitation_ttl_hours: INVITATION_TTL_HOURS,
            argon2_memory_kib: ARGON2_MEMORY_KIB,
            argon2_iterations: ARGON2_ITERATIONS,
            api_rate_limit: API_RATE_LIMIT,
            signin_rate_limit_email: SIGNIN_LIMIT_EMAIL,
            signin_rate_limit_address: SIGNIN_LIMIT_ADDRESS,
            signin_window_secs: SIGNIN_WINDOW_SECS,
            client_ip_header: None,
            smtp_url: None,
            smtp_from: None,
            log_format: None,
        }
    }
}

impl Config {
    pub fn db(&self) -> frontdesk_store::DbConfig {
        frontdesk_store::DbConfig {
            database_url: self.database_url.clone(),
            app_database_url: self.app_database_url.clone(),
            max_connections: self.db_max_connections,
        }
    }

    pub fn platform_secrets(&self) -> frontdesk_api::PlatformSecrets {
        let secret = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(Secret::new);
        frontdesk_api::PlatformSecrets {
            meta_app_secret: secret(&self.meta_app_secret),
            whatsapp_verify_token: secret(&self.whatsapp_verify_token),
            stripe_webhook_secret: secret(&self.stripe_webhook_secret),
            mailgun_signing_key: secret(&self.mailgun_signing_key),
        }
    }

    pub fn platform_llm(&self) -> Option<frontdesk_classifier::LlmConfig> {
        let base = self.llm_base_url.as_deref().filter(|u| !u.is_empty())?;
        Some(frontdesk_classifier::LlmConfig::new(base, &self.llm_model, self.llm_api_key.clone().unwrap_or_default()))
    }

    /// The queue settings every process of this deployment shares.
    pub fn queue(&self) -> frontdesk_queue::QueueConfig {
        let lease = Duration::from_secs(self.queue_lease_secs.max(2));
        frontdesk_queue::QueueConfig {
            lease,
            heartbeat: lease / 3,
            workspace_concurrency: self.workspace_concurrency.max(1),
            ..frontdesk_queue::QueueConfig::default()
        }
        .namespace(&self.queue_prefix)
    }

    pub fn scheduler(&self) -> frontdesk_worker::scheduler::SchedulerConfig {
        frontdesk_worker::scheduler::SchedulerConfig {
            tick: Duration::from_secs_f64(self.scheduler_tick_secs.clamp(0.05, 3600.0)),
            ..Default::default()
        }
    }

    pub fn relay(&self) -> frontdesk_worker::outbox_relay::RelayConfig {
        frontdesk_worker::outbox_relay::RelayConfig {
            stale_after: Duration::from_secs(self.outbox_timeout_secs),
            grace: Duration::from_secs(2),
            idle: Duration::from_secs(1),
        }
    }

    pub fn workers(&self) -> frontdesk_worker::WorkerConfig {
        frontdesk_worker::WorkerConfig {
            concurrency: self.worker_concurrency.max(1),
            guard_cache_ttl: Duration::from_millis(self.guard_cache_ms),
        }
    }

    pub fn send_deps(&self, vault: Vault) -> frontdesk_worker::handlers::send_followup::SendDeps {
        use frontdesk_worker::providers::{self, smtp::SmtpPolicy, twilio::TwilioClient, whatsapp::WhatsappClient};
        let http = providers::http_client();
        frontdesk_worker::handlers::send_followup::SendDeps {
            vault,
            twilio: TwilioClient::new(http.clone(), &self.twilio_api_url),
            whatsapp: WhatsappClient::new(http, &self.whatsapp_api_url, &self.whatsapp_api_version),
            smtp: SmtpPolicy { allow_private: self.allow_private_smtp },
            public_url: self.public_url(),
        }
    }

    /// How the studio API signs people in, limits them and reaches
    /// providers for integration checks.
    pub fn studio(&self) -> Result<frontdesk_api::StudioSettings, AppError> {
        use frontdesk_worker::providers::{self, smtp::SmtpPolicy, twilio::TwilioClient, whatsapp::WhatsappClient};
        let passwords = frontdesk_api::Passwords::new(self.argon2_memory_kib, self.argon2_iterations)
            .map_err(|e| AppError::Config(format!("argon2 parameters: {e}")))?;
        let client_ip_header = match self.client_ip_header.as_deref().filter(|h| !h.is_empty()) {
            Some(h) => Some(
                h.to_ascii_lowercase()
                    .parse()
                    .map_err(|_| AppError::Config(format!("FRONTDESK_CLIENT_IP_HEADER {h:?} is not a header name")))?,
            ),
            None => None,
        };
        let http = providers::http_client();
        Ok(frontdesk_api::StudioSettings {
            session_ttl: Duration::from_secs(self.session_ttl_hours.max(1) * 3600),
            invitation_ttl: Duration::from_secs(self.invitation_ttl_hours.max(1) * 3600),
            passwords,
            rate_limits: frontdesk_api::RateLimits {
                per_credential_per_minute: self.api_rate_limit.max(1),
                signin_per_email: self.signin_rate_limit_email.max(1),
                signin_per_address: self.signin_rate_limit_address.max(1),
                signin_window: Duration::from_secs(self.signin_window_secs.max(1)),
            },
            client_ip_header,
            checks: frontdesk_api::ProviderChecks {
                twilio: TwilioClient::new(http.clone(), &self.twilio_api_url),
                whatsapp: WhatsappClient::new(http.clone(), &self.whatsapp_api_url, &self.whatsapp_api_version),
                smtp: SmtpPolicy { allow_private: self.allow_private_smtp },
                http,
            },
            platform_smtp: self.platform_smtp()?,
        })
    }

    /// `FRONTDESK_SMTP_URL` and `FRONTDESK_SMTP_FROM` as an SMTP account.
    fn platform_smtp(&self) -> Result<Option<frontdesk_worker::providers::smtp::SmtpAccount>, AppError> {
        use frontdesk_worker::providers::smtp::{Security, SmtpAccount};
        let Some(raw) = self.smtp_url.as_deref().filter(|u| !u.is_empty()) else { return Ok(None) };
        // Errors never repeat the URL: it may carry a password.
        let bad = |why: &str| AppError::Config(format!("FRONTDESK_SMTP_URL: {why}"));
        let url = url::Url::parse(raw).map_err(|_| bad("not a URL"))?;
        let (security, default_port) = match url.scheme() {
            "smtp" => (Security::StartTls, 587),
            "smtps" => (Security::Tls, 465),
            "smtp+plain" => (Security::None, 25),
            _ => return Err(bad("the scheme must be smtp, smtps or smtp+plain")),
        };
        let host = url.host_str().ok_or_else(|| bad("no host"))?.to_owned();
        let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
        let username = Some(decode(url.username())).filter(|u| !u.is_empty());
        let password = url.password().map(|p| Secret::new(decode(p)));
        let from = self
            .smtp_from
            .clone()
            .filter(|f| !f.is_empty())
            .ok_or_else(|| bad("FRONTDESK_SMTP_FROM is required with it"))?;
        Ok(Some(SmtpAccount { host, port: url.port().unwrap_or(default_port), security, username, password, from }))
    }

    pub fn public_url(&self) -> String {
        self.public_url.clone().unwrap_or_else(|| format!("http://{}", self.listen))
    }

    /// The configured master keys, or a development key generated once and
    /// kept (mode 0600) so secrets survive restarts.
    pub fn master_keys(&self) -> Result<MasterKeys, AppError> {
        if let Some(list) = &self.master_keys {
            return list
                .parse()
                .map_err(|e| AppError::MasterKeys { origin: "FRONTDESK_MASTER_KEYS".into(), source: e });
        }
        let path = self.data_dir.join("master_keys");
        if !path.exists() {
            let io = |e| AppError::KeyFile { path: path.clone(), source: e };
            fs::create_dir_all(&self.data_dir).map_err(io)?;
            let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(io)?;
            file.write_all(MasterKeys::generate_encoded(1).as_bytes()).map_err(io)?;
        }
        // On every start, not only the first: a key file is for development.
        tracing::warn!(path = %path.display(), "FRONTDESK_MASTER_KEYS is unset: using the development master key file; set it explicitly in production");
        let list = fs::read_to_string(&path).map_err(|e| AppError::KeyFile { path: path.clone(), source: e })?;
        list.trim().parse().map_err(|e| AppError::MasterKeys { origin: path.display().to_string(), source: e })
    }
}
