//! Twilio Messages API: `POST {base}/2010-04-01/Accounts/{sid}/Messages.json`,
//! form-encoded, HTTP Basic `AccountSid:AuthToken`.

use frontdesk_store::{integrations::Integration, vault::Secret};
use serde::Deserialize;

use super::{Reply, SendError, Sent};

#[derive(Clone, Debug)]
pub struct TwilioClient {
    http: reqwest::Client,
    base: String,
}

/// One workspace's Twilio account and sender.
#[derive(Clone, Debug)]
pub struct TwilioAccount {
    pub account_sid: String,
    pub auth_token: Secret,
    /// `From` number, unless a messaging service sends.
    pub from: Option<String>,
    pub messaging_service_sid: Option<String>,
}

impl TwilioAccount {
    /// The account a workspace's `twilio` integration describes:
    /// `external_id` is the AccountSid; `settings.from` or
    /// `settings.messaging_service_sid` is the sender.
    pub fn from_integration(integration: &Integration, auth_token: Secret) -> Result<Self, String> {
        let account_sid = integration.external_id.clone().ok_or("the Twilio integration has no AccountSid")?;
        let text = |key: &str| integration.settings[key].as_str().map(str::to_owned);
        Ok(Self { account_sid, auth_token, from: text("from"), messaging_service_sid: text("messaging_service_sid") })
    }
}

#[derive(Clone, Debug)]
pub struct Sms<'a> {
    pub to: &'a str,
    pub body: &'a str,
    /// Our `/webhooks/twilio/status` URL.
    pub status_callback: &'a str,
}

impl TwilioClient {
    /// `base` is `https://api.twilio.com` in production; tests point it at a fake.
    pub fn new(http: reqwest::Client, base: impl Into<String>) -> Self {
        Self { http, base: base.into().trim_end_matches('/').to_owned() }
    }

    pub async fn send_sms(&self, account: &TwilioAccount, sms: &Sms<'_>) -> Result<Sent, SendError> {
        let url = format!("{}/2010-04-01/Accounts/{}/Messages.json", self.base, account.account_sid);
        let mut form = vec![("To", sms.to), ("Body", sms.body), ("StatusCallback", sms.status_callback)];
        match (&account.messaging_service_sid, &account.from) {
            (Some(mss), _) => form.push(("MessagingServiceSid", mss)),
            (None, Some(from)) => form.push(("From", from)),
            (None, None) => {
                return Err(SendError::Permanent(
                    "Twilio account has neither a From number nor a messaging service".into(),
                ));
            }
        }
        let request =
            self.http.post(url).basic_auth(&account.account_sid, Some(account.auth_token.expose())).form(&form);
        let reply = Reply::send(request).await?;
        if reply.status.is_success() {
            let created: Created = reply.parse("Twilio")?;
            return Ok(Sent { provider_message_id: created.sid });
        }
        let error: TwilioError = serde_json::from_str(&reply.body).unwrap_or_default();
        let detail = reply.detail(error.code, &error.message);
        Err(match error.code {
            Some(21610) => SendError::OptedOut(detail),
            Some(21211) => SendError::Permanent(detail),
            _ => reply.failure(detail),
        })
    }
}

impl TwilioClient {
    /// Twilio's record of a message we may have sent: the newest message to
    /// `to` from this account's sender with exactly `body`, created at or
    /// after `since` (`GET …/Messages.json?To=…&From=…`, newest first).
    pub async fn find_sent(
        &self,
        account: &TwilioAccount,
        to: &str,
        body: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<Found>, SendError> {
        let url = format!("{}/2010-04-01/Accounts/{}/Messages.json", self.base, account.account_sid);
        let mut query = vec![("To", to), ("PageSize", "50")];
        // A messaging service picks its number per message: filter by recipient only.
        if let (None, Some(from)) = (&account.messaging_service_sid, &account.from) {
            query.push(("From", from));
        }
        let request =
            self.http.get(url).basic_auth(&account.account_sid, Some(account.auth_token.expose())).query(&query);
        let reply = Reply::send(request).await?;
        if !reply.status.is_success() {
            let error: TwilioError = serde_json::from_str(&reply.body).unwrap_or_default();
            return Err(reply.failure(reply.detail(error.code, &error.message)));
        }
        let page: MessagePage = reply.parse("Twilio")?;
        Ok(page.messages.into_iter().find_map(|m| {
            let created = chrono::DateTime::parse_from_rfc2822(m.date_created.as_deref()?).ok()?;
            (m.body.as_deref() == Some(body) && created >= since).then_some(Found { sid: m.sid, status: m.status })
        }))
    }
}

/// A message in Twilio's list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub sid: String,
    pub status: String,
}

#[derive(Deserialize)]
struct MessagePage {
    #[serde(default)]
    messages: Vec<ListedMessage>,
}

#[derive(Deserialize)]
struct ListedMessage {
    sid: String,
    status: String,
    body: Option<String>,
    date_created: Option<String>,
}

#[derive(Deserialize)]
struct Created {
    sid: String,
}

#[derive(Deserialize, Default)]
struct TwilioError {
    code: Option<i64>,
    #[serde(default)]
    message: String,
}

impl TwilioClient {
    /// The integration's live check: `GET /2010-04-01/Accounts/{sid}.json`
    /// with the account's own credentials. Twilio answers 401 (code 20003)
    /// for a wrong SID/token pair; a suspended or closed account is refused too.
    pub async fn fetch_account(&self, account_sid: &str, auth_token: &Secret) -> Result<(), SendError> {
        let url = format!("{}/2010-04-01/Accounts/{account_sid}.json", self.base);
        let reply = Reply::send(self.http.get(url).basic_auth(account_sid, Some(auth_token.expose()))).await?;
        if reply.status.is_success() {
            let account: Account = reply.parse("Twilio")?;
            return match account.status.as_deref() {
                None | Some("active") => Ok(()),
                Some(other) => Err(SendError::Permanent(format!("the Twilio account is {other}"))),
            };
        }
        let error: TwilioError = serde_json::from_str(&reply.body).unwrap_or_default();
        Err(reply.failure(reply.detail(error.code, &error.message)))
    }
}

#[derive(Deserialize)]
struct Account {
    status: Option<String>,
}
