//! Bounded input: what a hostile or careless sender can make us store, hold
//! in memory or spend on a studio's AI budget has a limit, and what we
//! accept but cannot apply is never dropped without a trace.

use std::sync::atomic::Ordering;

use frontdesk_classifier::excerpt::EXCERPT_CHARS;
use frontdesk_domain::{Channel, inbound_text};
use frontdesk_jobs::WorkspaceId;
use frontdesk_store::{
    ai,
    integrations::{NewIntegration, Provider},
    routes::RouteProvider,
    vault::Secret,
};
use frontdesk_testkit::signers;
use serde_json::json;
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::{Mock, MockServer, Request, ResponseTemplate, matchers::method};

use crate::app::{MAILGUN_KEY, TestApp, whatsapp_messages};

const MIGRATOR: &sqlx::migrate::Migrator = &frontdesk_store::MIGRATOR;
const INBOX: &str = "hello@irontemple.example";
const EMAIL_CAP: usize = 32_768;

async fn email_studio(app: &TestApp) -> WorkspaceId {
    let ws = app.workspace("Iron Temple").await;
    app.route(ws, RouteProvider::Email, INBOX, None, None).await;
    ws
}

fn email_fields<'a>(sender: &'a str, subject: &'a str, text: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("recipient", INBOX), ("sender", sender), ("from", sender), ("subject", subject), ("body-plain", text)]
}

async fn scalar<T>(app: &TestApp, sql: &str, ws: WorkspaceId) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
{
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).bind(ws.as_uuid()).fetch_one(&app.owner).await.unwrap()
}

