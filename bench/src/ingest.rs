//! `frontdesk bench ingest`: signed Twilio SMS webhooks over real HTTP
//! against the api, and pgbench TPC-B on the same Postgres in the same run
//! as the baseline.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use frontdesk_app::{App, Config, Services};
use frontdesk_store::{
    integrations::{self, NewIntegration, Provider},
    routes::{self, NewRoute, RouteProvider},
    vault::Secret,
    workspaces::{self, NewWorkspace},
};
use frontdesk_testkit::signers;

use crate::{Scratch, figures::percentile};

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
    /// Against `frontdesk api` and `frontdesk worker` processes, mix
    /// maximum-size emails into the load and report peak RSS, the largest
    /// LLM prompt and normal-request latency beside a baseline (see
    /// `hostile.rs`); no pgbench.
    #[arg(long)]
    hostile: bool,
}

const PUBLIC_URL: &str = "https://bench.frontdesk.invalid";

pub async fn run(base: Config, args: IngestArgs) -> anyhow::Result<()> {
    if args.requests == 0 || args.concurrency == 0 {
        bail!("-n and -c must be at least 1");
    }
    if args.hostile {
        return crate::hostile::run(
            base,
            crate::hostile::Args { requests: args.requests, concurrency: args.concurrency },
        )
        .await;
    }
    let scratch = Scratch::new();
    let config = Config {
        db_max_connections: (args.concurrency as u32 + 4).max(8),
        public_url: Some(PUBLIC_URL.into()),
        ..scratch.config(&base).await?
    };
    let app = App::build(config).await?;
    let (account, number, token) =
        (format!("ACbench{}", &scratch.id[..26]), "+15550009999".to_owned(), format!("tok-{}", scratch.id));
    let workspace =
        workspaces::create(app.db(), &NewWorkspace { name: format!("bench {}", scratch.id), timezone: "UTC".into() })
            .await?;
    let mut tx = app.db().tenant(workspace).await?;
    let integration = integrations::create(
        &mut tx,
        app.vault(),
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
        route_key: routes::twilio_number_key(&account, &number),
        integration_id: Some(integration),
        channel_token: None,
    };
    routes::add(&mut tx, &route).await?;
    tx.commit().await?;

    let running = app.start(Services::API).await?;
    let addr = running.api_addr().context("the api has an address")?;
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
                let signature = signers::twilio(&token, &format!("{PUBLIC_URL}/webhooks/twilio/sms"), &params);
                let t = Instant::now();
                let res = client
                    .post(format!("http://{addr}/webhooks/twilio/sms"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("x-twilio-signature", signature)
                    .body(signers::form_body(&params))
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
    running.stop();
    running.wait().await?;
    latencies.sort();
    let rps = args.requests as f64 / elapsed.as_secs_f64();
    let ms = |q| percentile(&latencies, q).map_or(0.0, |d: Duration| d.as_secs_f64() * 1000.0);
    let (p50, p99) = (ms(0.50), ms(0.99));
    eprintln!("ingest: {rps:.0} req/s, p50 {p50:.2} ms, p99 {p99:.2} ms, {failures} failures");

    // Clean up before the baseline so it runs on the same, quiet database.
    scratch.clean_up(&app, workspace).await?;

    eprintln!("ingest: pgbench TPC-B with {} clients for {} s", args.concurrency, args.pgbench_seconds);
    let tps = pgbench(&base, args.concurrency, args.pgbench_seconds).await?;
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
