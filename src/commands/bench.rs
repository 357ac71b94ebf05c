//! `frontdesk bench`: machine-readable performance figures, each compared
//! with a baseline measured in the same run (these machines are noisy).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use base64::{Engine, engine::general_purpose::STANDARD};
use clap::{Args, Subcommand};
use frontdesk_api::{AppState, WebhookMetrics};
use frontdesk_jobs::Jobs;
use frontdesk_queue::RedisQueue;
use frontdesk_store::{
    Db,
    integrations::{self, NewIntegration, Provider},
    routes::{self, NewRoute, RouteProvider},
    vault::{Secret, Vault},
    workspaces::{self, NewWorkspace},
};
use hmac::{KeyInit, Mac};
use tokio::sync::watch;

use crate::config::Config;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Our Redis backend vs stock apalis-redis 1.0: throughput, idle pickup, fairness, RSS.
    Queue(QueueArgs),
    /// Offline classifier quality and latency, and classify-lead job throughput against a local fake LLM.
    Classify(ClassifyArgs),
    /// Signed Twilio SMS webhooks over HTTP against the api, beside pgbench TPC-B on the same Postgres.
    Ingest(IngestArgs),
}

#[derive(Args)]
pub struct IngestArgs {
    /// Webhooks to send.
    #[arg(short = 'n', long, default_value_t = 5000)]
    requests: usize,
    /// Concurrent connections (and pgbench clients).
    #[arg(short = 'c', long, default_value_t = 16)]
    concurrency: usize,
    /// Seconds pgbench runs.
    #[arg(long, default_value_t = 10)]
    pgbench_seconds: u64,
}

#[derive(Args)]
pub struct QueueArgs {
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Jobs per throughput round.
    #[arg(short = 'n', long, default_value_t = 100_000)]
    jobs: usize,
    /// Worker concurrency; repeat for several levels (default 16 and 64).
    #[arg(short = 'c', long)]
    concurrency: Vec<usize>,
    /// Run only these parts (comma-separated or repeated): throughput, idle, fairness, memory. Default: all.
    #[arg(long, value_delimiter = ',')]
    only: Vec<frontdesk_queue::bench::Scenario>,
}

#[derive(Args)]
pub struct ClassifyArgs {
    /// Classify-lead jobs to run through the real worker.
    #[arg(short = 'n', long, default_value_t = 500)]
    jobs: usize,
    #[arg(short = 'c', long, default_value_t = 16)]
    concurrency: usize,
}

pub async fn run(config: &Config, command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Classify(args) => classify(config, args).await,
        BenchCommand::Queue(args) => {
            Ok(frontdesk_queue::bench::run(&args.redis_url, args.jobs, &args.concurrency, &args.only).await?)
        }
        BenchCommand::Ingest(args) => ingest(config, args).await,
    }
}

const PUBLIC_URL: &str = "https://bench.frontdesk.invalid";

