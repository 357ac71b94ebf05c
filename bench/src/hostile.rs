//! `frontdesk bench ingest --hostile`: a studio's worst senders against a
//! real `frontdesk api` and `frontdesk worker` (separate processes, as in
//! production), with the platform LLM pointed at a local fake that records
//! every prompt.
//!
//! 1. Baseline: normal signed SMS webhooks at `-c` connections; p50/p99.
//! 2. Hostile mix: half the connections send maximum-size signed emails
//!    (10 MiB forwards, the route's limit), the other half the same normal
//!    SMS as before; p50/p99 of the normal ones, and what the big ones got.
//! 3. Drain: the worker classifies everything (through the fake LLM).
//!
//! Output, one fact per line:
//!
//! ```text
//! HOSTILE phase=<baseline|hostile> normal_requests=<n> p50_ms=<x> p99_ms=<y> big_requests=<k> big_accepted=<a> big_busy=<b> failures=<f>
//! HOSTILE_RSS process=<api|worker> idle_kb=<x> peak_kb=<y> above_idle_mb=<z> target_mb=64
//! HOSTILE_PROMPT llm_calls=<n> largest_user_chars=<x> excerpt_chars=<budget> largest_estimated_tokens=<t>
//! HOSTILE_RATIO normal_p99_hostile_over_baseline=<r> target=2.0
//! ```

use std::{
    process::Stdio,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use frontdesk_app::{App, Config};
use frontdesk_classifier::excerpt::{EXCERPT_CHARS, estimate_tokens};
use frontdesk_jobs::queue;
use frontdesk_store::{
    integrations::{self, NewIntegration, Provider},
    routes::{self, NewRoute, RouteProvider},
    vault::{MasterKeys, Secret},
    workspaces::{self, NewWorkspace},
};
use frontdesk_testkit::signers;
use tokio::process::{Child, Command};

use crate::{Scratch, figures::percentile};

const PUBLIC_URL: &str = "https://bench.frontdesk.invalid";
const MAILGUN_KEY: &str = "bench-mailgun-key";
const INBOX: &str = "inbox@bench.frontdesk.invalid";
/// The email route's body limit (`api/src/webhooks/mod.rs`), less room for
/// the signature fields.
const MAX_EMAIL_BYTES: usize = 10 * 1024 * 1024 - 4096;

pub struct Args {
    pub requests: usize,
    pub concurrency: usize,
}

pub async fn run(base: Config, args: Args) -> anyhow::Result<()> {
    if args.concurrency < 2 {
        bail!("--hostile needs at least 2 connections (half hostile, half normal)");
    }
    let llm = FakeLlm::start().await?;
    let scratch = Scratch::new();
    let keys = MasterKeys::generate_encoded(1);
    let config = Config { master_keys: Some(keys.clone()), ..scratch.config(&base).await? };
    let app = App::build(config.clone()).await?;
    let studio = Studio::create(&app, &scratch).await?;

    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let env = ProcessEnv { config: &config, keys: &keys, port, llm: &llm.url };
    let mut api = env.spawn("api")?;
    let mut worker = env.spawn("worker")?;
    let base_url = format!("http://127.0.0.1:{port}");
    wait_ready(&base_url).await?;
    // Let both settle (connection pools, lazily loaded models) before idle is read.
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency).build()?;
    normal_load(&client, &base_url, &studio, 64, 4, "warm").await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = (rss(&api)?, rss(&worker)?);

    let baseline = normal_load(&client, &base_url, &studio, args.requests, args.concurrency, "base").await?;
    baseline.print("baseline", 0, 0, 0);
    let big = Arc::new(big_email_prefix());
    let (accepted, busy) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let hostile_conns = args.concurrency / 2;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut hostile = Vec::new();
    for c in 0..hostile_conns {
        let (client, url, big, accepted, busy, stop) =
            (client.clone(), base_url.clone(), big.clone(), accepted.clone(), busy.clone(), stop.clone());
        hostile.push(tokio::spawn(async move {
            let mut sent = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let body = sign_email(&big, &format!("tok-h{c}-{sent}"));
                sent += 1;
                let res = client
                    .post(format!("{url}/webhooks/email"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await;
                match res.map(|r| r.status().as_u16()) {
                    Ok(200) => accepted.fetch_add(1, Ordering::Relaxed),
                    Ok(503) => busy.fetch_add(1, Ordering::Relaxed),
                    _ => 0,
                };
            }
            sent
        }));
    }
    let normal =
        normal_load(&client, &base_url, &studio, args.requests, args.concurrency - hostile_conns, "hostile").await?;
    stop.store(true, Ordering::Relaxed);
    let mut big_sent = 0;
    for h in hostile {
        big_sent += h.await?;
    }
    normal.print("hostile", big_sent, accepted.load(Ordering::Relaxed), busy.load(Ordering::Relaxed));

    eprintln!("hostile: waiting for the worker to classify everything");
    drain(&app).await?;
    let peaks = (peak(&api)?, peak(&worker)?);
    for (name, idle, peak) in [("api", idle.0, peaks.0), ("worker", idle.1, peaks.1)] {
        let above = peak.saturating_sub(idle) as f64 / 1024.0;
        println!("HOSTILE_RSS process={name} idle_kb={idle} peak_kb={peak} above_idle_mb={above:.1} target_mb=64");
    }
    let (calls, largest) = llm.largest();
    println!(
        "HOSTILE_PROMPT llm_calls={calls} largest_user_chars={largest} excerpt_chars={EXCERPT_CHARS} largest_estimated_tokens={}",
        estimate_tokens(&"x".repeat(largest))
    );
    println!(
        "HOSTILE_RATIO normal_p99_hostile_over_baseline={:.2} target=2.0",
        normal.p99_ms / baseline.p99_ms.max(0.001)
    );
    let _ = api.kill().await;
    let _ = worker.kill().await;
    scratch.clean_up(&app, studio.workspace).await?;
    if largest > EXCERPT_CHARS {
        bail!("a prompt of {largest} characters exceeded the {EXCERPT_CHARS}-character excerpt");
    }
    Ok(())
}

struct Studio {
    workspace: frontdesk_jobs::WorkspaceId,
    account: String,
    number: String,
    token: String,
}

impl Studio {
    async fn create(app: &App, scratch: &Scratch) -> anyhow::Result<Self> {
        let (account, number, token) =
            (format!("ACbench{}", &scratch.id[..26]), "+15550009999".to_owned(), format!("tok-{}", scratch.id));
        let name = format!("bench {}", scratch.id);
        let workspace = workspaces::create(app.db(), &NewWorkspace { name, timezone: "UTC".into() }).await?;
        let mut tx = app.db().tenant(workspace).await?;
        let twilio = NewIntegration {
            provider: Provider::Twilio,
            sandbox: true,
            external_id: Some(account.clone()),
            settings: serde_json::json!({}),
            secret: Some(Secret::new(token.clone())),
        };
        let integration = integrations::create(&mut tx, app.vault(), &twilio).await?;
        for (provider, key, integration) in [
            (RouteProvider::Twilio, routes::twilio_number_key(&account, &number), Some(integration)),
            (RouteProvider::Email, INBOX.to_owned(), None),
        ] {
            routes::add(
                &mut tx,
                &NewRoute { provider, route_key: key, integration_id: integration, channel_token: None },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Self { workspace, account, number, token })
    }
}

struct ProcessEnv<'a> {
    config: &'a Config,
    keys: &'a str,
    port: u16,
    llm: &'a str,
}

impl ProcessEnv<'_> {
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
            .env("FRONTDESK_MAILGUN_SIGNING_KEY", MAILGUN_KEY)
            .env("FRONTDESK_LLM_BASE_URL", format!("{}/v1", self.llm))
            .env("FRONTDESK_LLM_API_KEY", "bench")
            .env("FRONTDESK_AI_DAILY_TOKEN_BUDGET", "1000000000")
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
        if reqwest::get(format!("{base_url}/readyz")).await.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the api did not become ready")
}

