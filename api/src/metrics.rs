//! Webhook counters, per api process (tests read them; nothing exports
//! them yet), and the per-minute budget of rows for unroutable requests.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};

/// Unroutable requests kept as rows per minute per process. They arrive
/// before any authentication, so beyond this only the counter moves.
const UNROUTABLE_ROWS_PER_MINUTE: u32 = 120;

#[derive(Debug, Default)]
pub struct WebhookMetrics {
    pub accepted: AtomicU64,
    pub duplicates: AtomicU64,
    pub bad_signature: AtomicU64,
    pub unroutable: AtomicU64,
    /// Accepted deliveries holding a status, type or value we do not know.
    pub not_applied: AtomicU64,
    unroutable_window: Mutex<Option<(Instant, u32)>>,
}

impl WebhookMetrics {
    pub fn accepted(&self) {
        self.accepted.fetch_add(1, Relaxed);
    }
    pub fn duplicate(&self) {
        self.duplicates.fetch_add(1, Relaxed);
    }
    pub fn not_applied(&self) {
        self.not_applied.fetch_add(1, Relaxed);
    }
    pub fn bad_signature(&self) {
        self.bad_signature.fetch_add(1, Relaxed);
    }
    /// Counts an unroutable request; true if it may also be kept as a row.
    pub fn unroutable(&self) -> bool {
        self.unroutable.fetch_add(1, Relaxed);
        let mut window = self.unroutable_window.lock().expect("metrics lock poisoned");
        let now = Instant::now();
        match &mut *window {
            Some((start, n)) if now.duration_since(*start) < Duration::from_secs(60) => {
                *n += 1;
                *n <= UNROUTABLE_ROWS_PER_MINUTE
            }
            _ => {
                *window = Some((now, 1));
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unroutable_requests_keep_rows_only_up_to_the_per_minute_share() {
        let metrics = WebhookMetrics::default();
        let kept = (0..UNROUTABLE_ROWS_PER_MINUTE + 30).filter(|_| metrics.unroutable()).count();
        assert_eq!(kept, UNROUTABLE_ROWS_PER_MINUTE as usize);
        assert_eq!(metrics.unroutable.load(Relaxed), u64::from(UNROUTABLE_ROWS_PER_MINUTE) + 30, "all are counted");
    }
}
