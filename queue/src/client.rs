use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::{
    QueueConfig, QueueError,
    keys::{QueueKeys, queue_registry},
    notify::Notifier,
};

/// The handle to the queue: producer ([`frontdesk_jobs::JobQueue`]), worker
/// backend factory, stats and dead-set operations. Cheap to clone; create one
/// per process.
#[derive(Clone, Debug)]
pub struct RedisQueue {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) conn: ConnectionManager,
    pub(crate) config: QueueConfig,
    pub(crate) notifier: Notifier,
    /// Queues this process has added to the namespace's registry.
    pub(crate) registered: Mutex<HashSet<String>>,
}

impl RedisQueue {
    /// Connects; the connection manager reconnects on its own afterwards, so a
    /// Redis restart costs failed calls, never a dead worker.
    pub async fn connect(redis_url: &str, config: QueueConfig) -> Result<Self, QueueError> {
        config.validate()?;
        let client = redis::Client::open(redis_url)?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(10)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let conn = client.get_connection_manager_with_config(manager_config).await?;
        let notifier = Notifier::spawn(client, &config.namespace);
        Ok(Self { inner: Arc::new(Inner { conn, config, notifier, registered: Mutex::default() }) })
    }

    pub fn config(&self) -> &QueueConfig {
        &self.inner.config
    }

    /// A handle on the queue's Redis connection, for other short-lived
    /// counters of this deployment (the api's rate limits) that live under
    /// the same namespace.
    pub fn connection(&self) -> ConnectionManager {
        self.inner.conn.clone()
    }

    pub(crate) fn conn(&self) -> ConnectionManager {
        self.inner.conn.clone()
    }

    pub(crate) fn keys(&self, queue: &str) -> QueueKeys {
        QueueKeys::new(&self.inner.config.namespace, queue)
    }

    /// Adds the queue to the namespace's registry once per process (one
    /// SADD, in the registry's own slot).
    pub(crate) async fn register_queue(&self, queue: &str) -> Result<(), QueueError> {
        if !self.inner.registered.lock().expect("registry memo poisoned").insert(queue.to_owned()) {
            return Ok(());
        }
        let added: Result<i64, _> = redis::cmd("SADD")
            .arg(queue_registry(&self.inner.config.namespace))
            .arg(queue)
            .query_async(&mut self.conn())
            .await;
        if let Err(e) = added {
            self.inner.registered.lock().expect("registry memo poisoned").remove(queue);
            return Err(e.into());
        }
        Ok(())
    }

    /// The namespace's queues (those pushed to or worked on), sorted by name.
    pub async fn queue_names(&self) -> Result<Vec<String>, QueueError> {
        let mut names: Vec<String> = redis::cmd("SMEMBERS")
            .arg(queue_registry(&self.inner.config.namespace))
            .query_async(&mut self.conn())
            .await?;
        names.sort();
        Ok(names)
    }
}
