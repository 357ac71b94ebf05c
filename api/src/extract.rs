//! Extractors for the studio API. [`JsonBody`]: the JSON request body, like `axum::Json`, but every way a
//! body can be wrong answers problem+json, and a field of the wrong type,
//! a missing field or an unknown field names its place with a JSON pointer.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::header,
};
use serde::de::DeserializeOwned;

use crate::{ApiError, error::FieldError};

/// An id in the path. One that does not parse is the same 404 as one that
/// does not exist in the caller's workspace: a caller learns nothing from
/// the difference.
pub struct IdPath<T>(pub T);

impl<T: std::str::FromStr + Send, S: Send + Sync> axum::extract::FromRequestParts<S> for IdPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state).await.map_err(|_| ApiError::NotFound)?;
        raw.parse().map(IdPath).map_err(|_| ApiError::NotFound)
    }
}

/// Studio request bodies are small; a larger one is refused before parsing.
pub const LIMIT: usize = 64 * 1024;

pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let media = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let media = media.split(';').next().unwrap_or("").trim();
        if !media.eq_ignore_ascii_case("application/json") {
            return Err(ApiError::UnsupportedMediaType("application/json"));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|_| ApiError::MalformedBody(format!("the request body must be JSON of at most {LIMIT} bytes")))?;
        parse(&bytes).map(JsonBody)
    }
}

/// Parses `bytes` as `T`: a syntax error is 400 `malformed_body`; a body
/// that is JSON but not a `T` is 422 with the offending field's pointer.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::MalformedBody(format!("the request body is not JSON: {e}")))?;
    from_value(value)
}

pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut pointer = String::new();
        for segment in e.path().iter() {
            use serde_path_to_error::Segment;
            match segment {
                Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
                Segment::Map { key } => pointer.push_str(&format!("/{}", escape(key))),
                Segment::Enum { variant } => pointer.push_str(&format!("/{}", escape(variant))),
                Segment::Unknown => {}
            }
        }
        let message = e.inner().to_string();
        // serde reports a missing field at its parent (an unknown one at
        // itself); point at the field.
        if let Some(rest) = message.strip_prefix("missing field `")
            && let Some(name) = rest.split('`').next()
        {
            pointer.push_str(&format!("/{}", escape(name)));
        }
        ApiError::Invalid(vec![FieldError::new(pointer, message)])
    })
}

/// RFC 6901 escaping of one reference token.
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        items: Vec<Item>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        count: u8,
    }

    fn pointer(body: &str) -> String {
        match parse::<Body>(body.as_bytes()) {
            Err(ApiError::Invalid(errors)) => errors[0].pointer.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_point_at_the_field() {
        assert_eq!(pointer(r#"{"name": 1, "items": []}"#), "/name");
        assert_eq!(pointer(r#"{"name": "a", "items": [{"count": 1}, {"count": 300}]}"#), "/items/1/count");
        assert_eq!(pointer(r#"{"items": []}"#), "/name");
        assert_eq!(pointer(r#"{"name": "a", "items": [], "a/b": 1}"#), "/a~1b");
        assert!(matches!(parse::<Body>(b"{"), Err(ApiError::MalformedBody(_))));
    }
}
