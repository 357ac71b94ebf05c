//! `TestApp`: the real HTTP api on a random port and (optionally) the real
//! worker monitor, on the test's own database and Redis namespace, plus
//! builders for provider-configured workspaces and signers that speak each
//! provider's wire format. Signatures are computed here independently of
//! the api's own verification code.

use std::{collections::BTreeMap, net::SocketAddr, sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::STANDARD};
use frontdesk_api::{AppState, PlatformSecrets, WebhookMetrics};
use frontdesk_jobs::{IntegrationId, Jobs, WorkspaceId};
use frontdesk_queue::{QueueConfig, RedisQueue};
use frontdesk_store::{
    Db,
    integrations::{self, NewIntegration, Provider},
    routes::{self, NewRoute, RouteProvider},
    vault::{MasterKeys, Secret, Vault},
    workspaces::{self, NewWorkspace},
};
use frontdesk_worker::{
    GuardMetrics, WorkerConfig, WorkerDeps,
    handlers::{classify_lead::ClassifyDeps, send_followup::SendDeps},
    providers::{smtp::SmtpPolicy, twilio::TwilioClient, whatsapp::WhatsappClient},
    scheduler::{Scheduler, SchedulerConfig},
};
use hmac::{KeyInit, Mac};
use sqlx::{AssertSqlSafe, PgPool};
use tokio::sync::watch;

use crate::helpers::{TestEnv, eventually, redis_url};

pub const PUBLIC_URL: &str = "https://hooks.frontdesk.test";
pub const META_APP_SECRET: &str = "meta-app-secret";
pub const WHATSAPP_VERIFY_TOKEN: &str = "verify-me";
pub const STRIPE_SECRET: &str = "whsec_frontdesk_test";
pub const MAILGUN_KEY: &str = "mailgun-signing-key";

/// Where the in-process worker finds the outside world.
#[derive(Default)]
pub struct WorkerSetup {
    pub llm: Option<frontdesk_classifier::LlmConfig>,
    /// A fake Twilio REST API.
    pub twilio_url: Option<String>,
    /// A fake WhatsApp Cloud API.
    pub whatsapp_url: Option<String>,
}

pub struct TestApp {
    pub env: TestEnv,
    pub owner: PgPool,
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    pub vault: Vault,
    /// `FRONTDESK_MASTER_KEYS` for a worker process that must open `vault`'s secrets.
    pub master_keys: String,
    pub metrics: Arc<WebhookMetrics>,
    pub queue: RedisQueue,
    stop: watch::Sender<bool>,
}

impl TestApp {
    /// The api only; jobs wait in Redis until [`TestApp::start_worker`].
    pub async fn spawn(owner: &PgPool) -> Self {
        Self::spawn_with_redis(owner, &redis_url()).await
    }

    /// Like [`TestApp::spawn`], against the Redis at `redis` (a test that
    /// stops Redis runs its own).
    pub async fn spawn_with_redis(owner: &PgPool, redis: &str) -> Self {
        let env = TestEnv::new_with_redis(owner, redis).await;
        let queue = RedisQueue::connect(redis, QueueConfig::default().namespace(env.prefix.clone())).await.unwrap();
        let master_keys = MasterKeys::generate_encoded(1);
        let vault = Vault::new(master_keys.parse().unwrap());
        let metrics = Arc::new(WebhookMetrics::default());
        let state = AppState {
            db: env.db.clone(),
            jobs: env.jobs.clone(),
            vault: vault.clone(),
            public_url: PUBLIC_URL.into(),
            secrets: Arc::new(PlatformSecrets {
                meta_app_secret: Some(Secret::new(META_APP_SECRET)),
                whatsapp_verify_token: Some(Secret::new(WHATSAPP_VERIFY_TOKEN)),
                stripe_webhook_secret: Some(Secret::new(STRIPE_SECRET)),
                mailgun_signing_key: Some(Secret::new(MAILGUN_KEY)),
            }),
            metrics: metrics.clone(),
            signing_keys: Arc::new(frontdesk_api::SigningKeys::default()),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, mut stopped) = watch::channel(false);
        tokio::spawn(frontdesk_api::serve(listener, state, async move {
            let _ = stopped.wait_for(|s| *s).await;
        }));
        Self { env, owner: owner.clone(), addr, http: reqwest::Client::new(), vault, master_keys, metrics, queue, stop }
    }

    pub fn db(&self) -> &Db {
        &self.env.db
    }

    /// Runs the real worker monitor in-process until the app drops;
    /// classification is offline and providers unreachable.
    pub async fn start_worker(&self) {
        self.start_worker_with(WorkerSetup::default()).await;
    }

