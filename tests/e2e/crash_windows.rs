//! The crash windows, closed: sends a dead worker left ambiguous are
//! resolved from the providers' own callbacks (or Twilio's message list),
//! a committed webhook whose push died with the api runs within seconds,
//! and a message left `sending` is recovered even when Redis lost its data.
//! Real processes, killed with SIGKILL.

// The fake Twilio here is a provider's server, not a route of ours: the
// rule that routes go through utoipa-axum (clippy.toml) is not for it.
#![allow(clippy::disallowed_methods)]

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Router, extract::State, routing::post};
use frontdesk_jobs::{FollowupId, LeadId, ReconcileSend, WorkspaceId};
use frontdesk_store::{
    integrations::{NewIntegration, Provider},
    leads::{self, NewLead},
    routes::RouteProvider,
    vault::{SEND_REFERENCE, Secret},
};
use frontdesk_testkit::signers;
use sqlx::PgPool;
use tokio::process::Child;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path_regex},
};

use crate::{
    app::{META_APP_SECRET, PUBLIC_URL, TestApp, WorkerSetup},
    helpers::{PrivateRedis, eventually, phone},
};

const MIGRATOR: &sqlx::migrate::Migrator = &frontdesk_store::MIGRATOR;
const AC: &str = "AC00000000000000000000000000000001";
const NUM: &str = "+15550001001";
const LEAD: &str = "+15557770001";
const TOKEN: &str = "token-a";
const LEASE_SECS: u64 = 2;

async fn studio(app: &TestApp) -> (WorkspaceId, LeadId) {
    let ws = app.workspace("Iron Temple").await;
    app.twilio(ws, AC, NUM, TOKEN).await;
    let mut tx = app.db().tenant(ws).await.unwrap();
    let new = NewLead { name: Some("Ana Ruiz".into()), phone: Some(phone(LEAD)), email: None, source: "test".into() };
    let lead = leads::create(&mut tx, &new).await.unwrap();
    tx.commit().await.unwrap();
    (ws, lead)
}

async fn due(app: &TestApp, ws: WorkspaceId, lead: LeadId, channel: &str, template: &str) -> FollowupId {
    let id = FollowupId::new();
    sqlx::query(
        "INSERT INTO followups (workspace_id, id, lead_id, kind, channel, template, due_at, status)
         VALUES ($1, $2, $3, 'sequence', $4, $5, now(), 'scheduled')",
    )
    .bind(ws.as_uuid())
    .bind(id.as_uuid())
    .bind(lead.as_uuid())
    .bind(channel)
    .bind(template)
    .execute(&app.owner)
    .await
    .unwrap();
    id
}

async fn followup(app: &TestApp, id: FollowupId) -> (String, Option<String>) {
    sqlx::query_as("SELECT status, reason FROM followups WHERE id = $1")
        .bind(id.as_uuid())
        .fetch_one(&app.owner)
        .await
        .unwrap()
}

async fn message(app: &TestApp, id: FollowupId) -> (String, Option<String>, Option<String>) {
    sqlx::query_as(
        "SELECT m.status, m.provider_message_id, m.error_code FROM messages m
         WHERE m.idempotency_key = 'followup:' || $1::text",
    )
    .bind(id.as_uuid())
    .fetch_one(&app.owner)
    .await
    .unwrap()
}

/// Waits (a worker in another process cannot be drained) for the follow-up to reach one of `states`.
async fn reaches(app: &TestApp, id: FollowupId, states: &[&str], limit: Duration) -> (String, Option<String>) {
    let done = eventually(limit, || async { states.contains(&followup(app, id).await.0.as_str()) }).await;
    let state = followup(app, id).await;
    assert!(done, "follow-up stuck in {state:?}");
    state
}

fn worker_process(app: &TestApp, env: &[(&str, &str)]) -> Child {
    let lease = LEASE_SECS.to_string();
    let mut all = vec![("FRONTDESK_SCHEDULER_TICK_SECS", "0.2"), ("FRONTDESK_QUEUE_LEASE_SECS", lease.as_str())];
    all.extend_from_slice(env);
    app.env.spawn_with("worker", &all)
}

