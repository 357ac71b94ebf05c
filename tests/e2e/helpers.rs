use std::{
    future::Future,
    process::Stdio,
    time::{Duration, Instant},
};

use frontdesk_app::{App, Config};
use frontdesk_domain::Phone;
use frontdesk_jobs::{Jobs, MessageId, WorkspaceId, queue};
use frontdesk_queue::RedisQueue;
use frontdesk_store::{
    Db, leads,
    leads::NewLead,
    messages::{self, Channel, NewInbound},
    vault::MasterKeys,
    workspaces::{self, NewWorkspace},
};
use sqlx::PgPool;
use tokio::process::{Child, Command};

pub const PUBLIC_URL: &str = "https://hooks.frontdesk.test";
pub const META_APP_SECRET: &str = "meta-app-secret";
pub const WHATSAPP_VERIFY_TOKEN: &str = "verify-me";
pub const STRIPE_SECRET: &str = "whsec_frontdesk_test";
pub const MAILGUN_KEY: &str = "mailgun-signing-key";
/// How long a drain may take before the test fails naming what is stuck.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(60);
/// Nothing listens here: a provider the test did not fake is unreachable.
const UNREACHABLE: &str = "http://127.0.0.1:9";

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A phone number for test data (fixtures are always well formed).
pub fn phone(e164: &str) -> Phone {
    Phone::from_e164(e164).expect("test numbers are E.164")
}

/// The test's own database, Redis namespace and configuration, and the app
/// built from it. Everything a test runs (in-process or as a `frontdesk`
/// process) uses this configuration and differs from production only in it.
pub struct TestEnv {
    /// The database owner (bypasses RLS): for assertions across workspaces.
    pub owner: PgPool,
    pub config: Config,
    pub app: App,
    pub db: Db,
    pub jobs: Jobs,
    pub queue: RedisQueue,
}

impl TestEnv {
    pub async fn new(owner: &PgPool) -> Self {
        Self::new_with_redis(owner, &redis_url()).await
    }

    pub async fn new_with_redis(owner: &PgPool, redis: &str) -> Self {
        Self::configured(owner, redis, |_| {}).await
    }

    /// Like [`TestEnv::new`], with `tweak` applied to the configuration
    /// before the app is built (provider fakes, limits).
    pub async fn configured(owner: &PgPool, redis: &str, tweak: impl FnOnce(&mut Config)) -> Self {
        let opts = owner.connect_options();
        let database_url = format!(
            "postgres://{}@{}:{}/{}",
            opts.get_username(),
            opts.get_host(),
            opts.get_port(),
            opts.get_database().expect("test database has a name")
        );
        let prefix = format!("fdtest-{}", uuid::Uuid::new_v4().simple());
        let config = Config {
            database_url,
            db_max_connections: 4,
            redis_url: redis.to_owned(),
            queue_prefix: prefix.clone(),
            listen: "127.0.0.1:0".parse().unwrap(),
            public_url: Some(PUBLIC_URL.into()),
            master_keys: Some(MasterKeys::generate_encoded(1)),
            meta_app_secret: Some(META_APP_SECRET.into()),
            whatsapp_verify_token: Some(WHATSAPP_VERIFY_TOKEN.into()),
            stripe_webhook_secret: Some(STRIPE_SECRET.into()),
            mailgun_signing_key: Some(MAILGUN_KEY.into()),
            ai_daily_token_budget: 100_000,
            data_dir: std::env::temp_dir().join(&prefix),
            worker_concurrency: 4,
            // Status changes apply to the very next job.
            guard_cache_ms: 0,
            scheduler_tick_secs: 0.1,
            twilio_api_url: UNREACHABLE.into(),
            whatsapp_api_url: UNREACHABLE.into(),
            // The tests' SMTP server listens on 127.0.0.1.
            allow_private_smtp: true,
            // Production argon2id costs ~30 ms a hash; tests sign in often.
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            ..Config::default()
        };
        let mut config = config;
        tweak(&mut config);
        let app = App::build(config.clone()).await.expect("the test app builds");
        let (db, jobs, queue) = (app.db().clone(), app.jobs().clone(), app.queue().clone());
        Self { owner: owner.clone(), config, app, db, jobs, queue }
    }

    /// What is not done yet: per queue, jobs waiting, scheduled, retrying or
    /// in flight; and outbox entries not marked done.
    pub async fn pending(&self) -> Vec<String> {
        let mut pending = Vec::new();
        for name in queue::ALL {
            let s = self.queue.stats(name).await.unwrap();
            if s.waiting + s.scheduled + s.retrying + s.in_flight > 0 {
                pending.push(format!(
                    "{name}: {} waiting, {} scheduled, {} retrying, {} in flight",
                    s.waiting, s.scheduled, s.retrying, s.in_flight
                ));
            }
        }
        let outbox: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE done_at IS NULL")
            .fetch_one(&self.owner)
            .await
            .unwrap();
        if outbox > 0 {
            pending.push(format!("{outbox} outbox entries not done"));
        }
        pending
    }

