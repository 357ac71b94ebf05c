//! The onboarding wizard: its six steps, in order, and what each still
//! needs. Integration steps are done when the integration they stand for is
//! configured (removing it undoes the step); the profile and AI-rules steps
//! are done when the studio has saved them once.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Profile,
    Twilio,
    Whatsapp,
    Email,
    GoogleCalendar,
    AiRules,
}

impl Step {
    pub const ALL: [Step; 6] =
        [Step::Profile, Step::Twilio, Step::Whatsapp, Step::Email, Step::GoogleCalendar, Step::AiRules];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Profile => "profile",
            Step::Twilio => "twilio",
            Step::Whatsapp => "whatsapp",
            Step::Email => "email",
            Step::GoogleCalendar => "google_calendar",
            Step::AiRules => "ai_rules",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Step::ALL.into_iter().find(|step| step.as_str() == s)
    }

    /// Every channel is optional (a studio may use SMS only, or email
    /// only); the profile is what every send obeys, so it cannot be skipped.
    pub fn skippable(self) -> bool {
        self != Step::Profile
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Done,
    Skipped,
    /// Cannot be done yet: frontdesk does not offer it so far.
    Pending,
    Todo,
}

/// What the workspace has configured, as far as onboarding cares.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub profile_saved: bool,
    pub default_language: bool,
    pub twilio: bool,
    pub whatsapp: Option<WhatsappFacts>,
    pub smtp: Option<SmtpFacts>,
    pub ai_rules_saved: bool,
    /// Steps the studio chose to skip.
    pub skipped: Vec<Step>,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct WhatsappFacts {
    pub template: bool,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct SmtpFacts {
    pub inbound_address: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepState {
    pub step: Step,
    pub status: Status,
    /// What is still missing, in words a studio can act on (empty when done).
    pub needs: Vec<&'static str>,
}

/// The state of every step, in wizard order.
pub fn evaluate(facts: &Facts) -> Vec<StepState> {
    Step::ALL.into_iter().map(|step| state(step, facts)).collect()
}

/// The first step that still wants something, if any.
pub fn current(states: &[StepState]) -> Option<Step> {
    states.iter().find(|s| s.status == Status::Todo).map(|s| s.step)
}

fn state(step: Step, facts: &Facts) -> StepState {
    let mut needs = Vec::new();
    match step {
        Step::Profile => {
            if !facts.default_language {
                needs.push("default_language: the language replies default to (PATCH /v1/workspace)");
            }
            if !facts.profile_saved {
                needs.push(
                    "save the studio profile (name, timezone, quiet_hours, max_messages_per_lead_per_day, default_language) with PATCH /v1/workspace",
                );
            }
        }
        Step::Twilio => {
            if !facts.twilio {
                needs.push("a Twilio integration: POST /v1/integrations with provider twilio (account_sid, auth_token, from or messaging_service_sid)");
            }
        }
        Step::Whatsapp => match facts.whatsapp {
            None => needs.push("a WhatsApp integration: POST /v1/integrations with provider whatsapp (phone_number_id, access_token, template)"),
            Some(w) if !w.template => needs.push("template: the approved template sent outside the 24-hour window (PATCH /v1/integrations/{id})"),
            Some(_) => {}
        },
        Step::Email => match facts.smtp {
            None => needs.push("an SMTP integration: POST /v1/integrations with provider smtp (host, port, security, username, password, from, inbound_address)"),
            Some(s) if !s.inbound_address => needs.push("inbound_address: the address Mailgun receives and forwards to /webhooks/email (PATCH /v1/integrations/{id})"),
            Some(_) => {}
        },
        Step::GoogleCalendar => {
            return StepState {
                step,
                status: if facts.skipped.contains(&step) { Status::Skipped } else { Status::Pending },
                needs: vec!["connecting Google Calendar is not available yet (it comes with calendar sync); skip this step or come back later"],
            };
        }
        Step::AiRules => {
            if !facts.ai_rules_saved {
                needs.push("the studio context the classifier uses (classes, prices, tone): POST /v1/onboarding/ai-rules");
            }
        }
    }
    let status = match () {
        _ if needs.is_empty() => Status::Done,
        _ if facts.skipped.contains(&step) => Status::Skipped,
        _ => Status::Todo,
    };
    StepState { step, status, needs }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(states: &[StepState], step: Step) -> Status {
        states.iter().find(|s| s.step == step).unwrap().status
    }

    #[test]
    fn a_new_workspace_has_every_step_to_do_and_calendar_pending() {
        let states = evaluate(&Facts::default());
        assert_eq!(states.iter().map(|s| s.step).collect::<Vec<_>>(), Step::ALL);
        for s in &states {
            let expected = if s.step == Step::GoogleCalendar { Status::Pending } else { Status::Todo };
            assert_eq!(s.status, expected, "{:?}", s.step);
            assert!(!s.needs.is_empty());
        }
        assert_eq!(current(&states), Some(Step::Profile));
    }

    #[test]
    fn integration_steps_are_done_only_with_everything_they_need() {
        let mut facts = Facts {
            profile_saved: true,
            default_language: true,
            twilio: true,
            whatsapp: Some(WhatsappFacts { template: false }),
            smtp: Some(SmtpFacts { inbound_address: false }),
            ..Facts::default()
        };
        let states = evaluate(&facts);
        assert_eq!(status(&states, Step::Profile), Status::Done);
        assert_eq!(status(&states, Step::Twilio), Status::Done);
        assert_eq!(status(&states, Step::Whatsapp), Status::Todo);
        assert_eq!(status(&states, Step::Email), Status::Todo);
        assert_eq!(current(&states), Some(Step::Whatsapp));
        facts.whatsapp = Some(WhatsappFacts { template: true });
        facts.smtp = Some(SmtpFacts { inbound_address: true });
        let states = evaluate(&facts);
        assert_eq!(status(&states, Step::Whatsapp), Status::Done);
        assert_eq!(status(&states, Step::Email), Status::Done);
        assert_eq!(current(&states), Some(Step::AiRules));
    }

    #[test]
    fn a_saved_profile_without_a_language_is_not_done() {
        let states = evaluate(&Facts { profile_saved: true, ..Facts::default() });
        assert_eq!(status(&states, Step::Profile), Status::Todo);
        assert_eq!(states[0].needs.len(), 1);
    }

    #[test]
    fn skipped_steps_stay_skipped_until_done_and_the_profile_cannot_be_skipped() {
        let facts = Facts { skipped: vec![Step::Whatsapp, Step::GoogleCalendar], twilio: true, ..Facts::default() };
        let states = evaluate(&facts);
        assert_eq!(status(&states, Step::Whatsapp), Status::Skipped);
        assert_eq!(status(&states, Step::GoogleCalendar), Status::Skipped);
        assert!(!Step::Profile.skippable());
        assert!(Step::ALL.iter().filter(|s| **s != Step::Profile).all(|s| s.skippable()));
        assert_eq!(Step::parse("google_calendar"), Some(Step::GoogleCalendar));
        assert_eq!(Step::parse("billing"), None);
    }
}
