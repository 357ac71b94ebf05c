//! `TestApp`: the real app, built by `App::build` from the test's
//! configuration (its own database and Redis namespace, port 0, fake
//! provider URLs), serving HTTP on a random port; workers and the scheduler
//! start when a test asks, and [`TestApp::drain`] runs them until every job
//! is done. Builders for provider-configured workspaces and senders that
//! sign requests the way each provider does (`frontdesk_testkit::signers`,
//! independent of the api's verifiers).

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::Utc;
use frontdesk_api::WebhookMetrics;
use frontdesk_app::{App, Config, Running, Services};
use frontdesk_jobs::{IntegrationId, WorkspaceId};
use frontdesk_queue::RedisQueue;
use frontdesk_store::{
    Db,
    integrations::{self, NewIntegration, Provider},
    routes::{self, NewRoute, RouteProvider},
    vault::{Secret, Vault},
    workspaces::{self, NewWorkspace},
};
use frontdesk_testkit::signers;
use frontdesk_worker::{WorkerMetrics, scheduler::Scheduler};
use sqlx::{AssertSqlSafe, PgPool};

use crate::helpers::{DRAIN_LIMIT, TestEnv, redis_url};
pub use crate::helpers::{MAILGUN_KEY, META_APP_SECRET, PUBLIC_URL, STRIPE_SECRET, WHATSAPP_VERIFY_TOKEN};

/// Where the in-process workers find the outside world.
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
    pub metrics: Arc<WebhookMetrics>,
    pub queue: RedisQueue,
    /// Started services (the api first); dropping them stops them.
    running: Mutex<Vec<Running>>,
    /// The job-finished signal of each in-process worker app.
    workers: Mutex<Vec<Arc<WorkerMetrics>>>,
    /// The scheduler a test started; its background ticks and a drain's
    /// tick-then-check take turns on the lock, so a drain never checks the
    /// queues while a background tick holds rows it has not committed.
    scheduler: Mutex<Option<(Scheduler, Arc<tokio::sync::Mutex<()>>)>>,
    background: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        for task in self.background.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

impl TestApp {
    /// The api only; jobs wait in Redis until the test starts workers or drains.
    pub async fn spawn(owner: &PgPool) -> Self {
        Self::spawn_with_redis(owner, &redis_url()).await
    }

    /// Like [`TestApp::spawn`], against the Redis at `redis` (a test that
    /// stops Redis runs its own).
    pub async fn spawn_with_redis(owner: &PgPool, redis: &str) -> Self {
        Self::spawn_configured(owner, redis, |_| {}).await
    }

    /// The api on a configuration `tweak` adjusted (provider fakes for
    /// integration checks, low limits).
    pub async fn spawn_configured(owner: &PgPool, redis: &str, tweak: impl FnOnce(&mut Config)) -> Self {
        let env = TestEnv::configured(owner, redis, tweak).await;
        let api = env.app.start(Services::API).await.expect("the api starts");
        Self {
            owner: owner.clone(),
            addr: api.api_addr().expect("the api listens"),
            http: reqwest::Client::new(),
            vault: env.app.vault().clone(),
            metrics: env.app.api_state().metrics.clone(),
            queue: env.queue.clone(),
            running: Mutex::new(vec![api]),
            workers: Mutex::default(),
            scheduler: Mutex::default(),
            background: Mutex::default(),
            env,
        }
    }

    pub fn db(&self) -> &Db {
        &self.env.db
    }

    pub fn config(&self) -> &Config {
        &self.env.config
    }

    /// Runs the real workers (and the outbox relay) in-process until the
    /// app drops; classification is offline and providers unreachable.
    pub async fn start_worker(&self) {
        self.start_worker_with(WorkerSetup::default()).await;
    }

    /// Like [`TestApp::start_worker`], with `llm` as the platform's default endpoint.
    pub async fn start_worker_with_llm(&self, llm: Option<frontdesk_classifier::LlmConfig>) {
        self.start_worker_with(WorkerSetup { llm, ..WorkerSetup::default() }).await;
    }

