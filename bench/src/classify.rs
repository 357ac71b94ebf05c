//! `frontdesk bench classify`: the offline classifier's held-out quality and
//! per-call latency, then classify-lead jobs through the real worker against
//! a local OpenAI-compatible fake (our job path is the figure, not a model).

use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use frontdesk_app::{App, Config, Services};
use frontdesk_classifier::{LlmConfig, OfflineClassifier, evaluate_holdout, holdout_texts};
use frontdesk_domain::Phone;
use frontdesk_jobs::ClassifyLead;
use frontdesk_store::{
    leads::{self, NewLead},
    messages::{self, Channel, NewInbound},
    workspaces::{self, NewWorkspace},
};

use crate::{Scratch, figures::percentile};

#[derive(Args)]
pub struct ClassifyArgs {
    /// Classify-lead jobs to run through the real worker.
    #[arg(short = 'n', long, default_value_t = 500)]
    jobs: usize,
    #[arg(short = 'c', long, default_value_t = 16)]
    concurrency: usize,
}

/// At least this many timed classifications, cycling through the held-out set.
const MIN_CLASSIFICATIONS: usize = 10_000;

pub async fn run(base: Config, args: ClassifyArgs) -> anyhow::Result<()> {
    offline();
    jobs(base, args).await
}

fn offline() {
    let eval = evaluate_holdout();
    let texts = holdout_texts();
    let classifier = OfflineClassifier::new();
    let rounds = MIN_CLASSIFICATIONS.div_ceil(texts.len().max(1));
    let mut samples = Vec::with_capacity(rounds * texts.len());
    let mut sink = 0u64;
    for _ in 0..rounds {
        for text in &texts {
            let start = Instant::now();
            let out = classifier.classify(text);
            samples.push(start.elapsed().as_secs_f64() * 1e6);
            // Keeps the optimiser from discarding the work.
            sink = sink.wrapping_add(u64::from(out.score));
        }
    }
    std::hint::black_box(sink);
    let mean = samples.iter().sum::<f64>() / samples.len().max(1) as f64;
    samples.sort_by(f64::total_cmp);
    let us = |q| percentile(&samples, q).unwrap_or(0.0);
    println!(
        "BENCH classify_offline n={} accuracy={:.3} macro_f1={:.3} temperature_accuracy={:.3} language_accuracy={:.3} classifications={} p50_us={:.1} p99_us={:.1} mean_us={mean:.1} target_macro_f1=0.85 target_us=1000",
        eval.n,
        eval.accuracy,
        eval.macro_f1,
        eval.temperature_accuracy,
        eval.language_accuracy,
        samples.len(),
        us(0.50),
        us(0.99)
    );
}

async fn jobs(base: Config, args: ClassifyArgs) -> anyhow::Result<()> {
    let fake = fake_llm().await?;
    let scratch = Scratch::new();
    let config = Config {
        db_max_connections: (args.concurrency as u32 + 4).max(8),
        worker_concurrency: args.concurrency,
        // The figure is throughput, not the budget's fallback.
        ai_daily_token_budget: i64::MAX,
        ..scratch.config(&base).await?
    };
    let mut app = App::build(config).await?;
    let mut llm = LlmConfig::new(format!("http://{fake}/v1"), "bench", "bench-key");
    llm.max_attempts = 1;
    app.set_platform_llm(Some(llm));

    let workspace =
        workspaces::create(app.db(), &NewWorkspace { name: format!("bench {}", scratch.id), timezone: "UTC".into() })
            .await?;
    let mut tx = app.db().tenant(workspace).await?;
    let mut leads = Vec::with_capacity(args.jobs);
    for i in 0..args.jobs {
        let lead = leads::create(
            &mut tx,
            &NewLead {
                phone: Some(Phone::from_e164(&format!("+1555{i:07}"))?),
                source: "bench".into(),
                ..Default::default()
            },
        )
        .await?;
        let inbound = NewInbound {
            lead_id: lead,
            channel: Channel::Sms,
            body: "Hi! How much is a monthly membership?".into(),
            provider_message_id: None,
            subject: None,
            rfc_message_id: None,
        };
        messages::insert_inbound(&mut tx, &inbound).await?;
        leads.push(lead);
    }
    tx.commit().await?;
    for lead in &leads {
        app.jobs().enqueue(&ClassifyLead { workspace_id: workspace, lead_id: *lead }).await?;
    }
    // The bench workspace alone: lift the fairness cap so concurrency is what is measured.
    app.queue()
        .set_workspace_cap(frontdesk_jobs::queue::CLASSIFY_LEAD, workspace, Some(args.concurrency as u32))
        .await?;

    let started = Instant::now();
    let running = app.start(Services::WORKERS_ONLY).await?;
    let mut done = 0;
    while started.elapsed() < Duration::from_secs(600) {
        done = leads::count_classified(&mut app.db().tenant(workspace).await?).await?;
        eprint!("\rclassify: {done}/{} leads", args.jobs);
        if done as usize >= args.jobs {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!();
    let elapsed = started.elapsed();
    running.stop();
    running.wait().await?;
    scratch.clean_up(&app, workspace).await?;
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

/// A local OpenAI-compatible endpoint with a fixed answer.
// A fake provider for the benchmark, not a route of ours: it has no place in our spec.
#[allow(clippy::disallowed_methods)]
async fn fake_llm() -> anyhow::Result<std::net::SocketAddr> {
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, fake).await });
    Ok(addr)
}
