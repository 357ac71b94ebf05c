//! Studio cron expressions (`0 9 * * MON`: minute, hour, day of month,
//! month, day of week, as in crontab) evaluated in the studio's timezone.
//!
//! The `cron` crate wants a seconds field and numbers Sunday as 1, where
//! crontab uses 0 (or 7) and Monday is 1; [`parse`] translates, so `1`
//! means Monday as studios expect.
//!
//! DST follows Vixie cron. A fixed-time rule (`0 9 * * MON`) is read on the
//! local wall clock: a time skipped by a spring-forward jump fires right
//! after the jump, and a time repeated by a fall-back fires once (the first
//! time). A rule with a wildcard minute or hour (`30 * * * *`) runs on real
//! time: a skipped hour has no run and a repeated hour runs again.

use std::str::FromStr;

use chrono::{DateTime, Duration, DurationRound, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use cron::Schedule;

use crate::compliance::local_time;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid cron expression {expression:?}: {reason}")]
pub struct CronError {
    pub expression: String,
    pub reason: String,
}

/// A parsed studio schedule.
#[derive(Clone, Debug)]
pub struct CronSchedule {
    schedule: Schedule,
    /// The minute or hour field is a wildcard: runs on real time.
    wildcard: bool,
}

const DAYS: [&str; 8] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];

/// Parses a 5-field crontab expression.
pub fn parse(expression: &str) -> Result<CronSchedule, CronError> {
    let error = |reason: &str| CronError { expression: expression.to_owned(), reason: reason.to_owned() };
    let fields: Vec<&str> = expression.split_whitespace().collect();
    let [minute, hour, dom, month, dow] = fields[..] else {
        return Err(error("expected 5 fields: minute hour day-of-month month day-of-week"));
    };
    let dow = crontab_days(dow).map_err(|r| error(&r))?;
    let translated = format!("0 {minute} {hour} {dom} {month} {dow}");
    let schedule = Schedule::from_str(&translated).map_err(|e| error(&e.to_string()))?;
    Ok(CronSchedule { schedule, wildcard: minute.starts_with('*') || hour.starts_with('*') })
}

/// Crontab day numbers (0 or 7 = Sunday) as names, which the `cron` crate
/// reads unambiguously. A number after `/` is a step and stays a number.
fn crontab_days(field: &str) -> Result<String, String> {
    let mut out = String::with_capacity(field.len() + 8);
    let mut number = String::new();
    let mut after_slash = false;
    fn flush(number: &mut String, out: &mut String, after_slash: bool) -> Result<(), String> {
        if number.is_empty() {
            return Ok(());
        }
        if after_slash {
            out.push_str(number);
        } else {
            let n: usize = number.parse().map_err(|_| format!("bad day of week {number:?}"))?;
            out.push_str(DAYS.get(n).ok_or_else(|| format!("day of week {n} is not 0-7"))?);
        }
        number.clear();
        Ok(())
    }
    for c in field.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        flush(&mut number, &mut out, after_slash)?;
        after_slash = c == '/';
        out.push(c);
    }
    flush(&mut number, &mut out, after_slash)?;
    Ok(out)
}

impl CronSchedule {
    /// The latest occurrence in `(since, now]` on `tz`'s wall clock, as an
    /// instant. The search starts no earlier than `horizon` before `now`, so
    /// a rule last fired long ago costs a bounded walk.
    pub fn latest_between(
        &self,
        tz: Tz,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
        horizon: Duration,
    ) -> Option<DateTime<Utc>> {
        let since = since.max(now - horizon);
        if self.wildcard {
            // Each real minute, newest first (at most `horizon` of them).
            let mut t = now.duration_trunc(Duration::minutes(1)).ok()?;
            while t > since {
                if self.schedule.includes(t.with_timezone(&tz)) {
                    return Some(t);
                }
                t -= Duration::minutes(1);
            }
            return None;
        }
        // Wall-clock times, iterated as if they were UTC (no gaps, no
        // repeats), widened by a DST jump on both sides.
        let slack = Duration::hours(3);
        let start = wall_clock(since.with_timezone(&tz).naive_local() - slack);
        let end = now.with_timezone(&tz).naive_local() + slack;
        let mut latest = None;
        for local in self.schedule.after(&start) {
            let local = local.naive_utc();
            if local > end {
                break;
            }
            let instant = local_time::resolve(tz, local);
            if instant > since && instant <= now {
                latest = Some(instant);
            }
        }
        latest
    }
}

