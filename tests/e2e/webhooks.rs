//! Provider webhooks end to end: signed request over real HTTP → rows in
//! Postgres → job in Redis → the real worker runs it.

use std::time::Duration;

use frontdesk_jobs::{WorkspaceId, queue};
use frontdesk_store::routes::RouteProvider;
use sqlx::PgPool;

use frontdesk_worker::outbox_relay::{RelayConfig, relay_once};

fn relay(stale_after: Duration) -> RelayConfig {
    RelayConfig { stale_after, grace: Duration::from_secs(2), idle: Duration::from_secs(1) }
}

use crate::{
    app::{TestApp, WHATSAPP_VERIFY_TOKEN, whatsapp_messages},
    helpers::{PrivateRedis, eventually},
};

const MIGRATOR: &sqlx::migrate::Migrator = &frontdesk_store::MIGRATOR;
const AC_A: &str = "AC00000000000000000000000000000001";
const AC_B: &str = "AC00000000000000000000000000000002";
const NUM_A: &str = "+15550001001";
const NUM_B: &str = "+15550002002";

fn sms<'a>(sid: &'a str, account: &'a str, to: &'a str, from: &'a str, body: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("MessageSid", sid), ("AccountSid", account), ("From", from), ("To", to), ("Body", body), ("NumMedia", "0")]
}

async fn scalar(app: &TestApp, sql: &str, ws: WorkspaceId) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).bind(ws.as_uuid()).fetch_one(&app.owner).await.unwrap()
}

