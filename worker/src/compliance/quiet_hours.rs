//! Quiet hours: a wall-clock window in the workspace's own timezone during
//! which nothing is sent. A send that falls inside is rescheduled to the
//! first allowed minute, computed through the timezone so DST transitions
//! (a skipped or repeated hour) land on a real instant.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuietHours {
    /// Local time quiet starts, e.g. 21:00.
    pub start: NaiveTime,
    /// Local time sending may resume, e.g. 08:00. Before `start` means the
    /// window crosses midnight.
    pub end: NaiveTime,
}

impl QuietHours {
    fn contains(&self, t: NaiveTime) -> bool {
        if self.start <= self.end { t >= self.start && t < self.end } else { t >= self.start || t < self.end }
    }

    /// `None` when `at` is outside quiet hours (send now); otherwise the
    /// first instant at or after the window's end, in UTC.
    pub fn next_allowed(&self, tz: Tz, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = at.with_timezone(&tz);
        if !self.contains(local.time()) {
            return None;
        }
        // The window ends today if we are before `end` (past midnight in an
        // overnight window, or in a same-day window), else tomorrow.
        let mut day: NaiveDate = local.date_naive();
        if local.time() >= self.end {
            day = day.succ_opt()?;
        }
        Some(super::local_time::resolve_after(tz, day.and_time(self.end), at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    const NIGHT: QuietHours = QuietHours {
        start: NaiveTime::from_hms_opt(21, 0, 0).unwrap(),
        end: NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
    };

    #[test]
    fn outside_the_window_sends_now() {
        let tz: Tz = "Europe/Madrid".parse().unwrap();
        assert_eq!(NIGHT.next_allowed(tz, utc("2026-06-10T10:00:00Z")), None); // 12:00 local
    }

    #[test]
    fn late_evening_moves_to_next_morning_in_local_time() {
        let tz: Tz = "Europe/Madrid".parse().unwrap();
        // 22:30 local (CEST, UTC+2) → 08:00 local next day = 06:00 UTC.
        assert_eq!(NIGHT.next_allowed(tz, utc("2026-06-10T20:30:00Z")), Some(utc("2026-06-11T06:00:00Z")));
        // 03:00 local the same night → 08:00 local that day.
        assert_eq!(NIGHT.next_allowed(tz, utc("2026-06-11T01:00:00Z")), Some(utc("2026-06-11T06:00:00Z")));
    }

    #[test]
    fn across_spring_forward_the_offset_of_the_resume_day_applies() {
        let tz: Tz = "America/New_York".parse().unwrap();
        // Sat 2026-03-07 23:00 EST (UTC-5) → Sun 08:00 EDT (UTC-4, DST began 02:00) = 12:00 UTC.
        assert_eq!(NIGHT.next_allowed(tz, utc("2026-03-08T04:00:00Z")), Some(utc("2026-03-08T12:00:00Z")));
    }

    #[test]
    fn across_fall_back_the_offset_of_the_resume_day_applies() {
        let tz: Tz = "America/New_York".parse().unwrap();
        // Sat 2026-10-31 22:00 EDT (UTC-4) → Sun 08:00 EST (UTC-5, DST ended 02:00) = 13:00 UTC.
        assert_eq!(NIGHT.next_allowed(tz, utc("2026-11-01T02:00:00Z")), Some(utc("2026-11-01T13:00:00Z")));
    }

    #[test]
    fn a_window_ending_inside_the_spring_forward_gap_resumes_after_the_gap() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let q = QuietHours { start: hm(0, 0), end: hm(2, 30) }; // 02:30 does not exist on 2026-03-08
        // 01:30 EST = 06:30 UTC → first real instant at/after 02:30 local is 03:00 EDT = 07:00 UTC.
        assert_eq!(q.next_allowed(tz, utc("2026-03-08T06:30:00Z")), Some(utc("2026-03-08T07:00:00Z")));
    }

    #[test]
    fn a_window_ending_in_the_repeated_fall_back_hour_uses_the_first_occurrence() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let q = QuietHours { start: hm(0, 0), end: hm(1, 30) }; // 01:30 happens twice on 2026-11-01
        // 00:30 EDT = 04:30 UTC → 01:30 EDT = 05:30 UTC (not 06:30 UTC, the EST repeat).
        assert_eq!(q.next_allowed(tz, utc("2026-11-01T04:30:00Z")), Some(utc("2026-11-01T05:30:00Z")));
    }

    #[test]
    fn a_window_ending_in_the_repeated_hour_seen_from_its_second_pass_ends_on_that_pass() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let q = QuietHours { start: hm(0, 0), end: hm(1, 30) };
        // 06:15 UTC is 01:15 EST, the second 01:15 of 2026-11-01: the first
        // 01:30 (05:30 UTC) is already past, so quiet ends at 01:30 EST = 06:30 UTC.
        assert_eq!(q.next_allowed(tz, utc("2026-11-01T06:15:00Z")), Some(utc("2026-11-01T06:30:00Z")));
    }

    #[test]
    fn same_day_windows_work_too() {
        let tz: Tz = "UTC".parse().unwrap();
        let lunch = QuietHours { start: hm(12, 0), end: hm(13, 0) };
        assert_eq!(lunch.next_allowed(tz, utc("2026-06-10T12:15:00Z")), Some(utc("2026-06-10T13:00:00Z")));
        assert_eq!(lunch.next_allowed(tz, utc("2026-06-10T13:00:00Z")), None);
    }
}