fn wall_clock(local: NaiveDateTime) -> DateTime<Utc> {
    Utc.from_utc_datetime(&local)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn ny() -> Tz {
        "America/New_York".parse().unwrap()
    }

    const WEEK: Duration = Duration::days(8);

    #[test]
    fn monday_nine_am_follows_the_studio_clock_across_spring_forward() {
        let s = parse("0 9 * * MON").unwrap();
        // Mon 2026-03-02 09:00 EST = 14:00 UTC.
        assert_eq!(
            s.latest_between(ny(), utc("2026-02-24T00:00:00Z"), utc("2026-03-02T15:00:00Z"), WEEK),
            Some(utc("2026-03-02T14:00:00Z"))
        );
        // DST began Sun 2026-03-08: Mon 2026-03-09 09:00 EDT = 13:00 UTC.
        assert_eq!(
            s.latest_between(ny(), utc("2026-03-02T14:00:00Z"), utc("2026-03-09T13:30:00Z"), WEEK),
            Some(utc("2026-03-09T13:00:00Z"))
        );
        // Not yet 09:00 local (12:59 UTC is 08:59 EDT): no occurrence since the last one.
        assert_eq!(s.latest_between(ny(), utc("2026-03-02T14:00:00Z"), utc("2026-03-09T12:59:00Z"), WEEK), None);
    }

    #[test]
    fn crontab_day_numbers_mean_what_they_mean_in_crontab() {
        // 2026-06-15 is a Monday.
        let monday = parse("0 9 * * 1").unwrap();
        let at = monday.latest_between(Tz::UTC, utc("2026-06-12T00:00:00Z"), utc("2026-06-16T00:00:00Z"), WEEK);
        assert_eq!(at, Some(utc("2026-06-15T09:00:00Z")));
        for sunday in ["0 9 * * 0", "0 9 * * 7", "0 9 * * SUN"] {
            let at = parse(sunday).unwrap().latest_between(
                Tz::UTC,
                utc("2026-06-12T00:00:00Z"),
                utc("2026-06-16T00:00:00Z"),
                WEEK,
            );
            assert_eq!(at, Some(utc("2026-06-14T09:00:00Z")), "{sunday}");
        }
        let weekdays = parse("0 9 * * 1-5").unwrap();
        // Sat 2026-06-20 → the latest weekday run is Fri 2026-06-19.
        let at = weekdays.latest_between(Tz::UTC, utc("2026-06-12T00:00:00Z"), utc("2026-06-20T12:00:00Z"), WEEK);
        assert_eq!(at, Some(utc("2026-06-19T09:00:00Z")));
        assert_eq!(crontab_days("*/2").unwrap(), "*/2");
        assert_eq!(crontab_days("1-5,0").unwrap(), "MON-FRI,SUN");
    }

    #[test]
    fn a_time_skipped_by_spring_forward_fires_right_after_the_jump() {
        // 02:30 does not exist in New York on 2026-03-08; clocks go 01:59 EST → 03:00 EDT (07:00 UTC).
        let s = parse("30 2 * * *").unwrap();
        let at = s.latest_between(ny(), utc("2026-03-07T12:00:00Z"), utc("2026-03-08T08:00:00Z"), WEEK);
        assert_eq!(at, Some(utc("2026-03-08T07:00:00Z")));
    }

    #[test]
    fn a_time_repeated_by_fall_back_fires_once() {
        // 01:30 happens twice in New York on 2026-11-01: 05:30 UTC (EDT) and 06:30 UTC (EST).
        let s = parse("30 1 * * *").unwrap();
        let first = s.latest_between(ny(), utc("2026-10-31T12:00:00Z"), utc("2026-11-01T06:00:00Z"), WEEK);
        assert_eq!(first, Some(utc("2026-11-01T05:30:00Z")));
        // After that firing, the repeat an hour later is not another occurrence.
        let again = s.latest_between(ny(), utc("2026-11-01T05:30:00Z"), utc("2026-11-01T12:00:00Z"), WEEK);
        assert_eq!(again, None);
    }

    #[test]
    fn an_hourly_rule_runs_on_real_time_through_both_dst_changes() {
        let s = parse("30 * * * *").unwrap();
        // Spring forward: 02:30 does not exist; the runs are 01:30 EST (06:30Z) and 03:30 EDT (07:30Z).
        let at = |since, now| s.latest_between(ny(), utc(since), utc(now), WEEK);
        assert_eq!(at("2026-03-08T06:30:00Z", "2026-03-08T07:29:00Z"), None);
        assert_eq!(at("2026-03-08T06:30:00Z", "2026-03-08T07:45:00Z"), Some(utc("2026-03-08T07:30:00Z")));
        // Fall back: 01:30 happens twice and runs twice, an hour apart.
        assert_eq!(at("2026-11-01T05:00:00Z", "2026-11-01T05:45:00Z"), Some(utc("2026-11-01T05:30:00Z")));
        assert_eq!(at("2026-11-01T05:30:00Z", "2026-11-01T06:45:00Z"), Some(utc("2026-11-01T06:30:00Z")));
    }

    #[test]
    fn bad_expressions_are_rejected_with_the_reason() {
        assert!(parse("0 9 * *").unwrap_err().reason.contains("5 fields"));
        assert!(parse("0 9 * * 8").unwrap_err().reason.contains("0-7"));
        assert!(parse("61 9 * * *").is_err());
        assert!(parse("0 9 * * MON extra").is_err());
    }
}