async fn activity(app: &TestApp, ws: WorkspaceId, kind: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM activity_logs WHERE workspace_id = $1 AND kind = $2")
        .bind(ws.as_uuid())
        .bind(kind)
        .fetch_one(&app.owner)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn twilio_sms_is_stored_enqueued_and_processed_by_the_worker(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let ws = app.workspace("Iron Temple").await;
    app.twilio(ws, AC_A, NUM_A, "token-a").await;

    let res = app
        .post_twilio(
            "/webhooks/twilio/sms",
            &sms("SM1", AC_A, NUM_A, "+15557770001", "Do you have a trial class?"),
            "token-a",
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/xml");

    assert_eq!(
        scalar(&app, "SELECT count(*) FROM leads WHERE workspace_id = $1 AND phone = '+15557770001'", ws).await,
        1
    );
    assert_eq!(
        scalar(&app, "SELECT count(*) FROM messages WHERE workspace_id = $1 AND provider_message_id = 'SM1'", ws).await,
        1
    );
    assert_eq!(scalar(&app, "SELECT count(*) FROM webhook_events WHERE workspace_id = $1", ws).await, 1);
    assert_eq!(app.waiting_jobs(queue::PROCESS_INBOUND).await, 1);

    app.drain().await;
    assert_eq!(activity(&app, ws, "message_processed").await, 1);
    // Processing hands the lead to classification through the outbox.
    assert_eq!(
        scalar(&app, "SELECT count(*) FROM outbox WHERE workspace_id = $1 AND queue = 'classify-lead'", ws).await,
        1
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn duplicate_delivery_is_acknowledged_and_writes_once(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let ws = app.workspace("Iron Temple").await;
    app.twilio(ws, AC_A, NUM_A, "token-a").await;
    let params = sms("SM-dup", AC_A, NUM_A, "+15557770001", "hello");
    assert_eq!(app.post_twilio("/webhooks/twilio/sms", &params, "token-a").await.status(), 200);
    let after_first = app.row_counts().await;
    assert_eq!(app.post_twilio("/webhooks/twilio/sms", &params, "token-a").await.status(), 200);
    assert_eq!(app.row_counts().await, after_first);
    assert_eq!(app.waiting_jobs(queue::PROCESS_INBOUND).await, 1);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn workspace_a_twilio_token_cannot_sign_a_request_routed_to_workspace_b(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let a = app.workspace("A").await;
    let b = app.workspace("B").await;
    app.twilio(a, AC_A, NUM_A, "token-a").await;
    app.twilio(b, AC_B, NUM_B, "token-b").await;
    let before = app.row_counts().await;
    let res =
        app.post_twilio("/webhooks/twilio/sms", &sms("SM-forged", AC_B, NUM_B, "+15557770001", "hi"), "token-a").await;
    assert_eq!(res.status(), 403);
    assert_eq!(app.row_counts().await, before);
    assert_eq!(app.metrics.bad_signature.load(std::sync::atomic::Ordering::Relaxed), 1);
    // The same request signed by B's own token is accepted.
    let res =
        app.post_twilio("/webhooks/twilio/sms", &sms("SM-forged", AC_B, NUM_B, "+15557770001", "hi"), "token-b").await;
    assert_eq!(res.status(), 200);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_mailgun_delivery_replayed_to_another_studios_address_is_refused(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let (a, b) = (app.workspace("A").await, app.workspace("B").await);
    app.route(a, RouteProvider::Email, "hello@a.example", None, None).await;
    app.route(b, RouteProvider::Email, "hello@b.example", None, None).await;
    let to = |recipient: &'static str| {
        [("recipient", recipient), ("sender", "ana@example.com"), ("subject", "Hi"), ("stripped-text", "hello")]
    };
    assert_eq!(app.post_email(&to("hello@a.example"), "token-once").await.status(), 200);
    assert_eq!(app.post_email(&to("hello@a.example"), "token-once").await.status(), 200, "a retry to A is fine");
    let before = app.row_counts().await;
    assert_eq!(app.post_email(&to("hello@b.example"), "token-once").await.status(), 403, "a replay to B is not");
    assert_eq!(app.row_counts().await, before);
    assert_eq!(scalar(&app, "SELECT count(*) FROM messages WHERE workspace_id = $1", a).await, 1);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_rotated_twilio_token_works_at_once_and_then_the_old_one_is_refused(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let ws = app.workspace("Iron Temple").await;
    let integration = app.twilio(ws, AC_A, NUM_A, "token-a").await;
    let post = |sid: &'static str, token: &'static str| {
        let app = &app;
        async move { app.post_twilio("/webhooks/twilio/sms", &sms(sid, AC_A, NUM_A, "+15557770001", "hi"), token).await }
    };
    assert_eq!(post("SM-c1", "token-a").await.status(), 200, "verified from the database, then cached");
    assert_eq!(post("SM-c2", "token-a").await.status(), 200, "verified from the cache");
    // The studio rotates its auth token.
    let sealed = app.vault.seal(ws, "twilio", &frontdesk_store::vault::Secret::new("token-a2"));
    sqlx::query("UPDATE integrations SET secret_ciphertext = $2, secret_nonce = $3, key_version = $4 WHERE id = $1")
        .bind(integration.as_uuid())
        .bind(sealed.ciphertext)
        .bind(sealed.nonce)
        .bind(sealed.key_version)
        .execute(&owner)
        .await
        .unwrap();
    assert_eq!(post("SM-c3", "token-a2").await.status(), 200, "the new token works before the cache expires");
    assert_eq!(post("SM-c4", "token-a").await.status(), 403, "the old token stops working at once");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn missed_calls_trigger_one_text_back_per_lead_per_twenty_minutes(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let ws = app.workspace("Iron Temple").await;
    app.twilio(ws, AC_A, NUM_A, "token-a").await;
    for (sid, status) in [("CA1", "no-answer"), ("CA2", "busy"), ("CA3", "completed")] {
        let params = [
            ("CallSid", sid),
            ("AccountSid", AC_A),
            ("From", "+15557770002"),
            ("To", NUM_A),
            ("CallStatus", status),
            ("Direction", "inbound"),
        ];
        assert_eq!(app.post_twilio("/webhooks/twilio/voice", &params, "token-a").await.status(), 200);
    }
    assert_eq!(scalar(&app, "SELECT count(*) FROM call_logs WHERE workspace_id = $1", ws).await, 3);
    assert_eq!(activity(&app, ws, "missed_call").await, 2);
    assert_eq!(
        scalar(&app, "SELECT count(*) FROM followups WHERE workspace_id = $1 AND kind = 'missed_call'", ws).await,
        1
    );
    assert_eq!(app.waiting_jobs(queue::SEND_FOLLOWUP).await, 1);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn status_callbacks_only_move_a_message_status_forward(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let ws = app.workspace("Iron Temple").await;
    app.twilio(ws, AC_A, NUM_A, "token-a").await;
    sqlx::query(
        "WITH lead AS (INSERT INTO leads (workspace_id, id, phone) VALUES ($1, gen_random_uuid(), '+15557770003') RETURNING id)
         INSERT INTO messages (workspace_id, id, lead_id, direction, channel, body, provider_message_id, status)
         SELECT $1, gen_random_uuid(), id, 'outbound', 'sms', 'Welcome!', 'SMout1', 'queued' FROM lead",
    )
    .bind(ws.as_uuid())
    .execute(&owner)
    .await
    .unwrap();
    for status in ["delivered", "sent", "sending"] {
        let params = [
            ("MessageSid", "SMout1"),
            ("AccountSid", AC_A),
            ("From", NUM_A),
            ("To", "+15557770003"),
            ("MessageStatus", status),
        ];
        assert!(app.post_twilio("/webhooks/twilio/status", &params, "token-a").await.status().is_success());
    }
    let status: String = sqlx::query_scalar("SELECT status FROM messages WHERE provider_message_id = 'SMout1'")
        .fetch_one(&owner)
        .await
        .unwrap();
    assert_eq!(status, "delivered");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn stop_opts_the_lead_out_and_start_opts_back_in(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let ws = app.workspace("Iron Temple").await;
    app.twilio(ws, AC_A, NUM_A, "token-a").await;
    let opted_out = || async {
        sqlx::query_scalar::<_, bool>("SELECT opted_out_sms FROM leads WHERE phone = '+15557770004'")
            .fetch_one(&owner)
            .await
            .unwrap()
    };
    app.post_twilio("/webhooks/twilio/sms", &sms("SM-stop", AC_A, NUM_A, "+15557770004", "Stop"), "token-a").await;
    assert!(opted_out().await);
    assert_eq!(activity(&app, ws, "opted_out").await, 1);
    assert_eq!(app.waiting_jobs(queue::PROCESS_INBOUND).await, 0, "a keyword is not classified");
    app.post_twilio("/webhooks/twilio/sms", &sms("SM-start", AC_A, NUM_A, "+15557770004", "START"), "token-a").await;
    assert!(!opted_out().await);
    assert_eq!(activity(&app, ws, "opted_in").await, 1);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn whatsapp_batch_for_two_workspaces_is_split_and_processed(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let a = app.workspace("A").await;
    let b = app.workspace("B").await;
    app.route(a, RouteProvider::Whatsapp, "PNID-A", None, None).await;
    app.route(b, RouteProvider::Whatsapp, "PNID-B", None, None).await;
    let body = whatsapp_messages(&[
        ("PNID-A", "15557770005", "wamid.A1", "Hola, ¿precio?"),
        ("PNID-B", "15557770006", "wamid.B1", "class times?"),
        ("PNID-A", "15557770007", "wamid.A2", "💪 trial?"),
    ]);
    assert_eq!(app.post_whatsapp(&body).await.status(), 200);
    assert_eq!(
        scalar(&app, "SELECT count(*) FROM messages WHERE workspace_id = $1 AND channel = 'whatsapp'", a).await,
        2
    );
    assert_eq!(
        scalar(&app, "SELECT count(*) FROM messages WHERE workspace_id = $1 AND channel = 'whatsapp'", b).await,
        1
    );
    assert_eq!(
        scalar(&app, "SELECT count(*) FROM leads WHERE workspace_id = $1 AND last_inbound_whatsapp_at IS NOT NULL", a)
            .await,
        2
    );
    app.drain().await;
    assert_eq!(activity(&app, a, "message_processed").await, 2);
    assert_eq!(activity(&app, b, "message_processed").await, 1);
    // Redelivery of the whole batch changes nothing.
    let before = app.row_counts().await;
    assert_eq!(app.post_whatsapp(&body).await.status(), 200);
    assert_eq!(app.row_counts().await, before);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn whatsapp_handshake_echoes_the_challenge_only_for_the_right_token(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let url = |token: &str| {
        app.url(&format!("/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444"))
    };
    let ok = app.http.get(url(WHATSAPP_VERIFY_TOKEN)).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    assert_eq!(app.http.get(url("wrong")).send().await.unwrap().status(), 403);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn inbound_email_is_routed_by_recipient_and_processed(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let ws = app.workspace("Iron Temple").await;
    app.route(ws, RouteProvider::Email, "hello@irontemple.example", None, None).await;
    let fields = [
        ("recipient", "Hello@IronTemple.example"),
        ("sender", "ana@example.com"),
        ("from", "Ana Ruiz <ana@example.com>"),
        ("subject", "Membership"),
        ("body-plain", "How much is a monthly membership?\n\n> quoted"),
        ("stripped-text", "How much is a monthly membership?"),
    ];
    assert_eq!(app.post_email(&fields, "token-1").await.status(), 200);
    let name: Option<String> =
        sqlx::query_scalar("SELECT name FROM leads WHERE email = 'ana@example.com'").fetch_one(&owner).await.unwrap();
    assert_eq!(name.as_deref(), Some("Ana Ruiz"));
    // A replayed token changes nothing.
    let before = app.row_counts().await;
    assert_eq!(app.post_email(&fields, "token-1").await.status(), 200);
    assert_eq!(app.row_counts().await, before);
    // No workspace for the recipient: Mailgun's do-not-retry status.
    let mut other = fields;
    other[0] = ("recipient", "nobody@elsewhere.example");
    assert_eq!(app.post_email(&other, "token-2").await.status(), 406);
    app.drain().await;
    assert_eq!(activity(&app, ws, "message_processed").await, 1);
}

fn stripe_event(id: &str, kind: &str, created: i64, status: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id, "object": "event", "type": kind, "created": created,
        "data": { "object": { "id": "sub_1", "object": "subscription", "customer": "cus_A", "status": status } }
    })
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn stripe_events_update_the_subscription_in_order_through_the_billing_job(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let ws = app.workspace("Iron Temple").await;
    app.route(ws, RouteProvider::Stripe, "cus_A", None, None).await;
    let now = chrono::Utc::now().timestamp();
    let newer = stripe_event("evt_2", "customer.subscription.deleted", now - 10, "canceled");
    let older = stripe_event("evt_1", "customer.subscription.updated", now - 100, "active");
    assert_eq!(app.post_stripe(&newer).await.status(), 200);
    assert_eq!(app.post_stripe(&older).await.status(), 200);
    assert_eq!(app.waiting_jobs(queue::APPLY_BILLING).await, 2);
    app.drain().await;
    assert_eq!(activity(&app, ws, "billing_event").await, 2);
    let status: String = sqlx::query_scalar("SELECT status FROM subscriptions WHERE workspace_id = $1")
        .bind(ws.as_uuid())
        .fetch_one(&owner)
        .await
        .unwrap();
    assert_eq!(status, "canceled", "the older event arrived last and must not win");
}

fn stripe_invoice(id: &str, kind: &str, created: i64, subscription: Option<&str>) -> serde_json::Value {
    serde_json::json!({
        "id": id, "object": "event", "type": kind, "created": created,
        "data": { "object": { "id": "in_1", "object": "invoice", "customer": "cus_A", "subscription": subscription } }
    })
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn invoices_never_revive_a_canceled_subscription_and_same_second_events_follow_the_lifecycle(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let ws = app.workspace("Iron Temple").await;
    app.route(ws, RouteProvider::Stripe, "cus_A", None, None).await;
    let now = chrono::Utc::now().timestamp();
    let status = || async {
        sqlx::query_scalar::<_, String>("SELECT status FROM subscriptions WHERE workspace_id = $1")
            .bind(ws.as_uuid())
            .fetch_one(&owner)
            .await
            .unwrap()
    };
    // One event at a time, each applied before the next is sent.
    let steps = [
        // Same second: `updated` is processed first, then the `created` it follows; `updated` stands.
        (stripe_event("evt_u", "customer.subscription.updated", now - 50, "past_due"), "past_due"),
        (stripe_event("evt_c", "customer.subscription.created", now - 50, "incomplete"), "past_due"),
        (stripe_invoice("evt_paid", "invoice.paid", now - 40, Some("sub_1")), "active"),
        // Older than the last subscription event, then older than the last invoice event.
        (stripe_invoice("evt_failed_old", "invoice.payment_failed", now - 60, Some("sub_1")), "active"),
        (stripe_invoice("evt_failed_stale", "invoice.payment_failed", now - 45, Some("sub_1")), "active"),
        // Another subscription's invoice, and a one-off invoice, say nothing about this one.
        (stripe_invoice("evt_failed_other", "invoice.payment_failed", now - 35, Some("sub_2")), "active"),
        (stripe_invoice("evt_failed_oneoff", "invoice.payment_failed", now - 34, None), "active"),
        (stripe_event("evt_d", "customer.subscription.deleted", now - 30, "canceled"), "canceled"),
        (stripe_invoice("evt_paid_late", "invoice.paid", now - 20, Some("sub_1")), "canceled"),
    ];
    for (n, (event, expected)) in steps.into_iter().enumerate() {
        assert_eq!(app.post_stripe(&event).await.status(), 200);
        app.drain().await;
        assert_eq!(activity(&app, ws, "billing_event").await, n as i64 + 1, "event {} was not processed", event["id"]);
        assert_eq!(status().await, expected, "after {}", event["id"]);
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_burst_of_google_pushes_enqueues_exactly_one_coalesced_sync(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let ws = app.workspace("Iron Temple").await;
    app.google(ws, "channel-1", "chan-token").await;
    assert_eq!(app.google_push("channel-1", "chan-token", 1, "sync").await.status(), 200);
    for n in 2..=6 {
        assert_eq!(app.google_push("channel-1", "chan-token", n, "exists").await.status(), 200);
    }
    assert_eq!(
        app.google_push("channel-1", "chan-token", 6, "exists").await.status(),
        200,
        "redelivery is acknowledged"
    );
    assert_eq!(scalar(&app, "SELECT count(*) FROM webhook_events WHERE workspace_id = $1", ws).await, 6);
    assert_eq!(
        scalar(&app, "SELECT count(*) FROM outbox WHERE workspace_id = $1 AND queue = 'sync-calendar'", ws).await,
        1
    );
    assert_eq!(app.waiting_jobs(queue::SYNC_CALENDAR).await, 1);
    assert_eq!(app.google_push("channel-1", "wrong-token", 7, "exists").await.status(), 403);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_google_push_followed_by_a_drain_leaves_no_job_in_redis(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let ws = app.workspace("Iron Temple").await;
    app.google(ws, "channel-1", "chan-token").await;
    assert_eq!(app.google_push("channel-1", "chan-token", 2, "exists").await.status(), 200);
    assert_eq!(app.waiting_jobs(queue::SYNC_CALENDAR).await, 1);
    app.drain().await;
    let stats = app.queue.stats(queue::SYNC_CALENDAR).await.unwrap();
    assert_eq!((stats.waiting, stats.scheduled, stats.in_flight, stats.retrying, stats.dead), (0, 0, 0, 0, 0));
    assert_eq!(stats.completed, 1, "the sync-calendar worker ran the job");
    // Until calendar sync exists, the studio is told so, once a day per calendar.
    assert_eq!(activity(&app, ws, "calendar_sync_skipped").await, 1);
    assert_eq!(app.google_push("channel-1", "chan-token", 3, "exists").await.status(), 200);
    app.drain().await;
    assert_eq!(app.queue.stats(queue::SYNC_CALENDAR).await.unwrap().completed, 2);
    assert_eq!(activity(&app, ws, "calendar_sync_skipped").await, 1);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn with_redis_down_webhooks_succeed_and_the_outbox_runs_each_job_once_after_recovery(owner: PgPool) {
    let mut redis = PrivateRedis::start().await;
    let app = TestApp::spawn_with_redis(&owner, &redis.url()).await;
    let ws = app.workspace("Iron Temple").await;
    app.twilio(ws, AC_A, NUM_A, "token-a").await;

    redis.stop();
    for (sid, from) in [("SM-r1", "+15557770011"), ("SM-r2", "+15557770012"), ("SM-r3", "+15557770013")] {
        let res = app.post_twilio("/webhooks/twilio/sms", &sms(sid, AC_A, NUM_A, from, "hi"), "token-a").await;
        assert_eq!(res.status(), 200, "a Redis outage must not fail the webhook");
    }
    let pending =
        "SELECT count(*) FROM outbox WHERE workspace_id = $1 AND queue = 'process-inbound' AND done_at IS NULL";
    assert_eq!(scalar(&app, pending, ws).await, 3);
    assert_eq!(
        scalar(&app, "SELECT count(*) FROM outbox WHERE workspace_id = $1 AND enqueued_at IS NULL", ws).await,
        3
    );

    redis.restart().await;
    let jobs = frontdesk_jobs::Jobs::new(app.queue.clone());
    // Within the timeout only the released (never pushed) entries go.
    let total = std::sync::atomic::AtomicUsize::new(0);
    let pushed = eventually(Duration::from_secs(30), || async {
        let n = relay_once(app.db(), &jobs, &app.queue, &relay(Duration::from_secs(300))).await.unwrap_or(0);
        total.fetch_add(n, std::sync::atomic::Ordering::SeqCst) + n == 3
    })
    .await;
    assert!(pushed, "the relay did not push the three entries once Redis was back");
    // Every entry (the processing and the classifications it triggered) runs
    // and settles, once; a relay past its timeout then finds nothing to push again.
    app.drain().await;
    assert_eq!(scalar(&app, pending, ws).await, 0);
    assert_eq!(activity(&app, ws, "message_processed").await, 3);
    assert_eq!(relay_once(app.db(), &jobs, &app.queue, &relay(Duration::ZERO)).await.unwrap(), 0);
    assert_eq!(activity(&app, ws, "lead_classified").await, 3);
}
