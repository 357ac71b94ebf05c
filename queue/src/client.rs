use std::{sync::Arc, time::Duration};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::{QueueConfig, QueueError, keys::QueueKeys, notify::Notifier};

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
        Ok(Self { inner: Arc::new(Inner { conn, config, notifier }) })
    }

    pub fn config(&self) -> &QueueConfig {
        &self.inner.config
    }

    pub(crate) fn conn(&self) -> ConnectionManager {
        self.inner.conn.clone()
    }

    pub(crate) fn keys(&self, queue: &str) -> QueueKeys {
        QueueKeys::new(&self.inner.config.namespace, queue)
    }
}
