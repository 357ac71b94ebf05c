//! Issue 12: the studio API's foundation. Credentials (sessions, API keys,
//! invitations), roles, rate limits, idempotency, tenant isolation, and the
//! OpenAPI document the router is built from.

use std::time::{Duration, Instant};

use frontdesk_app::{App, Services};
use frontdesk_store::users::Role;
use frontdesk_testkit::smtp::{Login, SmtpServer};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{
    app::{ApiReply, PASSWORD, SignedIn, TestApp, api_request},
    helpers::{eventually, redis_url},
};

const MIGRATOR: &sqlx::migrate::Migrator = &frontdesk_store::MIGRATOR;
const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const AUTH_TOKEN: &str = "0123456789abcdef0123456789abcdef";

fn sandbox_twilio(from: &str) -> Value {
    json!({ "provider": "twilio", "mode": "sandbox", "account_sid": ACCOUNT, "auth_token": AUTH_TOKEN, "from": from })
}

fn assert_problem(reply: &ApiReply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{reply:?}");
    assert_eq!(reply.content_type, "application/problem+json", "{reply:?}");
    assert_eq!(reply.body["code"], code, "{reply:?}");
    assert_eq!(reply.body["status"], status, "{reply:?}");
    assert_eq!(reply.body["type"], format!("urn:frontdesk:problem:{code}"), "{reply:?}");
}

async fn new_key(app: &TestApp, who: &SignedIn, role: &str) -> (String, String) {
    let reply =
        app.api(Method::POST, "/v1/keys", Some(&who.token), Some(&json!({ "name": "script", "role": role }))).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    (reply.body["key"].as_str().unwrap().to_owned(), reply.body["id"].as_str().unwrap().to_owned())
}

