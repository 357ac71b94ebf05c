//! The labelled dataset (`data/leads.tsv`) and its fixed held-out split.
//!
//! Compiled by `build.rs` too, so `std` only.

use std::borrow::Cow;

pub const INTENTS: [&str; 8] =
    ["trial_booking", "pricing", "class_schedule", "membership_question", "cancellation", "complaint", "spam", "other"];
pub const TEMPERATURES: [&str; 3] = ["hot", "warm", "cold"];
pub const LANGUAGES: [&str; 7] = ["en", "es", "pt", "fr", "de", "it", "nl"];
pub const CHANNELS: [&str; 3] = ["sms", "whatsapp", "email"];

/// One labelled message; `row` counts data rows from 1 (header excluded).
#[derive(Debug, Clone)]
pub struct Example<'a> {
    pub row: usize,
    pub intent: &'a str,
    pub temperature: &'a str,
    pub channel: &'a str,
    pub language: &'a str,
    /// `\n` in the file is a line break (emails keep their quoted replies
    /// and signatures on separate lines, as they arrive).
    pub text: Cow<'a, str>,
}

impl Example<'_> {
    /// Every 5th data row is held out. Position-based (not hashed) so the
    /// split is visible in the file and appending rows never moves old ones.
    pub fn is_held_out(&self) -> bool {
        self.row.is_multiple_of(5)
    }
}

/// Parses the TSV, rejecting unknown labels so a typo in the data fails the
/// build instead of silently creating a ninth class.
pub fn parse(tsv: &str) -> Result<Vec<Example<'_>>, String> {
    let mut lines = tsv.lines();
    let header = lines.next().ok_or("empty dataset")?;
    if header.split('\t').collect::<Vec<_>>() != ["intent", "temperature", "channel", "language", "text"] {
        return Err(format!("unexpected header: {header}"));
    }
    let mut out = Vec::new();
    for (i, line) in lines.filter(|l| !l.trim().is_empty()).enumerate() {
        let row = i + 1;
        let cols: Vec<&str> = line.split('\t').collect();
        let [intent, temperature, channel, language, text] = cols[..] else {
            return Err(format!("row {row}: expected 5 tab-separated columns, got {}", cols.len()));
        };
        for (value, allowed, what) in [
            (intent, &INTENTS[..], "intent"),
            (temperature, &TEMPERATURES[..], "temperature"),
            (channel, &CHANNELS[..], "channel"),
            (language, &LANGUAGES[..], "language"),
        ] {
            if !allowed.contains(&value) {
                return Err(format!("row {row}: unknown {what} {value:?}"));
            }
        }
        if text.trim().is_empty() {
            return Err(format!("row {row}: empty text"));
        }
        let text = if text.contains("\\n") { Cow::Owned(text.replace("\\n", "\n")) } else { Cow::Borrowed(text) };
        out.push(Example { row, intent, temperature, channel, language, text });
    }
    Ok(out)
}