/// A fake Twilio that takes a message, sends its status callback (signed,
/// to the `StatusCallback` URL the send named) after `callback_after`, and
/// answers the send itself only after `reply_after`, by when the worker
/// that asked is dead.
#[derive(Clone)]
struct SlowTwilio {
    api: SocketAddr,
    callback_after: Duration,
    reply_after: Duration,
    sends: Arc<Mutex<Vec<Form>>>,
}

type Form = Vec<(String, String)>;

async fn slow_twilio(app: &TestApp, callback_after: Duration, reply_after: Duration) -> (String, SlowTwilio) {
    let fake = SlowTwilio { api: app.addr, callback_after, reply_after, sends: Arc::default() };
    let router =
        Router::new().route("/2010-04-01/Accounts/{sid}/Messages.json", post(twilio_send)).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, fake)
}

async fn twilio_send(State(fake): State<SlowTwilio>, body: String) -> axum::Json<serde_json::Value> {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let n = {
        let mut sends = fake.sends.lock().unwrap();
        sends.push(form.clone());
        sends.len()
    };
    let sid = format!("SM{n:032x}");
    let field = |k: &str| form.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let (callback, to, sid_for_callback) = (field("StatusCallback"), field("To"), sid.clone());
    let api = fake.api;
    let after = fake.callback_after;
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        let params = [
            ("MessageSid", sid_for_callback.as_str()),
            ("AccountSid", AC),
            ("From", NUM),
            ("To", to.as_str()),
            ("MessageStatus", "delivered"),
        ];
        // Twilio signs the URL it calls, query included.
        let signature = signers::twilio(TOKEN, &callback, &params);
        let local = callback.replacen(PUBLIC_URL, &format!("http://{api}"), 1);
        let res = reqwest::Client::new()
            .post(local)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(signers::form_body(&params))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204, "the status callback was accepted");
    });
    tokio::time::sleep(fake.reply_after).await;
    axum::Json(serde_json::json!({ "sid": sid, "status": "queued" }))
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_worker_killed_mid_send_ends_sent_from_twilios_status_callback_not_flagged(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let (url, fake) = slow_twilio(&app, Duration::from_millis(300), Duration::from_secs(30)).await;
    let (ws, lead) = studio(&app).await;
    let f = due(&app, ws, lead, "sms", "Hi {first_name}!").await;
    let mut worker = worker_process(&app, &[("FRONTDESK_TWILIO_API_URL", &url)]);
    assert!(eventually(Duration::from_secs(30), || async { !fake.sends.lock().unwrap().is_empty() }).await);
    worker.kill().await.unwrap(); // SIGKILL while Twilio holds the request
    let mut worker = worker_process(&app, &[("FRONTDESK_TWILIO_API_URL", &url)]);
    let (status, reason) = reaches(&app, f, &["sent", "failed"], Duration::from_secs(30)).await;
    worker.kill().await.unwrap();
    assert_eq!(status, "sent", "{reason:?}");
    assert_eq!(reason.as_deref(), Some("outcome resolved by the provider's status callback"));
    let (message_status, sid, error) = message(&app, f).await;
    assert_eq!((message_status.as_str(), error), ("delivered", None), "the callback's status applied after");
    assert_eq!(sid.as_deref(), Some(format!("SM{:032x}", 1).as_str()));
    assert_eq!(fake.sends.lock().unwrap().len(), 1, "never sent twice");
    let resolved: i64 = sqlx::query_scalar("SELECT count(*) FROM activity_logs WHERE kind = 'followup_resolved'")
        .fetch_one(&owner)
        .await
        .unwrap();
    assert_eq!(resolved, 1);
}