struct Latencies {
    p50_ms: f64,
    p99_ms: f64,
    n: usize,
    failures: usize,
}

impl Latencies {
    fn print(&self, phase: &str, big: usize, accepted: usize, busy: usize) {
        println!(
            "HOSTILE phase={phase} normal_requests={} p50_ms={:.2} p99_ms={:.2} big_requests={big} big_accepted={accepted} big_busy={busy} failures={}",
            self.n, self.p50_ms, self.p99_ms, self.failures
        );
    }
}

/// `n` signed SMS webhooks over `connections`, each a new lead message.
async fn normal_load(
    client: &reqwest::Client,
    base_url: &str,
    studio: &Studio,
    n: usize,
    connections: usize,
    tag: &str,
) -> anyhow::Result<Latencies> {
    let mut tasks = Vec::new();
    for c in 0..connections {
        let share = n / connections + usize::from(c < n % connections);
        let (client, url) = (client.clone(), base_url.to_owned());
        let (account, number, token, tag) =
            (studio.account.clone(), studio.number.clone(), studio.token.clone(), tag.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(share);
            let mut failures = 0;
            for i in 0..share {
                let (sid, from) = (format!("SM{tag}{c:04}{i:08}"), format!("+1555{:07}", (c * 7919 + i) % 500));
                let params = [
                    ("AccountSid", account.as_str()),
                    ("Body", "Hi! Do you have a free trial class?"),
                    ("From", from.as_str()),
                    ("MessageSid", sid.as_str()),
                    ("NumMedia", "0"),
                    ("To", number.as_str()),
                ];
                let signature = signers::twilio(&token, &format!("{PUBLIC_URL}/webhooks/twilio/sms"), &params);
                let started = Instant::now();
                let res = client
                    .post(format!("{url}/webhooks/twilio/sms"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("x-twilio-signature", signature)
                    .body(signers::form_body(&params))
                    .send()
                    .await;
                latencies.push(started.elapsed());
                failures += usize::from(!matches!(res, Ok(ref r) if r.status().is_success()));
            }
            (latencies, failures)
        }));
    }
    let (mut all, mut failures) = (Vec::with_capacity(n), 0);
    for t in tasks {
        let (l, f) = t.await?;
        all.extend(l);
        failures += f;
    }
    all.sort();
    let ms = |q| percentile(&all, q).map_or(0.0, |d: Duration| d.as_secs_f64() * 1000.0);
    Ok(Latencies { p50_ms: ms(0.5), p99_ms: ms(0.99), n: all.len(), failures })
}

