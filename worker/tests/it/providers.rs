//! Provider clients against fakes that speak each provider's wire format:
//! wiremock for Twilio and the WhatsApp Cloud API, and a real SMTP
//! conversation with a server started by the test.

use std::time::Duration;

use frontdesk_store::vault::Secret;
use frontdesk_testkit::smtp::SmtpServer;
use frontdesk_worker::providers::{
    SendError, http_client,
    smtp::{self, Email, Security, SmtpAccount},
    twilio::{Sms, TwilioAccount, TwilioClient},
    whatsapp::{WhatsappClient, WhatsappMessage, WhatsappSender},
};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_string_contains, header, method, path},
};

const AC: &str = "AC0123456789abcdef0123456789abcdef";

fn account() -> TwilioAccount {
    TwilioAccount {
        account_sid: AC.into(),
        auth_token: Secret::new("auth-token"),
        from: Some("+15550001001".into()),
        messaging_service_sid: None,
    }
}

fn sms() -> Sms<'static> {
    Sms { to: "+15557770001", body: "Hi Ana!", status_callback: "https://hooks.test/webhooks/twilio/status" }
}

async fn twilio_replying(
    status: u16,
    body: serde_json::Value,
    retry_after: Option<&str>,
) -> (MockServer, TwilioClient) {
    let server = MockServer::start().await;
    let mut response = ResponseTemplate::new(status).set_body_json(body);
    if let Some(secs) = retry_after {
        response = response.insert_header("Retry-After", secs);
    }
    Mock::given(method("POST"))
        .and(path(format!("/2010-04-01/Accounts/{AC}/Messages.json")))
        // Basic base64("AC…:auth-token")
        .and(header("authorization", "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjphdXRoLXRva2Vu"))
        .and(body_string_contains("StatusCallback=https%3A%2F%2Fhooks.test%2Fwebhooks%2Ftwilio%2Fstatus"))
        .respond_with(response)
        .expect(1)
        .mount(&server)
        .await;
    let client = TwilioClient::new(http_client(), server.uri());
    (server, client)
}

#[tokio::test]
async fn twilio_send_returns_the_message_sid() {
    let (_server, client) = twilio_replying(201, serde_json::json!({ "sid": "SMabc", "status": "queued" }), None).await;
    assert_eq!(client.send_sms(&account(), &sms()).await.unwrap().provider_message_id, "SMabc");
}

