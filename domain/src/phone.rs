//! Phone numbers. A [`Phone`] only ever holds an E.164 number (`+` and
//! digits), so nothing downstream re-checks the format.

use std::fmt;

use phonenumber::Mode;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

/// The ITU-T E.164 country calling codes in use (as libphonenumber's
/// metadata knows them), sorted. Checked here rather than through the
/// `phonenumber` crate on the webhook path: its metadata takes about half a
/// second and several megabytes to load, and a provider's number needs no
/// more than this.
const CALLING_CODES: &[u16] = &[
    1, 7, 20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54, 55, 56, 57, 58, 60,
    61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98, 211, 212, 213, 216, 218, 220, 221, 222, 223,
    224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234, 235, 236, 237, 238, 239, 240, 241, 242, 243, 244, 245, 246,
    247, 248, 249, 250, 251, 252, 253, 254, 255, 256, 257, 258, 260, 261, 262, 263, 264, 265, 266, 267, 268, 269, 290,
    291, 297, 298, 299, 350, 351, 352, 353, 354, 355, 356, 357, 358, 359, 370, 371, 372, 373, 374, 375, 376, 377, 378,
    380, 381, 382, 383, 385, 386, 387, 389, 420, 421, 423, 500, 501, 502, 503, 504, 505, 506, 507, 508, 509, 590, 591,
    592, 593, 594, 595, 596, 597, 598, 599, 670, 672, 673, 674, 675, 676, 677, 678, 679, 680, 681, 682, 683, 685, 686,
    687, 688, 689, 690, 691, 692, 800, 808, 850, 852, 853, 855, 856, 870, 878, 880, 881, 882, 883, 886, 888, 960, 961,
    962, 963, 964, 965, 966, 967, 968, 970, 971, 972, 973, 974, 975, 976, 977, 979, 992, 993, 994, 995, 996, 998,
];

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("not an E.164 phone number (expected + and 7 to 15 digits)")]
    NotE164,
    #[error("no country uses this calling code")]
    UnknownCountryCode,
    #[error("not a phone number")]
    Unparseable,
    #[error("not a possible phone number in {0}")]
    Impossible(String),
    #[error("unknown country {0:?} (expected an ISO 3166 code such as US or ES)")]
    UnknownCountry(String),
}

impl Phone {
    /// A number as providers send it: `+`, 7 to 15 digits, a calling code
    /// some country uses. Deliberately not checked against assigned ranges:
    /// a real caller on a range newer than our metadata must still reach
    /// the studio.
    pub fn from_e164(value: &str) -> Result<Phone, PhoneError> {
        let digits = value.strip_prefix('+').ok_or(PhoneError::NotE164)?;
        let well_formed =
            (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
        if !well_formed {
            return Err(PhoneError::NotE164);
        }
        // Calling codes are prefix-free, so at most one of the first three
        // digit prefixes is assigned.
        let assigned =
            (1..=3).any(|n| digits[..n].parse().is_ok_and(|cc: u16| CALLING_CODES.binary_search(&cc).is_ok()));
        if assigned { Ok(Phone(value.to_owned())) } else { Err(PhoneError::UnknownCountryCode) }
    }

    /// A number a person typed: international (`+34 612 345 678`) or
    /// national in `country` (`(312) 555-0100` for US). Refused unless it is
    /// a valid number of its country, so a typo does not become a lead
    /// nobody can reach.
    pub fn parse(input: &str, country: &str) -> Result<Phone, PhoneError> {
        let id: phonenumber::country::Id =
            country.trim().to_ascii_uppercase().parse().map_err(|_| PhoneError::UnknownCountry(country.to_owned()))?;
        let number = phonenumber::parse(Some(id), input.trim()).map_err(|e| match e {
            phonenumber::ParseError::InvalidCountryCode => PhoneError::UnknownCountryCode,
            _ => PhoneError::Unparseable,
        })?;
        if !number.is_valid() {
            let region = number.country().id().map_or_else(|| country.to_owned(), |c| format!("{c:?}"));
            return Err(PhoneError::Impossible(region));
        }
        Ok(Phone(number.format().mode(Mode::E164).to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits without `+` (WhatsApp's `wa_id` and `to`).
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Phone {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Phone {
    type Error = PhoneError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Phone::from_e164(&value)
    }
}

impl From<Phone> for String {
    fn from(phone: Phone) -> String {
        phone.0
    }
}

impl std::str::FromStr for Phone {
    type Err = PhoneError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Phone::from_e164(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_numbers_need_plus_digits_and_a_real_calling_code() {
        assert_eq!(Phone::from_e164("+14155550100").unwrap().as_str(), "+14155550100");
        // Not yet (or never) assigned, but possible: accepted, a caller must get through.
        assert!(Phone::from_e164("+15557770001").is_ok());
        for bad in ["14155550100", "+0155550100", "+1", "+1415555010012345", "whatsapp:+14155550100", "+1 415 555"] {
            assert_eq!(Phone::from_e164(bad), Err(PhoneError::NotE164), "{bad}");
        }
        assert_eq!(Phone::from_e164("+999123456789"), Err(PhoneError::UnknownCountryCode));
    }

    #[test]
    fn typed_numbers_parse_in_the_studios_country_and_must_be_valid() {
        assert_eq!(Phone::parse("(312) 555-0100", "US").unwrap().as_str(), "+13125550100");
        assert_eq!(Phone::parse("612 345 678", "es").unwrap().as_str(), "+34612345678");
        // An international number wins over the studio's country.
        assert_eq!(Phone::parse("+34 612 345 678", "US").unwrap().as_str(), "+34612345678");
        assert!(matches!(Phone::parse("555-0100", "US"), Err(PhoneError::Impossible(_))));
        assert!(matches!(Phone::parse("hello", "US"), Err(PhoneError::Unparseable | PhoneError::Impossible(_))));
        assert!(matches!(Phone::parse("612 345 678", "XX"), Err(PhoneError::UnknownCountry(_))));
    }

    #[test]
    fn the_calling_code_table_agrees_with_libphonenumber() {
        assert!(CALLING_CODES.windows(2).all(|w| w[0] < w[1]), "sorted, no duplicates");
        for cc in 1..1000u16 {
            let known = phonenumber::parse(None, format!("+{cc}123456789")).is_ok_and(|p| p.code().value() == cc);
            assert_eq!(CALLING_CODES.binary_search(&cc).is_ok(), known, "calling code {cc}");
        }
    }

    #[test]
    fn a_phone_deserializes_only_from_e164() {
        assert!(serde_json::from_str::<Phone>("\"+14155550100\"").is_ok());
        assert!(serde_json::from_str::<Phone>("\"4155550100\"").is_err());
    }
}
