//! Issue 12: integrations are checked live against each provider's API
//! (faked at the network boundary, speaking its wire format), never echo a
//! credential, and a rotated Twilio token takes effect at once.

use base64::Engine;
use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{header, method, path},
};

use crate::{
    app::{TestApp, WorkerSetup},
    helpers::redis_url,
};

const MIGRATOR: &sqlx::migrate::Migrator = &frontdesk_store::MIGRATOR;
const ACCOUNT: &str = "AC99998888777766665555444433332222";
const OLD_TOKEN: &str = "11111111111111111111111111111111";
const NEW_TOKEN: &str = "2222222222222222222222222222abcd";
const NUMBER: &str = "+15550001111";
const PHONE_NUMBER_ID: &str = "106540352242922";

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn whatsapp_and_openai_integrations_are_checked_with_the_provider_and_never_echo_credentials(owner: PgPool) {
    let graph = MockServer::start().await;
    let token = "EAAG-studio-system-user-token-0001";
    Mock::given(method("GET"))
        .and(path(format!("/v21.0/{PHONE_NUMBER_ID}")))
        .and(header("authorization", format!("Bearer {token}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "display_phone_number": "+1 555-000-1111", "verified_name": "Iron Temple", "id": PHONE_NUMBER_ID
        })))
        .with_priority(1)
        .mount(&graph)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v21.0/{PHONE_NUMBER_ID}")))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": { "message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190 }
        })))
        .mount(&graph)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .and(header("authorization", "Bearer sk-studio-key-0001"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "list", "data": [{ "id": "gpt-4o-mini", "object": "model" }, { "id": "llama3.1", "object": "model" }]
        })))
        .mount(&graph)
        .await;
    let app = TestApp::spawn_configured(&owner, &redis_url(), |c| c.whatsapp_api_url = graph.uri()).await;
    let studio = app.owner("Iron Temple", "owner@iron.example").await;
    let s = Some(studio.token.as_str());
    let whatsapp = |access_token: &str| {
        json!({
            "provider": "whatsapp", "phone_number_id": PHONE_NUMBER_ID, "access_token": access_token,
            "template": { "name": "welcome_back", "language": "en_US", "parameters": ["{first_name}"] }
        })
    };
    let refused = app.api(Method::POST, "/v1/integrations", s, Some(&whatsapp("EAAG-wrong-token-000000000"))).await;
    assert_eq!(refused.status, 422, "{refused:?}");
    assert_eq!(refused.body["code"], "integration_check_failed");
    assert!(refused.body["detail"].as_str().unwrap().contains("190"), "{refused:?}");
    assert!(!refused.body.to_string().contains("EAAG-wrong"));
    let connected = app.api(Method::POST, "/v1/integrations", s, Some(&whatsapp(token))).await;
    assert_eq!(connected.status, 201, "{connected:?}");
    assert_eq!(connected.body["check"]["status"], "passed");
    assert!(connected.body["check"]["detail"].as_str().unwrap().contains("+1 555-000-1111"));
    assert_eq!(connected.body["credential_last4"], "0001");
    assert_eq!(connected.body["settings"]["phone_number_id"], PHONE_NUMBER_ID);
    assert!(!connected.body.to_string().contains(token));
    let onboarding = app.api(Method::GET, "/v1/onboarding", s, None).await;
    let step = onboarding.body["steps"].as_array().unwrap().iter().find(|s| s["step"] == "whatsapp").unwrap().clone();
    assert_eq!(step["status"], "done", "{onboarding:?}");

    let llm = |model: &str| json!({ "provider": "openai", "base_url": format!("{}/v1", graph.uri()), "model": model, "api_key": "sk-studio-key-0001" });
    let unknown_model = app.api(Method::POST, "/v1/integrations", s, Some(&llm("gpt-9"))).await;
    assert_eq!(unknown_model.status, 422, "{unknown_model:?}");
    assert!(unknown_model.body["detail"].as_str().unwrap().contains("gpt-9"));
    let connected = app.api(Method::POST, "/v1/integrations", s, Some(&llm("llama3.1"))).await;
    assert_eq!(connected.status, 201, "{connected:?}");
    assert_eq!(connected.body["check"]["status"], "passed");
    assert!(!connected.body.to_string().contains("sk-studio-key-0001"));
    // Removing an integration removes its webhook routes: WhatsApp deliveries are unroutable again.
    let id = app.api(Method::GET, "/v1/integrations", s, None).await.body[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(app.api(Method::DELETE, &format!("/v1/integrations/{id}"), s, None).await.status, 204);
    let routes: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_routes").fetch_one(&owner).await.unwrap();
    assert_eq!(routes, 0);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_rotated_twilio_auth_token_is_used_at_once_for_sends_and_inbound_webhooks(owner: PgPool) {
    let twilio = MockServer::start().await;
    for token in [OLD_TOKEN, NEW_TOKEN] {
        Mock::given(method("GET"))
            .and(path(format!("/2010-04-01/Accounts/{ACCOUNT}.json")))
            .and(header("authorization", basic(ACCOUNT, token).as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "sid": ACCOUNT, "status": "active" })))
            .mount(&twilio)
            .await;
    }
    Mock::given(method("POST"))
        .and(path(format!("/2010-04-01/Accounts/{ACCOUNT}/Messages.json")))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({ "sid": "SM11111111111111111111111111111111", "status": "queued" })),
        )
        .mount(&twilio)
        .await;
    let app = TestApp::spawn_configured(&owner, &redis_url(), |c| c.twilio_api_url = twilio.uri()).await;
    app.start_worker_with(WorkerSetup { twilio_url: Some(twilio.uri()), ..WorkerSetup::default() }).await;
    let studio = app.owner("Iron Temple", "owner@iron.example").await;
    let s = Some(studio.token.as_str());
    let body = json!({ "provider": "twilio", "account_sid": ACCOUNT, "auth_token": OLD_TOKEN, "from": NUMBER });
    let created = app.api(Method::POST, "/v1/integrations", s, Some(&body)).await;
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.body["id"].as_str().unwrap().to_owned();
    let sms = |sid: &'static str| {
        [("MessageSid", sid), ("AccountSid", ACCOUNT), ("From", "+15557770001"), ("To", NUMBER), ("Body", "hi")]
    };
    assert_eq!(
        app.post_twilio("/webhooks/twilio/sms", &sms("SM00000000000000000000000000000001"), OLD_TOKEN).await.status(),
        200
    );

    let rotated =
        app.api(Method::PATCH, &format!("/v1/integrations/{id}"), s, Some(&json!({ "auth_token": NEW_TOKEN }))).await;
    assert_eq!(rotated.status, 200, "{rotated:?}");
    assert_eq!(rotated.body["credential_last4"], "abcd");
    assert_eq!(rotated.body["settings"]["from"], NUMBER, "fields left out keep their values");
    assert_eq!(
        app.post_twilio("/webhooks/twilio/sms", &sms("SM00000000000000000000000000000002"), NEW_TOKEN).await.status(),
        200
    );
    assert_eq!(
        app.post_twilio("/webhooks/twilio/sms", &sms("SM00000000000000000000000000000003"), OLD_TOKEN).await.status(),
        403
    );

    // A missed call: the text-back goes out with the new token.
    let call = [
        ("CallSid", "CA00000000000000000000000000000001"),
        ("AccountSid", ACCOUNT),
        ("From", "+15557770001"),
        ("To", NUMBER),
        ("CallStatus", "no-answer"),
        ("Direction", "inbound"),
    ];
    assert_eq!(app.post_twilio("/webhooks/twilio/voice", &call, NEW_TOKEN).await.status(), 200);
    app.drain().await;
    let sends: Vec<_> =
        twilio.received_requests().await.unwrap().into_iter().filter(|r| r.method.as_str() == "POST").collect();
    assert_eq!(sends.len(), 1, "one text-back");
    assert_eq!(sends[0].headers.get("authorization").unwrap().to_str().unwrap(), basic(ACCOUNT, NEW_TOKEN));
}
