//! Migrations are explicit: `frontdesk migrate` (or `serve` on one machine)
//! applies them; `api` and `worker` never migrate, need no owner rights,
//! and refuse a schema that is behind the binary.

use std::{process::Stdio, time::Duration};

use sqlx::PgPool;
use tokio::process::Command;

use crate::helpers::{eventually, redis_url};

const MIGRATOR: &sqlx::migrate::Migrator = &frontdesk_store::MIGRATOR;

fn urls(owner: &PgPool) -> (String, String) {
    let o = owner.connect_options();
    let db = o.get_database().expect("test database has a name");
    let host = format!("{}:{}/{db}", o.get_host(), o.get_port());
    (format!("postgres://{}@{host}", o.get_username()), format!("postgres://frontdesk_app@{host}"))
}

fn frontdesk(command: &str, env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_frontdesk"));
    c.arg(command)
        .env("REDIS_URL", redis_url())
        .env("FRONTDESK_QUEUE_PREFIX", format!("fdtest-{}", uuid::Uuid::new_v4().simple()))
        .env("FRONTDESK_MASTER_KEYS", frontdesk_store::vault::MasterKeys::generate_encoded(1))
        .env("FRONTDESK_LOG_FORMAT", "json")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn ready(port: u16) -> bool {
    let url = format!("http://127.0.0.1:{port}/readyz");
    eventually(Duration::from_secs(20), || async { reqwest::get(&url).await.is_ok_and(|r| r.status().is_success()) })
        .await
}

#[sqlx::test(migrations = false)]
async fn api_and_worker_refuse_a_schema_one_migration_behind_naming_frontdesk_migrate(owner: PgPool) {
    let versions: Vec<i64> =
        MIGRATOR.iter().filter(|m| m.migration_type.is_up_migration()).map(|m| m.version).collect();
    let previous = versions[versions.len() - 2];
    MIGRATOR.run_to(previous, &owner).await.unwrap();
    let (owner_url, _) = urls(&owner);
    for command in ["api", "worker"] {
        let run = frontdesk(command, &[("DATABASE_URL", &owner_url), ("FRONTDESK_LISTEN", "127.0.0.1:0")]).output();
        let output = tokio::time::timeout(Duration::from_secs(30), run).await.expect("exits promptly").unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "`frontdesk {command}` started on a schema that is behind");
        assert!(stderr.contains("frontdesk migrate"), "`frontdesk {command}` did not name the fix: {stderr}");
    }
    // Nothing was migrated behind the operator's back.
    let applied: i64 = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations").fetch_one(&owner).await.unwrap();
    assert_eq!(applied, previous);
}

#[sqlx::test(migrations = false)]
async fn serve_migrates_a_fresh_database_and_api_then_runs_without_owner_rights(owner: PgPool) {
    let (owner_url, app_url) = urls(&owner);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut serve = frontdesk("serve", &[("DATABASE_URL", &owner_url), ("FRONTDESK_LISTEN", &listen)]).spawn().unwrap();
    assert!(ready(port).await, "serve did not come up on a fresh database");
    serve.kill().await.unwrap();
    let newest = MIGRATOR.iter().map(|m| m.version).max().unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations").fetch_one(&owner).await.unwrap();
    assert_eq!(applied, newest, "serve applied every migration");

    // The owner URL points nowhere: `api` only ever logs in as frontdesk_app.
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let env = [
        ("DATABASE_URL", "postgres://nobody@127.0.0.1:1/nowhere"),
        ("FRONTDESK_APP_DATABASE_URL", app_url.as_str()),
        ("FRONTDESK_LISTEN", listen.as_str()),
    ];
    let _api = frontdesk("api", &env).spawn().unwrap();
    assert!(ready(port).await, "api needs nothing but the runtime role");
}
