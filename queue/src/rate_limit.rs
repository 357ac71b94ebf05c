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
//!
//! Deferred jobs are spread one start apart behind a cursor, so a campaign of
//! N sends is deferred once each, not retried N times. An urgent job (a
//! missed-call text-back) has its own cursor and is deferred to the next
//! free start, not behind the campaign; until it has started, ordinary jobs
//! count it as a start already taken, so the campaign job that was due at
//! that start is deferred again, to the end of the line.

use redis::aio::ConnectionManager;

use crate::{QueueError, config::ms, keys, scripts};

pub use frontdesk_jobs::RateLimit;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    Granted,
    /// Try again at this Redis time (ms since the epoch).
    RetryAt(u64),
}

/// Records a start for `member` (this delivery of `job_id`) if the window
/// has room.
pub(crate) async fn admit(
    mut conn: ConnectionManager,
    namespace: &str,
    workspace: &str,
    limit: &RateLimit,
    job_id: &str,
    member: &str,
) -> Result<Admission, QueueError> {
    let [log, cursor, urgent_cursor, urgent_waiting] = keys::rate_limit_keys(namespace, workspace, &limit.key);
    let (granted, at): (i64, u64) = scripts::RATE_LIMIT
        .key(log)
        .key(cursor)
        .key(urgent_cursor)
        .key(urgent_waiting)
        .arg(limit.max.max(1))
        .arg(ms(limit.per).max(1))
        .arg(member)
        .arg(if limit.urgent { "1" } else { "" })
        .arg(job_id)
        .invoke_async(&mut conn)
        .await?;
    Ok(if granted == 1 { Admission::Granted } else { Admission::RetryAt(at) })
}
