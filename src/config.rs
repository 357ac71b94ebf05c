//! Configuration from the environment (`FRONTDESK_` prefix; `DATABASE_URL`
//! and `REDIS_URL` keep their conventional names) or flags. Defaults work
//! on one machine against local Postgres and Redis.

use std::{fs, io::Write, net::SocketAddr, os::unix::fs::OpenOptionsExt, path::PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use frontdesk_store::vault::{MasterKeys, Secret};

#[derive(Args, Clone, Debug)]
pub struct Config {
    /// Owner connection: migrations and admin commands. The database is
    /// created if missing.
    #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/frontdesk", global = true)]
    pub database_url: String,

    /// Runtime connection (the non-owner `frontdesk_app` role). Default: the
    /// owner URL with the user swapped for frontdesk_app.
    #[arg(long, env = "FRONTDESK_APP_DATABASE_URL", global = true)]
    pub app_database_url: Option<String>,

    #[arg(long, env = "FRONTDESK_DB_MAX_CONNECTIONS", default_value_t = 20, global = true)]
    pub db_max_connections: u32,

    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379", global = true)]
    pub redis_url: String,

    /// Prefix of every Redis key, so several deployments (or tests) can share a Redis.
    #[arg(long, env = "FRONTDESK_QUEUE_PREFIX", default_value = "frontdesk", global = true)]
    pub queue_prefix: String,

    /// A job held by a worker that stops heartbeating is re-delivered after this.
    #[arg(long, env = "FRONTDESK_QUEUE_LEASE_SECS", default_value_t = 6, global = true)]
    pub queue_lease_secs: u64,

    /// Jobs of one workspace in flight at once, across all workers (per queue).
    #[arg(long, env = "FRONTDESK_WORKSPACE_CONCURRENCY", default_value_t = 8, global = true)]
    pub workspace_concurrency: u32,

    #[arg(long, env = "FRONTDESK_LISTEN", default_value = "127.0.0.1:8080", global = true)]
    pub listen: SocketAddr,

    /// The base URL providers call (Twilio signs it). Default: http://<listen>.
    #[arg(long, env = "FRONTDESK_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// `<version>:<base64 32 bytes>[,...]`; the highest version encrypts.
    /// Unset: a development key is generated once into FRONTDESK_DATA_DIR.
    #[arg(long, env = "FRONTDESK_MASTER_KEYS", hide_env_values = true, global = true)]
    pub master_keys: Option<String>,

    /// Bearer token for the ops dashboard and ops endpoints.
    #[arg(long, env = "FRONTDESK_OPS_TOKEN", hide_env_values = true, global = true)]
    pub ops_token: Option<String>,

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

    #[arg(long, env = "FRONTDESK_LLM_MODEL", default_value = "gpt-4o-mini", global = true)]
    pub llm_model: String,

    #[arg(long, env = "FRONTDESK_LLM_API_KEY", hide_env_values = true, global = true)]
    pub llm_api_key: Option<String>,

    /// Tokens per workspace per day (UTC) before classification falls back offline.
    #[arg(long, env = "FRONTDESK_AI_DAILY_TOKEN_BUDGET", default_value_t = 200_000, global = true)]
    pub ai_daily_token_budget: i64,

    /// Seconds after which the outbox relay re-pushes a job that has not run.
    #[arg(long, env = "FRONTDESK_OUTBOX_TIMEOUT_SECS", default_value_t = 300, global = true)]
    pub outbox_timeout_secs: u64,

    /// Where development state (the generated master key) is kept.
    #[arg(long, env = "FRONTDESK_DATA_DIR", default_value = ".frontdesk", global = true)]
    pub data_dir: PathBuf,

    #[arg(long, env = "FRONTDESK_WORKER_CONCURRENCY", default_value_t = 16, global = true)]
    pub worker_concurrency: usize,

    /// Seconds between follow-up scheduler ticks (a due follow-up goes out at most this late).
    #[arg(long, env = "FRONTDESK_SCHEDULER_TICK_SECS", default_value_t = 15.0, global = true)]
    pub scheduler_tick_secs: f64,

    /// Twilio REST API base (tests point it at a local fake).
    #[arg(long, env = "FRONTDESK_TWILIO_API_URL", default_value = "https://api.twilio.com", global = true)]
    pub twilio_api_url: String,

    /// WhatsApp Cloud API (Graph API) base.
    #[arg(long, env = "FRONTDESK_WHATSAPP_API_URL", default_value = "https://graph.facebook.com", global = true)]
    pub whatsapp_api_url: String,

    #[arg(long, env = "FRONTDESK_WHATSAPP_API_VERSION", default_value = "v21.0", global = true)]
    pub whatsapp_api_version: String,

    /// Let studio SMTP integrations use local/private hosts, any port and
    /// plain SMTP (development only: otherwise a studio could aim the worker
    /// at internal services).
    #[arg(long, env = "FRONTDESK_ALLOW_PRIVATE_SMTP", default_value_t = false, global = true)]
    pub allow_private_smtp: bool,

    /// `json` (production) or `pretty`. Default: pretty on a terminal, else json.
    #[arg(long, env = "FRONTDESK_LOG_FORMAT", global = true)]
    pub log_format: Option<LogFormat>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    Json,
    Pretty,
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

    pub fn queue(&self, namespace: &str) -> frontdesk_queue::QueueConfig {
        let lease = std::time::Duration::from_secs(self.queue_lease_secs.max(2));
        frontdesk_queue::QueueConfig {
            lease,
            heartbeat: lease / 3,
            workspace_concurrency: self.workspace_concurrency.max(1),
            ..frontdesk_queue::QueueConfig::default()
        }
        .namespace(namespace)
    }

    pub fn scheduler(&self) -> frontdesk_worker::scheduler::SchedulerConfig {
        frontdesk_worker::scheduler::SchedulerConfig {
            tick: std::time::Duration::from_secs_f64(self.scheduler_tick_secs.clamp(0.05, 3600.0)),
            ..Default::default()
        }
    }

    pub fn send_deps(
        &self,
        vault: frontdesk_store::vault::Vault,
    ) -> frontdesk_worker::handlers::send_followup::SendDeps {
        let http = frontdesk_worker::providers::http_client();
        frontdesk_worker::handlers::send_followup::SendDeps {
            vault,
            twilio: frontdesk_worker::providers::twilio::TwilioClient::new(http.clone(), &self.twilio_api_url),
            whatsapp: frontdesk_worker::providers::whatsapp::WhatsappClient::new(
                http,
                &self.whatsapp_api_url,
                &self.whatsapp_api_version,
            ),
            smtp: frontdesk_worker::providers::smtp::SmtpPolicy { allow_private: self.allow_private_smtp },
            public_url: self.public_url(),
        }
    }

    pub fn public_url(&self) -> String {
        self.public_url.clone().unwrap_or_else(|| format!("http://{}", self.listen))
    }

    /// The configured master keys, or a development key generated once and
    /// kept (mode 0600) so secrets survive restarts.
    pub fn master_keys(&self) -> anyhow::Result<MasterKeys> {
        if let Some(list) = &self.master_keys {
            return list.parse().context("FRONTDESK_MASTER_KEYS");
        }
        let path = self.data_dir.join("master_keys");
        if !path.exists() {
            fs::create_dir_all(&self.data_dir).with_context(|| format!("creating {}", self.data_dir.display()))?;
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            file.write_all(MasterKeys::generate_encoded(1).as_bytes())?;
        }
        // On every start, not only the first: a key file is for development.
        tracing::warn!(path = %path.display(), "FRONTDESK_MASTER_KEYS is unset: using the development master key file; set it explicitly in production");
        let list = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        list.trim().parse().with_context(|| format!("master keys in {}", path.display()))
    }
}
