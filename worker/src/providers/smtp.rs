//! Email through each workspace's own SMTP account (lettre).

use std::{net::IpAddr, time::Duration};

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

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
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
    /// The https link unsubscribes on a POST (RFC 8058 one-click):
    /// adds `List-Unsubscribe-Post: List-Unsubscribe=One-Click`.
    pub one_click: bool,
}

/// Sends through `account`. `connect_to` is the address [`SmtpPolicy::resolve`]
/// checked (connecting to it, not re-resolving the name, is what stops DNS
/// rebinding); the host name still names the server for TLS.
pub async fn send(account: &SmtpAccount, connect_to: Option<IpAddr>, email: &Email<'_>) -> Result<Sent, SendError> {
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
    if email.one_click {
        builder = builder.header(ListUnsubscribePost);
    }
    if let Some(parent) = email.in_reply_to {
        let parent = format!("<{}>", parent.trim_matches(['<', '>']));
        builder = builder.in_reply_to(parent.clone()).references(parent);
    }
    let message =
        builder.body(email.body.to_owned()).map_err(|e| SendError::Permanent(format!("cannot build email: {e}")))?;

    let transport = transport(account, connect_to)?;
    // Reaching the server (DNS, connect, TLS, login) is checked on its own
    // first: a failure there certainly sent nothing, so it can be retried.
    reach(&transport).await?;
    deliver(&transport, message, email.message_id).await
}

fn transport(
    account: &SmtpAccount,
    connect_to: Option<IpAddr>,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, SendError> {
    let tls = || TlsParameters::new(account.host.clone()).map_err(|e| SendError::Permanent(format!("TLS setup: {e}")));
    let server = connect_to.map_or_else(|| account.host.clone(), |ip| ip.to_string());
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(server)
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
    Ok(transport.build())
}

/// Connect, EHLO, STARTTLS or TLS as configured, AUTH, NOOP.
async fn reach(transport: &AsyncSmtpTransport<Tokio1Executor>) -> Result<(), SendError> {
    match transport.test_connection().await {
        Ok(true) => Ok(()),
        Ok(false) => Err(SendError::Transient { detail: "SMTP server did not answer NOOP".into(), retry_after: None }),
        Err(e) if e.is_permanent() => Err(SendError::Permanent(format!("SMTP: {e}"))),
        Err(e) => Err(SendError::Transient { detail: format!("SMTP: {e}"), retry_after: None }),
    }
}

/// The integration's live check: the server takes our connection and login.
pub async fn check(account: &SmtpAccount, connect_to: Option<IpAddr>) -> Result<(), SendError> {
    reach(&transport(account, connect_to)?).await
}

/// A plain message that is not a follow-up (a staff invitation): no
/// unsubscribe headers, since it is not marketing and goes to one person.
pub async fn send_notice(
    account: &SmtpAccount,
    connect_to: Option<IpAddr>,
    to: &str,
    subject: &str,
    body: &str,
) -> Result<Sent, SendError> {
    let from: Mailbox =
        account.from.parse().map_err(|e| SendError::Permanent(format!("invalid From {:?}: {e}", account.from)))?;
    let to: Mailbox = to.parse().map_err(|e| SendError::Permanent(format!("invalid recipient: {e}")))?;
    let message_id = format!("{}@frontdesk", uuid::Uuid::new_v4());
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .message_id(Some(format!("<{message_id}>")))
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_owned())
        .map_err(|e| SendError::Permanent(format!("cannot build email: {e}")))?;
    let transport = transport(account, connect_to)?;
    reach(&transport).await?;
    deliver(&transport, message, &message_id).await
}

async fn deliver(
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    message: Message,
    message_id: &str,
) -> Result<Sent, SendError> {
    match transport.send(message).await {
        Ok(_) => Ok(Sent { provider_message_id: message_id.to_owned() }),
        Err(e) if e.is_permanent() => Err(SendError::Permanent(format!("SMTP: {e}"))),
        // A 4xx reply: the server refused it for now.
        Err(e) if e.is_transient() => Err(SendError::Transient { detail: format!("SMTP: {e}"), retry_after: None }),
        // Dropped or timed out mid-conversation: the server may have queued it.
        Err(e) => Err(SendError::Unknown(format!("SMTP: {e}"))),
    }
}

/// Which SMTP servers a studio's integration may point the worker at. The
/// host comes from studio settings, so without this a studio could aim the
/// worker at our own Redis or a metadata service.
#[derive(Clone, Copy, Debug, Default)]
pub struct SmtpPolicy {
    /// Local and private addresses, any port, plain SMTP: for development
    /// and tests only.
    pub allow_private: bool,
}

/// Submission and relay ports.
const SMTP_PORTS: &[u16] = &[25, 465, 587, 2525];

impl SmtpPolicy {
    /// The address to connect to (`None`: by name, development only), or
    /// why the account may not be used.
    pub async fn resolve(&self, account: &SmtpAccount) -> Result<Option<IpAddr>, String> {
        if self.allow_private {
            return Ok(None);
        }
        if !SMTP_PORTS.contains(&account.port) {
            return Err(format!("SMTP port {} is not a mail port ({SMTP_PORTS:?})", account.port));
        }
        if account.security == Security::None {
            return Err("SMTP without TLS is not allowed".into());
        }
        let addresses: Vec<IpAddr> = tokio::net::lookup_host((account.host.as_str(), account.port))
            .await
            .map_err(|e| format!("SMTP host {:?} does not resolve: {e}", account.host))?
            .map(|a| a.ip())
            .collect();
        if addresses.is_empty() || !addresses.iter().copied().all(is_public) {
            return Err(format!("SMTP host {:?} resolves to a non-public address", account.host));
        }
        Ok(addresses.first().copied())
    }
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))) // carrier-grade NAT
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let embedded =
                |hi: u16, lo: u16| IpAddr::V4(std::net::Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) reach the IPv4 inside.
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return is_public(embedded(s[6], s[7]));
            }
            if s[0] == 0x2002 {
                return is_public(embedded(s[1], s[2]));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || s[..6] == [0; 6] // IPv4-compatible (deprecated)
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80) // link local
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_mail_servers() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe", // NAT64 of 169.254.169.254
            "2002:7f00:1::",      // 6to4 of 127.0.0.1
            "::127.0.0.1",        // IPv4-compatible
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["203.0.114.1", "142.250.1.26", "2607:f8b0::1"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn a_studio_cannot_point_the_worker_at_internal_services() {
        let account = |host: &str, port, security| SmtpAccount {
            host: host.into(),
            port,
            security,
            username: None,
            password: None,
            from: "a@b.example".into(),
        };
        let strict = SmtpPolicy::default();
        assert!(
            strict.resolve(&account("127.0.0.1", 587, Security::StartTls)).await.unwrap_err().contains("non-public")
        );
        assert!(strict.resolve(&account("localhost", 465, Security::Tls)).await.is_err());
        assert!(
            strict.resolve(&account("smtp.example.com", 6379, Security::StartTls)).await.unwrap_err().contains("port")
        );
        assert!(strict.resolve(&account("smtp.example.com", 25, Security::None)).await.unwrap_err().contains("TLS"));
        let dev = SmtpPolicy { allow_private: true };
        assert_eq!(dev.resolve(&account("127.0.0.1", 2526, Security::None)).await, Ok(None));
    }
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

/// `List-Unsubscribe-Post` (RFC 8058): the https link works with one POST.
#[derive(Clone, Debug)]
struct ListUnsubscribePost;

impl lettre::message::header::Header for ListUnsubscribePost {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_owned())
    }
}