#[tokio::test]
async fn twilio_21610_means_opted_out_and_21211_is_permanent() {
    let (_s, client) = twilio_replying(
        400,
        serde_json::json!({ "code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400 }),
        None,
    )
    .await;
    assert!(matches!(client.send_sms(&account(), &sms()).await, Err(SendError::OptedOut(_))));
    let (_s, client) = twilio_replying(
        400,
        serde_json::json!({ "code": 21211, "message": "Invalid 'To' Phone Number", "status": 400 }),
        None,
    )
    .await;
    assert!(matches!(client.send_sms(&account(), &sms()).await, Err(SendError::Permanent(_))));
}

#[tokio::test]
async fn twilio_429_and_5xx_are_transient_and_carry_retry_after() {
    let (_s, client) = twilio_replying(
        429,
        serde_json::json!({ "code": 20429, "message": "Too Many Requests", "status": 429 }),
        Some("7"),
    )
    .await;
    match client.send_sms(&account(), &sms()).await {
        Err(SendError::Transient { retry_after, .. }) => assert_eq!(retry_after, Some(Duration::from_secs(7))),
        other => panic!("expected transient, got {other:?}"),
    }
    let (_s, client) = twilio_replying(503, serde_json::json!({}), None).await;
    assert!(matches!(client.send_sms(&account(), &sms()).await, Err(SendError::Transient { .. })));
}

#[tokio::test]
async fn a_reply_that_may_follow_acceptance_is_an_unknown_outcome_never_a_retry() {
    // A gateway error can come after Twilio took the message.
    let (_s, client) = twilio_replying(502, serde_json::json!({}), None).await;
    assert!(matches!(client.send_sms(&account(), &sms()).await, Err(SendError::Unknown(_))));
    // 2xx whose body we cannot read: accepted, id unknown.
    let (_s, client) = twilio_replying(201, serde_json::json!({ "unexpected": true }), None).await;
    assert!(matches!(client.send_sms(&account(), &sms()).await, Err(SendError::Unknown(_))));
    // The request left and no answer came back in time.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(200)).build().unwrap();
    let client = TwilioClient::new(impatient, server.uri());
    assert!(matches!(client.send_sms(&account(), &sms()).await, Err(SendError::Unknown(_))));
}

#[tokio::test]
async fn a_provider_that_cannot_be_reached_is_transient() {
    // Nothing listens on the discard port: the request never left.
    let client = TwilioClient::new(http_client(), "http://127.0.0.1:9");
    assert!(matches!(client.send_sms(&account(), &sms()).await, Err(SendError::Transient { .. })));
    let account = local_smtp(9);
    let email = Email {
        to: "ana@example.com",
        subject: "Hi",
        body: "Hi",
        message_id: "x@irontemple.example",
        in_reply_to: None,
        list_unsubscribe: "<mailto:hello@irontemple.example>",
        one_click: false,
    };
    assert!(matches!(smtp::send(&account, None, &email).await, Err(SendError::Transient { .. })));
}

/// The studio's SMTP account on a local port, plain SMTP.
fn local_smtp(port: u16) -> SmtpAccount {
    SmtpAccount {
        host: "127.0.0.1".into(),
        port,
        security: Security::None,
        username: None,
        password: None,
        from: "Iron Temple <hello@irontemple.example>".into(),
    }
}

fn sender() -> WhatsappSender {
    WhatsappSender { phone_number_id: "PNID-A".into(), access_token: Secret::new("wa-token-a") }
}

#[tokio::test]
async fn whatsapp_text_and_template_use_the_cloud_api_format_and_the_workspace_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v21.0/PNID-A/messages"))
        .and(header("authorization", "Bearer wa-token-a"))
        .and(body_string_contains(r#""to":"15557770001""#))
        .and(body_string_contains(r#""text":{"body":"Hola Ana"}"#))
        // The reference Meta echoes back in the message's status webhooks.
        .and(body_string_contains(r#""biz_opaque_callback_data":"ref-1""#))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({ "messages": [{ "id": "wamid.text" }] })),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v21.0/PNID-A/messages"))
        .and(body_string_contains(r#""name":"followup_1""#))
        .and(body_string_contains(r#""code":"es""#))
        .and(body_string_contains(r#""text":"Ana""#))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({ "messages": [{ "id": "wamid.tpl" }] })),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = WhatsappClient::new(http_client(), server.uri(), "v21.0");
    let sent = client
        .send(&sender(), "+15557770001", &WhatsappMessage::Text { body: "Hola Ana" }, Some("ref-1"))
        .await
        .unwrap();
    assert_eq!(sent.provider_message_id, "wamid.text");
    let template = WhatsappMessage::Template { name: "followup_1", language: "es", parameters: vec!["Ana".into()] };
    assert_eq!(client.send(&sender(), "+15557770001", &template, None).await.unwrap().provider_message_id, "wamid.tpl");
}

#[tokio::test]
async fn whatsapp_131047_is_outside_the_window() {
    let server = MockServer::start().await;
    let error = serde_json::json!({ "error": { "message": "Re-engagement message", "type": "OAuthException", "code": 131047 } });
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(400).set_body_json(error)).mount(&server).await;
    let client = WhatsappClient::new(http_client(), server.uri(), "v21.0");
    let result = client.send(&sender(), "+15557770001", &WhatsappMessage::Text { body: "late" }, None).await;
    assert!(matches!(result, Err(SendError::OutsideWindow(_))), "{result:?}");
}

#[tokio::test]
async fn email_goes_through_the_workspace_smtp_server_with_threading_and_unsubscribe_headers() {
    let server = SmtpServer::start().await;
    let account = local_smtp(server.port);
    let email = Email {
        to: "ana@example.com",
        subject: "Re: Membership",
        body: "Hi Ana, a monthly membership is $49.",
        message_id: "fu-123@frontdesk.example",
        in_reply_to: Some("<CAx-original@mail.example>"),
        list_unsubscribe: "<mailto:unsubscribe@frontdesk.example?subject=fu-123>",
        one_click: false,
    };
    let sent = smtp::send(&account, None, &email).await.unwrap();
    assert_eq!(sent.provider_message_id, "fu-123@frontdesk.example");
    let [received] = &server.received()[..] else { panic!("expected one message: {:?}", server.received()) };
    let data = &received.data;
    assert_eq!(received.rcpt, vec!["RCPT TO:<ana@example.com>"]);
    for expected in [
        "Message-ID: <fu-123@frontdesk.example>",
        "In-Reply-To: <CAx-original@mail.example>",
        "References: <CAx-original@mail.example>",
        "List-Unsubscribe: <mailto:unsubscribe@frontdesk.example?subject=fu-123>",
        "Subject: Re: Membership",
        "Hi Ana, a monthly membership is $49.",
    ] {
        assert!(data.contains(expected), "missing {expected:?} in:\n{data}");
    }
}
