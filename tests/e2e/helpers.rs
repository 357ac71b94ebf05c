use std::{
    future::Future,
    process::Stdio,
    time::{Duration, Instant},
};

use frontdesk_jobs::{Jobs, MessageId, WorkspaceId};
use frontdesk_store::{
    Db, leads,
    leads::NewLead,
    messages::{self, Channel, NewInbound},
    runtime_options,
    workspaces::{self, NewWorkspace},
};
use frontdesk_worker::backend::RedisQueue;
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
        let queue = RedisQueue::connect(redis, &prefix).await.unwrap();
        let data_dir = std::env::temp_dir().join(&prefix);
        Self { db, database_url, prefix: prefix.clone(), jobs: Jobs::new(queue), redis: redis.to_owned(), data_dir }
    }

    /// Starts `frontdesk <command>` as a separate process on this test's
    /// database and Redis namespace. It is killed when the handle drops.
    pub fn spawn(&self, command: &str) -> Child {
        Command::new(env!("CARGO_BIN_EXE_frontdesk"))
            .arg(command)
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
