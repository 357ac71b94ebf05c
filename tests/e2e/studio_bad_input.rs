//! Issue 12: bad input to the studio API is refused with a 4xx
//! `application/problem+json` with a stable code (and, for a field, a JSON
//! pointer to it), and changes no row anywhere. All cases share one app.

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::app::TestApp;

const MIGRATOR: &sqlx::migrate::Migrator = &frontdesk_store::MIGRATOR;
const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const AUTH_TOKEN: &str = "0123456789abcdef0123456789abcdef";

struct Case {
    name: &'static str,
    method: Method,
    path: String,
    body: Body,
    headers: Vec<(&'static str, String)>,
    status: u16,
    code: &'static str,
    pointer: Option<&'static str>,
}

enum Body {
    None,
    Json(Value),
    Raw(&'static str, String),
}

fn case(
    name: &'static str,
    method: Method,
    path: &str,
    body: Value,
    status: u16,
    code: &'static str,
    pointer: Option<&'static str>,
) -> Case {
    Case { name, method, path: path.into(), body: Body::Json(body), headers: Vec::new(), status, code, pointer }
}

fn invalid(name: &'static str, method: Method, path: &str, body: Value, pointer: &'static str) -> Case {
    case(name, method, path, body, 422, "validation_failed", Some(pointer))
}

fn twilio(overrides: Value) -> Value {
    let mut body = json!({ "provider": "twilio", "mode": "sandbox", "account_sid": ACCOUNT, "auth_token": AUTH_TOKEN, "from": "+15550001111" });
    for (k, v) in overrides.as_object().unwrap() {
        if v.is_null() {
            body.as_object_mut().unwrap().remove(k);
        } else {
            body[k] = v.clone();
        }
    }
    body
}

fn smtp(overrides: Value) -> Value {
    let mut body = json!({ "provider": "smtp", "mode": "sandbox", "host": "smtp.example.com", "port": 587, "from": "a@b.example" });
    for (k, v) in overrides.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn bad_input_to_the_studio_api_is_a_4xx_problem_and_changes_no_rows(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let studio = app.owner("Iron Temple", "owner@iron.example").await;
    let existing = app.api(Method::POST, "/v1/integrations", Some(&studio.token), Some(&twilio(json!({})))).await;
    assert_eq!(existing.status, 201, "{existing:?}");
    let integration = format!("/v1/integrations/{}", existing.body["id"].as_str().unwrap());
    let unknown = "0190aaaa-bbbb-7ccc-8ddd-eeeeffff0000";
    let (post, patch, delete) = (Method::POST, Method::PATCH, Method::DELETE);
    let ints = "/v1/integrations";
    let mut cases = vec![
        // Sign-in.
        Case {
            body: Body::Raw("text/plain", "email=a".into()),
            ..case("login as text", post.clone(), "/v1/auth/login", json!(null), 415, "unsupported_media_type", None)
        },
        Case {
            body: Body::Raw("application/json", "{".into()),
            ..case("login not JSON", post.clone(), "/v1/auth/login", json!(null), 400, "malformed_body", None)
        },
        invalid("login as an array", post.clone(), "/v1/auth/login", json!([]), ""),
        invalid(
            "login without password",
            post.clone(),
            "/v1/auth/login",
            json!({"email": "owner@iron.example"}),
            "/password",
        ),
        invalid(
            "login with an extra field",
            post.clone(),
            "/v1/auth/login",
            json!({"email": "a@b.c", "password": "0123456789", "remember": true}),
            "/remember",
        ),
        invalid(
            "login password too long",
            post.clone(),
            "/v1/auth/login",
            json!({"email": "a@b.c", "password": "x".repeat(300)}),
            "/password",
        ),
        invalid(
            "login email a number",
            post.clone(),
            "/v1/auth/login",
            json!({"email": 7, "password": "0123456789"}),
            "/email",
        ),
        case(
            "invitation token unknown",
            post.clone(),
            "/v1/auth/invitations/accept",
            json!({"token": "fd_invite_nope", "password": "0123456789"}),
            401,
            "invalid_credentials",
            None,
        ),
        invalid(
            "invitation password short",
            post.clone(),
            "/v1/auth/invitations/accept",
            json!({"token": "fd_invite_x", "password": "short"}),
            "/password",
        ),
        // Keys.
        invalid("key without a name", post.clone(), "/v1/keys", json!({"name": " "}), "/name"),
        invalid("key as owner", post.clone(), "/v1/keys", json!({"name": "k", "role": "owner"}), "/role"),
        invalid("key name too long", post.clone(), "/v1/keys", json!({"name": "k".repeat(101)}), "/name"),
        Case {
            body: Body::None,
            ..case(
                "revoke a key that is not an id",
                delete.clone(),
                "/v1/keys/not-an-id",
                json!(null),
                404,
                "not_found",
                None,
            )
        },
        // Users.
        invalid("invite a non-address", post.clone(), "/v1/users", json!({"email": "nope"}), "/email"),
        invalid(
            "invite an owner",
            post.clone(),
            "/v1/users",
            json!({"email": "x@iron.example", "role": "owner"}),
            "/role",
        ),
        invalid(
            "invite a name with a control character",
            post.clone(),
            "/v1/users",
            json!({"email": "x@iron.example", "name": "a\u{7}b"}),
            "/name",
        ),
        Case {
            body: Body::None,
            ..case(
                "remove nobody",
                delete.clone(),
                &format!("/v1/users/{unknown}"),
                json!(null),
                404,
                "not_found",
                None,
            )
        },
        // Workspace profile.
        invalid("unknown timezone", patch.clone(), "/v1/workspace", json!({"timezone": "Mars/Olympus"}), "/timezone"),
        invalid(
            "quiet hours at 25:00",
            patch.clone(),
            "/v1/workspace",
            json!({"quiet_hours": {"start": "25:00", "end": "08:00"}}),
            "/quiet_hours/start",
        ),
        invalid(
            "quiet hours of no length",
            patch.clone(),
            "/v1/workspace",
            json!({"quiet_hours": {"start": "08:00", "end": "08:00"}}),
            "/quiet_hours",
        ),
        invalid(
            "a daily cap of 0",
            patch.clone(),
            "/v1/workspace",
            json!({"max_messages_per_lead_per_day": 0}),
            "/max_messages_per_lead_per_day",
        ),
        invalid(
            "a daily cap of 51",
            patch.clone(),
            "/v1/workspace",
            json!({"max_messages_per_lead_per_day": 51}),
            "/max_messages_per_lead_per_day",
        ),
        invalid(
            "a language that is not a code",
            patch.clone(),
            "/v1/workspace",
            json!({"default_language": "english"}),
            "/default_language",
        ),
        invalid(
            "a plain-http booking link",
            patch.clone(),
            "/v1/workspace",
            json!({"booking_link": "http://book.example"}),
            "/booking_link",
        ),
        invalid("an empty studio name", patch.clone(), "/v1/workspace", json!({"name": ""}), "/name"),
        invalid("an unknown profile field", patch.clone(), "/v1/workspace", json!({"color": "red"}), "/color"),
        invalid(
            "deleting without the right confirmation",
            delete.clone(),
            "/v1/workspace",
            json!({"confirm": "iron temple"}),
            "/confirm",
        ),
        // Onboarding.
        Case {
            body: Body::None,
            ..invalid("skipping the profile", post.clone(), "/v1/onboarding/steps/profile/skip", json!(null), "/step")
        },
        Case {
            body: Body::None,
            ..case(
                "skipping a step that does not exist",
                post.clone(),
                "/v1/onboarding/steps/billing/skip",
                json!(null),
                404,
                "not_found",
                None,
            )
        },
        invalid(
            "41 classes",
            post.clone(),
            "/v1/onboarding/ai-rules",
            json!({"classes": vec!["yoga"; 41]}),
            "/classes",
        ),
        invalid("an empty price line", post.clone(), "/v1/onboarding/ai-rules", json!({"prices": [""]}), "/prices/0"),
        // Integrations.
        invalid("no provider", post.clone(), ints, json!({"account_sid": ACCOUNT}), "/provider"),
        invalid("provider stripe", post.clone(), ints, json!({"provider": "stripe"}), "/provider"),
        invalid("provider google_calendar", post.clone(), ints, json!({"provider": "google_calendar"}), "/provider"),
        invalid("integration body an array", post.clone(), ints, json!([1]), ""),
        invalid("twilio account sid", post.clone(), ints, twilio(json!({"account_sid": "AC123"})), "/account_sid"),
        invalid(
            "twilio auth token",
            post.clone(),
            ints,
            twilio(json!({"auth_token": "too-short-token"})),
            "/auth_token",
        ),
        invalid("twilio from", post.clone(), ints, twilio(json!({"from": "555-0100"})), "/from"),
        invalid("twilio neither from nor service", post.clone(), ints, twilio(json!({"from": null})), "/from"),
        invalid(
            "twilio messaging service",
            post.clone(),
            ints,
            twilio(json!({"messaging_service_sid": "MGxyz"})),
            "/messaging_service_sid",
        ),
        invalid("twilio rate 0", post.clone(), ints, twilio(json!({"max_per_second": 0})), "/max_per_second"),
        invalid("twilio unknown field", post.clone(), ints, twilio(json!({"colour": "blue"})), "/colour"),
        invalid("twilio mode", post.clone(), ints, twilio(json!({"mode": "test"})), "/mode"),
        invalid(
            "whatsapp phone number id",
            post.clone(),
            ints,
            json!({"provider": "whatsapp", "phone_number_id": "abc", "access_token": "x".repeat(30)}),
            "/phone_number_id",
        ),
        invalid(
            "whatsapp template name",
            post.clone(),
            ints,
            json!({"provider": "whatsapp", "phone_number_id": "106540352242922", "access_token": "x".repeat(30), "template": {"name": "Bad Name", "language": "en_US"}}),
            "/template/name",
        ),
        invalid(
            "whatsapp template language",
            post.clone(),
            ints,
            json!({"provider": "whatsapp", "phone_number_id": "106540352242922", "access_token": "x".repeat(30), "template": {"name": "welcome", "language": "english"}}),
            "/template/language",
        ),
        invalid("smtp host", post.clone(), ints, smtp(json!({"host": "bad host!"})), "/host"),
        invalid("smtp port 0", post.clone(), ints, smtp(json!({"port": 0})), "/port"),
        invalid("smtp port 70000", post.clone(), ints, smtp(json!({"port": 70000})), "/port"),
        invalid("smtp security", post.clone(), ints, smtp(json!({"security": "ssl"})), "/security"),
        invalid("smtp from", post.clone(), ints, smtp(json!({"from": "not an address"})), "/from"),
        invalid("smtp password without user", post.clone(), ints, smtp(json!({"password": "secret"})), "/password"),
        invalid(
            "smtp inbound address",
            post.clone(),
            ints,
            smtp(json!({"inbound_address": "inbox"})),
            "/inbound_address",
        ),
        invalid(
            "openai base url",
            post.clone(),
            ints,
            json!({"provider": "openai", "base_url": "ftp://llm.example", "model": "m", "api_key": "k"}),
            "/base_url",
        ),
        invalid(
            "openai without a model",
            post.clone(),
            ints,
            json!({"provider": "openai", "base_url": "https://llm.example/v1", "api_key": "k"}),
            "/model",
        ),
        invalid(
            "changing an integration's provider",
            patch.clone(),
            &integration,
            json!({"provider": "smtp"}),
            "/provider",
        ),
        invalid("patching a bad auth token", patch.clone(), &integration, json!({"auth_token": "nope"}), "/auth_token"),
        case(
            "patching no integration",
            patch.clone(),
            &format!("{ints}/{unknown}"),
            json!({"mode": "live"}),
            404,
            "not_found",
            None,
        ),
        Case {
            body: Body::None,
            ..case(
                "reading an integration that is not an id",
                Method::GET,
                &format!("{ints}/42"),
                json!(null),
                404,
                "not_found",
                None,
            )
        },
        Case {
            body: Body::Raw("application/json", format!("{{\"name\": \"{}\"}}", "k".repeat(70 * 1024))),
            ..case("a body over 64 KiB", post.clone(), "/v1/keys", json!(null), 400, "malformed_body", None)
        },
        Case {
            body: Body::Raw("application/x-www-form-urlencoded", "name=k".into()),
            ..case("a key as a form", post.clone(), "/v1/keys", json!(null), 415, "unsupported_media_type", None)
        },
    ];
    for (name, key) in
        [("an idempotency key too long", "k".repeat(256)), ("an empty idempotency key", "\"\"".to_owned())]
    {
        cases.push(Case {
            headers: vec![("idempotency-key", key)],
            ..case(name, post.clone(), "/v1/keys", json!({"name": "k"}), 400, "bad_idempotency_key", None)
        });
    }
    assert!(cases.len() >= 40, "{} cases", cases.len());

    let before = app.row_counts().await;
    let mut failures = Vec::new();
    for c in &cases {
        let mut request = app.http.request(c.method.clone(), app.url(&c.path)).bearer_auth(&studio.token);
        request = match &c.body {
            Body::None => request,
            Body::Json(v) => request.json(v),
            Body::Raw(content_type, raw) => request.header("content-type", *content_type).body(raw.clone()),
        };
        for (k, v) in &c.headers {
            request = request.header(*k, v);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let content_type =
            response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let text = response.text().await.unwrap();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let pointers: Vec<&str> = body["errors"]
            .as_array()
            .map(|e| e.iter().filter_map(|e| e["pointer"].as_str()).collect())
            .unwrap_or_default();
        let ok = status == c.status
            && content_type == "application/problem+json"
            && body["code"] == c.code
            && body["status"] == c.status
            && c.pointer.is_none_or(|p| pointers.contains(&p))
            && !text.contains("too-short-token")
            && !text.contains("secret\"");
        if !ok {
            failures.push(format!("{}: {status} {content_type} {text}", c.name));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    assert_eq!(app.row_counts().await, before, "a refused request changed rows");
}
