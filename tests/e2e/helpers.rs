use std::{
    future::Future,
    process::Stdio,
    time::{Duration, Instant},
};

use frontdesk_jobs::{Jobs, MessageId, WorkspaceId};
use frontdesk_queue::{QueueConfig, RedisQueue};
use frontdesk_store::{
    Db, leads,
    leads::NewLead,
    messages::{self, Channel, NewInbound},
    runtime_options,
    workspaces::{self, NewWorkspace},
};
use sqlx::PgPool;
use tokio::process::{Child, Command};

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The test's own database and Redis namespace, and handles onto both.
pub struct TestEnv {
    pub db: Db,
    pub database_url: String,
    pub prefix: String,
    pub jobs: Jobs,
    pub queue: RedisQueue,
    pub redis: String,
    data_dir: std::path::PathBuf,
}

impl TestEnv {
    pub async fn new(owner: &PgPool) -> Self {
        Self::new_with_redis(owner, &redis_url()).await
    }

    pub async fn new_with_redis(owner: &PgPool, redis: &str) -> Self {
        let opts = owner.connect_options();
        let database_url = format!(
            "postgres://{}@{}:{}/{}",
            opts.get_username(),
            opts.get_host(),
            opts.get_port(),
            opts.get_database().expect("test database has a name")
        );
        let db = Db::connect_with(runtime_options(opts.as_ref()), 4).await.unwrap();
        let prefix = format!("fdtest-{}", uuid::Uuid::new_v4().simple());
        let queue = RedisQueue::connect(redis, QueueConfig::default().namespace(prefix.clone())).await.unwrap();
        let data_dir = std::env::temp_dir().join(&prefix);
        Self {
            db,
            database_url,
            prefix: prefix.clone(),
            jobs: Jobs::new(queue.clone()),
            queue,
            redis: redis.to_owned(),
            data_dir,
        }
    }

    /// Starts `frontdesk <command>` as a separate process on this test's
    /// database and Redis namespace. It is killed when the handle drops.
    pub fn spawn(&self, command: &str) -> Child {
        self.spawn_with(command, &[])
    }

    /// Like [`TestEnv::spawn`], with extra environment (provider URLs, keys).
    pub fn spawn_with(&self, command: &str, env: &[(&str, &str)]) -> Child {
        Command::new(env!("CARGO_BIN_EXE_frontdesk"))
            .arg(command)
            .envs(env.iter().copied())
            .env("DATABASE_URL", &self.database_url)
            .env("REDIS_URL", &self.redis)
            .env("FRONTDESK_QUEUE_PREFIX", &self.prefix)
            .env("FRONTDESK_DATA_DIR", &self.data_dir)
            .env("FRONTDESK_LOG_FORMAT", "json")
            .env("RUST_LOG", std::env::var("TEST_LOG").map(|_| "debug").unwrap_or("warn"))
            .stdout(Stdio::null())
            .stderr(if std::env::var("TEST_LOG").is_ok() { Stdio::inherit() } else { Stdio::null() })
            .kill_on_drop(true)
            .spawn()
            .expect("spawn frontdesk")
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
        &NewLead { phone: Some("+13125550100".into()), source: "sms".into(), ..NewLead::default() },
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
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    Studio { id, message }
}

/// Polls `check` until it returns true or `limit` passes.
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
