//! Strict `application/x-www-form-urlencoded` parsing. Providers sign the
//! exact parameters they sent, so we keep every pair (repeated keys too)
//! and refuse bytes that are not UTF-8 rather than silently replacing them.

use percent_encoding::percent_decode;

use frontdesk_domain::Phone;

use crate::ApiError;

#[derive(Clone, Debug, Default)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let mut pairs = Vec::new();
        for part in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            let (key, value) = match part.iter().position(|b| *b == b'=') {
                Some(i) => (&part[..i], &part[i + 1..]),
                None => (part, &b""[..]),
            };
            pairs.push((decode(key)?, decode(value)?));
        }
        Ok(Self(pairs))
    }

    /// The first value of `key`, if present and not empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    pub fn require(&self, key: &str) -> Result<&str, ApiError> {
        self.get(key).ok_or_else(|| ApiError::BadRequest(format!("missing field {key}")))
    }

    /// A required provider id (see [`provider_id`]).
    pub fn id(&self, key: &str) -> Result<&str, ApiError> {
        provider_id(key, self.require(key)?)
    }

    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for (k, v) in &self.0 {
            map.entry(k.clone()).or_insert_with(|| serde_json::Value::String(v.clone()));
        }
        serde_json::Value::Object(map)
    }
}

fn decode(raw: &[u8]) -> Result<String, ApiError> {
    let plus_as_space: Vec<u8> = raw.iter().map(|b| if *b == b'+' { b' ' } else { *b }).collect();
    let value = percent_decode(&plus_as_space)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| ApiError::BadRequest("form field is not valid UTF-8".into()))?;
    no_nul(&value)?;
    Ok(value)
}

/// Postgres text cannot hold NUL; refuse it as bad input rather than fail the write.
pub fn no_nul(value: &str) -> Result<(), ApiError> {
    if value.contains('\0') { Err(ApiError::BadRequest("text contains a NUL character".into())) } else { Ok(()) }
}

/// Every string in a JSON document is free of NUL.
pub fn json_without_nul(value: &serde_json::Value) -> Result<(), ApiError> {
    match value {
        serde_json::Value::String(s) => no_nul(s),
        serde_json::Value::Array(items) => items.iter().try_for_each(json_without_nul),
        serde_json::Value::Object(map) => map.iter().try_for_each(|(k, v)| no_nul(k).and_then(|_| json_without_nul(v))),
        _ => Ok(()),
    }
}

/// A provider's identifier (MessageSid, wamid, event id, token, channel id):
/// 1 to 200 visible ASCII characters. Ids are unique keys; an unbounded one
/// would overflow the index rather than be refused.
pub fn provider_id<'a>(field: &str, value: &'a str) -> Result<&'a str, ApiError> {
    let valid = (1..=200).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic());
    if valid { Ok(value) } else { Err(ApiError::BadRequest(format!("{field} is not a valid provider id"))) }
}

/// A provider's phone field, as a [`Phone`] (E.164 with a calling code in use).
pub fn phone(field: &str, value: &str) -> Result<Phone, ApiError> {
    Phone::from_e164(value).map_err(|e| ApiError::BadRequest(format!("{field}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_repeated_keys_decodes_plus_and_percent() {
        let f = Form::parse(b"Body=Hi+there%21&MediaUrl0=a&MediaUrl0=b&Empty=").unwrap();
        assert_eq!(f.get("Body"), Some("Hi there!"));
        assert_eq!(f.0.iter().filter(|(k, _)| k == "MediaUrl0").count(), 2);
        assert_eq!(f.get("Empty"), None);
    }

    #[test]
    fn rejects_invalid_utf8() {
        assert!(Form::parse(b"Body=%FF%FE").is_err());
        assert!(Form::parse(b"Bo\xffdy=x").is_err());
    }

    #[test]
    fn a_bad_phone_field_is_a_bad_request_naming_the_field() {
        assert!(phone("From", "+14155550100").is_ok());
        let err = phone("From", "whatsapp:+14155550100").unwrap_err();
        assert!(matches!(&err, ApiError::BadRequest(m) if m.starts_with("From: ")), "{err:?}");
    }
}
