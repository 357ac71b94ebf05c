//! When an inbound message is a compliance instruction rather than
//! conversation: carrier opt-out vocabulary for SMS and WhatsApp, and our
//! own `List-Unsubscribe` mailto for email.

use crate::Channel;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keyword {
    OptOut,
    OptIn,
}

/// The keyword an inbound message carries, if it is one. On SMS and
/// WhatsApp the whole body, case-insensitive (Twilio advanced opt-out); on
/// email only the subject "unsubscribe" our `List-Unsubscribe` mailto sends,
/// since words in an email are conversation ("cancel" my membership…).
pub fn keyword(channel: Channel, body: &str, subject: Option<&str>) -> Option<Keyword> {
    match channel {
        Channel::Email => subject.filter(|s| s.trim().eq_ignore_ascii_case("unsubscribe")).map(|_| Keyword::OptOut),
        Channel::Sms | Channel::Whatsapp => carrier_keyword(body),
    }
}

fn carrier_keyword(body: &str) -> Option<Keyword> {
    match body.trim().to_ascii_uppercase().as_str() {
        "STOP" | "STOPALL" | "UNSUBSCRIBE" | "END" | "QUIT" | "CANCEL" | "REVOKE" | "OPTOUT" => Some(Keyword::OptOut),
        "START" | "UNSTOP" => Some(Keyword::OptIn),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opt_out_keywords_are_whole_message_and_case_insensitive() {
        for word in ["STOP", "stop", " Stop ", "STOPALL", "UNSUBSCRIBE", "END", "QUIT", "CANCEL", "REVOKE", "OPTOUT"] {
            assert_eq!(keyword(Channel::Sms, word, None), Some(Keyword::OptOut), "{word}");
        }
        for word in ["START", "unstop"] {
            assert_eq!(keyword(Channel::Whatsapp, word, None), Some(Keyword::OptIn), "{word}");
        }
        for text in ["please stop calling at night", "I want to cancel my membership", "starting monday?"] {
            assert_eq!(keyword(Channel::Sms, text, None), None, "{text}");
        }
    }

    #[test]
    fn email_opts_out_only_by_the_unsubscribe_subject() {
        assert_eq!(keyword(Channel::Email, "STOP", Some("Question")), None);
        assert_eq!(keyword(Channel::Email, "", Some(" Unsubscribe ")), Some(Keyword::OptOut));
        assert_eq!(keyword(Channel::Email, "unsubscribe", None), None);
    }
}
