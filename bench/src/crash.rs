//! `frontdesk bench crash`: missed calls, each owed exactly one text-back,
//! through a real `frontdesk api` and `frontdesk worker` while the worker is
//! killed with SIGKILL every 2–4 s (phase 1), then while the api is killed a
//! few times mid-burst with the sender retrying (phase 2). The fake Twilio
//! answers each send after 150 ms and then sends its status callbacks, as
//! Twilio does.
//!
//! Output:
//!
//! ```text
//! CRASH phase=worker_kills calls=<n> kills=<k> seconds=<s> texted_once=<a> lost=<l> duplicated=<d> resolved_by_callback=<r> resolved_by_lookup=<q> left_for_staff=<u>
//! CRASH phase=api_kills calls=<n> kills=<k> sender_retries=<r> texted_once=<a> lost=<l> duplicated=<d> commit_to_text_p50_ms=<x> commit_to_text_max_ms=<y> after_crash_max_ms=<z>
//! ```
//!
//! `lost`: a caller who got no text-back and whose follow-up is not
//! flagged for staff; `duplicated`: a caller texted more than once.
//! `after_crash_max_ms`: the longest time from a webhook's commit to its
//! text-back among webhooks committed in the second before an api kill
//! (their push may have died with the api).

use std::{
    collections::HashMap,
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use axum::{
    Router,
    extract::{Path, State},
    routing::post,
};
use chrono::{DateTime, Utc};
use clap::Args;
use frontdesk_app::{App, Config};
use frontdesk_store::{
    integrations::{self, NewIntegration, Provider},
    routes::{self, NewRoute, RouteProvider},
    vault::{MasterKeys, Secret},
    workspaces::{self, NewWorkspace},
};
use frontdesk_testkit::signers;
use rand::Rng;
use tokio::process::{Child, Command};

use crate::Scratch;

const PUBLIC_URL: &str = "https://bench.frontdesk.invalid";
const NUMBER: &str = "+15550009999";

#[derive(Args)]
pub struct CrashArgs {
    /// Missed calls in the worker-kill phase.
    #[arg(short = 'n', long, default_value_t = 300)]
    calls: usize,
    /// Missed calls in the api-kill phase.
    #[arg(long, default_value_t = 100)]
    api_calls: usize,
    /// Api kills in the api-kill phase.
    #[arg(long, default_value_t = 5)]
    api_kills: usize,
}

pub async fn run(base: Config, args: CrashArgs) -> anyhow::Result<()> {
    let scratch = Scratch::new();
    let keys = MasterKeys::generate_encoded(1);
    let config = Config { master_keys: Some(keys.clone()), ..scratch.config(&base).await? };
    let app = App::build(config.clone()).await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let fake = FakeTwilio::start(port).await?;
    let studio = Studio::create(&app, &scratch).await?;
    let env = Env { config: &config, keys: &keys, port, twilio: &fake.url };
    let api_url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();

    // Phase 1: worker kills.
    let mut api = env.spawn("api")?;
    wait_ready(&api_url).await?;
    let mut worker = env.spawn("worker")?;
    let started = Instant::now();
    let callers: Vec<String> = (0..args.calls).map(|i| format!("+1555100{i:04}")).collect();
    let sender = {
        let (client, url, callers, token, account) =
            (client.clone(), api_url.clone(), callers.clone(), studio.token.clone(), studio.account.clone());
        tokio::spawn(async move {
            for (i, caller) in callers.iter().enumerate() {
                // Like Twilio: a failed delivery is retried until it is acknowledged.
                while !missed_call(&client, &url, &account, &token, caller, &format!("CA1{i:032}")).await {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        })
    };
    let mut kills = 0;
    while !sender.is_finished() || fake.texted(&callers) < callers.len() && started.elapsed() < Duration::from_secs(90)
    {
        let wait = rand::rng().random_range(2000..=4000);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        if sender.is_finished() && fake.texted(&callers) >= callers.len() {
            break;
        }
        worker.kill().await.ok();
        kills += 1;
        worker = env.spawn("worker")?;
    }
    sender.await?;
    let settled = settle(&app, studio.workspace, callers.len()).await;
    let seconds = started.elapsed().as_secs_f64();
    let outcome = Outcome::of(&app, studio.workspace, &fake, &callers).await?;
    println!(
        "CRASH phase=worker_kills calls={} kills={kills} seconds={seconds:.1} texted_once={} lost={} duplicated={} resolved_by_callback={} resolved_by_lookup={} left_for_staff={} settled={settled}",
        callers.len(),
        outcome.once,
        outcome.lost,
        outcome.duplicated,
        outcome.by_callback,
        outcome.by_lookup,
        outcome.for_staff
    );

    // Phase 2: api kills, the sender retrying what got no answer.
    let callers2: Vec<String> = (0..args.api_calls).map(|i| format!("+1555200{i:04}")).collect();
    let retries = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sender = {
        let (client, url, callers, token, account, retries) = (
            client.clone(),
            api_url.clone(),
            callers2.clone(),
            studio.token.clone(),
            studio.account.clone(),
            retries.clone(),
        );
        tokio::spawn(async move {
            for (i, caller) in callers.iter().enumerate() {
                while !missed_call(&client, &url, &account, &token, caller, &format!("CA2{i:032}")).await {
                    retries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let mut kill_times = Vec::new();
    for _ in 0..args.api_kills {
        tokio::time::sleep(Duration::from_millis(rand::rng().random_range(300..=700))).await;
        api.kill().await.ok();
        kill_times.push(Utc::now());
        tokio::time::sleep(Duration::from_millis(200)).await;
        api = env.spawn("api")?;
        wait_ready(&api_url).await?;
    }
    sender.await?;
    settle(&app, studio.workspace, callers.len() + callers2.len()).await;
    let outcome = Outcome::of(&app, studio.workspace, &fake, &callers2).await?;
    let latencies = commit_to_text(&app, studio.workspace, &fake, &callers2).await?;
    let mut all: Vec<i64> = latencies.iter().map(|(_, ms)| *ms).collect();
    all.sort_unstable();
    let after_crash = latencies
        .iter()
        .filter(|(committed, _)| {
            kill_times.iter().any(|k| *k >= *committed && *k - *committed < chrono::Duration::seconds(1))
        })
        .map(|(_, ms)| *ms)
        .max()
        .unwrap_or(0);
    println!(
        "CRASH phase=api_kills calls={} kills={} sender_retries={} texted_once={} lost={} duplicated={} commit_to_text_p50_ms={} commit_to_text_max_ms={} after_crash_max_ms={after_crash}",
        callers2.len(),
        args.api_kills,
        retries.load(std::sync::atomic::Ordering::Relaxed),
        outcome.once,
        outcome.lost,
        outcome.duplicated,
        crate::figures::percentile(&all, 0.5).unwrap_or(0),
        all.last().copied().unwrap_or(0)
    );
    api.kill().await.ok();
    worker.kill().await.ok();
    scratch.clean_up(&app, studio.workspace).await?;
    if outcome.duplicated > 0 {
        bail!("{} callers were texted more than once", outcome.duplicated);
    }
    Ok(())
}

/// Waits until every follow-up has ended (or 60 s pass); true if all did.
async fn settle(app: &App, workspace: frontdesk_jobs::WorkspaceId, expected: usize) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if let Ok(mut tx) = app.db().tenant(workspace).await {
            let ended: Result<i64, _> = sqlx::query_scalar(
                "SELECT count(*) FROM followups WHERE workspace_id = $1 AND status IN ('sent', 'failed', 'skipped')",
            )
            .bind(workspace.as_uuid())
            .fetch_one(tx.conn())
            .await;
            let _ = tx.rollback().await;
            if ended.is_ok_and(|n| n as usize >= expected) {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

struct Outcome {
    once: usize,
    lost: usize,
    duplicated: usize,
    by_callback: usize,
    by_lookup: usize,
    for_staff: usize,
}

impl Outcome {
    async fn of(
        app: &App,
        workspace: frontdesk_jobs::WorkspaceId,
        fake: &FakeTwilio,
        callers: &[String],
    ) -> anyhow::Result<Self> {
        let mut tx = app.db().tenant(workspace).await?;
        let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT l.phone, f.status, f.reason FROM followups f JOIN leads l ON l.workspace_id = f.workspace_id AND l.id = f.lead_id
             WHERE f.workspace_id = $1 AND l.phone = ANY($2)",
        )
        .bind(workspace.as_uuid())
        .bind(callers)
        .fetch_all(tx.conn())
        .await?;
        tx.rollback().await?;
        let sends = fake.sends_by_number();
        let state: HashMap<&str, (&str, Option<&str>)> =
            rows.iter().map(|(p, s, r)| (p.as_str(), (s.as_str(), r.as_deref()))).collect();
        let mut o = Outcome { once: 0, lost: 0, duplicated: 0, by_callback: 0, by_lookup: 0, for_staff: 0 };
        for caller in callers {
            let sent = sends.get(caller).map_or(0, Vec::len);
            let (status, reason) = state.get(caller.as_str()).copied().unwrap_or(("none", None));
            let flagged = status == "failed" && reason.is_some_and(|r| r.starts_with("outcome_unknown"));
            match sent {
                0 if !flagged => o.lost += 1,
                0 => {}
                1 => o.once += 1,
                _ => o.duplicated += 1,
            }
            o.for_staff += usize::from(flagged);
            o.by_callback += usize::from(reason.is_some_and(|r| r.contains("status callback")));
            o.by_lookup += usize::from(reason.is_some_and(|r| r.contains("message list")));
        }
        Ok(o)
    }
}

/// For each caller texted: (when its webhook committed, ms to the text-back).
async fn commit_to_text(
    app: &App,
    workspace: frontdesk_jobs::WorkspaceId,
    fake: &FakeTwilio,
    callers: &[String],
) -> anyhow::Result<Vec<(DateTime<Utc>, i64)>> {
    let mut tx = app.db().tenant(workspace).await?;
    let rows: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT l.phone, o.created_at FROM outbox o
         JOIN followups f ON f.workspace_id = o.workspace_id AND f.id = (o.payload->>'followup_id')::uuid
         JOIN leads l ON l.workspace_id = f.workspace_id AND l.id = f.lead_id
         WHERE o.workspace_id = $1 AND o.queue = 'send-followup' AND l.phone = ANY($2)",
    )
    .bind(workspace.as_uuid())
    .bind(callers)
    .fetch_all(tx.conn())
    .await?;
    tx.rollback().await?;
    let sends = fake.sends_by_number();
    Ok(rows
        .into_iter()
        .filter_map(|(phone, committed)| {
            let first = *sends.get(&phone)?.first()?;
            Some((committed, (first - committed).num_milliseconds()))
        })
        .collect())
}

async fn missed_call(client: &reqwest::Client, url: &str, account: &str, token: &str, caller: &str, sid: &str) -> bool {
    let params =
        [("CallSid", sid), ("AccountSid", account), ("From", caller), ("To", NUMBER), ("CallStatus", "no-answer")];
    let path = "/webhooks/twilio/voice";
    let signature = signers::twilio(token, &format!("{PUBLIC_URL}{path}"), &params);
    let res = client
        .post(format!("{url}{path}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", signature)
        .timeout(Duration::from_secs(5))
        .body(signers::form_body(&params))
        .send()
        .await;
    res.is_ok_and(|r| r.status().is_success())
}

struct Studio {
    workspace: frontdesk_jobs::WorkspaceId,
    account: String,
    token: String,
}

impl Studio {
    async fn create(app: &App, scratch: &Scratch) -> anyhow::Result<Self> {
        let (account, token) = (format!("ACcrash{}", &scratch.id[..26]), format!("tok-{}", scratch.id));
        let name = format!("bench {}", scratch.id);
        let workspace = workspaces::create(app.db(), &NewWorkspace { name, timezone: "UTC".into() }).await?;
        let mut tx = app.db().tenant(workspace).await?;
        let twilio = NewIntegration {
            provider: Provider::Twilio,
            sandbox: false,
            external_id: Some(account.clone()),
            // One number sends every text-back: lift its rate limit, the figure is crash safety.
            settings: serde_json::json!({ "from": NUMBER, "max_per_second": 1000 }),
            secret: Some(Secret::new(token.clone())),
        };
        let integration = integrations::create(&mut tx, app.vault(), &twilio).await?;
        let route = NewRoute {
            provider: RouteProvider::Twilio,
            route_key: routes::twilio_number_key(&account, NUMBER),
            integration_id: Some(integration),
            channel_token: None,
        };
        routes::add(&mut tx, &route).await?;
        // No quiet hours, no daily cap in the way.
        sqlx::query("UPDATE workspaces SET quiet_hours_start = NULL, quiet_hours_end = NULL, max_messages_per_lead_per_day = 50 WHERE id = $1")
            .bind(workspace.as_uuid())
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(Self { workspace, account, token })
    }
}

struct Env<'a> {
    config: &'a Config,
    keys: &'a str,
    port: u16,
    twilio: &'a str,
}

impl Env<'_> {
    fn spawn(&self, command: &str) -> anyhow::Result<Child> {
        let c = self.config;
        Command::new(std::env::current_exe()?)
            .arg(command)
            .env("DATABASE_URL", &c.database_url)
            .env("REDIS_URL", &c.redis_url)
            .env("FRONTDESK_QUEUE_PREFIX", &c.queue_prefix)
            .env("FRONTDESK_MASTER_KEYS", self.keys)
            .env("FRONTDESK_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("FRONTDESK_PUBLIC_URL", PUBLIC_URL)
            .env("FRONTDESK_TWILIO_API_URL", self.twilio)
            .env("FRONTDESK_SCHEDULER_TICK_SECS", "0.5")
            .env("FRONTDESK_LOG_FORMAT", "json")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting frontdesk {command}"))
    }
}

async fn wait_ready(base_url: &str) -> anyhow::Result<()> {
    for _ in 0..200 {
        if reqwest::get(format!("{base_url}/healthz")).await.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the api did not come up")
}

/// Takes each message, answers after 150 ms, then sends Twilio's `sent`
/// and `delivered` callbacks to the send's `StatusCallback` URL.
#[derive(Clone)]
struct FakeTwilio {
    url: String,
    api_port: u16,
    /// (recipient, when the send arrived), in arrival order.
    sends: Arc<Mutex<Vec<Arrival>>>,
}

type Arrival = (String, DateTime<Utc>);

impl FakeTwilio {
    async fn start(api_port: u16) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let fake = Self { url, api_port, sends: Arc::default() };
        let router =
            Router::new().route("/2010-04-01/Accounts/{sid}/Messages.json", post(fake_send)).with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(fake)
    }

    fn sends_by_number(&self) -> HashMap<String, Vec<DateTime<Utc>>> {
        let mut by: HashMap<String, Vec<DateTime<Utc>>> = HashMap::new();
        for (to, at) in self.sends.lock().expect("fake lock").iter() {
            by.entry(to.clone()).or_default().push(*at);
        }
        by
    }

    fn texted(&self, callers: &[String]) -> usize {
        let by = self.sends_by_number();
        callers.iter().filter(|c| by.contains_key(*c)).count()
    }
}

async fn fake_send(
    State(fake): State<FakeTwilio>,
    Path(account): Path<String>,
    headers: axum::http::HeaderMap,
    body: String,
) -> axum::Json<serde_json::Value> {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let field = |k: &str| form.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let (to, callback) = (field("To"), field("StatusCallback"));
    let n = {
        let mut sends = fake.sends.lock().expect("fake lock");
        sends.push((to.clone(), Utc::now()));
        sends.len()
    };
    // The auth token, from Basic auth (account:token), signs our callbacks, as Twilio's does.
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(_, t)| t.to_owned()))
        .unwrap_or_default();
    let sid = format!("SM{n:032x}");
    let (api_port, sid2) = (fake.api_port, sid.clone());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(250)).await;
        for status in ["sent", "delivered"] {
            let params = [
                ("MessageSid", sid2.as_str()),
                ("AccountSid", account.as_str()),
                ("To", to.as_str()),
                ("From", NUMBER),
                ("MessageStatus", status),
            ];
            let signature = signers::twilio(&token, &callback, &params);
            let local = callback.replacen(PUBLIC_URL, &format!("http://127.0.0.1:{api_port}"), 1);
            // The api may be down (phase 2): Twilio retries a few times.
            for _ in 0..10 {
                let sent = reqwest::Client::new()
                    .post(&local)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("x-twilio-signature", &signature)
                    .body(signers::form_body(&params))
                    .send()
                    .await;
                if sent.is_ok_and(|r| r.status().is_success()) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    axum::Json(serde_json::json!({ "sid": sid, "status": "queued" }))
}