    /// Workers as a worker process with this setup would run them: a second
    /// app on the same configuration, its provider URLs pointed at fakes.
    pub async fn start_worker_with(&self, setup: WorkerSetup) {
        let mut config = self.config().clone();
        if let Some(url) = setup.twilio_url {
            config.twilio_api_url = url;
        }
        if let Some(url) = setup.whatsapp_url {
            config.whatsapp_api_url = url;
        }
        let mut app = App::build(config).await.expect("the worker app builds");
        if setup.llm.is_some() {
            app.set_platform_llm(setup.llm);
        }
        let running =
            app.start(Services { workers: true, relay: true, ..Services::default() }).await.expect("the workers start");
        self.workers.lock().unwrap().push(app.worker_deps().metrics.clone());
        self.running.lock().unwrap().push(running);
    }

    /// Runs the follow-up scheduler in-process (ticking every 100 ms, like
    /// `frontdesk worker` with a short tick) until the app drops;
    /// [`TestApp::drain`] also ticks it.
    pub async fn start_scheduler(&self) {
        let (scheduler, turn) = (self.env.app.scheduler(), Arc::new(tokio::sync::Mutex::new(())));
        let (ticking, ticks) = (scheduler.clone(), turn.clone());
        let task = tokio::spawn(async move {
            loop {
                {
                    let _turn = ticks.lock().await;
                    let _ = ticking.tick(Utc::now()).await;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        self.background.lock().unwrap().push(task.abort_handle());
        *self.scheduler.lock().unwrap() = Some((scheduler, turn));
    }

    /// Runs the workers (starting default ones if the test started none)
    /// until every queue of this test's namespace is empty and every outbox
    /// entry is done; with the scheduler on, until a tick finds nothing due.
    /// Wakes when a job finishes in this process and otherwise re-checks
    /// every 25 ms (a finished job's ack lands in Redis just after it
    /// finishes; retries and rate-limited jobs come due on their own).
    pub async fn drain(&self) {
        if self.workers.lock().unwrap().is_empty() {
            self.start_worker().await;
        }
        let workers: Vec<Arc<WorkerMetrics>> = self.workers.lock().unwrap().clone();
        let scheduler = self.scheduler.lock().unwrap().clone();
        let started = Instant::now();
        loop {
            let mut finished: Vec<_> = workers.iter().map(|w| Box::pin(w.job_finished())).collect();
            for f in &mut finished {
                // Registered before the check, so a job finishing in between wakes us.
                f.as_mut().enable();
            }
            let turn = match &scheduler {
                Some((_, turn)) => Some(turn.lock().await),
                None => None,
            };
            let ticked_nothing = match &scheduler {
                Some((s, _)) => s.tick(Utc::now()).await.expect("scheduler tick") == Default::default(),
                None => true,
            };
            let pending = self.pending().await;
            drop(turn);
            if ticked_nothing && pending.is_empty() {
                return;
            }
            assert!(started.elapsed() < DRAIN_LIMIT, "drain gave up after {DRAIN_LIMIT:?}; still pending: {pending:?}");
            // A job finishing is the usual wake-up; the timer covers jobs
            // that come due (retries, rate limits) and acks landing in Redis.
            let _ = tokio::time::timeout(Duration::from_millis(25), futures::future::select_all(finished)).await;
        }
    }

    /// See [`TestEnv::wait_until_idle`]: for workers in another process.
    pub async fn wait_until_idle(&self) {
        self.env.wait_until_idle().await;
    }

    async fn pending(&self) -> Vec<String> {
        self.env.pending().await
    }

    /// The counters of every in-process worker app this test started.
    pub fn worker_metrics(&self) -> Vec<Arc<WorkerMetrics>> {
        self.workers.lock().unwrap().clone()
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
            route_key: routes::twilio_number_key(account_sid, number),
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
        let id = self
            .integration(
                ws,
                NewIntegration {
                    provider: Provider::GoogleCalendar,
                    sandbox: false,
                    external_id: Some("primary".into()),
                    settings: serde_json::json!({}),
                    secret: Some(Secret::new("refresh-token")),
                },
            )
            .await;
        self.route(ws, RouteProvider::GoogleCalendar, channel_id, Some(id), Some(token)).await;
        id
    }

    /// POSTs a Twilio form to `path`, signed with `auth_token` over the public URL.
    pub async fn post_twilio(&self, path: &str, params: &[(&str, &str)], auth_token: &str) -> reqwest::Response {
        let signature = signers::twilio(auth_token, &format!("{PUBLIC_URL}{path}"), params);
        self.http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(signers::form_body(params))
            .send()
            .await
            .unwrap()
    }

    pub async fn post_whatsapp(&self, body: &serde_json::Value) -> reqwest::Response {
        let raw = serde_json::to_vec(body).unwrap();
        self.http
            .post(self.url("/webhooks/whatsapp"))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signers::hub(META_APP_SECRET, &raw))
            .body(raw)
            .send()
            .await
            .unwrap()
    }

    /// A Mailgun route forward, signed now with `token`.
    pub async fn post_email(&self, fields: &[(&str, &str)], token: &str) -> reqwest::Response {
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let signature = signers::mailgun(MAILGUN_KEY, &timestamp, token);
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.extend([("timestamp", timestamp.as_str()), ("token", token), ("signature", signature.as_str())]);
        self.http
            .post(self.url("/webhooks/email"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(signers::form_body(&all))
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
            .header("stripe-signature", signers::stripe(STRIPE_SECRET, t, &raw))
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

    /// Jobs waiting in Redis for `queue` (all workspaces).
    pub async fn waiting_jobs(&self, queue: &str) -> u64 {
        let stats = self.queue.stats(queue).await.unwrap();
        stats.waiting + stats.scheduled
    }
}

/// A studio API answer.
#[derive(Debug)]
pub struct ApiReply {
    pub status: u16,
    /// The body as JSON (`Null` when empty).
    pub body: serde_json::Value,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
}

/// A signed-in studio user.
#[derive(Clone, Debug)]
pub struct SignedIn {
    pub workspace: WorkspaceId,
    pub user: String,
    pub token: String,
}

impl TestApp {
    /// A JSON request to the studio API.
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> ApiReply {
        self.api_with(method, path, token, body, &[]).await
    }

    pub async fn api_with(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> ApiReply {
        api_request(&self.http, &self.url(path), method, token, body, headers).await
    }

    /// A workspace and its owner, created as `frontdesk workspace create`
    /// does, then signed in through the API (accepting the invitation).
    pub async fn owner(&self, name: &str, email: &str) -> SignedIn {
        let ws = self.workspace(name).await;
        self.member(ws, email, frontdesk_store::users::Role::Owner).await
    }

    /// A user of `ws` with `role`, invited directly and signed in through the API.
    pub async fn member(&self, ws: WorkspaceId, email: &str, role: frontdesk_store::users::Role) -> SignedIn {
        let invitation = frontdesk_api::auth::tokens::new_invitation();
        let mut tx = self.db().tenant(ws).await.unwrap();
        let new = frontdesk_store::users::NewUser {
            email,
            name: "",
            role,
            invite_token_hash: invitation.hash,
            invite_expires_at: Utc::now() + chrono::Duration::hours(1),
        };
        frontdesk_store::users::invite(&mut tx, &new).await.unwrap();
        tx.commit().await.unwrap();
        let body = serde_json::json!({ "token": invitation.token, "password": PASSWORD });
        let reply = self.api(reqwest::Method::POST, "/v1/auth/invitations/accept", None, Some(&body)).await;
        assert_eq!(reply.status, 201, "accepting the invitation: {reply:?}");
        SignedIn {
            workspace: ws,
            user: reply.body["user"]["id"].as_str().unwrap().to_owned(),
            token: reply.body["token"].as_str().unwrap().to_owned(),
        }
    }
}

/// The password test users sign in with.
pub const PASSWORD: &str = "correct horse battery staple";

pub async fn api_request(
    http: &reqwest::Client,
    url: &str,
    method: reqwest::Method,
    token: Option<&str>,
    body: Option<&serde_json::Value>,
    headers: &[(&str, &str)],
) -> ApiReply {
    let mut request = http.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
    };
    ApiReply { status, body, content_type, headers }
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
