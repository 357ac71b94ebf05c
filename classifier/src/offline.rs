//! The built-in offline classifier: logistic-regression models trained at
//! build time from `data/leads.tsv` and embedded in the binary.

use crate::{
    Classification, Intent, Temperature,
    classification::MAX_SUMMARY_CHARS,
    model::{MODELS, Models},
    text,
};

/// Cheap to construct and `Copy`: it only points at the process-wide models,
/// which are decoded on first use.
#[derive(Clone, Copy)]
pub struct OfflineClassifier {
    models: &'static Models,
}

impl Default for OfflineClassifier {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for OfflineClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfflineClassifier").finish_non_exhaustive()
    }
}

impl OfflineClassifier {
    pub fn new() -> Self {
        Self { models: &MODELS }
    }

    pub fn classify(&self, text: &str) -> Classification {
        let features = text::features(text);
        let intent_probs = self.models.intent.probabilities(&features);
        let (intent, confidence) = argmax(&self.models.intent.classes, &intent_probs, Intent::from_name);
        let temp_probs = self.models.temperature.probabilities(&features);
        let (mut temperature, _) = argmax(&self.models.temperature.classes, &temp_probs, Temperature::from_name);
        let p =
            |name: &str| self.models.temperature.classes.iter().position(|c| c == name).map_or(0.0, |i| temp_probs[i]);
        // Expected "heat": hot counts fully, warm half. Monotone in P(hot), so
        // sorting leads by score sorts them by how likely they are to buy now.
        let mut score = (100.0 * (p("hot") + 0.5 * p("warm"))).round().clamp(0.0, 100.0) as u8;
        if intent == Intent::Spam {
            // Spam is never a sales lead, however eager it sounds.
            temperature = Temperature::Cold;
            score = score.min(5);
        }
        let language = self.detect_language_with(&features);
        Classification {
            intent,
            temperature,
            score,
            summary: summary(intent, temperature, text),
            suggested_reply: suggested_reply(intent, language).map(str::to_owned),
            language: language.to_owned(),
            confidence,
        }
    }

    /// `en` or `es`, from the embedded character-n-gram language model.
    pub fn detect_language(&self, text: &str) -> &'static str {
        self.detect_language_with(&text::features(text))
    }

    fn detect_language_with(&self, features: &[(u32, f32)]) -> &'static str {
        let probs = self.models.language.probabilities(features);
        let (code, _) = argmax(&self.models.language.classes, &probs, |c| {
            crate::dataset::LANGUAGES.iter().copied().find(|l| *l == c)
        });
        code
    }
}

fn argmax<T>(classes: &[String], probs: &[f32], parse: impl Fn(&str) -> Option<T>) -> (T, f32) {
    let (best, p) =
        probs.iter().copied().enumerate().fold((0, f32::MIN), |acc, (i, p)| if p > acc.1 { (i, p) } else { acc });
    (parse(&classes[best]).expect("model classes are the dataset's label names"), p)
}

fn summary(intent: Intent, temperature: Temperature, text: &str) -> String {
    let label = match intent {
        Intent::TrialBooking => "Wants a trial class",
        Intent::Pricing => "Asks about prices",
        Intent::ClassSchedule => "Asks about the schedule",
        Intent::MembershipQuestion => "Membership question",
        Intent::Cancellation => "Wants to cancel",
        Intent::Complaint => "Complaint",
        Intent::Spam => "Likely spam",
        Intent::Other => "Other message",
    };
    let prefix = format!("{label} ({}): \"", temperature.as_str());
    let budget = MAX_SUMMARY_CHARS - prefix.chars().count() - 1;
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let quoted: String = if flat.chars().count() > budget {
        flat.chars().take(budget - 1).chain(std::iter::once('…')).collect()
    } else {
        flat
    };
    format!("{prefix}{quoted}\"")
}

/// Neutral first replies; the studio-specific ones come from the LLM, which
/// sees the studio context. Spam gets none, so nothing is ever sent to it.
fn suggested_reply(intent: Intent, language: &str) -> Option<&'static str> {
    let es = language == "es";
    Some(match (intent, es) {
        (Intent::Spam, _) => return None,
        (Intent::TrialBooking, false) => "Great to hear from you! Which day and time suit you for your trial class?",
        (Intent::TrialBooking, true) => "¡Genial! ¿Qué día y hora te vienen bien para tu clase de prueba?",
        (Intent::Pricing, false) => "Thanks for asking! We'll send you our current prices and offers shortly.",
        (Intent::Pricing, true) => "¡Gracias por escribir! Enseguida te enviamos nuestras tarifas y ofertas.",
        (Intent::ClassSchedule, false) => "Thanks! We'll send you the class timetable right away.",
        (Intent::ClassSchedule, true) => "¡Gracias! Ahora mismo te enviamos el horario de clases.",
        (Intent::MembershipQuestion, false) => "Good question! A member of our team will get back to you shortly.",
        (Intent::MembershipQuestion, true) => "¡Buena pregunta! Alguien del equipo te responde en breve.",
        (Intent::Cancellation, false) => "We're sorry to see you go. A team member will contact you to help.",
        (Intent::Cancellation, true) => "Sentimos que te vayas. Alguien del equipo te contactará para ayudarte.",
        (Intent::Complaint, false) => "We're sorry about this. A manager will contact you personally today.",
        (Intent::Complaint, true) => "Sentimos lo ocurrido. Un responsable te contactará personalmente hoy.",
        (Intent::Other, false) => "Thanks for your message! We'll get back to you soon.",
        (Intent::Other, true) => "¡Gracias por tu mensaje! Te respondemos pronto.",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_clear_messages() {
        let c = OfflineClassifier::new();
        assert_eq!(c.classify("I want to cancel my membership").intent, Intent::Cancellation);
        assert_eq!(c.classify("cuánto cuesta la cuota mensual?").intent, Intent::Pricing);
        assert_eq!(c.classify("Earn BTC fast 🚀 crypto airdrop bit.ly/x").intent, Intent::Spam);
    }

    #[test]
    fn output_passes_the_same_validation_as_the_llm() {
        let c = OfflineClassifier::new();
        let long = "Hola, quería saber ".repeat(40);
        for text in ["price?", "👍", "", long.as_str()] {
            let out = c.classify(text);
            assert_eq!(out.clone().validated(crate::classification::DEFAULT_MAX_REPLY_CHARS).unwrap(), out);
        }
    }

    #[test]
    fn detects_spanish_and_english() {
        let c = OfflineClassifier::new();
        assert_eq!(c.detect_language("Hola, me gustaría reservar una clase de prueba"), "es");
        assert_eq!(c.detect_language("Hi, I would like to book a trial class"), "en");
    }
}
