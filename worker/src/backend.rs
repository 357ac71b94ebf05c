//! Interim queue backend: stock apalis-redis 1.0 behind the `JobQueue`
//! trait. It is configured around its measured defects (unique worker names,
//! `lock_tasks(false)`, an explicit poll interval) and is replaced wholesale
//! by the `queue` crate; nothing outside this module names apalis-redis.

use std::time::{Duration, SystemTime};

use apalis_core::{backend::TaskSink, task::builder::TaskBuilder};
use apalis_redis::{Config, RedisStorage};
use async_trait::async_trait;
use frontdesk_jobs::{EnqueueError, Enqueued, Envelope, Job, JobQueue, queue};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// How often an idle apalis-redis worker polls; without it a new job waits ~28 s.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Clone)]
pub struct RedisQueue {
    conn: ConnectionManager,
    prefix: String,
}

impl RedisQueue {
    /// `prefix` namespaces every key (tests use a random one each).
    pub async fn connect(redis_url: &str, prefix: &str) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(redis_url)?;
        // Fail fast while Redis is down: callers (webhooks) fall back to the
        // outbox instead of holding the provider's request open.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let conn = client.get_connection_manager_with_config(config).await?;
        Ok(Self { conn, prefix: prefix.to_owned() })
    }

    fn config(&self, queue: &str) -> Config {
        Config::default().queue(format!("{}:{queue}", self.prefix)).lock_tasks(false)
    }

    /// Jobs of `queue` not yet picked up, due or scheduled (all workspaces).
    pub async fn waiting(&self, queue: &str) -> Result<u64, redis::RedisError> {
        let mut conn = self.conn.clone();
        let config = self.config(queue);
        let (active, scheduled): (u64, u64) = redis::pipe()
            .cmd("LLEN")
            .arg(config.active_jobs_list())
            .cmd("ZCARD")
            .arg(config.scheduled_jobs_set())
            .query_async(&mut conn)
            .await?;
        Ok(active + scheduled)
    }

    /// Deletes every key under this queue's prefix (benchmarks clean up after themselves).
    pub async fn purge_namespace(&self) -> Result<(), redis::RedisError> {
        let mut conn = self.conn.clone();
        let pattern = format!("{}:*", self.prefix);
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await?;
            if !keys.is_empty() {
                redis::cmd("UNLINK").arg(&keys).query_async::<()>(&mut conn).await?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    /// The storage a worker for `J` consumes.
    pub fn storage<J: Job>(&self) -> RedisStorage<J, ConnectionManager> {
        RedisStorage::new(self.conn.clone()).with_config(self.config(J::QUEUE))
    }
}

#[async_trait]
impl JobQueue for RedisQueue {
    async fn push(&self, envelope: Envelope) -> Result<Enqueued, EnqueueError> {
        if !queue::ALL.contains(&envelope.queue) {
            return Err(EnqueueError::UnknownQueue(envelope.queue.to_owned()));
        }
        let mut storage: RedisStorage<serde_json::Value, _> =
            RedisStorage::new(self.conn.clone()).with_config(self.config(envelope.queue));
        let mut task = TaskBuilder::new(envelope.payload).max_attempts(envelope.max_attempts as usize);
        if let Some(at) = envelope.run_at {
            task = task.run_at_time(SystemTime::from(at));
        }
        if let Some(key) = &envelope.dedupe_key {
            task = task.idempotency_key(key);
        }
        storage.push_task(task.build()).await.map_err(|e| EnqueueError::Unavailable(e.to_string()))?;
        Ok(Enqueued::Created)
    }
}