/// A multipart Mailgun forward with `attachment` as a file part.
fn multipart(fields: &[(&str, &str)], token: &str, attachment: &[u8]) -> (String, Vec<u8>) {
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let signature = signers::mailgun(MAILGUN_KEY, &timestamp, token);
    let boundary = "frontdesk-test-boundary";
    let mut body = Vec::new();
    let all =
        fields.iter().copied().chain([("timestamp", timestamp.as_str()), ("token", token), ("signature", &signature)]);
    for (name, value) in all {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").bytes(),
        );
    }
    body.extend(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"attachment-1\"; filename=\"scan.pdf\"\r\nContent-Type: application/pdf\r\n\r\n")
            .bytes(),
    );
    body.extend_from_slice(attachment);
    body.extend(format!("\r\n--{boundary}--\r\n").bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_5_mb_email_is_stored_up_to_the_email_cap_and_marked_cut(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let ws = email_studio(&app).await;
    let budget = app.env.app.api_state().inflight.available_kib();
    let text = "Hola, quiero información del plan familiar. ".repeat(5 * 1024 * 1024 / 45);
    let res = app.post_email(&email_fields("ana@example.com", "Planes", &text), "tok-big-1").await;
    assert_eq!(res.status(), 200);
    let (body, truncated): (String, bool) =
        sqlx::query_as("SELECT body, body_truncated FROM messages WHERE workspace_id = $1")
            .bind(ws.as_uuid())
            .fetch_one(&owner)
            .await
            .unwrap();
    assert_eq!(body.chars().count(), inbound_text::stored_chars(Channel::Email));
    assert_eq!(body.chars().count(), EMAIL_CAP);
    assert!(text.starts_with(&body), "the beginning is what is kept");
    assert!(truncated, "the studio can see the email was cut");
    // The raw payload we keep is bounded too: the kept fields, never the 5 MB.
    let payload_bytes: i32 =
        scalar(&app, "SELECT octet_length(payload::text) FROM webhook_events WHERE workspace_id = $1", ws).await;
    assert!(payload_bytes < 4 * EMAIL_CAP as i32, "{payload_bytes} bytes of payload");
    assert_eq!(app.env.app.api_state().inflight.available_kib(), budget, "the reservation was given back");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_multipart_email_with_a_5_mb_attachment_keeps_the_text_and_never_the_attachment(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let ws = email_studio(&app).await;
    let attachment = vec![b'%'; 5 * 1024 * 1024];
    let fields = email_fields("bo@example.com", "Membership", "Do you have a student discount?");
    let (content_type, body) = multipart(&fields, "tok-mp-big", &attachment);
    let res =
        app.http.post(app.url("/webhooks/email")).header("content-type", content_type).body(body).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let (stored, truncated): (String, bool) =
        sqlx::query_as("SELECT body, body_truncated FROM messages WHERE workspace_id = $1")
            .bind(ws.as_uuid())
            .fetch_one(&owner)
            .await
            .unwrap();
    assert_eq!((stored.as_str(), truncated), ("Do you have a student discount?", false));
    let payload: serde_json::Value =
        scalar(&app, "SELECT payload FROM webhook_events WHERE workspace_id = $1", ws).await;
    assert!(payload.get("attachment-1").is_none() && payload.to_string().len() < 2048, "{payload}");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn request_heads_over_16_kib_are_refused_with_431_and_write_nothing(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    email_studio(&app).await;
    let before = app.row_counts().await;
    // A 64 KiB header value, sent raw: the server answers without reading the body.
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let request = format!(
        "POST /webhooks/email HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 2\r\n\r\nab",
        "h".repeat(64 * 1024)
    );
    let _ = stream.write_all(request.as_bytes()).await;
    let mut answer = vec![0u8; 64];
    let n = stream.read(&mut answer).await.unwrap();
    assert!(
        String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 431"),
        "{:?}",
        String::from_utf8_lossy(&answer[..n])
    );
    // An email whose own header field is 64 KiB is accepted, the field cut.
    let long_subject = "s".repeat(64 * 1024);
    let res = app.post_email(&email_fields("cy@example.com", &long_subject, "Hi!"), "tok-long-subject").await;
    assert_eq!(res.status(), 200);
    let subject: String = sqlx::query_scalar("SELECT subject FROM messages").fetch_one(&owner).await.unwrap();
    assert_eq!(subject.chars().count(), inbound_text::FIELD_CHARS);
    let after = app.row_counts().await;
    assert_eq!(after["messages"], before["messages"] + 1, "only the accepted email was written");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn sixteen_concurrent_1_mb_emails_stay_within_the_in_flight_budget_and_all_land(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let ws = email_studio(&app).await;
    let budget = app.env.app.api_state().inflight.available_kib();
    let text = "x".repeat(1024 * 1024);
    let send = |n: usize| {
        let (app, text) = (&app, &text);
        async move {
            let sender = format!("lead{n}@example.com");
            // Mailgun retries what is not 200 or 406; so does this sender.
            for attempt in 0.. {
                let token = format!("tok-c{n}-{attempt}");
                let res = app.post_email(&email_fields(&sender, "Hi", text), &token).await;
                match res.status().as_u16() {
                    200 => return attempt,
                    503 => {
                        assert_eq!(res.headers()["retry-after"], "1");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                    other => panic!("email {n}: {other} {}", res.text().await.unwrap()),
                }
            }
            unreachable!()
        }
    };
    futures::future::join_all((0..16).map(send)).await;
    let stored: i64 = scalar(&app, "SELECT count(*) FROM messages WHERE workspace_id = $1", ws).await;
    assert_eq!(stored, 16);
    let longest: i32 = scalar(&app, "SELECT max(length(body)) FROM messages WHERE workspace_id = $1", ws).await;
    assert_eq!(longest as usize, EMAIL_CAP);
    assert_eq!(app.env.app.api_state().inflight.available_kib(), budget, "every reservation was given back");
}

/// A fake OpenAI-compatible endpoint that answers every classification and
/// keeps each request's user message.
async fn recording_llm() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(|_: &Request| {
            let content = json!({
                "intent": "pricing", "temperature": "warm", "score": 60, "language": "es",
                "summary": "Asks about plans", "suggested_reply": null, "confidence": 0.9
            })
            .to_string();
            ResponseTemplate::new(200).set_body_json(json!({
                "id": "chatcmpl-1", "object": "chat.completion", "created": 1_764_230_400, "model": "gpt-test",
                "choices": [{ "index": 0, "message": { "role": "assistant", "content": content, "refusal": null }, "finish_reason": "stop", "logprobs": null }],
                "usage": { "prompt_tokens": 900, "completion_tokens": 40, "total_tokens": 940 }
            }))
        })
        .mount(&server)
        .await;
    server
}

async fn user_messages(server: &MockServer) -> Vec<String> {
    let requests = server.received_requests().await.unwrap_or_default();
    requests
        .iter()
        .map(|r| {
            let body: serde_json::Value = r.body_json().unwrap();
            body["messages"].as_array().unwrap().last().unwrap()["content"].as_str().unwrap().to_owned()
        })
        .collect()
}

async fn workspace_llm(app: &TestApp, ws: WorkspaceId, fake: &MockServer) {
    let settings = json!({ "base_url": format!("{}/v1", fake.uri()), "model": "gpt-test" });
    let new = NewIntegration {
        provider: Provider::OpenAi,
        sandbox: false,
        external_id: None,
        settings,
        secret: Some(Secret::new("ws-key")),
    };
    app.integration(ws, new).await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_megabyte_email_then_a_short_reply_keep_every_prompt_within_the_excerpt(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let ws = email_studio(&app).await;
    let fake = recording_llm().await;
    workspace_llm(&app, ws, &fake).await;
    let long = format!("¿Cuánto cuesta el plan anual?\n\n{}", "Lorem ipsum dolor sit amet. ".repeat(40_000));
    let res = app.post_email(&email_fields("dana@example.com", "Precios", &long), "tok-mb-1").await;
    assert_eq!(res.status(), 200);
    app.drain().await;
    let reply = "thanks!\n\nOn Mon, 1 Dec 2026, Iron Temple <hello@irontemple.example> wrote:\n> Our prices...";
    assert_eq!(app.post_email(&email_fields("dana@example.com", "Re: Precios", reply), "tok-mb-2").await.status(), 200);
    app.drain().await;

    let prompts = user_messages(&fake).await;
    assert_eq!(prompts.len(), 2, "one LLM call per classification");
    for p in &prompts {
        assert!(p.chars().count() <= EXCERPT_CHARS, "a prompt of {} characters", p.chars().count());
    }
    assert!(prompts[0].starts_with("¿Cuánto cuesta el plan anual?"));
    // The reply is read newest first, without the history it quotes.
    assert!(prompts[1].ends_with("thanks!"), "{:?}", &prompts[1][prompts[1].len().saturating_sub(80)..]);
    assert!(!prompts[1].contains("Our prices"));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_token_budget_is_checked_before_the_call_from_the_prompts_size(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let ws = email_studio(&app).await;
    let fake = recording_llm().await;
    workspace_llm(&app, ws, &fake).await;
    // Nothing spent yet, but one worst-case call (a full excerpt, the
    // schema, the longest answer) would not fit in what is left.
    let mut tx = app.db().tenant(ws).await.unwrap();
    ai::set_budget(&mut tx, Some(1_000)).await.unwrap();
    tx.commit().await.unwrap();
    let text = "Necesito información sobre horarios y precios. ".repeat(200);
    assert_eq!(app.post_email(&email_fields("eva@example.com", "Info", &text), "tok-budget").await.status(), 200);
    app.drain().await;
    assert!(fake.received_requests().await.unwrap().is_empty(), "no call that could overspend");
    let by: String = sqlx::query_scalar("SELECT classified_by FROM leads WHERE email = 'eva@example.com'")
        .fetch_one(&owner)
        .await
        .unwrap();
    assert_eq!(by, "offline_budget");
}

fn stripe_subscription(id: &str, status: &str) -> serde_json::Value {
    json!({
        "id": id, "object": "event", "type": "customer.subscription.updated", "created": chrono::Utc::now().timestamp() - 5,
        "data": { "object": { "id": "sub_1", "object": "subscription", "customer": "cus_A", "status": status } }
    })
}

async fn not_applied(app: &TestApp, ws: WorkspaceId) -> Vec<serde_json::Value> {
    sqlx::query_scalar("SELECT detail FROM activity_logs WHERE workspace_id = $1 AND kind = 'event_not_applied'")
        .bind(ws.as_uuid())
        .fetch_all(&app.owner)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_unknown_stripe_status_is_applied_as_unpaid_counted_and_shown_to_the_studio(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let ws = app.workspace("Iron Temple").await;
    app.route(ws, RouteProvider::Stripe, "cus_A", None, None).await;
    assert_eq!(app.post_stripe(&stripe_subscription("evt_known", "active")).await.status(), 200);
    app.drain().await;
    assert_eq!(app.post_stripe(&stripe_subscription("evt_new", "suspended_by_bank")).await.status(), 200);
    app.drain().await;
    let status: String = scalar(&app, "SELECT status FROM subscriptions WHERE workspace_id = $1", ws).await;
    assert_eq!(status, "unpaid", "an unknown status stops outbound work rather than keep it going");
    let traces = not_applied(&app, ws).await;
    assert_eq!(traces.len(), 1);
    assert_eq!(
        (traces[0]["event_id"].as_str(), traces[0]["value"].as_str()),
        (Some("evt_new"), Some("suspended_by_bank"))
    );
    let counted: u64 = app.worker_metrics().iter().map(|m| m.not_applied.load(Ordering::Relaxed)).sum();
    assert_eq!(counted, 1);
    let dead: u64 = app.queue.stats(frontdesk_jobs::queue::APPLY_BILLING).await.unwrap().dead;
    assert_eq!(dead, 0, "applied, not dead-lettered");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn unknown_whatsapp_and_twilio_values_are_kept_counted_and_shown_not_applied(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let ws = app.workspace("Iron Temple").await;
    app.route(ws, RouteProvider::Whatsapp, "PNID-A", None, None).await;
    app.twilio(ws, "AC00000000000000000000000000000001", "+15550001001", "token-a").await;
    // A message type Meta has not documented (yet).
    let mut notification = whatsapp_messages(&[("PNID-A", "15557770001", "wamid.H1", "")]);
    let message = &mut notification["entry"][0]["changes"][0]["value"]["messages"][0];
    message["type"] = json!("hologram");
    message.as_object_mut().unwrap().remove("text");
    assert_eq!(app.post_whatsapp(&notification).await.status(), 200);
    let body: String = scalar(&app, "SELECT body FROM messages WHERE workspace_id = $1", ws).await;
    assert_eq!(body, "[hologram]", "kept as a placeholder, with its payload");
    // A Twilio status and call status we do not map.
    let status = [
        ("MessageSid", "SM0000000000000000000000000000000a"),
        ("AccountSid", "AC00000000000000000000000000000001"),
        ("From", "+15550001001"),
        ("To", "+15557770001"),
        ("MessageStatus", "teleported"),
    ];
    assert_eq!(app.post_twilio("/webhooks/twilio/status", &status, "token-a").await.status(), 204);
    assert_eq!(app.post_twilio("/webhooks/twilio/status", &status, "token-a").await.status(), 204, "a redelivery");
    let call = [
        ("CallSid", "CA0000000000000000000000000000000b"),
        ("AccountSid", "AC00000000000000000000000000000001"),
        ("From", "+15557770002"),
        ("To", "+15550001001"),
        ("CallStatus", "warped"),
    ];
    assert_eq!(app.post_twilio("/webhooks/twilio/voice", &call, "token-a").await.status(), 200);
    let call_status: String = scalar(&app, "SELECT status FROM call_logs WHERE workspace_id = $1", ws).await;
    assert_eq!(call_status, "warped");
    let followups: i64 = scalar(&app, "SELECT count(*) FROM followups WHERE workspace_id = $1", ws).await;
    assert_eq!(followups, 0, "no text-back decided from a status we do not know");

    let traces = not_applied(&app, ws).await;
    let values: Vec<&str> = traces.iter().map(|t| t["value"].as_str().unwrap()).collect();
    assert_eq!(values, ["hologram", "teleported", "warped"], "one trace each; the redelivery is a duplicate");
    assert_eq!(app.metrics.not_applied.load(Ordering::Relaxed), 3);
}
