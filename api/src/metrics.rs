//! Webhook counters; `/metrics` exports them.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Debug, Default)]
pub struct WebhookMetrics {
    pub accepted: AtomicU64,
    pub duplicates: AtomicU64,
    pub bad_signature: AtomicU64,
    pub unroutable: AtomicU64,
}

impl WebhookMetrics {
    pub fn accepted(&self) {
        self.accepted.fetch_add(1, Relaxed);
    }
    pub fn duplicate(&self) {
        self.duplicates.fetch_add(1, Relaxed);
    }
    pub fn bad_signature(&self) {
        self.bad_signature.fetch_add(1, Relaxed);
    }
    pub fn unroutable(&self) {
        self.unroutable.fetch_add(1, Relaxed);
    }
}
