//! Prompt wake-up of idle workers. One pub/sub connection per process
//! pattern-subscribes to every queue's notify channel in the namespace; a
//! message bumps that queue's [`Signal`], waking the backends parked on it.
//! Pub/sub is lossy across reconnects, so every reconnect wakes everyone and
//! idle workers also re-check Redis every `idle_poll` as a safety net.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures::StreamExt;
use tokio::{sync::Notify, task::JoinHandle};

#[derive(Debug, Default)]
pub(crate) struct Signal {
    generation: AtomicU64,
    notify: Notify,
}

impl Signal {
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.notify.notify_waiters();
    }

    /// Returns when the signal moves past `seen` or after `timeout`.
    pub(crate) async fn wait(self: Arc<Self>, seen: u64, timeout: Duration) {
        let notified = self.notify.notified();
        tokio::pin!(notified);
        // Registered before the generation check, so a bump in between is not lost.
        notified.as_mut().enable();
        if self.generation() != seen {
            return;
        }
        let _ = tokio::time::timeout(timeout, notified).await;
    }
}

#[derive(Debug, Default)]
struct Registry(Mutex<HashMap<String, Arc<Signal>>>);

impl Registry {
    fn get(&self, channel: &str) -> Arc<Signal> {
        let mut map = self.0.lock().expect("signal registry poisoned");
        map.entry(channel.to_owned()).or_default().clone()
    }

    fn bump(&self, channel: &str) {
        let signal = self.0.lock().expect("signal registry poisoned").get(channel).cloned();
        if let Some(signal) = signal {
            signal.bump();
        }
    }

    fn bump_all(&self) {
        let all: Vec<_> = self.0.lock().expect("signal registry poisoned").values().cloned().collect();
        all.iter().for_each(|s| s.bump());
    }
}

#[derive(Debug)]
pub(crate) struct Notifier {
    registry: Arc<Registry>,
    task: JoinHandle<()>,
}

impl Notifier {
    pub(crate) fn spawn(client: redis::Client, namespace: &str) -> Self {
        let registry = Arc::new(Registry::default());
        let pattern = format!("{{{namespace}:*}}:notify");
        let task = tokio::spawn(listen(client, pattern, registry.clone()));
        Self { registry, task }
    }

    pub(crate) fn signal(&self, channel: &str) -> Arc<Signal> {
        self.registry.get(channel)
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn listen(client: redis::Client, pattern: String, registry: Arc<Registry>) {
    let mut delay = Duration::from_millis(50);
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.psubscribe(&pattern).await {
                Ok(()) => {
                    delay = Duration::from_millis(50);
                    // Anything published while we were away was missed.
                    registry.bump_all();
                    let mut messages = pubsub.on_message();
                    while let Some(msg) = messages.next().await {
                        registry.bump(msg.get_channel_name());
                    }
                    tracing::warn!("queue notify subscription ended; reconnecting");
                }
                Err(e) => tracing::warn!(error = %e, "queue notify psubscribe failed"),
            },
            Err(e) => tracing::warn!(error = %e, "queue notify connection failed"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}
