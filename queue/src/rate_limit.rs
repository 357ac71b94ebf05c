//! Provider rate limits per (workspace, provider key), shared by every worker
//! process through Redis. The check runs when the backend is about to hand a
//! job to a free worker slot: a job over its limit is postponed in Redis to
//! when a start will be free, and the slot takes the next job instead.
//!
//! The limiter is a sliding-window log rather than a token bucket: "at most
//! `max` starts in any window of `per`" holds for every window, where a bucket
//! allows a burst on top of the rate at window edges. The window is widened by
//! `per / 20` (at most 50 ms) so handler start times, which trail admission
//! by a scheduling delay, stay within the limit too.

use redis::aio::ConnectionManager;

use crate::{QueueError, config::ms, keys, scripts};

pub use frontdesk_jobs::RateLimit;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    Granted,
    /// Try again at this Redis time (ms since the epoch).
    RetryAt(u64),
}

/// Records a start for `member` if the window has room.
pub(crate) async fn admit(
    mut conn: ConnectionManager,
    namespace: &str,
    workspace: &str,
    limit: &RateLimit,
    member: &str,
) -> Result<Admission, QueueError> {
    let (log, cursor) = keys::rate_limit_keys(namespace, workspace, &limit.key);
    let (granted, at): (i64, u64) = scripts::RATE_LIMIT
        .key(log)
        .key(cursor)
        .arg(limit.max.max(1))
        .arg(ms(limit.per).max(1))
        .arg(member)
        .invoke_async(&mut conn)
        .await?;
    Ok(if granted == 1 { Admission::Granted } else { Admission::RetryAt(at) })
}
