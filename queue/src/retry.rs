//! Backoff between attempts. The delay is computed by the worker that saw the
//! failure and applied in Redis by moving the job to the scheduled set, so a
//! job waiting to retry never holds a worker slot.

use std::time::Duration;

use rand::Rng;

/// Exponential backoff with jitter: attempt `n` (1-based) waits
/// `min(base * factor^(n-1), max)`, scaled by a random factor in
/// `[1 - jitter, 1 + jitter]`.
#[derive(Clone, Debug)]
pub struct Backoff {
    pub base: Duration,
    pub factor: f64,
    pub max: Duration,
    /// Fraction in `[0, 1]`.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { base: Duration::from_secs(1), factor: 2.0, max: Duration::from_secs(3600), jitter: 0.2 }
    }
}

impl Backoff {
    /// Delay before the attempt following failed attempt `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self.factor.powi(attempt.saturating_sub(1).min(63) as i32);
        let nominal = (self.base.as_secs_f64() * exp).min(self.max.as_secs_f64());
        let jitter = self.jitter.clamp(0.0, 1.0);
        let scale = if jitter > 0.0 { rand::rng().random_range(1.0 - jitter..=1.0 + jitter) } else { 1.0 };
        Duration::from_secs_f64((nominal * scale).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_within_the_jitter_band_and_stop_at_max() {
        let b =
            Backoff { base: Duration::from_millis(100), factor: 2.0, max: Duration::from_millis(1000), jitter: 0.25 };
        for _ in 0..200 {
            for (attempt, nominal) in [(1, 100.0), (2, 200.0), (3, 400.0), (5, 1000.0), (30, 1000.0)] {
                let d = b.delay(attempt).as_secs_f64() * 1000.0;
                assert!(d >= nominal * 0.75 - 1e-6 && d <= nominal * 1.25 + 1e-6, "{attempt}: {d}");
            }
        }
    }
}
