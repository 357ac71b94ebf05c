//! The closed label sets shared by the offline model, the LLM schema and the rules.

use serde::{Deserialize, Serialize};

/// What the lead wants. Serialised as snake_case (`trial_booking`), the same
/// strings the dataset, the LLM schema and `ai_rules.pattern` use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    TrialBooking,
    Pricing,
    ClassSchedule,
    MembershipQuestion,
    Cancellation,
    Complaint,
    Spam,
    Other,
}

impl Intent {
    pub const ALL: [Intent; 8] = [
        Intent::TrialBooking,
        Intent::Pricing,
        Intent::ClassSchedule,
        Intent::MembershipQuestion,
        Intent::Cancellation,
        Intent::Complaint,
        Intent::Spam,
        Intent::Other,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Intent::TrialBooking => "trial_booking",
            Intent::Pricing => "pricing",
            Intent::ClassSchedule => "class_schedule",
            Intent::MembershipQuestion => "membership_question",
            Intent::Cancellation => "cancellation",
            Intent::Complaint => "complaint",
            Intent::Spam => "spam",
            Intent::Other => "other",
        }
    }

    /// Parses the snake_case name; `None` for anything else.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.as_str() == name)
    }
}

/// How ready the lead is to buy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Temperature {
    Hot,
    Warm,
    Cold,
}

impl Temperature {
    pub const ALL: [Temperature; 3] = [Temperature::Hot, Temperature::Warm, Temperature::Cold];

    pub const fn as_str(self) -> &'static str {
        match self {
            Temperature::Hot => "hot",
            Temperature::Warm => "warm",
            Temperature::Cold => "cold",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// The score a rule-decided lead gets when the rule names no score: the
    /// middle of the band the offline model maps this temperature to.
    pub const fn default_score(self) -> u8 {
        match self {
            Temperature::Hot => 85,
            Temperature::Warm => 55,
            Temperature::Cold => 15,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset;

    #[test]
    fn label_names_match_the_dataset_and_serde() {
        let intents: Vec<&str> = Intent::ALL.iter().map(|i| i.as_str()).collect();
        assert_eq!(intents, dataset::INTENTS);
        let temps: Vec<&str> = Temperature::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(temps, dataset::TEMPERATURES);
        for i in Intent::ALL {
            assert_eq!(serde_json::to_value(i).unwrap(), i.as_str());
            assert_eq!(Intent::from_name(i.as_str()), Some(i));
        }
    }
}