    /// Waits until every queue is empty and every outbox entry is done, as
    /// seen from Redis and Postgres: for workers in another process, which
    /// this process cannot drain or hear from (in-process workers: `TestApp::drain`).
    pub async fn wait_until_idle(&self) {
        let started = Instant::now();
        loop {
            let pending = self.pending().await;
            if pending.is_empty() {
                return;
            }
            assert!(started.elapsed() < DRAIN_LIMIT, "still pending after {DRAIN_LIMIT:?}: {pending:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts `frontdesk <command>` as a separate process on this test's
    /// configuration. It is killed when the handle drops.
    pub fn spawn(&self, command: &str) -> Child {
        self.spawn_with(command, &[])
    }

    /// Like [`TestEnv::spawn`], with extra environment (provider URLs, timings).
    pub fn spawn_with(&self, command: &str, env: &[(&str, &str)]) -> Child {
        self.command(&[command], env).stdout(Stdio::null()).spawn().expect("spawn frontdesk")
    }

    /// Runs `frontdesk <args>` to completion on this test's configuration
    /// and returns its standard output; fails the test if it fails.
    pub async fn run(&self, args: &[&str]) -> String {
        let output = self.command(args, &[]).stdout(Stdio::piped()).stderr(Stdio::piped()).output().await.unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "frontdesk {args:?} failed: {stderr}");
        String::from_utf8(output.stdout).expect("frontdesk prints UTF-8")
    }

    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let c = &self.config;
        let keys = c.master_keys.as_deref().expect("tests set master keys");
        let mut command = Command::new(env!("CARGO_BIN_EXE_frontdesk"));
        command
            .args(args)
            .env("DATABASE_URL", &c.database_url)
            .env("REDIS_URL", &c.redis_url)
            .env("FRONTDESK_QUEUE_PREFIX", &c.queue_prefix)
            .env("FRONTDESK_DATA_DIR", &c.data_dir)
            .env("FRONTDESK_MASTER_KEYS", keys)
            .env("FRONTDESK_PUBLIC_URL", PUBLIC_URL)
            .env("FRONTDESK_LOG_FORMAT", "json")
            .env("RUST_LOG", std::env::var("TEST_LOG").map(|_| "debug").unwrap_or("warn"))
            .env("FRONTDESK_ARGON2_MEMORY_KIB", c.argon2_memory_kib.to_string())
            .env("FRONTDESK_ARGON2_ITERATIONS", c.argon2_iterations.to_string())
            .envs(env.iter().copied())
            .stderr(if std::env::var("TEST_LOG").is_ok() { Stdio::inherit() } else { Stdio::null() })
            .kill_on_drop(true);
        command
    }
}

pub struct Studio {
    pub id: WorkspaceId,
    pub message: MessageId,
}

pub async fn studio(db: &Db, name: &str) -> Studio {
    let id =
        workspaces::create(db, &NewWorkspace { name: name.into(), timezone: "America/Chicago".into() }).await.unwrap();
    let mut tx = db.tenant(id).await.unwrap();
    let lead = leads::create(
        &mut tx,
        &NewLead { phone: Some(phone("+13125550100")), source: "sms".into(), ..NewLead::default() },
    )
    .await
    .unwrap();
    let message = messages::insert_inbound(
        &mut tx,
        &NewInbound {
            lead_id: lead,
            channel: Channel::Sms,
            body: "How much is a membership?".into(),
            provider_message_id: None,
            subject: None,
            rfc_message_id: None,
            body_truncated: false,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    Studio { id, message }
}

/// Polls `check` until it returns true or `limit` passes. Only for what a
/// test cannot drain: an effect of a worker in another process, or a fake
/// provider receiving a request while the test holds it.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// A Redis server of the test's own, on a free port, so a test can stop and
/// restart it without disturbing the shared one other tests use.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut redis = Self { port, child: None };
        redis.restart().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub async fn restart(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/dev-services installs it)");
        self.child = Some(child);
        let url = self.url();
        let up = eventually(Duration::from_secs(10), || {
            let url = url.clone();
            async move {
                let Ok(client) = redis::Client::open(url) else { return false };
                let Ok(mut conn) = client.get_multiplexed_async_connection().await else { return false };
                redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok()
            }
        })
        .await;
        assert!(up, "private redis-server did not start on port {}", self.port);
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
