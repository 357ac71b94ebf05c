//! Turning a studio's wall-clock time into a real instant, across DST.

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The earliest real instant whose local time is `local` or later: in a
/// spring-forward gap the wall clock jumps past `local`, so the first
/// instant after the gap is used; in a fall-back overlap, the earlier one.
pub fn resolve(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let mut candidate = local;
    for _ in 0..=180 {
        match tz.from_local_datetime(&candidate) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(earlier, _) => return earlier.with_timezone(&Utc),
            LocalResult::None => candidate += Duration::minutes(1),
        }
    }
    // No timezone has a gap over three hours; fall back to reading it as UTC.
    Utc.from_utc_datetime(&local)
}

/// Like [`resolve`], but never at or before `after`: when `local` happens
/// twice (fall-back) and its first occurrence is already past, the second.
pub fn resolve_after(tz: Tz, local: NaiveDateTime, after: DateTime<Utc>) -> DateTime<Utc> {
    if let LocalResult::Ambiguous(earlier, later) = tz.from_local_datetime(&local) {
        let earlier = earlier.with_timezone(&Utc);
        return if earlier > after { earlier } else { later.with_timezone(&Utc) };
    }
    resolve(tz, local)
}
