//! Email through each workspace's own SMTP account (lettre).

use std::time::Duration;

use frontdesk_store::vault::Secret;
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, header::ContentType},
    transport::smtp::{
        authentication::Credentials,
        client::{Tls, TlsParameters},
    },
};

use super::{SendError, Sent};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain SMTP (local relays and tests only).
    None,
    StartTls,
    /// Implicit TLS (port 465).
    Tls,
}

/// One workspace's SMTP account.
#[derive(Clone, Debug)]
pub struct SmtpAccount {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// `Studio Name <hello@studio.example>`.
    pub from: String,
}

#[derive(Clone, Debug)]
pub struct Email<'a> {
    pub to: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    /// Our id for this message, without angle brackets; doubles as the idempotency key.
    pub message_id: &'a str,
    /// The lead's message we are answering, for threading.
    pub in_reply_to: Option<&'a str>,
    /// `<mailto:…>` and/or `<https://…>`, for the `List-Unsubscribe` header.
    pub list_unsubscribe: &'a str,
}

pub async fn send(account: &SmtpAccount, email: &Email<'_>) -> Result<Sent, SendError> {
    let from: Mailbox =
        account.from.parse().map_err(|e| SendError::Permanent(format!("invalid From {:?}: {e}", account.from)))?;
    let to: Mailbox = email.to.parse().map_err(|e| SendError::Permanent(format!("invalid recipient: {e}")))?;
    let message_id = format!("<{}>", email.message_id);
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .subject(email.subject)
        .message_id(Some(message_id))
        .header(ContentType::TEXT_PLAIN)
        .header(ListUnsubscribe(email.list_unsubscribe.to_owned()));
    if let Some(parent) = email.in_reply_to {
        let parent = format!("<{}>", parent.trim_matches(['<', '>']));
        builder = builder.in_reply_to(parent.clone()).references(parent);
    }
    let message =
        builder.body(email.body.to_owned()).map_err(|e| SendError::Permanent(format!("cannot build email: {e}")))?;

    let tls = || TlsParameters::new(account.host.clone()).map_err(|e| SendError::Permanent(format!("TLS setup: {e}")));
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&account.host)
        .port(account.port)
        .timeout(Some(Duration::from_secs(20)))
        .tls(match account.security {
            Security::None => Tls::None,
            Security::StartTls => Tls::Required(tls()?),
            Security::Tls => Tls::Wrapper(tls()?),
        });
    if let (Some(user), Some(password)) = (&account.username, &account.password) {
        transport = transport.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
    }
    match transport.build().send(message).await {
        Ok(_) => Ok(Sent { provider_message_id: email.message_id.to_owned() }),
        Err(e) if e.is_permanent() => Err(SendError::Permanent(format!("SMTP: {e}"))),
        // A 4xx reply, or a failure before any mail command: not accepted.
        Err(e) if e.is_transient() || e.is_tls() || e.is_client() || never_connected(&e) => {
            Err(SendError::Transient { detail: format!("SMTP: {e}"), retry_after: None })
        }
        // Dropped or timed out mid-conversation: the server may have queued it.
        Err(e) => Err(SendError::Unknown(format!("SMTP: {e}"))),
    }
}

fn never_connected(e: &lettre::transport::smtp::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return matches!(io.kind(), std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::AddrNotAvailable);
        }
        source = s.source();
    }
    false
}

/// `List-Unsubscribe` (RFC 2369).
#[derive(Clone, Debug)]
struct ListUnsubscribe(String);

impl lettre::message::header::Header for ListUnsubscribe {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_owned()))
    }

    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), self.0.clone())
    }
}
