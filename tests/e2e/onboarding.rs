//! Issue 12's done-when: a new studio goes from `frontdesk workspace create`
//! to its first stored, classified inbound message through the API alone.
//! No SQL and no store calls here: everything the studio does, and
//! everything the test checks, goes through the CLI and HTTP.

use frontdesk_testkit::smtp::{Login, SmtpServer};
use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{header, method, path},
};

use crate::{
    app::{ApiReply, TestApp},
    helpers::redis_url,
};

const MIGRATOR: &sqlx::migrate::Migrator = &frontdesk_store::MIGRATOR;
const ACCOUNT: &str = "AC11112222333344445555666677778888";
const AUTH_TOKEN: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a0";
const NUMBER: &str = "+34910000001";

fn step<'a>(onboarding: &'a ApiReply, name: &str) -> &'a serde_json::Value {
    onboarding.body["steps"].as_array().unwrap().iter().find(|s| s["step"] == name).unwrap()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_new_studio_signs_in_connects_twilio_and_email_and_its_first_sms_is_stored_and_classified(owner: PgPool) {
    let twilio = MockServer::start().await;
    // Twilio's account fetch answers only the right SID and token (HTTP Basic).
    let basic = format!("Basic {}", base64_of(&format!("{ACCOUNT}:{AUTH_TOKEN}")));
    Mock::given(method("GET"))
        .and(path(format!("/2010-04-01/Accounts/{ACCOUNT}.json")))
        .and(header("authorization", basic.as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "sid": ACCOUNT, "status": "active", "friendly_name": "Iron Temple" })),
        )
        .with_priority(1)
        .mount(&twilio)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/2010-04-01/Accounts/{ACCOUNT}.json")))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({ "code": 20003, "message": "Authenticate", "status": 401 })),
        )
        .mount(&twilio)
        .await;
    let app = TestApp::spawn_configured(&owner, &redis_url(), |c| c.twilio_api_url = twilio.uri()).await;

    // The operator creates the studio; the owner gets a one-time token.
    let printed = app
        .env
        .run(&[
            "workspace",
            "create",
            "--name",
            "Iron Temple",
            "--timezone",
            "Europe/Madrid",
            "--owner-email",
            "ana@irontemple.example",
        ])
        .await;
    let token = printed.lines().find_map(|l| l.strip_prefix("invitation_token: ")).expect(&printed).to_owned();
    assert!(printed.contains("/v1/auth/invitations/accept"), "{printed}");
    let body = json!({ "token": token, "password": "a long studio password" });
    let signed_in = app.api(Method::POST, "/v1/auth/invitations/accept", None, Some(&body)).await;
    assert_eq!(signed_in.status, 201, "{signed_in:?}");
    assert_eq!(signed_in.body["user"]["role"], "owner");
    // From now on the owner signs in with email and password.
    let login = json!({ "email": "ana@irontemple.example", "password": "a long studio password" });
    let login = app.api(Method::POST, "/v1/auth/login", None, Some(&login)).await;
    assert_eq!(login.status, 201);
    let session = login.body["token"].as_str().unwrap().to_owned();
    let s = Some(session.as_str());

    let fresh = app.api(Method::GET, "/v1/onboarding", s, None).await;
    assert_eq!(fresh.body["current_step"], "profile");
    assert_eq!(step(&fresh, "google_calendar")["status"], "pending");

    let profile = json!({
        "quiet_hours": { "start": "21:00", "end": "08:00" },
        "max_messages_per_lead_per_day": 2,
        "default_language": "es",
    });
    let saved = app.api(Method::PATCH, "/v1/workspace", s, Some(&profile)).await;
    assert_eq!(saved.status, 200, "{saved:?}");
    assert_eq!(saved.body["quiet_hours"]["start"], "21:00");

    // A wrong token is refused by Twilio's live check, and nothing is stored.
    let wrong = json!({ "provider": "twilio", "account_sid": ACCOUNT, "auth_token": "00000000000000000000000000000000", "from": NUMBER });
    let refused = app.api(Method::POST, "/v1/integrations", s, Some(&wrong)).await;
    assert_eq!(refused.status, 422, "{refused:?}");
    assert_eq!(refused.body["code"], "integration_check_failed");
    let twilio_body = json!({ "provider": "twilio", "account_sid": ACCOUNT, "auth_token": AUTH_TOKEN, "from": NUMBER });
    let connected = app.api(Method::POST, "/v1/integrations", s, Some(&twilio_body)).await;
    assert_eq!(connected.status, 201, "{connected:?}");
    assert_eq!(connected.body["check"]["status"], "passed");
    assert_eq!(connected.body["credential_last4"], &AUTH_TOKEN[28..]);
    assert!(!connected.body.to_string().contains(AUTH_TOKEN));
    let hooks = connected.body["webhooks"].as_array().unwrap();
    let sms_url = hooks.iter().find(|h| h["event"] == "inbound SMS").unwrap()["url"].as_str().unwrap().to_owned();
    assert_eq!(sms_url, format!("{}/webhooks/twilio/sms", crate::app::PUBLIC_URL));

    let smtp = SmtpServer::start_with_login(Login { username: "ana".into(), password: "mail-secret-42".into() }).await;
    let email = json!({
        "provider": "smtp", "host": "127.0.0.1", "port": smtp.port, "security": "none",
        "username": "ana", "password": "mail-secret-42", "from": "Iron Temple <hola@irontemple.example>",
        "inbound_address": "hola@in.irontemple.example",
    });
    let connected = app.api(Method::POST, "/v1/integrations", s, Some(&email)).await;
    assert_eq!(connected.status, 201, "{connected:?}");
    assert_eq!(connected.body["check"]["status"], "passed");
    assert!(connected.body["webhooks"][0]["configure"].as_str().unwrap().contains("hola@in.irontemple.example"));

    let progress = app.api(Method::GET, "/v1/onboarding", s, None).await;
    for done in ["profile", "twilio", "email"] {
        assert_eq!(step(&progress, done)["status"], "done", "{progress:?}");
    }
    assert_eq!(step(&progress, "whatsapp")["status"], "todo");
    assert_eq!(progress.body["traffic"]["inbound_messages"], 0);
    // This studio has no WhatsApp sender; it skips the step, and the calendar's for now.
    for skipped in ["whatsapp", "google_calendar"] {
        let reply = app.api(Method::POST, &format!("/v1/onboarding/steps/{skipped}/skip"), s, None).await;
        assert_eq!(reply.status, 204, "{reply:?}");
    }
    let ai = json!({ "classes": ["Reformer Pilates"], "prices": ["Monthly unlimited: 59 EUR"], "tone": "warm" });
    assert_eq!(app.api(Method::POST, "/v1/onboarding/ai-rules", s, Some(&ai)).await.status, 204);
    let progress = app.api(Method::GET, "/v1/onboarding", s, None).await;
    assert_eq!(step(&progress, "whatsapp")["status"], "skipped");
    assert_eq!(step(&progress, "google_calendar")["status"], "skipped");
    assert_eq!(step(&progress, "ai_rules")["status"], "done");
    assert_eq!(progress.body["complete"], true, "{progress:?}");

    // A lead texts the studio's number: Twilio signs the request with the studio's token.
    let sms = [
        ("MessageSid", "SM00000000000000000000000000000001"),
        ("AccountSid", ACCOUNT),
        ("From", "+34600111222"),
        ("To", NUMBER),
        ("Body", "Hola! How much is a monthly membership?"),
        ("NumMedia", "0"),
    ];
    let delivered = app.post_twilio("/webhooks/twilio/sms", &sms, AUTH_TOKEN).await;
    assert_eq!(delivered.status(), 200);
    app.drain().await;
    let after = app.api(Method::GET, "/v1/onboarding", s, None).await;
    assert_eq!(after.body["traffic"]["inbound_messages"], 1, "{after:?}");
    assert_eq!(after.body["traffic"]["classified_leads"], 1, "{after:?}");
}

fn base64_of(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}
