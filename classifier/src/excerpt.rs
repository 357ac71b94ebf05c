//! What classification reads of a conversation, and what it may cost.
//!
//! The stored conversation can be long (an email is kept up to 32k
//! characters). Classification reads an excerpt instead: the lead's
//! messages newest first, email replies cut at their quoted history and
//! signature, until [`EXCERPT_CHARS`] are spent. A short reply after a long
//! email is therefore read whole and the email only as far as the budget
//! allows, and neither the offline model's work nor an LLM prompt grows with
//! what a sender pastes.

/// Characters of lead text one classification reads.
pub const EXCERPT_CHARS: usize = 4_000;

/// One inbound message, as the excerpt reads it.
#[derive(Clone, Copy, Debug)]
pub struct Said<'a> {
    pub email: bool,
    pub text: &'a str,
}

/// The lead's text to classify, oldest kept message first, at most
/// `budget` characters. `newest_first` are the lead's inbound messages.
pub fn excerpt<'a>(newest_first: impl IntoIterator<Item = Said<'a>>, budget: usize) -> String {
    let mut kept: Vec<String> = Vec::new();
    let mut left = budget;
    for said in newest_first {
        let text = if said.email { strip_email(said.text) } else { said.text.trim().to_owned() };
        if text.is_empty() {
            continue;
        }
        if left == 0 {
            break;
        }
        // The newest message always gets in; its beginning is what was
        // written last.
        let (part, cut) = cap(&text, left);
        left -= part.chars().count();
        kept.push(part.to_owned());
        // A separator between messages counts against the budget too.
        left = left.saturating_sub(1);
        if cut {
            break;
        }
    }
    kept.reverse();
    kept.join("\n")
}

fn cap(text: &str, max_chars: usize) -> (&str, bool) {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => (&text[..end], true),
        None => (text, false),
    }
}

/// An email reply without the history it quotes (`text::strip_quoted`)
/// and without the sender's signature (everything from a `--` line on).
/// If nothing is left (a message that is only a quote), the whole text is
/// kept.
pub fn strip_email(text: &str) -> String {
    let unquoted = crate::text::strip_quoted(text);
    let signature = unquoted.lines().position(|line| line.trim_end() == "--");
    let reply = match signature {
        Some(at) => unquoted.lines().take(at).collect::<Vec<_>>().join("\n"),
        None => unquoted,
    };
    let reply = reply.trim();
    if reply.is_empty() { text.trim().to_owned() } else { reply.to_owned() }
}

/// A conservative estimate of the tokens `text` costs in a prompt: one
/// per three UTF-8 bytes. Tokenizers give English about four characters a
/// token and CJK or emoji about one a character (three or four bytes), so
/// this stays at or above the real count for the text studios receive.
pub fn estimate_tokens(text: &str) -> u32 {
    u32::try_from(text.len().div_ceil(3)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sms(text: &str) -> Said<'_> {
        Said { email: false, text }
    }

    #[test]
    fn the_newest_messages_come_first_until_the_budget_is_spent() {
        let old = "a".repeat(50);
        let texts = [sms("thanks!"), sms(&old), sms("first")];
        assert_eq!(excerpt(texts, 1000), format!("first\n{old}\nthanks!"));
        // Only the newest 7 + 1 + 12 characters fit in 20.
        assert_eq!(excerpt(texts, 20), format!("{}\nthanks!", "a".repeat(12)));
    }

    #[test]
    fn a_huge_message_is_read_only_as_far_as_the_budget() {
        let huge = "b".repeat(1 << 20);
        let out = excerpt([sms(&huge)], EXCERPT_CHARS);
        assert_eq!(out.chars().count(), EXCERPT_CHARS);
        let out = excerpt([sms("ok, see you at 6"), sms(&huge)], EXCERPT_CHARS);
        assert!(out.ends_with("\nok, see you at 6") && out.chars().count() <= EXCERPT_CHARS);
    }

    #[test]
    fn email_replies_lose_their_quoted_history_and_signature() {
        let reply = "Hi, can I book a trial on Friday?\n\nThanks,\nAna\n-- \nAna Ruiz | Acme Corp\n\nOn Mon, 1 Dec 2026 at 10:00, Iron Temple <hi@iron.example> wrote:\n> Welcome!\n";
        assert_eq!(strip_email(reply), "Hi, can I book a trial on Friday?\n\nThanks,\nAna");
        let spanish = "Sí, me interesa.\nEl lun, 1 dic 2026 a las 10:00, Iron Temple escribió:\n> Hola";
        assert_eq!(strip_email(spanish), "Sí, me interesa.");
        let outlook = "Count me in\n\n________________________________\nFrom: Iron Temple <hi@iron.example>\nSent: Monday\nSubject: Trial";
        assert_eq!(strip_email(outlook), "Count me in");
        assert_eq!(strip_email("> only a quote\n> here"), "> only a quote\n> here");
        let said = [Said { email: true, text: reply }];
        assert_eq!(excerpt(said, 100), "Hi, can I book a trial on Friday?\n\nThanks,\nAna");
    }

    #[test]
    fn the_token_estimate_is_at_least_what_tokenizers_charge() {
        // ~4 characters a token in English: the estimate is above it.
        assert!(estimate_tokens(&"word ".repeat(200)) >= 250);
        // One emoji is 4 bytes and at most ~3 tokens.
        assert!(estimate_tokens("😀😀😀") >= 3);
        assert_eq!(estimate_tokens(""), 0);
    }
}
