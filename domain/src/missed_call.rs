//! The missed-call text-back: which calls count as missed, how often one
//! caller gets a text, and on which channel it goes.

use std::time::Duration;

use crate::Channel;

/// The text-back a missed caller gets (English; the base template).
pub const TEXT: &str = "Sorry we missed your call! This is {studio_name}. Reply here and we'll get right back to you.";

/// The text-back in each supported language, as (ISO 639-1 code, template).
/// The send job picks the caller's language if we know it from an earlier
/// message, else the studio's (see [`crate::reply_language`]).
pub const TEXTS: &[(&str, &str)] = &[
    ("en", TEXT),
    (
        "es",
        "¡Sentimos no haber podido atender tu llamada! Somos {studio_name}. Responde aquí y te contestamos enseguida.",
    ),
    ("pt", "Desculpe não termos atendido a sua chamada! Aqui é {studio_name}. Responda aqui e falamos já consigo."),
    (
        "fr",
        "Désolés d'avoir manqué votre appel ! Ici {studio_name}. Répondez à ce message et nous revenons vers vous tout de suite.",
    ),
    (
        "de",
        "Sorry, dass wir deinen Anruf verpasst haben! Hier ist {studio_name}. Antworte hier und wir melden uns gleich.",
    ),
    ("it", "Ci dispiace di aver perso la tua chiamata! Siamo {studio_name}. Rispondi qui e ti ricontattiamo subito."),
    ("nl", "Sorry dat we je oproep hebben gemist! Dit is {studio_name}. Reageer hier en we nemen meteen contact op."),
];

/// A missed caller gets at most one text-back in this window.
pub const WINDOW: Duration = Duration::from_secs(20 * 60);

/// The caller did not reach anyone: the call ended `no-answer`, `busy` or
/// `failed`, or a `<Dial>` it was forwarded through was not answered.
pub fn is_missed(call_status: &str, dial_status: Option<&str>) -> bool {
    let dial_missed = dial_status.is_some_and(|s| s != "completed" && s != "answered");
    dial_missed || matches!(call_status, "no-answer" | "busy" | "failed")
}

/// What the text-back decision needs to know about the caller and studio.
#[derive(Clone, Copy, Debug)]
pub struct Caller {
    /// Inside the WhatsApp 24-hour window (free-form text allowed there).
    pub in_whatsapp_window: bool,
    /// The studio has a WhatsApp sender. Only consulted inside the window,
    /// so callers may leave it false outside it without asking.
    pub studio_sends_whatsapp: bool,
    pub opted_out_sms: bool,
    pub opted_out_whatsapp: bool,
}

/// The channel of the text-back, or `None` when the caller may not be
/// texted. WhatsApp only inside the window and only if the studio sends
/// WhatsApp at all; otherwise SMS.
pub fn text_back_channel(caller: Caller) -> Option<Channel> {
    if caller.in_whatsapp_window && caller.studio_sends_whatsapp && !caller.opted_out_whatsapp {
        Some(Channel::Whatsapp)
    } else if caller.opted_out_sms {
        None
    } else {
        Some(Channel::Sms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_back_names_the_studio_and_no_two_languages_share_one() {
        assert_eq!(TEXTS[0], ("en", TEXT));
        for (language, text) in TEXTS {
            assert!(text.contains("{studio_name}"), "{language}: {text}");
        }
        let distinct: std::collections::HashSet<&str> = TEXTS.iter().map(|(_, t)| *t).collect();
        assert_eq!(distinct.len(), TEXTS.len());
        let languages: Vec<&str> = TEXTS.iter().map(|(l, _)| *l).collect();
        assert_eq!(languages, ["en", "es", "pt", "fr", "de", "it", "nl"]);
    }

    #[test]
    fn missed_calls_are_no_answer_busy_failed_or_an_unanswered_dial() {
        assert!(is_missed("no-answer", None));
        assert!(is_missed("busy", None));
        assert!(is_missed("failed", None));
        assert!(is_missed("completed", Some("no-answer")));
        assert!(!is_missed("completed", None));
        assert!(!is_missed("completed", Some("completed")));
        assert!(!is_missed("ringing", None));
    }

    #[test]
    fn the_text_back_goes_by_whatsapp_only_inside_the_window_of_a_whatsapp_studio() {
        let caller = Caller {
            in_whatsapp_window: true,
            studio_sends_whatsapp: true,
            opted_out_sms: false,
            opted_out_whatsapp: false,
        };
        assert_eq!(text_back_channel(caller), Some(Channel::Whatsapp));
        assert_eq!(text_back_channel(Caller { in_whatsapp_window: false, ..caller }), Some(Channel::Sms));
        assert_eq!(text_back_channel(Caller { studio_sends_whatsapp: false, ..caller }), Some(Channel::Sms));
        assert_eq!(text_back_channel(Caller { opted_out_whatsapp: true, ..caller }), Some(Channel::Sms));
        let opted_out_of_both = Caller { opted_out_whatsapp: true, opted_out_sms: true, ..caller };
        assert_eq!(text_back_channel(opted_out_of_both), None);
        assert_eq!(text_back_channel(Caller { in_whatsapp_window: false, opted_out_sms: true, ..caller }), None);
    }
}
