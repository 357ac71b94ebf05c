//! Request limits that hold across api replicas: a fixed-window counter per
//! (bucket, subject) in Redis, under the deployment's queue namespace. One
//! script call per request: INCR, and on the window's first hit PEXPIRE;
//! it returns the count and the window's remaining time, which becomes
//! `Retry-After`.

use std::time::Duration;

use redis::{Script, aio::ConnectionManager};

use crate::ApiError;

/// A Redis round trip that takes longer than this counts as Redis being
/// down: a limit must not make every request wait for a dead server.
const TIMEOUT: Duration = Duration::from_millis(300);

const WINDOW_SCRIPT: &str = r"
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {count, ttl}
";

/// One limit: at most `max` hits per `window`.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub max: u32,
    pub window: Duration,
}

/// What happens when Redis cannot be asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenDown {
    /// Serve the request (the API stays up; the limit is a courtesy).
    Allow,
    /// Refuse with 503 (sign-in: an unbounded password-guessing window is worse).
    Refuse,
}

#[derive(Clone)]
pub struct RateLimiter {
    conn: ConnectionManager,
    namespace: String,
    script: Script,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter").field("namespace", &self.namespace).finish_non_exhaustive()
    }
}

impl RateLimiter {
    pub fn new(conn: ConnectionManager, namespace: &str) -> Self {
        Self { conn, namespace: namespace.to_owned(), script: Script::new(WINDOW_SCRIPT) }
    }

    /// Counts one hit of `subject` in `bucket`; `Err(RateLimited)` once over.
    /// `subject` must not be personal data in clear (callers hash emails).
    pub async fn check(&self, bucket: &str, subject: &str, limit: Limit, when_down: WhenDown) -> Result<(), ApiError> {
        let key = format!("{}:ratelimit:{bucket}:{subject}", self.namespace);
        let window_ms = u64::try_from(limit.window.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut conn = self.conn.clone();
        let mut invocation = self.script.key(&key);
        invocation.arg(window_ms);
        let call = invocation.invoke_async::<(u64, i64)>(&mut conn);
        match tokio::time::timeout(TIMEOUT, call).await {
            Ok(Ok((count, ttl_ms))) if count > u64::from(limit.max) => {
                let retry_after = u64::try_from(ttl_ms).unwrap_or(0).div_ceil(1000).max(1);
                Err(ApiError::RateLimited { retry_after })
            }
            Ok(Ok(_)) => Ok(()),
            failed => {
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out".to_owned(),
                };
                tracing::warn!(bucket, error = %why, "rate limit check failed: Redis unavailable");
                match when_down {
                    WhenDown::Allow => Ok(()),
                    WhenDown::Refuse => Err(ApiError::Unavailable(format!("rate limiter: {why}").into())),
                }
            }
        }
    }
}
