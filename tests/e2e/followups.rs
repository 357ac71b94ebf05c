//! Follow-ups end to end: the scheduler enqueues due rows, the real worker
//! sends them through fakes that speak Twilio's and Meta's wire formats
//! (wiremock) and a real SMTP conversation, and Postgres records each step.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use chrono::{Timelike, Utc};
use frontdesk_jobs::{FollowupId, LeadId, WorkspaceId, queue};
use frontdesk_store::{
    integrations::{NewIntegration, Provider},
    leads::{self, NewLead},
    vault::Secret,
};
use frontdesk_testkit::smtp::SmtpServer;
use frontdesk_worker::scheduler::{Scheduler, SchedulerConfig};
use sqlx::PgPool;
use wiremock::{
    Mock, MockServer, Request, ResponseTemplate,
    matchers::{method, path, path_regex},
};

use crate::{
    app::{PUBLIC_URL, TestApp, WorkerSetup},
    helpers::eventually,
};

const MIGRATOR: &sqlx::migrate::Migrator = &frontdesk_store::MIGRATOR;
const AC_A: &str = "AC00000000000000000000000000000001";
const AC_B: &str = "AC00000000000000000000000000000002";
const NUM_A: &str = "+15550001001";
const NUM_B: &str = "+15550002002";
const WAIT: Duration = Duration::from_secs(30);

/// A fake Twilio Messages API answering 201 with a fresh `SM…` sid each time.
async fn fake_twilio() -> MockServer {
    let server = MockServer::start().await;
    let n = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST"))
        .and(path_regex(r"^/2010-04-01/Accounts/AC[0-9a-f]{32}/Messages\.json$"))
        .respond_with(move |_: &Request| {
            let sid = format!("SM{:032x}", n.fetch_add(1, Ordering::SeqCst));
            ResponseTemplate::new(201).set_body_json(serde_json::json!({ "sid": sid, "status": "queued" }))
        })
        .mount(&server)
        .await;
    server
}

/// A fake WhatsApp Cloud API that accepts every message.
async fn fake_whatsapp() -> MockServer {
    let server = MockServer::start().await;
    let n = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST"))
        .and(path("/v21.0/PNID-A/messages"))
        .respond_with(move |_: &Request| {
            let id = format!("wamid.OUT{}", n.fetch_add(1, Ordering::SeqCst));
            ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "messaging_product": "whatsapp",
                "contacts": [{ "input": "15557770001", "wa_id": "15557770001" }],
                "messages": [{ "id": id }]
            }))
        })
        .mount(&server)
        .await;
    server
}

/// Form fields of every request the fake received.
async fn twilio_sends(server: &MockServer) -> Vec<Vec<(String, String)>> {
    let requests = server.received_requests().await.unwrap_or_default();
    requests.iter().map(|r| url::form_urlencoded::parse(&r.body).into_owned().collect()).collect()
}

fn field<'a>(form: &'a [(String, String)], key: &str) -> &'a str {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap_or_default()
}

async fn lead(app: &TestApp, ws: WorkspaceId, name: &str, phone: &str, email: Option<&str>) -> LeadId {
    let mut tx = app.db().tenant(ws).await.unwrap();
    let new = NewLead {
        name: Some(name.into()),
        phone: Some(crate::helpers::phone(phone)),
        email: email.map(str::to_owned),
        source: "test".into(),
    };
    let id = leads::create(&mut tx, &new).await.unwrap();
    tx.commit().await.unwrap();
    id
}

/// A follow-up due now (`scheduled`), as a sequence step or campaign leaves it.
async fn due(app: &TestApp, ws: WorkspaceId, lead: LeadId, kind: &str, channel: &str, template: &str) -> FollowupId {
    let id = FollowupId::new();
    sqlx::query(
        "INSERT INTO followups (workspace_id, id, lead_id, kind, channel, template, subject, due_at, status)
         VALUES ($1, $2, $3, $4, $5, $6, 'Hello from {studio_name}', now(), 'scheduled')",
    )
    .bind(ws.as_uuid())
    .bind(id.as_uuid())
    .bind(lead.as_uuid())
    .bind(kind)
    .bind(channel)
    .bind(template)
    .execute(&app.owner)
    .await
    .unwrap();
    id
}

/// The usual studio: a Twilio number and one lead, Ana.
async fn twilio_studio(app: &TestApp) -> (WorkspaceId, LeadId) {
    let ws = app.workspace("Iron Temple").await;
    app.twilio(ws, AC_A, NUM_A, "token-a").await;
    (ws, lead(app, ws, "Ana Ruiz", "+15557770001", None).await)
}

/// Moves a follow-up's due time `interval` (SQL) into the future.
async fn postpone(app: &TestApp, id: FollowupId, interval: &str) {
    sqlx::query("UPDATE followups SET due_at = now() + $2::interval WHERE id = $1")
        .bind(id.as_uuid())
        .bind(interval)
        .execute(&app.owner)
        .await
        .unwrap();
}

async fn followup_state(app: &TestApp, id: FollowupId) -> (String, Option<String>) {
    sqlx::query_as("SELECT status, reason FROM followups WHERE id = $1")
        .bind(id.as_uuid())
        .fetch_one(&app.owner)
        .await
        .unwrap()
}

/// Drains the pipeline, then returns the follow-up's state, which must be one of `until`.
async fn settled(app: &TestApp, id: FollowupId, until: &[&str]) -> (String, Option<String>) {
    app.drain().await;
    let state = followup_state(app, id).await;
    assert!(until.contains(&state.0.as_str()), "follow-up left in {state:?}");
    state
}

/// Like [`settled`], for a worker in another process: there is nothing to
/// drain in-process, so this watches the follow-up's row.
async fn settled_by_process(app: &TestApp, id: FollowupId, until: &[&str]) -> (String, Option<String>) {
    let done = eventually(WAIT, || async { until.contains(&followup_state(app, id).await.0.as_str()) }).await;
    let state = followup_state(app, id).await;
    assert!(done, "follow-up stuck in {state:?}");
    state
}

async fn message_of(app: &TestApp, id: FollowupId) -> (String, Option<String>, String) {
    sqlx::query_as(
        "SELECT m.status, m.provider_message_id, m.body FROM followups f
         JOIN messages m ON m.workspace_id = f.workspace_id AND m.id = f.message_id WHERE f.id = $1",
    )
    .bind(id.as_uuid())
    .fetch_one(&app.owner)
    .await
    .unwrap()
}

async fn set_policy(app: &TestApp, ws: WorkspaceId, sql_set: &str) {
    sqlx::query(sqlx::AssertSqlSafe(format!("UPDATE workspaces SET {sql_set} WHERE id = $1")))
        .bind(ws.as_uuid())
        .execute(&app.owner)
        .await
        .unwrap();
}