async fn ingest(config: &Config, args: IngestArgs) -> anyhow::Result<()> {
    if args.requests == 0 || args.concurrency == 0 {
        bail!("-n and -c must be at least 1");
    }
    frontdesk_store::migrate(&config.database_url).await.context("applying migrations")?;
    let db = Db::connect(&frontdesk_store::DbConfig {
        max_connections: (args.concurrency as u32 + 4).max(8),
        ..config.db()
    })
    .await
    .context("connecting to Postgres")?;
    let vault = Vault::new(config.master_keys()?);
    // A throwaway workspace and Redis namespace, removed afterwards.
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let prefix = format!("bench-{run_id}");
    let queue = RedisQueue::connect(&config.redis_url, config.queue(&prefix)).await.context("connecting to Redis")?;
    let (account, number, token) =
        (format!("ACbench{}", &run_id[..26]), "+15550009999".to_owned(), format!("tok-{run_id}"));
    let workspace =
        workspaces::create(&db, &NewWorkspace { name: format!("bench {run_id}"), timezone: "UTC".into() }).await?;
    let mut tx = db.tenant(workspace).await?;
    let integration = integrations::create(
        &mut tx,
        &vault,
        &NewIntegration {
            provider: Provider::Twilio,
            sandbox: true,
            external_id: Some(account.clone()),
            settings: serde_json::json!({}),
            secret: Some(Secret::new(token.clone())),
        },
    )
    .await?;
    let route = NewRoute {
        provider: RouteProvider::Twilio,
        route_key: format!("num:{account}:{number}"),
        integration_id: Some(integration),
        channel_token: None,
    };
    routes::add(&mut tx, &route).await?;
    tx.commit().await?;

    // The real api, over real HTTP on loopback.
    let state = AppState {
        db: db.clone(),
        jobs: Jobs::new(queue.clone()),
        vault,
        public_url: PUBLIC_URL.into(),
        secrets: Arc::new(config.platform_secrets()),
        metrics: Arc::new(WebhookMetrics::default()),
        signing_keys: Arc::new(frontdesk_api::SigningKeys::default()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, mut stopped) = watch::channel(false);
    let server = tokio::spawn(frontdesk_api::serve(listener, state, async move {
        let _ = stopped.wait_for(|s| *s).await;
    }));

    eprintln!("ingest: sending {} signed webhooks with {} connections to {addr}", args.requests, args.concurrency);
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency).build()?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..args.concurrency {
        let (client, account, number, token) = (client.clone(), account.clone(), number.clone(), token.clone());
        let share = args.requests / args.concurrency + usize::from(worker < args.requests % args.concurrency);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(share);
            let mut failures = 0usize;
            for i in 0..share {
                let sid = format!("SM{worker:04}{i:08}");
                // A few hundred distinct leads, so lead upserts hit both paths.
                let from = format!("+1555{:07}", (worker * 7919 + i) % 500);
                let params = [
                    ("AccountSid", account.as_str()),
                    ("Body", "Hi! Do you have a free trial class?"),
                    ("From", from.as_str()),
                    ("MessageSid", sid.as_str()),
                    ("NumMedia", "0"),
                    ("To", number.as_str()),
                ];
                let body: String =
                    params.iter().map(|(k, v)| format!("{k}={}", urlencode(v))).collect::<Vec<_>>().join("&");
                let signature = twilio_signature(&token, &format!("{PUBLIC_URL}/webhooks/twilio/sms"), &params);
                let t = Instant::now();
                let res = client
                    .post(format!("http://{addr}/webhooks/twilio/sms"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("x-twilio-signature", signature)
                    .body(body)
                    .send()
                    .await;
                latencies.push(t.elapsed());
                if !matches!(res, Ok(ref r) if r.status().is_success()) {
                    failures += 1;
                }
            }
            (latencies, failures)
        }));
    }
    let mut latencies = Vec::with_capacity(args.requests);
    let mut failures = 0;
    for task in tasks {
        let (l, f) = task.await?;
        latencies.extend(l);
        failures += f;
    }
    let elapsed = started.elapsed();
    let _ = stop.send(true);
    let _ = server.await;
    latencies.sort();
    let rps = args.requests as f64 / elapsed.as_secs_f64();
    let (p50, p99) = (percentile(&latencies, 0.50), percentile(&latencies, 0.99));
    eprintln!("ingest: {rps:.0} req/s, p50 {p50:.2} ms, p99 {p99:.2} ms, {failures} failures");

    // Clean up before the baseline so it runs on the same, quiet database.
    let mut tx = db.tenant(workspace).await?;
    sqlx::query("DELETE FROM workspaces WHERE id = $1").bind(workspace.as_uuid()).execute(tx.conn()).await?;
    tx.commit().await?;
    purge_redis(&config.redis_url, &prefix).await.ok();

    eprintln!("ingest: pgbench TPC-B with {} clients for {} s", args.concurrency, args.pgbench_seconds);
    let tps = pgbench(config, args.concurrency, args.pgbench_seconds).await?;
    println!(
        "BENCH ingest requests={} concurrency={} failures={failures} req_per_s={rps:.1} p50_ms={p50:.2} p99_ms={p99:.2}",
        args.requests, args.concurrency
    );
    println!("BENCH pgbench clients={} tps={tps:.1}", args.concurrency);
    println!("BENCH ingest_vs_pgbench ratio={:.3} target_ratio=0.60 p99_target_ms=50", rps / tps);
    if failures > 0 {
        bail!("{failures} webhooks failed");
    }
    Ok(())
}