/// A fake WhatsApp Cloud API that takes a message and posts its `sent`
/// status (with the send's `biz_opaque_callback_data`) to our webhook
/// after `callback_after`, answering the send only much later.
async fn slow_whatsapp(app: &TestApp, callback_after: Duration) -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let sends: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let (log, api) = (sends.clone(), app.addr);
    let router = Router::new().route(
        "/v21.0/PNID-A/messages",
        post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(body.clone());
                let wamid = "wamid.SLOW1";
                tokio::spawn(async move {
                    tokio::time::sleep(callback_after).await;
                    let status = serde_json::json!({
                        "id": wamid, "status": "sent", "timestamp": "1700000000", "recipient_id": "15557770001",
                        "biz_opaque_callback_data": body["biz_opaque_callback_data"],
                    });
                    let notification = serde_json::json!({ "object": "whatsapp_business_account", "entry": [{ "id": "WABA", "changes": [{
                        "field": "messages",
                        "value": { "messaging_product": "whatsapp", "metadata": { "display_phone_number": "15550001001", "phone_number_id": "PNID-A" }, "statuses": [status] }
                    }] }] });
                    let raw = serde_json::to_vec(&notification).unwrap();
                    let res = reqwest::Client::new()
                        .post(format!("http://{api}/webhooks/whatsapp"))
                        .header("content-type", "application/json")
                        .header("x-hub-signature-256", signers::hub(META_APP_SECRET, &raw))
                        .body(raw)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), 200, "the status webhook was accepted");
                });
                tokio::time::sleep(Duration::from_secs(30)).await;
                axum::Json(serde_json::json!({ "messages": [{ "id": wamid }] }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, sends)
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_send_flagged_unknown_is_resolved_when_whatsapps_status_names_it(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    // The status comes after the next delivery took the send over and flagged it.
    let (url, sends) = slow_whatsapp(&app, Duration::from_secs(8)).await;
    let (ws, lead) = studio(&app).await;
    app.integration(
        ws,
        NewIntegration {
            provider: Provider::Whatsapp,
            sandbox: false,
            external_id: Some("PNID-A".into()),
            settings: serde_json::json!({}),
            secret: Some(Secret::new("wa-token")),
        },
    )
    .await;
    app.route(ws, RouteProvider::Whatsapp, "PNID-A", None, None).await;
    sqlx::query("UPDATE leads SET last_inbound_whatsapp_at = now() - interval '1 hour' WHERE id = $1")
        .bind(lead.as_uuid())
        .execute(&owner)
        .await
        .unwrap();
    let f = due(&app, ws, lead, "whatsapp", "Hola {first_name}!").await;
    let env = [("FRONTDESK_WHATSAPP_API_URL", url.as_str())];
    let mut worker = worker_process(&app, &env);
    assert!(eventually(Duration::from_secs(30), || async { !sends.lock().unwrap().is_empty() }).await);
    worker.kill().await.unwrap();
    let mut worker = worker_process(&app, &env);
    let (status, reason) = reaches(&app, f, &["failed"], Duration::from_secs(20)).await;
    assert!(reason.unwrap().starts_with("outcome_unknown"), "first flagged: {status}");
    let (status, reason) = reaches(&app, f, &["sent"], Duration::from_secs(20)).await;
    worker.kill().await.unwrap();
    assert_eq!(
        (status.as_str(), reason.as_deref()),
        ("sent", Some("outcome resolved by the provider's status callback"))
    );
    assert_eq!(message(&app, f).await.1.as_deref(), Some("wamid.SLOW1"));
    let sent = sends.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "never sent twice");
    assert!(sent[0]["biz_opaque_callback_data"].as_str().unwrap().starts_with(&f.to_string()));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_callback_naming_another_workspaces_follow_up_is_refused_and_changes_nothing(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let (a, _) = studio(&app).await;
    let b = app.workspace("Zen Yoga").await;
    app.twilio(b, "AC00000000000000000000000000000002", "+15550002002", "token-b").await;
    let mut tx = app.db().tenant(b).await.unwrap();
    let b_lead =
        leads::create(&mut tx, &NewLead { phone: Some(phone(LEAD)), source: "test".into(), ..NewLead::default() })
            .await
            .unwrap();
    tx.commit().await.unwrap();
    let b_followup = due(&app, b, b_lead, "sms", "Hi").await;
    let before = app.row_counts().await;
    let params =
        [("MessageSid", "SMforged"), ("AccountSid", AC), ("From", NUM), ("To", LEAD), ("MessageStatus", "sent")];
    // B's genuine reference, replayed through A's account (signed with A's token).
    let b_token = app.vault.link_token(b, SEND_REFERENCE, &b_followup.to_string());
    // A's workspace, a reference made for a different follow-up.
    let other_token = app.vault.link_token(a, SEND_REFERENCE, &FollowupId::new().to_string());
    for query in [
        format!("followup={b_followup}&ref={b_token}"),
        format!("followup={b_followup}&ref={other_token}"),
        format!("followup={b_followup}&ref=1.forged"),
    ] {
        let path = format!("/webhooks/twilio/status?{query}");
        assert_eq!(app.post_twilio(&path, &params, TOKEN).await.status(), 403, "{query}");
    }
    assert_eq!(app.row_counts().await, before, "nothing was written");
    let _ = a;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_committed_webhook_whose_push_died_with_the_api_runs_within_ten_seconds(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let twilio = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex(r"/Messages\.json$"))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({ "sid": "SMtextback" })))
        .mount(&twilio)
        .await;
    studio(&app).await;
    // The worker with the production relay settings (a 300 s outbox timeout).
    let _worker = worker_process(&app, &[("FRONTDESK_TWILIO_API_URL", &twilio.uri())]);
    // An api that dies right after a webhook's commit, before its push.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let mut api =
        app.env.spawn_with("api", &[("FRONTDESK_LISTEN", &listen), ("FRONTDESK_FAILPOINT_CRASH_AFTER_COMMIT", "1")]);
    let ready = format!("http://{listen}/healthz");
    assert!(eventually(Duration::from_secs(20), || async { reqwest::get(&ready).await.is_ok() }).await);
    let call = [("CallSid", "CAcrash1"), ("AccountSid", AC), ("From", LEAD), ("To", NUM), ("CallStatus", "no-answer")];
    let path = "/webhooks/twilio/voice";
    let crashed_at = Instant::now();
    let res = reqwest::Client::new()
        .post(format!("http://{listen}{path}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", signers::twilio(TOKEN, &format!("{PUBLIC_URL}{path}"), &call))
        .body(signers::form_body(&call))
        .send()
        .await;
    assert!(res.is_err(), "the api died before it could answer");
    assert!(api.wait().await.map(|s| !s.success()).unwrap_or(true));
    let committed: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE queue = 'send-followup'")
        .fetch_one(&owner)
        .await
        .unwrap();
    assert_eq!(committed, 1, "the webhook's effects were committed");
    let texted = eventually(Duration::from_secs(10), || async {
        !twilio.received_requests().await.unwrap_or_default().is_empty()
    })
    .await;
    assert!(texted, "the text-back did not go out within 10 s of the crash");
    eprintln!("committed webhook took effect {:?} after the api crashed", crashed_at.elapsed());
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_send_left_by_a_dead_worker_is_flagged_within_the_lease_after_redis_lost_everything(owner: PgPool) {
    let redis = PrivateRedis::start().await;
    let app = TestApp::spawn_with_redis(&owner, &redis.url()).await;
    let twilio = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(serde_json::json!({ "sid": "SMheld" }))
                .set_delay(Duration::from_secs(30)),
        )
        .mount(&twilio)
        .await;
    let (ws, lead) = studio(&app).await;
    let f = due(&app, ws, lead, "sms", "Only once").await;
    let env = [("FRONTDESK_TWILIO_API_URL", twilio.uri())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut worker = worker_process(&app, &env);
    assert!(
        eventually(Duration::from_secs(30), || async {
            !twilio.received_requests().await.unwrap_or_default().is_empty()
        })
        .await
    );
    worker.kill().await.unwrap();
    let mut conn = redis::Client::open(redis.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    let restarted = Instant::now();
    let mut worker = worker_process(&app, &env);
    let (status, reason) = reaches(&app, f, &["failed", "sent"], Duration::from_secs(LEASE_SECS + 8)).await;
    let took = restarted.elapsed();
    worker.kill().await.unwrap();
    assert_eq!(status, "failed");
    assert!(reason.unwrap().starts_with("outcome_unknown"));
    assert!(took <= Duration::from_secs(LEASE_SECS + 2) + PROCESS_START, "flagged {took:?} after the restart");
    assert_eq!(twilio.received_requests().await.unwrap().len(), 1, "never sent twice");
}

/// What starting a debug-build worker process costs on this machine, on
/// top of the lease bound the issue sets.
const PROCESS_START: Duration = Duration::from_secs(2);

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_unknown_sms_send_is_resolved_from_twilios_message_list_or_left_flagged_for_staff(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let (ws, lead) = studio(&app).await;
    let twilio = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/2010-04-01/Accounts/AC0+1/Messages\.json$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({ "messages": [
            { "sid": "SMlisted", "to": LEAD, "from": NUM, "body": "Found me", "status": "delivered",
              "date_created": chrono::Utc::now().to_rfc2822() },
            { "sid": "SMother", "to": LEAD, "from": NUM, "body": "Something else", "status": "sent",
              "date_created": chrono::Utc::now().to_rfc2822() }
        ] })))
        .mount(&twilio)
        .await;
    // Two sends a crash left unknown (as a take-over leaves them): one Twilio has, one it never got.
    let found = unknown_send(&app, ws, lead, "Found me", "now()").await;
    let lost = unknown_send(&app, ws, lead, "Never arrived", "now() - interval '11 minutes'").await;
    for f in [found, lost] {
        app.env.jobs.enqueue(&ReconcileSend { workspace_id: ws, followup_id: f }).await.unwrap();
    }
    app.start_worker_with(WorkerSetup { twilio_url: Some(twilio.uri()), ..WorkerSetup::default() }).await;
    app.drain().await;
    assert_eq!(followup(&app, found).await, ("sent".into(), Some("outcome resolved by Twilio's message list".into())));
    assert_eq!(message(&app, found).await, ("delivered".into(), Some("SMlisted".into()), None));
    let (status, reason) = followup(&app, lost).await;
    assert_eq!(status, "failed");
    assert!(reason.unwrap().starts_with("outcome_unknown"), "the real residue stays flagged");
    let staff: Vec<serde_json::Value> =
        sqlx::query_scalar("SELECT detail FROM activity_logs WHERE kind = 'followup_needs_staff'")
            .fetch_all(&owner)
            .await
            .unwrap();
    assert_eq!(staff.len(), 1);
    assert_eq!(staff[0]["followup_id"], serde_json::json!(lost));
}

/// A follow-up whose message a take-over left `sending` / `outcome_unknown`.
async fn unknown_send(app: &TestApp, ws: WorkspaceId, lead: LeadId, body: &str, sent_at: &str) -> FollowupId {
    let f = due(app, ws, lead, "sms", body).await;
    let m = frontdesk_jobs::MessageId::new();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO messages (workspace_id, id, lead_id, direction, channel, body, status, error_code, fencing_token,
                               idempotency_key, sent_at)
         VALUES ($1, $2, $3, 'outbound', 'sms', $4, 'sending', 'outcome_unknown', 7, 'followup:' || $5::text, {sent_at})"
    )))
    .bind(ws.as_uuid())
    .bind(m.as_uuid())
    .bind(lead.as_uuid())
    .bind(body)
    .bind(f.as_uuid())
    .execute(&app.owner)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE followups SET status = 'failed', reason = 'outcome_unknown: test', message_id = $2 WHERE id = $1",
    )
    .bind(f.as_uuid())
    .bind(m.as_uuid())
    .execute(&app.owner)
    .await
    .unwrap();
    f
}