/// Every operation in the spec is served, every other method on a spec
/// path is 405, and a path outside the spec is the router's own 404: the
/// spec and the router are one list.
#[sqlx::test(migrator = "MIGRATOR")]
async fn the_router_serves_exactly_the_operations_in_the_openapi_spec(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    // Signed in, so an unlisted method on a studio path gets past
    // authentication to the router's 405.
    let studio = app.owner("Iron Temple", "owner@iron.example").await;
    let spec = app.api(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(spec.status, 200);
    assert!(spec.body["openapi"].as_str().unwrap().starts_with("3.1"), "{}", spec.body["openapi"]);
    let paths = spec.body["paths"].as_object().unwrap();
    let methods = ["get", "post", "put", "patch", "delete"];
    let mut operations = 0;
    for (path, item) in paths {
        let concrete = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "0190aaaa-bbbb-7ccc-8ddd-eeeeffff0000" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for method in methods {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let listed = item.get(method).is_some();
            let token = (!listed).then_some(studio.token.as_str());
            let reply = app.api(m, &concrete, token, None).await;
            let routed = !(reply.status == 404 && reply.body["code"] == "no_route");
            if listed {
                operations += 1;
                assert!(routed && reply.status != 405, "{method} {path} is in the spec but not served: {reply:?}");
                let public = item[method]["security"].as_array().is_some_and(|s| s.iter().any(|r| r == &json!({})));
                if path.starts_with("/v1/") && !public {
                    assert_problem(&reply, 401, "unauthorized");
                }
            } else {
                assert_eq!(reply.status, 405, "{method} {path} is served but not in the spec: {reply:?}");
            }
        }
    }
    assert!(operations >= 30, "only {operations} operations in the spec");
    for webhook in ["/webhooks/twilio/sms", "/webhooks/whatsapp", "/webhooks/email", "/webhooks/stripe"] {
        assert!(paths.contains_key(webhook), "the spec misses {webhook}");
    }
    let stray = app.api(Method::GET, "/v1/not-a-route", None, None).await;
    assert_problem(&stray, 404, "no_route");
    // The browsable reference is served from the binary, no CDN.
    let docs = app.http.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    let html = docs.text().await.unwrap();
    assert!(html.contains("swagger-ui") && !html.contains("unpkg") && !html.contains("cdn."), "{html}");
    let js = app.http.get(app.url("/docs/swagger-ui-bundle.js")).send().await.unwrap();
    assert_eq!(js.status(), 200);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn missing_mistyped_expired_revoked_and_signed_out_credentials_get_the_same_401(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let studio = app.owner("Iron Temple", "owner@iron.example").await;
    let (key, key_id) = new_key(&app, &studio, "admin").await;
    assert_eq!(app.api(Method::GET, "/v1/me", Some(&key), None).await.status, 200);
    let mut mistyped = key.clone().into_bytes();
    let i = mistyped.len() - 10;
    mistyped[i] = if mistyped[i] == b'a' { b'b' } else { b'a' };
    let mistyped = String::from_utf8(mistyped).unwrap();

    let unauthorized = app.api(Method::GET, "/v1/me", None, None).await;
    assert_problem(&unauthorized, 401, "unauthorized");
    assert_eq!(unauthorized.headers["www-authenticate"], "Bearer");
    for token in ["garbage", "fd_sess_notatoken", mistyped.as_str(), "fd_live_"] {
        let reply = app.api(Method::GET, "/v1/me", Some(token), None).await;
        assert_eq!(reply.body, unauthorized.body, "{token}");
    }
    // Revoked key.
    assert_eq!(app.api(Method::DELETE, &format!("/v1/keys/{key_id}"), Some(&studio.token), None).await.status, 204);
    assert_eq!(app.api(Method::GET, "/v1/me", Some(&key), None).await.body, unauthorized.body);
    // Expired session (the clock moved past its expiry).
    let second = sign_in(&app, "owner@iron.example").await;
    assert_eq!(app.api(Method::GET, "/v1/me", Some(&second), None).await.status, 200);
    sqlx::query("UPDATE sessions SET expires_at = now() - interval '1 second' WHERE token_hash = sha256($1::bytea)")
        .bind(second.as_bytes())
        .execute(&owner)
        .await
        .unwrap();
    assert_eq!(app.api(Method::GET, "/v1/me", Some(&second), None).await.body, unauthorized.body);
    // Signed out.
    assert_eq!(app.api(Method::POST, "/v1/auth/logout", Some(&studio.token), None).await.status, 204);
    assert_eq!(app.api(Method::GET, "/v1/me", Some(&studio.token), None).await.body, unauthorized.body);
}

async fn sign_in(app: &TestApp, email: &str) -> String {
    let reply =
        app.api(Method::POST, "/v1/auth/login", None, Some(&json!({ "email": email, "password": PASSWORD }))).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    reply.body["token"].as_str().unwrap().to_owned()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn sessions_are_listed_revoked_one_by_one_and_stored_hashed(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let studio = app.owner("Iron Temple", "owner@iron.example").await;
    let laptop = sign_in(&app, "Owner@Iron.example").await;
    let sessions = app.api(Method::GET, "/v1/auth/sessions", Some(&laptop), None).await;
    let list = sessions.body.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list.iter().filter(|s| s["current"] == true).count(), 1);
    let other = list.iter().find(|s| s["current"] == false).unwrap()["id"].as_str().unwrap().to_owned();
    let revoke = app.api(Method::DELETE, &format!("/v1/auth/sessions/{other}"), Some(&laptop), None).await;
    assert_eq!(revoke.status, 204);
    assert_eq!(app.api(Method::GET, "/v1/me", Some(&studio.token), None).await.status, 401);
    assert_eq!(app.api(Method::GET, "/v1/me", Some(&laptop), None).await.status, 200);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE token_hash = sha256($1::bytea)")
        .bind(laptop.as_bytes())
        .fetch_one(&owner)
        .await
        .unwrap();
    assert_eq!(stored, 1, "the session is found by its SHA-256 only");
    let wrong = app
        .api(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(&json!({"email": "owner@iron.example", "password": "not the password"})),
        )
        .await;
    assert_problem(&wrong, 401, "invalid_credentials");
    let nobody = app
        .api(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(&json!({"email": "nobody@iron.example", "password": "not the password"})),
        )
        .await;
    assert_eq!(nobody.body, wrong.body, "an unknown email is answered like a wrong password");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn staff_get_403_on_owner_and_admin_actions_and_admins_cannot_delete_the_workspace(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let studio = app.owner("Iron Temple", "owner@iron.example").await;
    let staff = app.member(studio.workspace, "coach@iron.example", Role::Staff).await;
    let admin = app.member(studio.workspace, "manager@iron.example", Role::Admin).await;
    let some_id = "0190aaaa-bbbb-7ccc-8ddd-eeeeffff0000";
    let refused: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/v1/integrations".into(), None),
        (Method::POST, "/v1/integrations".into(), Some(sandbox_twilio("+15550001111"))),
        (Method::GET, format!("/v1/integrations/{some_id}"), None),
        (Method::PATCH, format!("/v1/integrations/{some_id}"), Some(json!({}))),
        (Method::DELETE, format!("/v1/integrations/{some_id}"), None),
        (Method::GET, "/v1/keys".into(), None),
        (Method::POST, "/v1/keys".into(), Some(json!({"name": "x"}))),
        (Method::DELETE, format!("/v1/keys/{some_id}"), None),
        (Method::POST, "/v1/users".into(), Some(json!({"email": "x@iron.example"}))),
        (Method::DELETE, format!("/v1/users/{}", studio.user), None),
        (Method::PATCH, "/v1/workspace".into(), Some(json!({"default_language": "en"}))),
        (Method::DELETE, "/v1/workspace".into(), Some(json!({"confirm": "Iron Temple"}))),
        (Method::POST, "/v1/onboarding/ai-rules".into(), Some(json!({}))),
        (Method::POST, "/v1/onboarding/steps/whatsapp/skip".into(), None),
    ];
    let before = app.row_counts().await;
    for (method, path, body) in &refused {
        let reply = app.api(method.clone(), path, Some(&staff.token), body.as_ref()).await;
        assert_problem(&reply, 403, "forbidden");
    }
    // Admins may create admin keys.
    let admin_key =
        app.api(Method::POST, "/v1/keys", Some(&admin.token), Some(&json!({"name": "k", "role": "admin"}))).await;
    assert_eq!(admin_key.status, 201);
    assert_eq!(app.row_counts().await.get("integrations"), before.get("integrations"));
    for (method, path) in [
        (Method::GET, "/v1/me"),
        (Method::GET, "/v1/onboarding"),
        (Method::GET, "/v1/workspace"),
        (Method::GET, "/v1/users"),
    ] {
        assert_eq!(app.api(method, path, Some(&staff.token), None).await.status, 200, "{path}");
    }
    // Admins manage integrations but only the owner deletes the studio.
    assert_eq!(app.api(Method::GET, "/v1/integrations", Some(&admin.token), None).await.status, 200);
    let delete =
        app.api(Method::DELETE, "/v1/workspace", Some(&admin.token), Some(&json!({"confirm": "Iron Temple"}))).await;
    assert_problem(&delete, 403, "forbidden");
    let remove_owner = app.api(Method::DELETE, &format!("/v1/users/{}", studio.user), Some(&admin.token), None).await;
    assert_problem(&remove_owner, 403, "forbidden");
    let deleted =
        app.api(Method::DELETE, "/v1/workspace", Some(&studio.token), Some(&json!({"confirm": "Iron Temple"}))).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(app.api(Method::GET, "/v1/me", Some(&admin.token), None).await.status, 401);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_revoked_key_fails_within_one_second_on_a_second_api_process(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let studio = app.owner("Iron Temple", "owner@iron.example").await;
    let (key, key_id) = new_key(&app, &studio, "staff").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let _replica = app.env.spawn_with("api", &[("FRONTDESK_LISTEN", &listen)]);
    let replica_me = format!("http://{listen}/v1/me");
    let http = reqwest::Client::new();
    let up = eventually(Duration::from_secs(20), || async {
        let probe = http.get(&replica_me).bearer_auth(&key).send().await;
        probe.is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert!(up, "the second api process did not come up or refused the key");
    let revoked = app.api(Method::DELETE, &format!("/v1/keys/{key_id}"), Some(&studio.token), None).await;
    assert_eq!(revoked.status, 204);
    let at = Instant::now();
    let refused = eventually(Duration::from_secs(1), || async {
        api_request(&http, &replica_me, Method::GET, Some(&key), None, &[]).await.status == 401
    })
    .await;
    assert!(refused, "the other replica still accepted the revoked key after {:?}", at.elapsed());
    assert!(at.elapsed() < Duration::from_secs(1));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn sign_in_attempts_are_limited_per_email_and_per_client_address(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    app.owner("Iron Temple", "owner@iron.example").await;
    let attempt = |email: &'static str, password: &'static str| {
        let app = &app;
        async move {
            app.api(Method::POST, "/v1/auth/login", None, Some(&json!({ "email": email, "password": password }))).await
        }
    };
    for _ in 0..10 {
        assert_eq!(attempt("owner@iron.example", "guess guess guess").await.status, 401);
    }
    // Over the per-email limit even the right password is refused, with a Retry-After.
    let limited = attempt("owner@iron.example", PASSWORD).await;
    assert_problem(&limited, 429, "rate_limited");
    let retry: u64 = limited.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    // Other emails from this address go on until the per-address limit (50) is spent.
    let mut statuses = Vec::new();
    for i in 0..45 {
        let email = format!("someone{i}@iron.example");
        let reply = app
            .api(Method::POST, "/v1/auth/login", None, Some(&json!({"email": email, "password": "guess guess"})))
            .await;
        statuses.push(reply.status);
    }
    // The refused 11th attempt was stopped by its email's limit before it counted for the address.
    assert!(statuses[..40].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[40..].iter().all(|s| *s == 429), "the address limit did not hold: {statuses:?}");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_credentials_rate_limit_holds_across_two_api_replicas(owner: PgPool) {
    let app = TestApp::spawn_configured(&owner, &redis_url(), |c| c.api_rate_limit = 6).await;
    let replica = App::build(app.config().clone()).await.unwrap();
    let running = replica.start(Services::API).await.unwrap();
    let replica_url = format!("http://{}/v1/me", running.api_addr().unwrap());
    // Signing in is not a credentialed request; these six are.
    let studio = app.owner("Iron Temple", "owner@iron.example").await;
    let mut statuses = Vec::new();
    for i in 0..8 {
        let reply = if i % 2 == 0 {
            app.api(Method::GET, "/v1/me", Some(&studio.token), None).await
        } else {
            api_request(&app.http, &replica_url, Method::GET, Some(&studio.token), None, &[]).await
        };
        if reply.status == 429 {
            assert!(reply.headers.contains_key("retry-after"));
        }
        statuses.push(reply.status);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 429, 429]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn workspace_a_cannot_read_change_or_delete_workspace_b_integrations_or_users(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let a = app.owner("Studio A", "owner@a.example").await;
    let b = app.owner("Studio B", "owner@b.example").await;
    let b_staff = app.member(b.workspace, "coach@b.example", Role::Staff).await;
    let created =
        app.api(Method::POST, "/v1/integrations", Some(&b.token), Some(&sandbox_twilio("+15550002222"))).await;
    assert_eq!(created.status, 201, "{created:?}");
    let b_integration = created.body["id"].as_str().unwrap().to_owned();
    let b_ids = [b_integration.clone(), b.user.clone(), b_staff.user.clone(), b.workspace.to_string()];
    let unknown = "0190aaaa-bbbb-7ccc-8ddd-eeeeffff0000";
    let before = app.row_counts().await;
    let cases: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::GET, "/v1/integrations/{}", None),
        (Method::PATCH, "/v1/integrations/{}", Some(json!({"mode": "live"}))),
        (Method::DELETE, "/v1/integrations/{}", None),
        (Method::DELETE, "/v1/users/{}", None),
        (Method::DELETE, "/v1/keys/{}", None),
        (Method::DELETE, "/v1/auth/sessions/{}", None),
    ];
    for (method, template, body) in cases {
        let target = if template.contains("users") { b_staff.user.clone() } else { b_integration.clone() };
        let theirs = app.api(method.clone(), &template.replace("{}", &target), Some(&a.token), body.as_ref()).await;
        let nothing = app.api(method.clone(), &template.replace("{}", unknown), Some(&a.token), body.as_ref()).await;
        assert_problem(&theirs, 404, "not_found");
        assert_eq!(theirs.body, nothing.body, "{method} {template}: B's id is told apart from no id");
    }
    assert_eq!(app.row_counts().await, before, "nothing changed");
    for path in
        ["/v1/integrations", "/v1/users", "/v1/keys", "/v1/auth/sessions", "/v1/me", "/v1/workspace", "/v1/onboarding"]
    {
        let seen = app.api(Method::GET, path, Some(&a.token), None).await;
        assert_eq!(seen.status, 200, "{path}");
        let text = seen.body.to_string();
        for id in &b_ids {
            assert!(!text.contains(id.as_str()), "{path} shows B's id {id}: {text}");
        }
    }
    // B's integration is as it was.
    let still = app.api(Method::GET, &format!("/v1/integrations/{b_integration}"), Some(&b.token), None).await;
    assert_eq!(still.status, 200);
    assert_eq!(still.body["mode"], "sandbox");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn twenty_concurrent_identical_posts_with_one_idempotency_key_create_one_integration(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let studio = app.owner("Iron Temple", "owner@iron.example").await;
    let body = sandbox_twilio("+15550001111");
    let key = [("idempotency-key", "\"create-twilio-1\"")];
    let replies = futures::future::join_all(
        (0..20).map(|_| app.api_with(Method::POST, "/v1/integrations", Some(&studio.token), Some(&body), &key)),
    )
    .await;
    let created: Vec<&ApiReply> = replies.iter().filter(|r| r.status == 201).collect();
    assert!(!created.is_empty(), "{replies:?}");
    for r in &replies {
        assert!(r.status == 201 || r.status == 409, "{r:?}");
        if r.status == 409 {
            assert_problem(r, 409, "idempotency_key_in_use");
        }
    }
    let id = created[0].body["id"].clone();
    assert!(created.iter().all(|r| r.body["id"] == id), "every 201 names the one integration");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM integrations").fetch_one(&owner).await.unwrap();
    assert_eq!(count, 1);
    let routes: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_routes").fetch_one(&owner).await.unwrap();
    assert_eq!(routes, 1);
    // A retry after it finished replays the first answer.
    let replay = app.api_with(Method::POST, "/v1/integrations", Some(&studio.token), Some(&body), &key).await;
    assert_eq!(replay.status, 201);
    assert_eq!(replay.body, created[0].body);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    // Key order and whitespace do not make another body; another value does.
    let mut reordered = serde_json::Map::new();
    for (k, v) in body.as_object().unwrap().iter().rev() {
        reordered.insert(k.clone(), v.clone());
    }
    let same = app
        .api_with(Method::POST, "/v1/integrations", Some(&studio.token), Some(&Value::Object(reordered)), &key)
        .await;
    assert_eq!(same.status, 201);
    let other = app
        .api_with(Method::POST, "/v1/integrations", Some(&studio.token), Some(&sandbox_twilio("+15550009999")), &key)
        .await;
    assert_problem(&other, 422, "idempotency_key_reused");
    // The key is the credential's: another session of the same user does not share it.
    let laptop = sign_in(&app, "owner@iron.example").await;
    let elsewhere = app.api_with(Method::POST, "/v1/integrations", Some(&laptop), Some(&body), &key).await;
    assert_problem(&elsewhere, 409, "conflict");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_api_key_is_shown_once_stored_hashed_and_sealed_in_its_idempotent_replay(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let studio = app.owner("Iron Temple", "owner@iron.example").await;
    let key_header = [("idempotency-key", "key-1")];
    let body = json!({ "name": "zapier" });
    let created = app.api_with(Method::POST, "/v1/keys", Some(&studio.token), Some(&body), &key_header).await;
    assert_eq!(created.status, 201);
    let key = created.body["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("fd_live_") && key.starts_with(created.body["prefix"].as_str().unwrap()));
    let listed = app.api(Method::GET, "/v1/keys", Some(&studio.token), None).await;
    assert!(!listed.body.to_string().contains(&key));
    assert_eq!(listed.body[0]["role"], "staff");
    assert!(listed.body[0]["last_used_at"].is_null());
    assert_eq!(app.api(Method::GET, "/v1/me", Some(&key), None).await.body["credential"], "api_key");
    let listed = app.api(Method::GET, "/v1/keys", Some(&studio.token), None).await;
    assert!(listed.body[0]["last_used_at"].is_string(), "last use is recorded");
    let replay = app.api_with(Method::POST, "/v1/keys", Some(&studio.token), Some(&body), &key_header).await;
    assert_eq!(replay.body["key"], key.as_str(), "the replay is the first answer");
    // A key cannot mint keys, nor see or end its user's sessions.
    assert_problem(&app.api(Method::POST, "/v1/keys", Some(&key), Some(&body)).await, 403, "forbidden");
    assert_problem(&app.api(Method::GET, "/v1/auth/sessions", Some(&key), None).await, 403, "forbidden");
    assert_problem(&app.api(Method::POST, "/v1/auth/logout", Some(&key), None).await, 400, "bad_request");
    let dump: String = sqlx::query_scalar(
        "SELECT string_agg(t::text, ' ') FROM (SELECT * FROM api_keys) t, (SELECT * FROM idempotency_keys) i",
    )
    .fetch_one(&owner)
    .await
    .unwrap();
    let sealed: Vec<u8> =
        sqlx::query_scalar("SELECT response_ciphertext FROM idempotency_keys").fetch_one(&owner).await.unwrap();
    assert!(!dump.contains(&key[8..]), "the key is stored in clear");
    assert!(!String::from_utf8_lossy(&sealed).contains(&key[8..]), "the replay is stored in clear");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn invitations_go_through_the_studios_smtp_and_without_one_the_problem_says_what_to_do(owner: PgPool) {
    let app = TestApp::spawn(&owner).await;
    let studio = app.owner("Iron Temple", "owner@iron.example").await;
    let invite = json!({ "email": "coach@iron.example", "name": "Coach", "role": "staff" });
    let before = app.row_counts().await;
    let refused = app.api(Method::POST, "/v1/users", Some(&studio.token), Some(&invite)).await;
    assert_problem(&refused, 409, "email_not_configured");
    assert!(refused.body["detail"].as_str().unwrap().contains("smtp integration"), "{refused:?}");
    assert_eq!(app.row_counts().await, before, "no user without an invitation");

    let login = Login { username: "mailer".into(), password: "smtp-password-1".into() };
    let smtp = SmtpServer::start_with_login(login).await;
    let integration = json!({
        "provider": "smtp", "host": "127.0.0.1", "port": smtp.port, "security": "none",
        "username": "mailer", "password": "smtp-password-1", "from": "Iron Temple <hello@iron.example>",
    });
    let connected = app.api(Method::POST, "/v1/integrations", Some(&studio.token), Some(&integration)).await;
    assert_eq!(connected.status, 201, "{connected:?}");
    assert_eq!(connected.body["check"]["status"], "passed");
    assert_eq!(connected.body["credential_last4"], "rd-1");
    assert!(!connected.body.to_string().contains("smtp-password-1"));

    let invited = app.api(Method::POST, "/v1/users", Some(&studio.token), Some(&invite)).await;
    assert_eq!(invited.status, 201, "{invited:?}");
    assert_eq!(invited.body["sent_via"], "workspace_smtp");
    assert_eq!(invited.body["user"]["active"], false);
    let mail = smtp.received().into_iter().find(|m| m.rcpt.iter().any(|r| r.contains("coach@iron.example"))).unwrap();
    let token =
        mail.data.split_whitespace().find_map(|w| w.trim_matches(['"', ',']).strip_prefix("fd_invite_")).unwrap();
    let token = format!("fd_invite_{}", token.trim_matches(['"', ',', '}', '\'']));
    let accepted = app
        .api(Method::POST, "/v1/auth/invitations/accept", None, Some(&json!({"token": token, "password": PASSWORD})))
        .await;
    assert_eq!(accepted.status, 201, "{accepted:?}");
    assert_eq!(accepted.body["user"]["role"], "staff");
    let again = app
        .api(Method::POST, "/v1/auth/invitations/accept", None, Some(&json!({"token": token, "password": PASSWORD})))
        .await;
    assert_problem(&again, 401, "invalid_credentials");
    let coach = accepted.body["token"].as_str().unwrap().to_owned();
    assert_eq!(app.api(Method::GET, "/v1/me", Some(&coach), None).await.status, 200);
    // Removing the user ends their session at once.
    let id = accepted.body["user"]["id"].as_str().unwrap();
    assert_eq!(app.api(Method::DELETE, &format!("/v1/users/{id}"), Some(&studio.token), None).await.status, 204);
    assert_eq!(app.api(Method::GET, "/v1/me", Some(&coach), None).await.status, 401);
    // A wrong SMTP password fails the live check and stores nothing.
    let wrong =
        json!({ "host": "127.0.0.1", "port": smtp.port, "security": "none", "username": "mailer", "password": "nope" });
    let id = connected.body["id"].as_str().unwrap();
    let before = app.row_counts().await;
    let checked = app.api(Method::PATCH, &format!("/v1/integrations/{id}"), Some(&studio.token), Some(&wrong)).await;
    assert_problem(&checked, 422, "integration_check_failed");
    assert!(!checked.body.to_string().contains("nope"));
    assert_eq!(app.row_counts().await, before);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_platform_smtp_server_carries_invitations_of_studios_without_their_own(owner: PgPool) {
    let smtp = SmtpServer::start().await;
    let url = format!("smtp+plain://127.0.0.1:{}", smtp.port);
    let app = TestApp::spawn_configured(&owner, &redis_url(), |c| {
        c.smtp_url = Some(url);
        c.smtp_from = Some("frontdesk <no-reply@frontdesk.test>".into());
    })
    .await;
    let studio = app.owner("Iron Temple", "owner@iron.example").await;
    let invited =
        app.api(Method::POST, "/v1/users", Some(&studio.token), Some(&json!({"email": "Coach@Iron.example"}))).await;
    assert_eq!(invited.status, 201, "{invited:?}");
    assert_eq!(invited.body["sent_via"], "platform_smtp");
    assert_eq!(invited.body["user"]["email"], "coach@iron.example");
    assert!(smtp.received().iter().any(|m| m.data.contains("fd_invite_")));
    // The email is unique platform-wide.
    let other = app.owner("Other Studio", "owner@other.example").await;
    let taken =
        app.api(Method::POST, "/v1/users", Some(&other.token), Some(&json!({"email": "coach@iron.example"}))).await;
    assert_problem(&taken, 409, "conflict");
}