    /// Like [`TestApp::start_worker`], with `llm` as the platform's default endpoint.
    pub async fn start_worker_with_llm(&self, llm: Option<frontdesk_classifier::LlmConfig>) {
        self.start_worker_with(WorkerSetup { llm, ..WorkerSetup::default() }).await;
    }

    /// Runs the follow-up scheduler in-process until the app drops.
    pub fn start_scheduler(&self) {
        let config = SchedulerConfig { tick: Duration::from_millis(100), ..SchedulerConfig::default() };
        let scheduler = Scheduler::new(self.env.db.clone(), self.env.jobs.clone(), config);
        tokio::spawn(scheduler.run(self.stop.subscribe()));
    }

    pub async fn start_worker_with(&self, setup: WorkerSetup) {
        let llm = setup.llm;
        let http = frontdesk_worker::providers::http_client();
        let unreachable = "http://127.0.0.1:9".to_owned();
        let send = SendDeps {
            vault: self.vault.clone(),
            twilio: TwilioClient::new(http.clone(), setup.twilio_url.unwrap_or_else(|| unreachable.clone())),
            whatsapp: WhatsappClient::new(http, setup.whatsapp_url.unwrap_or(unreachable), "v21.0"),
            // The tests' SMTP server listens on 127.0.0.1.
            smtp: SmtpPolicy { allow_private: true },
            public_url: PUBLIC_URL.into(),
        };
        let queue = self.queue.clone();
        let deps = WorkerDeps {
            db: self.env.db.clone(),
            jobs: Jobs::new(queue.clone()),
            queue,
            metrics: Arc::new(GuardMetrics::default()),
            classify: ClassifyDeps {
                offline: Arc::new(frontdesk_classifier::OfflineClassifier::new()),
                platform_llm: llm,
                default_daily_budget: Some(100_000),
                vault: self.vault.clone(),
            },
            send,
        };
        let mut stopped = self.stop.subscribe();
        let config = WorkerConfig { concurrency: 4, guard_cache_ttl: Duration::ZERO };
        tokio::spawn(frontdesk_worker::run_workers(deps, config, async move {
            let _ = stopped.wait_for(|s| *s).await;
            Ok(())
        }));
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn workspace(&self, name: &str) -> WorkspaceId {
        workspaces::create(self.db(), &NewWorkspace { name: name.into(), timezone: "America/New_York".into() })
            .await
            .unwrap()
    }

    /// A workspace's Twilio account (auth token in the vault) with one number routed to it.
    pub async fn twilio(&self, ws: WorkspaceId, account_sid: &str, number: &str, auth_token: &str) -> IntegrationId {
        let mut tx = self.db().tenant(ws).await.unwrap();
        let id = integrations::create(
            &mut tx,
            &self.vault,
            &NewIntegration {
                provider: Provider::Twilio,
                sandbox: false,
                external_id: Some(account_sid.into()),
                settings: serde_json::json!({ "from": number }),
                secret: Some(Secret::new(auth_token)),
            },
        )
        .await
        .unwrap();
        let route = NewRoute {
            provider: RouteProvider::Twilio,
            route_key: format!("num:{account_sid}:{number}"),
            integration_id: Some(id),
            channel_token: None,
        };
        routes::add(&mut tx, &route).await.unwrap();
        tx.commit().await.unwrap();
        id
    }

    pub async fn route(
        &self,
        ws: WorkspaceId,
        provider: RouteProvider,
        key: &str,
        integration: Option<IntegrationId>,
        token: Option<&str>,
    ) {
        let mut tx = self.db().tenant(ws).await.unwrap();
        let route = NewRoute {
            provider,
            route_key: key.into(),
            integration_id: integration,
            channel_token: token.map(str::to_owned),
        };
        routes::add(&mut tx, &route).await.unwrap();
        tx.commit().await.unwrap();
    }

    /// Any integration, its secret sealed for `ws`.
    pub async fn integration(&self, ws: WorkspaceId, new: NewIntegration) -> IntegrationId {
        let mut tx = self.db().tenant(ws).await.unwrap();
        let id = integrations::create(&mut tx, &self.vault, &new).await.unwrap();
        tx.commit().await.unwrap();
        id
    }

    /// A Google Calendar integration routed by `channel_id` with `token`.
    pub async fn google(&self, ws: WorkspaceId, channel_id: &str, token: &str) -> IntegrationId {
        let mut tx = self.db().tenant(ws).await.unwrap();
        let id = integrations::create(
            &mut tx,
            &self.vault,
            &NewIntegration {
                provider: Provider::GoogleCalendar,
                sandbox: false,
                external_id: Some("primary".into()),
                settings: serde_json::json!({}),
                secret: Some(Secret::new("refresh-token")),
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        self.route(ws, RouteProvider::GoogleCalendar, channel_id, Some(id), Some(token)).await;
        id
    }

    /// POSTs a Twilio form to `path`, signed with `auth_token` over the public URL.
    pub async fn post_twilio(&self, path: &str, params: &[(&str, &str)], auth_token: &str) -> reqwest::Response {
        let signature = twilio_signature(auth_token, &format!("{PUBLIC_URL}{path}"), params);
        self.http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(form_body(params))
            .send()
            .await
            .unwrap()
    }

    pub async fn post_whatsapp(&self, body: &serde_json::Value) -> reqwest::Response {
        let raw = serde_json::to_vec(body).unwrap();
        self.http
            .post(self.url("/webhooks/whatsapp"))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", hub_signature(META_APP_SECRET, &raw))
            .body(raw)
            .send()
            .await
            .unwrap()
    }

    /// A Mailgun route forward, signed now with `token`.
    pub async fn post_email(&self, fields: &[(&str, &str)], token: &str) -> reqwest::Response {
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let signature = mailgun_signature(MAILGUN_KEY, &timestamp, token);
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.extend([("timestamp", timestamp.as_str()), ("token", token), ("signature", signature.as_str())]);
        self.http
            .post(self.url("/webhooks/email"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&all))
            .send()
            .await
            .unwrap()
    }

    pub async fn post_stripe(&self, body: &serde_json::Value) -> reqwest::Response {
        let raw = serde_json::to_vec(body).unwrap();
        let t = chrono::Utc::now().timestamp();
        self.http
            .post(self.url("/webhooks/stripe"))
            .header("content-type", "application/json")
            .header("stripe-signature", stripe_signature(STRIPE_SECRET, t, &raw))
            .body(raw)
            .send()
            .await
            .unwrap()
    }

    pub async fn google_push(&self, channel_id: &str, token: &str, number: u64, state: &str) -> reqwest::Response {
        self.http
            .post(self.url("/webhooks/google/calendar"))
            .header("x-goog-channel-id", channel_id)
            .header("x-goog-channel-token", token)
            .header("x-goog-resource-id", "resource-1")
            .header("x-goog-resource-state", state)
            .header("x-goog-message-number", number.to_string())
            .send()
            .await
            .unwrap()
    }

    /// Row count of every table, as the owner (bypassing RLS), to prove a
    /// refused request wrote nothing anywhere.
    pub async fn row_counts(&self) -> BTreeMap<String, i64> {
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' AND tablename <> '_sqlx_migrations'",
        )
        .fetch_all(&self.owner)
        .await
        .unwrap();
        let mut counts = BTreeMap::new();
        for t in tables {
            let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {t}")))
                .fetch_one(&self.owner)
                .await
                .unwrap();
            counts.insert(t, n);
        }
        counts
    }

    /// Waits until every job the pipeline enqueued has finished (each outbox
    /// entry done), so a test can compare row counts without racing a
    /// follow-on job such as the classification a processed message starts.
    pub async fn wait_idle(&self) {
        let pending = || async {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM outbox WHERE done_at IS NULL")
                .fetch_one(&self.owner)
                .await
                .unwrap()
        };
        assert!(eventually(Duration::from_secs(30), || async { pending().await == 0 }).await, "jobs still pending");
    }

    /// Jobs waiting in Redis for `queue` (all workspaces).
    pub async fn waiting_jobs(&self, queue: &str) -> u64 {
        let stats = self.queue.stats(queue).await.unwrap();
        stats.waiting + stats.scheduled
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

pub fn form_body(params: &[(&str, &str)]) -> String {
    params.iter().map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v))).collect::<Vec<_>>().join("&")
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn twilio_signature(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted: Vec<(&str, &str)> = params.to_vec();
    sorted.sort();
    let mut data = url.to_owned();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

pub fn hub_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

pub fn mailgun_signature(key: &str, timestamp: &str, token: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

pub fn stripe_signature(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// A WhatsApp Cloud API notification with one text message per
/// `(phone_number_id, from, wamid, text)`, each in its own entry.
pub fn whatsapp_messages(messages: &[(&str, &str, &str, &str)]) -> serde_json::Value {
    let entries: Vec<_> = messages
        .iter()
        .map(|(phone_number_id, from, wamid, text)| {
            serde_json::json!({
                "id": "WABA_ID",
                "changes": [{
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": { "display_phone_number": "15550001111", "phone_number_id": phone_number_id },
                        "contacts": [{ "profile": { "name": "Maria" }, "wa_id": from }],
                        "messages": [{ "from": from, "id": wamid, "timestamp": "1700000000", "type": "text", "text": { "body": text } }]
                    }
                }]
            })
        })
        .collect();
    serde_json::json!({ "object": "whatsapp_business_account", "entry": entries })
}
