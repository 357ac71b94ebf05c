//! How much of an inbound message we keep, per channel. A message body is
//! stored up to its channel's cap (cut on a character boundary, with the
//! original length recorded); classification reads a smaller excerpt still
//! (see `frontdesk_classifier::excerpt`). The caps sit above anything a
//! person writes on that channel, so only abuse or machine-made mail is cut.

use crate::Channel;

/// Characters of an inbound body we store.
pub fn stored_chars(channel: Channel) -> usize {
    match channel {
        // Twilio concatenates at most 1,600 characters into one message.
        Channel::Sms => 1_600,
        // Meta's limit for a text message body.
        Channel::Whatsapp => 4_096,
        // Far beyond a real enquiry; a 5 MB newsletter is cut here.
        Channel::Email => 32_768,
    }
}

/// Characters of any other text field of an inbound message we store
/// (a subject, a display name, one raw provider field).
pub const FIELD_CHARS: usize = 4_096;

/// `text` cut to at most `max_chars` characters, on a character boundary,
/// and whether anything was cut.
pub fn cap(text: &str, max_chars: usize) -> (&str, bool) {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => (&text[..end], true),
        None => (text, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_cut_on_a_character_boundary_at_its_cap() {
        assert_eq!(cap("hello", 10), ("hello", false));
        assert_eq!(cap("hello", 5), ("hello", false));
        assert_eq!(cap("hello", 4), ("hell", true));
        // Multi-byte characters are never split.
        assert_eq!(cap("¡olé!", 4), ("¡olé", true));
        let long = "x".repeat(stored_chars(Channel::Email) * 3);
        assert_eq!(cap(&long, stored_chars(Channel::Email)).0.len(), stored_chars(Channel::Email));
    }
}
