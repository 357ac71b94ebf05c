//! Integration tests: the LLM client against a wiremock server speaking the
//! chat-completions wire format, the rules engine, and the offline model.

mod helpers;
mod llm;
mod offline;
mod rules;
