//! Provider rate limits per (workspace, provider key), shared by every worker
//! process through Redis. The check runs when the backend is about to hand a
//! job to a free worker slot: a job over its limit is postponed in Redis to
//! when a start will be free, and the slot takes the next job instead.
//!
//! The limiter is a sliding-window log rather than a token bucket: "at most
//! `max` admissions in any window of `per`" holds for every window, where a
//! bucket allows a burst on top of the rate at window edges.
//!
//! A job over the limit is promised a start: the next free one behind a
//! cursor, spaced by the window widened by `per / 20` (at most 50 ms). That
//! margin is slack for timing: a new job is checked against the widened
//! window, so its handler start, which trails admission by a scheduling
//! delay, stays within the limit too; a job back for its promise is checked
//! against the bare window, so the margin absorbs a predecessor that started
//! a few ms late and a backlog runs at `max / (per + margin)`, deferred once
//! per job and in order. Its handler start then has less slack: admissions
//! stay `per` apart, handler starts only about that. A job whose predecessor
//! started later than the margin keeps its promise and comes back when the
//! bare window frees.
//!
//! An urgent job (a missed-call text-back) has its own cursor from the next
//! free start, not behind the campaign, and starts promised to urgent jobs
//! count as taken for ordinary ones: the campaign job due at that start is
//! promised another at the end of the line (one job moves, not every one
//! behind it). A promise overdue by more than a window stops holding a start
//! for others, and lapses a lease after its start.

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
/// has room. A start promised to a deferred job is kept for `grace` (a
/// lease) after it falls due.
pub(crate) async fn admit(
    mut conn: ConnectionManager,
    namespace: &str,
    workspace: &str,
    limit: &RateLimit,
    job_id: &str,
    member: &str,
    grace: std::time::Duration,
) -> Result<Admission, QueueError> {
    let [log, cursor, urgent_cursor, urgent_promised, promised] =
        keys::rate_limit_keys(namespace, workspace, &limit.key);
    let (granted, at): (i64, u64) = scripts::RATE_LIMIT
        .key(log)
        .key(cursor)
        .key(urgent_cursor)
        .key(urgent_promised)
        .key(promised)
        .arg(limit.max.max(1))
        .arg(ms(limit.per).max(1))
        .arg(member)
        .arg(if limit.urgent { "1" } else { "" })
        .arg(job_id)
        .arg(ms(grace).max(1))
        .invoke_async(&mut conn)
        .await?;
    Ok(if granted == 1 { Admission::Granted } else { Admission::RetryAt(at) })
}