/// Removes every key of a throwaway queue namespace.
async fn purge_redis(redis_url: &str, namespace: &str) -> Result<(), redis::RedisError> {
    let client = redis::Client::open(redis_url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("*{namespace}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            redis::cmd("UNLINK").arg(&keys).query_async::<()>(&mut conn).await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// TPC-B (pgbench's default script) on a scratch database of the same server.
async fn pgbench(config: &Config, clients: usize, seconds: u64) -> anyhow::Result<f64> {
    let options: sqlx::postgres::PgConnectOptions = config.database_url.parse()?;
    let scratch = "frontdesk_pgbench";
    let url = format!("postgres://{}@{}:{}/{scratch}", options.get_username(), options.get_host(), options.get_port());
    frontdesk_store::ensure_database_exists(&url).await?;
    let init = tokio::process::Command::new("pgbench")
        .args(["-i", "-q", "-s", "1", &url])
        .output()
        .await
        .context("running pgbench (install postgresql-contrib)")?;
    if !init.status.success() {
        bail!("pgbench -i failed: {}", String::from_utf8_lossy(&init.stderr));
    }
    let run = tokio::process::Command::new("pgbench")
        .args(["-c", &clients.to_string(), "-j", "2", "-T", &seconds.to_string(), &url])
        .output()
        .await?;
    let out = String::from_utf8_lossy(&run.stdout);
    out.lines()
        .find_map(|l| {
            l.trim().strip_prefix("tps = ").and_then(|rest| rest.split_whitespace().next()).and_then(|v| v.parse().ok())
        })
        .with_context(|| format!("no tps in pgbench output: {out} {}", String::from_utf8_lossy(&run.stderr)))
}

fn twilio_signature(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).expect("any key length");
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn classify(config: &Config, args: ClassifyArgs) -> anyhow::Result<()> {
    let offline = frontdesk_classifier::bench::offline();
    println!(
        "BENCH classify_offline accuracy={:.3} macro_f1={:.3} p50_us={:.1} p99_us={:.1} mean_us={:.1} target_macro_f1=0.85 target_us=1000",
        offline.accuracy, offline.macro_f1, offline.p50_us, offline.p99_us, offline.per_message_us
    );

    // A local OpenAI-compatible endpoint with a fixed answer: the figure is our job path, not a model.
    let fake = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(|| async {
            let content = serde_json::json!({
                "intent": "pricing", "temperature": "warm", "score": 60, "language": "en",
                "summary": "Asks about prices", "suggested_reply": null, "confidence": 0.9
            })
            .to_string();
            axum::Json(serde_json::json!({
                "id": "chatcmpl-bench", "object": "chat.completion", "created": 1_764_230_400, "model": "bench",
                "choices": [{ "index": 0, "message": { "role": "assistant", "content": content, "refusal": null }, "finish_reason": "stop", "logprobs": null }],
                "usage": { "prompt_tokens": 100, "completion_tokens": 30, "total_tokens": 130 }
            }))
        }),
    );
    let fake_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let fake_addr = fake_listener.local_addr()?;
    let fake_server = tokio::spawn(async move { axum::serve(fake_listener, fake).await });

    frontdesk_store::migrate(&config.database_url).await.context("applying migrations")?;
    let db = Db::connect(&frontdesk_store::DbConfig {
        max_connections: (args.concurrency as u32 + 4).max(8),
        ..config.db()
    })
    .await?;
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let prefix = format!("bench-{run_id}");
    let queue = RedisQueue::connect(&config.redis_url, config.queue(&prefix)).await.context("connecting to Redis")?;
    let jobs = Jobs::new(queue.clone());
    let workspace =
        workspaces::create(&db, &NewWorkspace { name: format!("bench {run_id}"), timezone: "UTC".into() }).await?;
    let mut tx = db.tenant(workspace).await?;
    let mut leads = Vec::with_capacity(args.jobs);
    for i in 0..args.jobs {
        let phone = format!("+1555{i:07}");
        let lead = frontdesk_store::leads::create(
            &mut tx,
            &frontdesk_store::leads::NewLead { phone: Some(phone), source: "bench".into(), ..Default::default() },
        )
        .await?;
        let inbound = frontdesk_store::messages::NewInbound {
            lead_id: lead,
            channel: frontdesk_store::messages::Channel::Sms,
            body: "Hi! How much is a monthly membership?".into(),
            provider_message_id: None,
            subject: None,
            rfc_message_id: None,
        };
        frontdesk_store::messages::insert_inbound(&mut tx, &inbound).await?;
        leads.push(lead);
    }
    tx.commit().await?;
    for lead in &leads {
        jobs.enqueue(&frontdesk_jobs::ClassifyLead { workspace_id: workspace, lead_id: *lead }).await?;
    }

    let mut llm = frontdesk_classifier::LlmConfig::new(format!("http://{fake_addr}/v1"), "bench", "bench-key");
    llm.max_attempts = 1;
    // Read once: each read of a key file logs a warning.
    let vault = Vault::new(config.master_keys()?);
    let deps = frontdesk_worker::WorkerDeps {
        db: db.clone(),
        queue: queue.clone(),
        jobs: jobs.clone(),
        metrics: Arc::new(frontdesk_worker::GuardMetrics::default()),
        classify: frontdesk_worker::handlers::classify_lead::ClassifyDeps {
            offline: Arc::new(frontdesk_classifier::OfflineClassifier::new()),
            platform_llm: Some(llm),
            default_daily_budget: None,
            vault: vault.clone(),
        },
        send: config.send_deps(vault),
    };
    let (stop, mut stopped) = watch::channel(false);
    let worker_config =
        frontdesk_worker::WorkerConfig { concurrency: args.concurrency, guard_cache_ttl: Duration::from_secs(2) };
    // The bench workspace alone: lift the fairness cap so concurrency is what is measured.
    queue.set_workspace_cap(frontdesk_jobs::queue::CLASSIFY_LEAD, workspace, Some(args.concurrency as u32)).await?;
    let started = Instant::now();
    let workers = tokio::spawn(frontdesk_worker::run_workers(deps, worker_config, async move {
        let _ = stopped.wait_for(|s| *s).await;
        Ok(())
    }));
    let mut done = 0;
    while started.elapsed() < Duration::from_secs(600) {
        let mut tx = db.tenant(workspace).await?;
        done = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM leads WHERE workspace_id = $1 AND classified_at IS NOT NULL",
        )
        .bind(workspace.as_uuid())
        .fetch_one(tx.conn())
        .await?;
        tx.commit().await?;
        eprint!("\rclassify: {done}/{} leads", args.jobs);
        if done as usize >= args.jobs {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!();
    let elapsed = started.elapsed();
    let _ = stop.send(true);
    let _ = workers.await;
    fake_server.abort();
    let mut tx = db.tenant(workspace).await?;
    sqlx::query("DELETE FROM workspaces WHERE id = $1").bind(workspace.as_uuid()).execute(tx.conn()).await?;
    tx.commit().await?;
    purge_redis(&config.redis_url, &prefix).await.ok();
    println!(
        "BENCH classify_job jobs={} concurrency={} completed={done} seconds={:.2} jobs_per_s={:.1}",
        args.jobs,
        args.concurrency,
        elapsed.as_secs_f64(),
        done as f64 / elapsed.as_secs_f64()
    );
    if (done as usize) < args.jobs {
        bail!("only {done} of {} jobs completed", args.jobs);
    }
    Ok(())
}