/// The big part of a maximum-size forward: a plain-text body (what a
/// pasted newsletter looks like) and an HTML body, form-encoded.
fn big_email_prefix() -> Vec<u8> {
    let paragraph = "Hola! Quiero saber el precio del plan anual y si hay descuento familiar. ";
    let mut body = signers::form_body(&[("recipient", INBOX), ("sender", "huge@example.com"), ("subject", "Info")]);
    body.push_str("&body-plain=");
    let text = signers::form_body(&[("x", &paragraph.repeat(MAX_EMAIL_BYTES / 2 / paragraph.len() / 2))]);
    body.push_str(&text[2..]);
    body.push_str("&body-html=");
    let html = signers::form_body(&[("x", &format!("<p>{}</p>", "x".repeat(MAX_EMAIL_BYTES / 2)))]);
    body.push_str(&html[2..]);
    body.truncate(MAX_EMAIL_BYTES);
    body.into_bytes()
}

fn sign_email(prefix: &[u8], token: &str) -> Vec<u8> {
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let signature = signers::mailgun(MAILGUN_KEY, &timestamp, token);
    let mut body = prefix.to_vec();
    body.extend_from_slice(
        format!("&{}", signers::form_body(&[("timestamp", &timestamp), ("token", token), ("signature", &signature)]))
            .as_bytes(),
    );
    body
}

/// Waits until every queue of the bench's namespace is empty and its
/// workspace's outbox is done.
async fn drain(app: &App) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let mut pending = 0;
        for name in queue::ALL {
            let s = app.queue().stats(name).await?;
            pending += s.waiting + s.scheduled + s.retrying + s.in_flight;
        }
        if pending == 0 {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("{pending} jobs still pending after 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn status_kb(child: &Child, field: &str) -> anyhow::Result<u64> {
    let pid = child.id().context("the process is still running")?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .with_context(|| format!("{field} of process {pid}"))
}

fn rss(child: &Child) -> anyhow::Result<u64> {
    status_kb(child, "VmRSS:")
}

fn peak(child: &Child) -> anyhow::Result<u64> {
    status_kb(child, "VmHWM:")
}

/// A local OpenAI-compatible endpoint that answers every classification
/// and remembers the longest user message it was sent.
struct FakeLlm {
    url: String,
    seen: Arc<Mutex<(usize, usize)>>,
}

impl FakeLlm {
    async fn start() -> anyhow::Result<Self> {
        let seen = Arc::new(Mutex::new((0usize, 0usize)));
        let record = seen.clone();
        let router = axum::Router::new().route(
            "/v1/chat/completions",
            axum::routing::post(move |axum::Json(request): axum::Json<serde_json::Value>| {
                let record = record.clone();
                async move {
                    let user = request["messages"].as_array().and_then(|m| m.last()).and_then(|m| m["content"].as_str());
                    let chars = user.map_or(0, |u| u.chars().count());
                    {
                        let mut seen = record.lock().expect("fake llm lock");
                        seen.0 += 1;
                        seen.1 = seen.1.max(chars);
                    }
                    let content = serde_json::json!({
                        "intent": "pricing", "temperature": "warm", "score": 60, "language": "es",
                        "summary": "Asks about prices", "suggested_reply": null, "confidence": 0.9
                    })
                    .to_string();
                    axum::Json(serde_json::json!({
                        "id": "chatcmpl-bench", "object": "chat.completion", "created": 1_764_230_400, "model": "bench",
                        "choices": [{ "index": 0, "message": { "role": "assistant", "content": content, "refusal": null }, "finish_reason": "stop", "logprobs": null }],
                        "usage": { "prompt_tokens": 100, "completion_tokens": 30, "total_tokens": 130 }
                    }))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(Self { url, seen })
    }

    fn largest(&self) -> (usize, usize) {
        *self.seen.lock().expect("fake llm lock")
    }
}