async fn running(app: &TestApp, twilio: Option<&MockServer>, whatsapp: Option<&MockServer>) {
    app.start_worker_with(WorkerSetup {
        twilio_url: twilio.map(MockServer::uri),
        whatsapp_url: whatsapp.map(MockServer::uri),
        ..WorkerSetup::default()
    })
    .await;
    app.start_scheduler().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn each_workspace_sends_with_its_own_twilio_account_and_sender_once(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let twilio = fake_twilio().await;
    let (a, b) = (app.workspace("Iron Temple").await, app.workspace("Zen Yoga").await);
    app.twilio(a, AC_A, NUM_A, "token-a").await;
    app.twilio(b, AC_B, NUM_B, "token-b").await;
    let lead_a = lead(&app, a, "Ana Ruiz", "+15557770001", None).await;
    let lead_b = lead(&app, b, "Bo Chen", "+15557770002", None).await;
    let fa = due(&app, a, lead_a, "sequence", "sms", "Hi {first_name}, {studio_name} here!").await;
    let fb = due(&app, b, lead_b, "sequence", "sms", "Hi {first_name}, {studio_name} here!").await;
    running(&app, Some(&twilio), None).await;

    assert_eq!(settled(&app, fa, &["sent", "failed", "skipped"]).await.0, "sent");
    assert_eq!(settled(&app, fb, &["sent", "failed", "skipped"]).await.0, "sent");
    let requests = twilio.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2, "one provider call per follow-up");
    for r in &requests {
        let form: Vec<(String, String)> = url::form_urlencoded::parse(&r.body).into_owned().collect();
        let auth = r.headers.get("authorization").unwrap().to_str().unwrap().to_owned();
        let (account, token, from, to, body) = if field(&form, "To") == "+15557770001" {
            (AC_A, "token-a", NUM_A, "+15557770001", "Hi Ana, Iron Temple here!")
        } else {
            (AC_B, "token-b", NUM_B, "+15557770002", "Hi Bo, Zen Yoga here!")
        };
        // Each workspace's message went through its own account, token and number only.
        assert_eq!(r.url.path(), format!("/2010-04-01/Accounts/{account}/Messages.json"));
        let expected = format!("Basic {}", base64_encode(&format!("{account}:{token}")));
        assert_eq!(auth, expected);
        assert_eq!(field(&form, "From"), from);
        assert_eq!(field(&form, "To"), to);
        assert_eq!(field(&form, "Body"), body);
        // The callback names its follow-up (signed), so a lost send reply can still be resolved.
        let callback = field(&form, "StatusCallback");
        let follow_up = if to == "+15557770001" { fa } else { fb };
        assert!(
            callback.starts_with(&format!("{PUBLIC_URL}/webhooks/twilio/status?followup={follow_up}&ref=")),
            "{callback}"
        );
    }
    let (status, sid, _) = message_of(&app, fa).await;
    assert_eq!(status, "sent");
    let sid = sid.expect("Twilio's sid is recorded");

    // Status callbacks move the message forward only.
    for (status, expect) in [("delivered", "delivered"), ("sent", "delivered"), ("queued", "delivered")] {
        let params = [
            ("MessageSid", sid.as_str()),
            ("AccountSid", AC_A),
            ("From", NUM_A),
            ("To", "+15557770001"),
            ("MessageStatus", status),
        ];
        let res = app.post_twilio("/webhooks/twilio/status", &params, "token-a").await;
        assert!(res.status().is_success(), "{}", res.status());
        assert_eq!(message_of(&app, fa).await.0, expect, "after a {status} callback");
    }
    let contacted: String = sqlx::query_scalar("SELECT status FROM leads WHERE id = $1")
        .bind(lead_a.as_uuid())
        .fetch_one(&owner)
        .await
        .unwrap();
    assert_eq!(contacted, "contacted");
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

async fn whatsapp_integration(app: &TestApp, ws: WorkspaceId, template: bool) {
    let settings = if template {
        serde_json::json!({ "template": { "name": "followup_v1", "language": "en_US", "parameters": ["{first_name}"] } })
    } else {
        serde_json::json!({})
    };
    app.integration(
        ws,
        NewIntegration {
            provider: Provider::Whatsapp,
            sandbox: false,
            external_id: Some("PNID-A".into()),
            settings,
            secret: Some(Secret::new("wa-token-a")),
        },
    )
    .await;
}

async fn last_whatsapp_inbound(app: &TestApp, lead: LeadId, hours_ago: i64) {
    sqlx::query("UPDATE leads SET last_inbound_whatsapp_at = now() - make_interval(hours => $2) WHERE id = $1")
        .bind(lead.as_uuid())
        .bind(hours_ago as i32)
        .execute(&app.owner)
        .await
        .unwrap();
}

async fn whatsapp_bodies(server: &MockServer) -> Vec<serde_json::Value> {
    let requests = server.received_requests().await.unwrap_or_default();
    requests.iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn whatsapp_inside_the_window_sends_text_and_outside_it_the_approved_template(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let whatsapp = fake_whatsapp().await;
    let ws = app.workspace("Iron Temple").await;
    whatsapp_integration(&app, ws, true).await;
    let inside = lead(&app, ws, "Ana Ruiz", "+15557770001", None).await;
    let outside = lead(&app, ws, "Bo Chen", "+15557770002", None).await;
    last_whatsapp_inbound(&app, inside, 1).await;
    last_whatsapp_inbound(&app, outside, 30).await;
    let f_in = due(&app, ws, inside, "sequence", "whatsapp", "Hi {first_name}!").await;
    let f_out = due(&app, ws, outside, "sequence", "whatsapp", "Hi {first_name}!").await;
    running(&app, None, Some(&whatsapp)).await;

    assert_eq!(settled(&app, f_in, &["sent", "failed"]).await.0, "sent");
    assert_eq!(settled(&app, f_out, &["sent", "failed"]).await.0, "sent");
    let bodies = whatsapp_bodies(&whatsapp).await;
    assert_eq!(bodies.len(), 2);
    let to = |n: &str| bodies.iter().find(|b| b["to"] == n).unwrap().clone();
    let text = to("15557770001");
    assert_eq!(text["type"], "text");
    assert_eq!(text["text"]["body"], "Hi Ana!");
    let template = to("15557770002");
    assert_eq!(template["type"], "template");
    assert_eq!(template["template"]["name"], "followup_v1");
    assert_eq!(template["template"]["components"][0]["parameters"][0]["text"], "Bo");
    let auth: Vec<_> =
        whatsapp.received_requests().await.unwrap().iter().map(|r| r.headers["authorization"].clone()).collect();
    assert!(auth.iter().all(|h| h == "Bearer wa-token-a"));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn whatsapp_131047_on_free_form_falls_back_to_the_template_once(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let server = MockServer::start().await;
    let error = serde_json::json!({ "error": { "message": "Re-engagement message", "type": "OAuthException", "code": 131047 } });
    Mock::given(method("POST"))
        .and(wiremock::matchers::body_partial_json(serde_json::json!({ "type": "text" })))
        .respond_with(ResponseTemplate::new(400).set_body_json(error))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(wiremock::matchers::body_partial_json(serde_json::json!({ "type": "template" })))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({ "messages": [{ "id": "wamid.T1" }] })),
        )
        .mount(&server)
        .await;
    let ws = app.workspace("Iron Temple").await;
    whatsapp_integration(&app, ws, true).await;
    let l = lead(&app, ws, "Ana Ruiz", "+15557770001", None).await;
    last_whatsapp_inbound(&app, l, 1).await; // our clock: inside; Meta's: outside
    let f = due(&app, ws, l, "sequence", "whatsapp", "Hi {first_name}!").await;
    running(&app, None, Some(&server)).await;

    assert_eq!(settled(&app, f, &["sent", "failed"]).await.0, "sent");
    let types: Vec<_> = whatsapp_bodies(&server).await.iter().map(|b| b["type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(types, ["text", "template"]);
    assert_eq!(message_of(&app, f).await.1.as_deref(), Some("wamid.T1"));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn whatsapp_outside_the_window_without_a_template_fails_clearly_without_calling_meta(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let whatsapp = fake_whatsapp().await;
    let ws = app.workspace("Iron Temple").await;
    whatsapp_integration(&app, ws, false).await;
    let l = lead(&app, ws, "Ana Ruiz", "+15557770001", None).await;
    last_whatsapp_inbound(&app, l, 30).await;
    let f = due(&app, ws, l, "sequence", "whatsapp", "Hi {first_name}!").await;
    running(&app, None, Some(&whatsapp)).await;
    let (status, reason) = settled(&app, f, &["sent", "failed"]).await;
    assert_eq!(status, "failed");
    assert!(reason.unwrap().contains("24-hour window"));
    assert!(whatsapp.received_requests().await.unwrap().is_empty());
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn twilio_21610_opts_the_lead_out_and_no_later_follow_up_is_sent(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let twilio = MockServer::start().await;
    let opted_out =
        serde_json::json!({ "code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400 });
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(400).set_body_json(opted_out)).mount(&twilio).await;
    let (ws, l) = twilio_studio(&app).await;
    let first = due(&app, ws, l, "sequence", "sms", "Hi {first_name}!").await;
    running(&app, Some(&twilio), None).await;
    let (status, reason) = settled(&app, first, &["sent", "failed", "skipped"]).await;
    assert_eq!(status, "skipped");
    assert!(reason.unwrap().starts_with("opted_out"));
    let flag: bool = sqlx::query_scalar("SELECT opted_out_sms FROM leads WHERE id = $1")
        .bind(l.as_uuid())
        .fetch_one(&owner)
        .await
        .unwrap();
    assert!(flag, "21610 marks the lead opted out of SMS");

    let later = due(&app, ws, l, "cron", "sms", "Still interested, {first_name}?").await;
    assert_eq!(
        settled(&app, later, &["sent", "failed", "skipped"]).await,
        ("skipped".into(), Some("opted_out".into()))
    );
    assert_eq!(twilio.received_requests().await.unwrap().len(), 1, "nothing is sent after the opt-out");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn email_goes_through_the_workspace_smtp_server_with_message_id_and_unsubscribe(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let smtp = SmtpServer::start().await;
    let ws = app.workspace("Iron Temple").await;
    smtp_integration(&app, ws, &smtp).await;
    let l = lead(&app, ws, "Ana Ruiz", "+15557770001", Some("ana@example.com")).await;
    let f = due(&app, ws, l, "sequence", "email", "Hi {first_name}, come train with us.").await;
    running(&app, None, None).await;
    assert_eq!(settled(&app, f, &["sent", "failed"]).await.0, "sent");
    let received = smtp.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].rcpt, ["RCPT TO:<ana@example.com>"]);
    let data = &received[0].data;
    let (_, message_id, _) = message_of(&app, f).await;
    let message_id = message_id.unwrap();
    assert!(message_id.ends_with("@irontemple.example"), "{message_id}");
    // Header lines may be folded; unfold before reading them.
    let data = data.replace("\r\n", "\n").replace("\n ", " ").replace("\n\t", " ");
    for expected in [
        format!("Message-ID: <{message_id}>"),
        "<mailto:hello@irontemple.example?subject=unsubscribe>".into(),
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click".into(),
        "Subject: Hello from Iron Temple".into(),
        "Hi Ana, come train with us.".into(),
    ] {
        assert!(data.contains(&expected), "missing {expected:?} in:\n{data}");
    }
    // The one-click link: signed, scoped to this workspace and lead.
    let link = data
        .split(&format!("<{PUBLIC_URL}"))
        .nth(1)
        .and_then(|rest| rest.split('>').next())
        .map(|path| app.url(path))
        .expect("an https unsubscribe link");
    let opted_out = || async {
        sqlx::query_scalar::<_, bool>("SELECT opted_out_email FROM leads WHERE id = $1")
            .bind(l.as_uuid())
            .fetch_one(&owner)
            .await
            .unwrap()
    };
    assert_eq!(app.http.get(&link).send().await.unwrap().status(), 200);
    assert!(!opted_out().await, "a GET (link scanners) must not unsubscribe");
    // Same length, one character of the MAC changed.
    let last = link.chars().last().unwrap();
    let forged = format!("{}{}", &link[..link.len() - 1], if last == 'A' { 'B' } else { 'A' });
    let other = app.workspace("Other").await;
    let moved = link.replace(&ws.to_string(), &other.to_string());
    let someone_else = lead(&app, ws, "Bo Chen", "+15557770002", Some("bo@example.com")).await;
    let swapped = link.replace(&l.to_string(), &someone_else.to_string());
    for bad in [forged, moved, swapped] {
        assert_eq!(app.http.post(&bad).send().await.unwrap().status(), 404, "{bad}");
    }
    assert!(!opted_out().await);
    let one_click = app.http.post(&link).body("List-Unsubscribe=One-Click").send().await.unwrap();
    assert_eq!(one_click.status(), 200);
    assert!(opted_out().await, "one POST unsubscribes");
}

async fn smtp_integration(app: &TestApp, ws: WorkspaceId, smtp: &SmtpServer) {
    app.integration(
        ws,
        NewIntegration {
            provider: Provider::Smtp,
            sandbox: false,
            external_id: None,
            settings: serde_json::json!({
                "host": "127.0.0.1", "port": smtp.port, "security": "none",
                "from": "Iron Temple <hello@irontemple.example>"
            }),
            secret: None,
        },
    )
    .await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_email_follow_up_threads_under_the_leads_email_and_unsubscribe_opts_out(owner: PgPool) {
    use frontdesk_store::routes::RouteProvider;
    let app = TestApp::spawn(&owner).await;
    let smtp = SmtpServer::start().await;
    let ws = app.workspace("Iron Temple").await;
    app.route(ws, RouteProvider::Email, "hello@irontemple.example", None, None).await;
    smtp_integration(&app, ws, &smtp).await;
    let inbound = [
        ("recipient", "hello@irontemple.example"),
        ("sender", "ana@example.com"),
        ("from", "Ana Ruiz <ana@example.com>"),
        ("subject", "Membership prices"),
        ("Message-Id", "<CAx-original-1@mail.example>"),
        ("stripped-text", "How much is a monthly membership?"),
    ];
    assert_eq!(app.post_email(&inbound, "token-1").await.status(), 200);
    let l: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM leads WHERE email = 'ana@example.com'").fetch_one(&owner).await.unwrap();
    let f = due(&app, ws, LeadId::from_uuid(l), "cron", "email", "Hi {first_name}, here are our prices.").await;
    running(&app, None, None).await;
    assert_eq!(settled(&app, f, &["sent", "failed"]).await.0, "sent");
    let received = smtp.received();
    assert_eq!(received.len(), 1);
    for expected in [
        "In-Reply-To: <CAx-original-1@mail.example>",
        "References: <CAx-original-1@mail.example>",
        "Subject: Re: Membership prices",
    ] {
        assert!(received[0].data.contains(expected), "missing {expected:?} in:\n{}", received[0].data);
    }
    // The List-Unsubscribe mailto comes back to the studio's routed inbox.
    let unsubscribe = [
        ("recipient", "hello@irontemple.example"),
        ("sender", "ana@example.com"),
        ("subject", "unsubscribe"),
        ("stripped-text", ""),
    ];
    assert_eq!(app.post_email(&unsubscribe, "token-2").await.status(), 200);
    let opted_out: bool =
        sqlx::query_scalar("SELECT opted_out_email FROM leads WHERE id = $1").bind(l).fetch_one(&owner).await.unwrap();
    assert!(opted_out);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn sandbox_mode_records_the_message_without_calling_the_provider(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let twilio = fake_twilio().await;
    let ws = app.workspace("Iron Temple").await;
    app.integration(
        ws,
        NewIntegration {
            provider: Provider::Twilio,
            sandbox: true,
            external_id: Some(AC_A.into()),
            settings: serde_json::json!({ "from": NUM_A }),
            secret: Some(Secret::new("token-a")),
        },
    )
    .await;
    let l = lead(&app, ws, "Ana Ruiz", "+15557770001", None).await;
    let f = due(&app, ws, l, "sequence", "sms", "Hi {first_name}!").await;
    running(&app, Some(&twilio), None).await;
    assert_eq!(settled(&app, f, &["sent", "failed"]).await, ("sent".into(), Some("sandbox".into())));
    let (status, _, body) = message_of(&app, f).await;
    assert_eq!((status.as_str(), body.as_str()), ("sent_sandbox", "Hi Ana!"));
    assert!(twilio.received_requests().await.unwrap().is_empty());
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_missing_template_variable_fails_the_follow_up_instead_of_sending_a_blank(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let twilio = fake_twilio().await;
    let (ws, l) = twilio_studio(&app).await;
    // The studio has no booking link configured.
    let f = due(&app, ws, l, "sequence", "sms", "Book here: {booking_link}").await;
    running(&app, Some(&twilio), None).await;
    let (status, reason) = settled(&app, f, &["sent", "failed"]).await;
    assert_eq!(status, "failed");
    assert!(reason.unwrap().contains("{booking_link}"));
    assert!(twilio.received_requests().await.unwrap().is_empty());
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn quiet_hours_in_the_studio_timezone_push_the_send_to_the_end_of_the_window(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let twilio = fake_twilio().await;
    let ws = app.workspace("Iron Temple").await; // America/New_York
    app.twilio(ws, AC_A, NUM_A, "token-a").await;
    // A quiet window around the studio's current local time.
    let local = Utc::now().with_timezone(&chrono_tz::America::New_York);
    let start = (local - chrono::Duration::hours(1)).time().with_second(0).unwrap();
    let end = (local + chrono::Duration::hours(2)).time().with_second(0).unwrap().with_nanosecond(0).unwrap();
    set_policy(&app, ws, &format!("quiet_hours_start = '{start}', quiet_hours_end = '{}'", end.format("%H:%M"))).await;
    let l = lead(&app, ws, "Ana Ruiz", "+15557770001", None).await;
    let f = due(&app, ws, l, "sequence", "sms", "Hi {first_name}!").await;
    running(&app, Some(&twilio), None).await;
    assert_eq!(settled(&app, f, &["scheduled"]).await.1.as_deref(), Some("quiet_hours"));
    let (status, due_at): (String, chrono::DateTime<Utc>) =
        sqlx::query_as("SELECT status, due_at FROM followups WHERE id = $1")
            .bind(f.as_uuid())
            .fetch_one(&owner)
            .await
            .unwrap();
    assert_eq!(status, "scheduled");
    let resumes = due_at.with_timezone(&chrono_tz::America::New_York);
    assert_eq!(resumes.format("%H:%M").to_string(), end.format("%H:%M").to_string());
    assert!(due_at > Utc::now() + chrono::Duration::minutes(100));
    assert!(twilio.received_requests().await.unwrap().is_empty());
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_frequency_cap_defers_a_follow_up_by_a_day(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let twilio = fake_twilio().await;
    let ws = app.workspace("Iron Temple").await;
    app.twilio(ws, AC_A, NUM_A, "token-a").await;
    set_policy(&app, ws, "max_messages_per_lead_per_day = 1").await;
    let l = lead(&app, ws, "Ana Ruiz", "+15557770001", None).await;
    let first = due(&app, ws, l, "sequence", "sms", "One").await;
    running(&app, Some(&twilio), None).await;
    assert_eq!(settled(&app, first, &["sent", "failed"]).await.0, "sent");
    let second = due(&app, ws, l, "cron", "sms", "Two").await;
    assert_eq!(settled(&app, second, &["scheduled"]).await.1.as_deref(), Some("frequency_cap"));
    let due_at: chrono::DateTime<Utc> = sqlx::query_scalar("SELECT due_at FROM followups WHERE id = $1")
        .bind(second.as_uuid())
        .fetch_one(&owner)
        .await
        .unwrap();
    assert!(due_at > Utc::now() + chrono::Duration::hours(23), "{due_at}");
    assert_eq!(twilio.received_requests().await.unwrap().len(), 1);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_reply_stops_the_sequence(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let twilio = fake_twilio().await;
    let (ws, l) = twilio_studio(&app).await;
    // Step 2 is due later; the lead replies before it.
    let later = due(&app, ws, l, "sequence", "sms", "Step two").await;
    postpone(&app, later, "1 hour").await;
    running(&app, Some(&twilio), None).await;
    let reply = [
        ("MessageSid", "SMreply1"),
        ("AccountSid", AC_A),
        ("From", "+15557770001"),
        ("To", NUM_A),
        ("Body", "Yes please, what times?"),
    ];
    assert!(app.post_twilio("/webhooks/twilio/sms", &reply, "token-a").await.status().is_success());
    assert_eq!(settled(&app, later, &["canceled"]).await, ("canceled".into(), Some("lead_replied".into())));

    // A step already enqueued when the reply lands is stopped by the send job
    // itself. It was created before the reply: written in one statement, so
    // the running scheduler never sees it with a later creation time.
    let racing = FollowupId::new();
    sqlx::query(
        "INSERT INTO followups (workspace_id, id, lead_id, kind, channel, template, due_at, status, created_at)
         VALUES ($1, $2, $3, 'sequence', 'sms', 'Step three', now(), 'scheduled', now() - interval '1 hour')",
    )
    .bind(ws.as_uuid())
    .bind(racing.as_uuid())
    .bind(l.as_uuid())
    .execute(&owner)
    .await
    .unwrap();
    assert_eq!(settled(&app, racing, &["canceled", "sent"]).await, ("canceled".into(), Some("lead_replied".into())));
    assert!(twilio.received_requests().await.unwrap().is_empty());
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_missed_call_is_texted_back_within_seconds(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let twilio = fake_twilio().await;
    let ws = app.workspace("Iron Temple").await;
    app.twilio(ws, AC_A, NUM_A, "token-a").await;
    app.start_worker_with(WorkerSetup { twilio_url: Some(twilio.uri()), ..WorkerSetup::default() }).await;
    // No scheduler: the text-back is enqueued by the webhook itself.
    let call = [
        ("CallSid", "CA0001"),
        ("AccountSid", AC_A),
        ("From", "+15557770009"),
        ("To", NUM_A),
        ("CallStatus", "no-answer"),
        ("Direction", "inbound"),
    ];
    let called = std::time::Instant::now();
    assert!(app.post_twilio("/webhooks/twilio/voice", &call, "token-a").await.status().is_success());
    app.drain().await;
    assert!(called.elapsed() < Duration::from_secs(10), "text-back took {:?}", called.elapsed());
    let forms = twilio_sends(&twilio).await;
    assert_eq!(forms.len(), 1);
    assert_eq!(field(&forms[0], "To"), "+15557770009");
    assert!(field(&forms[0], "Body").contains("Iron Temple"), "{:?}", field(&forms[0], "Body"));
}

/// A missed call from `from` to a studio whose default language is
/// `studio_language`; returns the text-back's body.
async fn missed_call_text_back(
    owner: &PgPool,
    studio_language: &str,
    from: &str,
    lead_language: Option<&str>,
) -> String {
    let app = TestApp::spawn(owner).await;
    let twilio = fake_twilio().await;
    let ws = app.workspace("Iron Temple").await;
    app.twilio(ws, AC_A, NUM_A, "token-a").await;
    let mut tx = app.db().tenant(ws).await.unwrap();
    let language = frontdesk_store::workspaces::ProfileChange {
        default_language: Some(studio_language.to_owned()),
        ..Default::default()
    };
    frontdesk_store::workspaces::update_profile(&mut tx, &language).await.unwrap();
    if let Some(language) = lead_language {
        // A caller who wrote before: the classifier stored their language.
        let phone: frontdesk_domain::Phone = from.parse().unwrap();
        let lead = frontdesk_store::leads::upsert_by_phone(&mut tx, &phone, None, "sms").await.unwrap();
        sqlx::query("UPDATE leads SET language = $3 WHERE workspace_id = $1 AND id = $2")
            .bind(ws.as_uuid())
            .bind(lead.as_uuid())
            .bind(language)
            .execute(tx.conn())
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    app.start_worker_with(WorkerSetup { twilio_url: Some(twilio.uri()), ..WorkerSetup::default() }).await;
    let call = [
        ("CallSid", "CA0042"),
        ("AccountSid", AC_A),
        ("From", from),
        ("To", NUM_A),
        ("CallStatus", "no-answer"),
        ("Direction", "inbound"),
    ];
    assert!(app.post_twilio("/webhooks/twilio/voice", &call, "token-a").await.status().is_success());
    app.drain().await;
    let forms = twilio_sends(&twilio).await;
    assert_eq!(forms.len(), 1);
    field(&forms[0], "Body").to_owned()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_new_caller_of_a_spanish_studio_is_texted_back_in_spanish(owner: PgPool) {
    let body = missed_call_text_back(&owner, "es", "+15557770031", None).await;
    assert!(body.starts_with("¡Sentimos no haber podido atender tu llamada!"), "{body}");
    assert!(body.contains("Iron Temple"), "{body}");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_caller_whose_language_is_known_is_texted_back_in_it_not_the_studio_default(owner: PgPool) {
    let body = missed_call_text_back(&owner, "es", "+15557770032", Some("pt")).await;
    assert!(body.starts_with("Desculpe não termos atendido a sua chamada!"), "{body}");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_caller_in_an_unsupported_language_of_an_english_studio_gets_english(owner: PgPool) {
    let body = missed_call_text_back(&owner, "en", "+15557770033", Some("ja")).await;
    assert!(body.starts_with("Sorry we missed your call!"), "{body}");
}

/// The studio's own campaign must not delay its missed-call text-back: both
/// go through one Twilio number at 1 message a second, and the text-back
/// takes the next free start instead of waiting behind the campaign.
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_missed_call_text_back_goes_ahead_of_a_campaign_on_the_same_number(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let twilio = fake_twilio().await;
    let ws = app.workspace("Iron Temple").await;
    app.twilio(ws, AC_A, NUM_A, "token-a").await;
    for n in 0..6 {
        let l = lead(&app, ws, "Lead", &format!("+1555400{n:04}"), None).await;
        due(&app, ws, l, "cron", "sms", "Spring offer").await;
    }
    running(&app, Some(&twilio), None).await;
    // The first campaign send went out; the other five wait on the limit.
    // (The fake is watched mid-run: a drain would wait out the whole campaign.)
    assert!(eventually(Duration::from_secs(10), || async { !twilio_sends(&twilio).await.is_empty() }).await);
    let call = [
        ("CallSid", "CA0003"),
        ("AccountSid", AC_A),
        ("From", "+15557770010"),
        ("To", NUM_A),
        ("CallStatus", "no-answer"),
        ("Direction", "inbound"),
    ];
    assert!(app.post_twilio("/webhooks/twilio/voice", &call, "token-a").await.status().is_success());
    let answered = || async { twilio_sends(&twilio).await.iter().any(|f| field(f, "To") == "+15557770010") };
    assert!(eventually(Duration::from_secs(15), answered).await, "no text-back");
    let sends = twilio_sends(&twilio).await;
    let position = sends.iter().position(|f| field(f, "To") == "+15557770010").unwrap();
    // Behind the campaign it would be the 7th send; it takes the next free
    // second instead (2nd, or 3rd if that second was already being handed out).
    assert!(position <= 2, "text-back was send {} of {}", position + 1, sends.len());
    assert!(field(&sends[position], "Body").contains("Iron Temple"));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn two_scheduler_replicas_enqueue_each_due_follow_up_exactly_once(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let mut all = Vec::new();
    for name in ["A", "B", "C"] {
        let ws = app.workspace(name).await;
        app.twilio(ws, &format!("AC{:032}", all.len()), &format!("+1555000{:04}", all.len()), "t").await;
        for n in 0..40 {
            let l = lead(&app, ws, "Lead", &format!("+1555{:03}{:04}", all.len() % 1000, n), None).await;
            all.push(due(&app, ws, l, "sequence", "sms", "Hi").await);
        }
    }
    let config = SchedulerConfig { per_workspace: 7, workspaces_per_round: 2, ..SchedulerConfig::default() };
    let replica = |_| {
        let scheduler = Scheduler::new(app.db().clone(), app.env.jobs.clone(), config.clone());
        async move {
            let mut total = 0;
            for _ in 0..50 {
                total += scheduler.tick(Utc::now()).await.unwrap().enqueued;
            }
            total
        }
    };
    let (one, two) = tokio::join!(replica(1), replica(2));
    assert_eq!(one + two, 120, "replicas enqueued {one} + {two}");
    let per_followup: Vec<(i64,)> =
        sqlx::query_as("SELECT count(*) FROM outbox WHERE queue = 'send-followup' GROUP BY payload->>'followup_id'")
            .fetch_all(&owner)
            .await
            .unwrap();
    assert_eq!(per_followup.len(), 120);
    assert!(per_followup.iter().all(|(n,)| *n == 1), "a follow-up got two outbox entries");
    let stats = app.queue.stats(queue::SEND_FOLLOWUP).await.unwrap();
    assert_eq!(stats.waiting + stats.scheduled, 120, "{stats:?}");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_cron_rule_fires_once_per_occurrence_at_the_studios_local_time_across_replicas(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let ws = app.workspace("Iron Temple").await; // America/New_York
    app.twilio(ws, AC_A, NUM_A, "token-a").await;
    let cold = lead(&app, ws, "Ana Ruiz", "+15557770001", None).await;
    let _hot = lead(&app, ws, "Bo Chen", "+15557770002", None).await;
    sqlx::query("UPDATE leads SET temperature = CASE WHEN id = $1 THEN 'cold' ELSE 'hot' END")
        .bind(cold.as_uuid())
        .execute(&owner)
        .await
        .unwrap();
    let config = serde_json::json!({
        "channel": "sms",
        "template": "Hi {first_name}, we miss you at {studio_name}!",
        "segment": { "temperature": "cold" }
    });
    sqlx::query(
        "INSERT INTO ai_rules (workspace_id, id, name, kind, pattern, config, created_at)
         VALUES ($1, $2, 're-engage cold leads', 'cron', '0 9 * * *', $3, now() - interval '3 days')",
    )
    .bind(ws.as_uuid())
    .bind(uuid::Uuid::now_v7())
    .bind(config)
    .execute(&owner)
    .await
    .unwrap();
    // The latest 09:00 in New York that has passed, whatever the offset that day.
    let ny = chrono_tz::America::New_York;
    let local_now = Utc::now().with_timezone(&ny);
    let mut day = local_now.date_naive();
    if local_now.time() < chrono::NaiveTime::from_hms_opt(9, 1, 0).unwrap() {
        day = day.pred_opt().unwrap();
    }
    let nine = day.and_hms_opt(9, 0, 0).unwrap().and_local_timezone(ny).single().unwrap().with_timezone(&Utc);
    let scheduler = || Scheduler::new(app.db().clone(), app.env.jobs.clone(), SchedulerConfig::default());

    // 08:59 local: the day before's 09:00 is past the grace period; it is spent, not sent.
    let early = scheduler().tick(nine - chrono::Duration::minutes(1)).await.unwrap();
    assert_eq!(early.cron_firings, 0);
    // 09:00:30 local, two replicas at once: one firing.
    let at = nine + chrono::Duration::seconds(30);
    let (first, second) = (scheduler(), scheduler());
    let (one, two) = tokio::join!(first.tick(at), second.tick(at));
    assert_eq!(one.unwrap().cron_firings + two.unwrap().cron_firings, 1, "one firing for one occurrence");
    assert_eq!(scheduler().tick(at + chrono::Duration::minutes(5)).await.unwrap().cron_firings, 0);
    let fired: Vec<serde_json::Value> =
        sqlx::query_scalar("SELECT detail FROM activity_logs WHERE kind = 'cron_rule_fired'")
            .fetch_all(&owner)
            .await
            .unwrap();
    assert_eq!(fired.len(), 1);
    let occurrence: chrono::DateTime<Utc> = serde_json::from_value(fired[0]["occurrence"].clone()).unwrap();
    assert_eq!(occurrence, nine, "fired for 09:00 New York time");
    let created: Vec<(uuid::Uuid, String)> =
        sqlx::query_as("SELECT lead_id, status FROM followups WHERE kind = 'cron'").fetch_all(&owner).await.unwrap();
    assert_eq!(created.len(), 1, "only the cold lead is targeted: {created:?}");
    assert_eq!(created[0].0, cold.as_uuid());
    assert_eq!(created[0].1, "enqueued", "the same tick enqueued it");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_cron_campaign_pages_through_its_segment_up_to_its_limit(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let ws = app.workspace("Iron Temple").await;
    for n in 0..7 {
        lead(&app, ws, "Lead", &format!("+1555400{n:04}"), None).await;
    }
    let config = serde_json::json!({ "channel": "sms", "template": "Hi" });
    sqlx::query(
        "INSERT INTO ai_rules (workspace_id, id, name, kind, pattern, config, created_at)
         VALUES ($1, gen_random_uuid(), 'everyone', 'cron', '* * * * *', $2, now() - interval '5 minutes')",
    )
    .bind(ws.as_uuid())
    .bind(config)
    .execute(&owner)
    .await
    .unwrap();
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(DISTINCT lead_id) FROM followups WHERE kind = 'cron'")
            .fetch_one(&owner)
            .await
            .unwrap()
    };
    // Pages of 2, at most 5 leads: three pages, and the firing says it stopped short.
    let limited = SchedulerConfig { cron_page: 2, cron_max_leads: 5, ..SchedulerConfig::default() };
    let scheduler = Scheduler::new(app.db().clone(), app.env.jobs.clone(), limited);
    assert_eq!(scheduler.tick(Utc::now()).await.unwrap().cron_firings, 1);
    assert_eq!(count().await, 5, "five distinct leads, none twice");
    let detail: serde_json::Value =
        sqlx::query_scalar("SELECT detail FROM activity_logs WHERE kind = 'cron_rule_fired'")
            .fetch_one(&owner)
            .await
            .unwrap();
    assert_eq!((detail["followups"].as_i64(), detail["truncated"].as_bool()), (Some(5), Some(true)));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_studio_with_a_big_backlog_does_not_hold_up_another_studios_follow_up(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let (busy, quiet) = (app.workspace("Busy").await, app.workspace("Quiet").await);
    for n in 0..120 {
        let l = lead(&app, busy, "Lead", &format!("+1555100{n:04}"), None).await;
        due(&app, busy, l, "cron", "sms", "Hi").await;
    }
    // The quiet studio's follow-up is the newest of all.
    let l = lead(&app, quiet, "Ana", "+15552000001", None).await;
    let theirs = due(&app, quiet, l, "missed_call", "sms", "Sorry we missed you").await;
    let config = SchedulerConfig { per_workspace: 20, max_rounds: 1, ..SchedulerConfig::default() };
    let report = Scheduler::new(app.db().clone(), app.env.jobs.clone(), config).tick(Utc::now()).await.unwrap();
    assert_eq!(report.enqueued, 21, "one round: a slice of the backlog and the quiet studio's follow-up");
    assert_eq!(followup_state(&app, theirs).await.0, "enqueued");
    let waiting: i64 =
        sqlx::query_scalar("SELECT count(*) FROM followups WHERE workspace_id = $1 AND status = 'scheduled'")
            .bind(busy.as_uuid())
            .fetch_one(&owner)
            .await
            .unwrap();
    assert_eq!(waiting, 100);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn twilio_429_is_retried_after_its_retry_after_and_sends_once(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let twilio = fake_twilio().await;
    let busy = serde_json::json!({ "code": 20429, "message": "Too Many Requests", "status": 429 });
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).set_body_json(busy).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&twilio)
        .await;
    let (ws, l) = twilio_studio(&app).await;
    let f = due(&app, ws, l, "sequence", "sms", "Hi {first_name}!").await;
    running(&app, Some(&twilio), None).await;
    assert_eq!(settled(&app, f, &["sent", "failed"]).await.0, "sent");
    let requests = twilio.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2, "one refused, one accepted");
    let (status, sid, _) = message_of(&app, f).await;
    assert_eq!(status, "sent");
    assert!(sid.unwrap().starts_with("SM"));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn sends_through_one_twilio_number_respect_its_rate_limit(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let twilio = MockServer::start().await;
    let arrivals = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (log, n) = (arrivals.clone(), Arc::new(AtomicUsize::new(0)));
    Mock::given(method("POST"))
        .respond_with(move |_: &Request| {
            log.lock().unwrap().push(std::time::Instant::now());
            let sid = format!("SM{:032x}", n.fetch_add(1, Ordering::SeqCst));
            ResponseTemplate::new(201).set_body_json(serde_json::json!({ "sid": sid }))
        })
        .mount(&twilio)
        .await;
    let ws = app.workspace("Iron Temple").await;
    app.integration(
        ws,
        NewIntegration {
            provider: Provider::Twilio,
            sandbox: false,
            external_id: Some(AC_A.into()),
            settings: serde_json::json!({ "from": NUM_A, "max_per_second": 2 }),
            secret: Some(Secret::new("token-a")),
        },
    )
    .await;
    let mut all = Vec::new();
    for n in 0..6 {
        let l = lead(&app, ws, "Lead", &format!("+1555300{n:04}"), None).await;
        all.push(due(&app, ws, l, "cron", "sms", "Hi").await);
    }
    running(&app, Some(&twilio), None).await;
    for f in all {
        assert_eq!(settled(&app, f, &["sent", "failed"]).await.0, "sent");
    }
    let mut at = arrivals.lock().unwrap().clone();
    at.sort();
    assert_eq!(at.len(), 6);
    // At most 2 starts in any one-second window: the third after a pair is a second later.
    for w in at.windows(3) {
        let span = w[2] - w[0];
        assert!(span >= Duration::from_millis(950), "3 sends within {span:?}");
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_missed_caller_inside_the_whatsapp_window_is_answered_on_whatsapp(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let (twilio, whatsapp) = (fake_twilio().await, fake_whatsapp().await);
    let ws = app.workspace("Iron Temple").await;
    app.twilio(ws, AC_A, NUM_A, "token-a").await;
    whatsapp_integration(&app, ws, false).await;
    let l = lead(&app, ws, "Ana Ruiz", "+15557770001", None).await;
    last_whatsapp_inbound(&app, l, 2).await;
    app.start_worker_with(WorkerSetup {
        twilio_url: Some(twilio.uri()),
        whatsapp_url: Some(whatsapp.uri()),
        ..WorkerSetup::default()
    })
    .await;
    let call = [
        ("CallSid", "CA0002"),
        ("AccountSid", AC_A),
        ("From", "+15557770001"),
        ("To", NUM_A),
        ("CallStatus", "busy"),
        ("Direction", "inbound"),
    ];
    let called = std::time::Instant::now();
    assert!(app.post_twilio("/webhooks/twilio/voice", &call, "token-a").await.status().is_success());
    app.drain().await;
    assert!(called.elapsed() < Duration::from_secs(10), "text-back took {:?}", called.elapsed());
    let bodies = whatsapp_bodies(&whatsapp).await;
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["type"], "text");
    assert!(bodies[0]["text"]["body"].as_str().unwrap().contains("Iron Temple"));
    assert!(twilio.received_requests().await.unwrap().is_empty(), "not also by SMS");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_delivery_that_lost_the_message_cannot_record_over_the_one_that_took_it(owner: PgPool) {
    use frontdesk_store::messages::{self, Channel, NewOutbound, SendOutcome};
    let app = TestApp::spawn(&owner).await;
    let ws = app.workspace("Iron Temple").await;
    let l = lead(&app, ws, "Ana Ruiz", "+15557770001", None).await;
    let mut tx = app.db().tenant(ws).await.unwrap();
    let new =
        NewOutbound { lead_id: l, channel: Channel::Sms, body: "Hi", subject: None, idempotency_key: "followup:x" };
    let message = messages::outbound_for_key(&mut tx, &new).await.unwrap();
    assert!(messages::begin_send(&mut tx, message.id, 10, "Hi", None).await.unwrap());
    assert!(!messages::begin_send(&mut tx, message.id, 11, "Hi", None).await.unwrap(), "already sending");
    // Delivery 11 finds it sending under 10 and takes it over; 9 cannot.
    assert!(!messages::take_over_unknown(&mut tx, message.id, 9).await.unwrap());
    assert!(messages::take_over_unknown(&mut tx, message.id, 11).await.unwrap());
    // Delivery 10's late result is refused.
    let sent = SendOutcome::Sent { provider_message_id: "SMlate", sandbox: false, body: None };
    assert!(!messages::record_outcome(&mut tx, message.id, 10, &sent).await.unwrap());
    let row = messages::find_outbound(&mut tx, "followup:x").await.unwrap().unwrap();
    assert_eq!((row.status.as_str(), row.error_code.as_deref()), ("sending", Some("outcome_unknown")));
    assert_eq!(row.provider_message_id, None);
    tx.rollback().await.unwrap();
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_status_callback_that_beats_the_send_reply_is_applied_once_the_sid_is_recorded(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let twilio = fake_twilio().await; // its first sid is SM000…0
    let (ws, l) = twilio_studio(&app).await;
    let first_sid = format!("SM{:032x}", 0);
    let early = [
        ("MessageSid", first_sid.as_str()),
        ("AccountSid", AC_A),
        ("From", NUM_A),
        ("To", "+15557770001"),
        ("MessageStatus", "delivered"),
    ];
    assert!(app.post_twilio("/webhooks/twilio/status", &early, "token-a").await.status().is_success());
    let f = due(&app, ws, l, "sequence", "sms", "Hi {first_name}!").await;
    running(&app, Some(&twilio), None).await;
    assert_eq!(settled(&app, f, &["sent", "failed"]).await.0, "sent");
    let (status, sid, _) = message_of(&app, f).await;
    assert_eq!(sid.as_deref(), Some(first_sid.as_str()));
    assert_eq!(status, "delivered", "the early callback was not lost");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn follow_ups_whose_job_is_gone_are_reaped_and_live_ones_are_left_alone(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let (ws, l) = twilio_studio(&app).await;
    let stale = |status: &'static str| {
        let app = &app;
        async move {
            let f = due(app, ws, l, "cron", "sms", "Hi").await;
            sqlx::query("UPDATE followups SET status = $2, updated_at = now() - interval '7 hours' WHERE id = $1")
                .bind(f.as_uuid())
                .bind(status)
                .execute(&app.owner)
                .await
                .unwrap();
            f
        }
    };
    let lost = stale("enqueued").await;
    let crashed = stale("sending").await;
    let waiting = stale("enqueued").await;
    // `waiting` still has a pending job (say, behind a rate limit).
    sqlx::query(
        "INSERT INTO outbox (workspace_id, id, queue, payload, max_attempts)
         VALUES ($1, gen_random_uuid(), 'send-followup', jsonb_build_object('workspace_id', $1, 'followup_id', $2), 8)",
    )
    .bind(ws.as_uuid())
    .bind(waiting.as_uuid())
    .execute(&owner)
    .await
    .unwrap();
    let scheduler = Scheduler::new(app.db().clone(), app.env.jobs.clone(), SchedulerConfig::default());
    scheduler.tick(Utc::now()).await.unwrap();
    assert_eq!(
        followup_state(&app, lost).await,
        ("enqueued".into(), Some("rescheduled: its job was lost".into())),
        "rescheduled and enqueued again in the same tick"
    );
    let (status, reason) = followup_state(&app, crashed).await;
    assert_eq!(status, "failed");
    assert!(reason.unwrap().starts_with("outcome_unknown"));
    assert_eq!(followup_state(&app, waiting).await, ("enqueued".into(), None), "its job is alive");
    let entries: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE payload->>'followup_id' = $1")
        .bind(lost.to_string())
        .fetch_one(&owner)
        .await
        .unwrap();
    assert_eq!(entries, 1, "one new job for the lost follow-up");
}

/// The real `frontdesk worker` process, with fake providers and the test's keys.
fn worker_process(app: &TestApp, twilio: &MockServer) -> tokio::process::Child {
    app.env.spawn_with(
        "worker",
        &[
            ("FRONTDESK_TWILIO_API_URL", &twilio.uri()),
            ("FRONTDESK_SCHEDULER_TICK_SECS", "0.2"),
            ("FRONTDESK_QUEUE_LEASE_SECS", "2"),
        ],
    )
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_worker_killed_between_steps_sends_each_step_exactly_once(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let twilio = fake_twilio().await;
    let (ws, l) = twilio_studio(&app).await;
    let step1 = due(&app, ws, l, "sequence", "sms", "Step one").await;
    let step2 = due(&app, ws, l, "sequence", "sms", "Step two").await;
    postpone(&app, step2, "6 seconds").await;
    let mut worker = worker_process(&app, &twilio);
    assert_eq!(settled_by_process(&app, step1, &["sent", "failed"]).await.0, "sent");
    worker.kill().await.unwrap(); // SIGKILL: no drain, no goodbye
    let mut worker = worker_process(&app, &twilio);
    assert_eq!(settled_by_process(&app, step2, &["sent", "failed"]).await.0, "sent");
    // Any duplicate delivery (a re-push, an expired lease) shows as pending work until it has run.
    app.wait_until_idle().await;
    worker.kill().await.unwrap();
    let bodies: Vec<String> = twilio_sends(&twilio).await.iter().map(|f| field(f, "Body").to_owned()).collect();
    assert_eq!(bodies, ["Step one", "Step two"], "exactly one message per follow-up");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_worker_killed_while_the_provider_holds_the_request_never_sends_twice(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let twilio = MockServer::start().await;
    // Twilio takes the message but answers slowly: the worker dies in between.
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(serde_json::json!({ "sid": "SMslow", "status": "queued" }))
                .set_delay(Duration::from_secs(4)),
        )
        .mount(&twilio)
        .await;
    let (ws, l) = twilio_studio(&app).await;
    let f = due(&app, ws, l, "sequence", "sms", "Only once").await;
    let mut worker = worker_process(&app, &twilio);
    let in_flight =
        eventually(WAIT, || async { !twilio.received_requests().await.unwrap_or_default().is_empty() }).await;
    assert!(in_flight);
    worker.kill().await.unwrap();
    let mut worker = worker_process(&app, &twilio);
    let (status, reason) = settled_by_process(&app, f, &["sent", "failed"]).await;
    worker.kill().await.unwrap();
    assert_eq!(status, "failed");
    assert!(reason.unwrap().starts_with("outcome_unknown"));
    assert_eq!(twilio.received_requests().await.unwrap().len(), 1, "the retry did not call Twilio again");
    let (message_status, _, _) = message_of(&app, f).await;
    assert_eq!(message_status, "sending", "left for staff to check, flagged outcome_unknown");
}
