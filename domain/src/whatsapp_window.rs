//! WhatsApp's 24-hour customer-service window: free-form text is allowed
//! only within a day of the lead's last inbound WhatsApp message; outside
//! it only an approved template may be sent (Meta answers 131047).

use chrono::{DateTime, Duration, Utc};

pub const WINDOW: Duration = Duration::hours(24);

/// Whether free-form text may go to a lead whose last inbound WhatsApp
/// message arrived at `last_inbound` (if ever).
pub fn is_open(last_inbound: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last_inbound.is_some_and(|t| now - t < WINDOW)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_open_for_a_day_after_the_last_inbound_message() {
        let now = Utc::now();
        assert!(is_open(Some(now - Duration::hours(23)), now));
        assert!(!is_open(Some(now - Duration::hours(24)), now));
        assert!(!is_open(None, now));
    }
}
