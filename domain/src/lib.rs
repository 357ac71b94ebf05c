//! The rules a studio's pipeline follows, each in a module named after what
//! it decides, with no database and no I/O: the webhook paths and the job
//! handlers call these; the store only runs queries.

pub mod channel;
pub mod inbound_text;
pub mod missed_call;
pub mod onboarding;
pub mod opt_out;
pub mod phone;
pub mod reply_language;
pub mod whatsapp_window;

pub use channel::Channel;
pub use phone::{Phone, PhoneError};
