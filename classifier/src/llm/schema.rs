//! The strict JSON-schema response format for [`Classification`].

use async_openai::types::chat::{ResponseFormat, ResponseFormatJsonSchema};
use serde_json::{Value, json};

use crate::{Intent, Temperature};

/// Strict structured outputs require every property listed in `required`,
/// `additionalProperties: false`, and nullable fields as `["string","null"]`.
/// Bounds like the summary length are stated in descriptions (strict mode
/// does not enforce all keywords everywhere) and checked by
/// `Classification::validated` anyway.
pub(crate) fn response_format() -> ResponseFormat {
    ResponseFormat::JsonSchema {
        json_schema: ResponseFormatJsonSchema {
            name: "lead_classification".into(),
            description: Some("Classification of one message sent to a fitness studio".into()),
            schema: schema(),
            strict: Some(true),
        },
    }
}

pub fn schema() -> Value {
    let intents: Vec<&str> = Intent::ALL.iter().map(|i| i.as_str()).collect();
    let temperatures: Vec<&str> = Temperature::ALL.iter().map(|t| t.as_str()).collect();
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["intent", "temperature", "score", "language", "summary", "suggested_reply", "confidence"],
        "properties": {
            "intent": { "type": "string", "enum": intents },
            "temperature": { "type": "string", "enum": temperatures },
            "score": { "type": "integer", "description": "0-100, how likely the lead is to buy soon" },
            "language": { "type": "string", "description": "ISO 639-1 code of the customer's message" },
            "summary": { "type": "string", "description": "one line for staff, at most 200 characters" },
            "suggested_reply": { "type": ["string", "null"], "description": "short reply to send, or null" },
            "confidence": { "type": "number", "description": "0-1" }
        }
    })
}
