//! Step 2: the provider call, with no transaction held.

use frontdesk_store::vault::{SEND_REFERENCE, UNSUBSCRIBE_EMAIL};

use super::{ApprovedTemplate, Plan, Request, SendDeps, prepare::template_body};
use crate::providers::{
    SendError, Sent,
    smtp::{self, Email},
    twilio::Sms,
    whatsapp::WhatsappMessage,
};

/// What the provider took.
pub(super) struct Delivered {
    pub sent: Sent,
    /// Set when what went out differs from the planned body (the WhatsApp
    /// template fallback).
    pub body: Option<String>,
}

pub(super) async fn deliver(deps: &SendDeps, plan: &Plan) -> Result<Delivered, SendError> {
    if plan.sandbox {
        let sent = Sent { provider_message_id: format!("sandbox-{}", plan.message_id) };
        return Ok(Delivered { sent, body: None });
    }
    let as_planned = |sent| Delivered { sent, body: None };
    // The provider echoes this back with every status of the message, so
    // a send whose own answer is lost can still be resolved (signed: a
    // callback cannot name another studio's follow-up).
    let token = deps.vault.link_token(plan.workspace_id, SEND_REFERENCE, &plan.followup_id.to_string());
    let reference = format!("{}.{token}", plan.followup_id);
    match &plan.request {
        Request::Sms(account) => {
            let callback = format!(
                "{}/webhooks/twilio/status?followup={}&ref={token}",
                deps.public_url.trim_end_matches('/'),
                plan.followup_id
            );
            let sms = Sms { to: &plan.to, body: &plan.body, status_callback: &callback };
            deps.twilio.send_sms(account, &sms).await.map(as_planned)
        }
        Request::WhatsappTemplate { sender, template } => {
            deps.whatsapp.send(sender, &plan.to, &as_message(template), Some(&reference)).await.map(as_planned)
        }
        Request::WhatsappText { sender, fallback } => {
            let text = WhatsappMessage::Text { body: &plan.body };
            match deps.whatsapp.send(sender, &plan.to, &text, Some(&reference)).await {
                // Our clock said inside the window, Meta's did not. 131047 is
                // a rejection (nothing was sent), so the template goes, once.
                Err(SendError::OutsideWindow(detail)) => match fallback {
                    Some(t) => {
                        let sent = deps.whatsapp.send(sender, &plan.to, &as_message(t), Some(&reference)).await?;
                        Ok(Delivered { sent, body: Some(template_body(t)) })
                    }
                    None => Err(SendError::OutsideWindow(detail)),
                },
                other => other.map(as_planned),
            }
        }
        Request::Email { account, in_reply_to } => {
            let domain = account.from.rsplit_once('@').map_or("frontdesk.invalid", |(_, d)| d.trim_end_matches('>'));
            let message_id = format!("{}@{domain}", plan.message_id);
            let address = account.from.rsplit_once('<').map_or(account.from.as_str(), |(_, a)| a.trim_end_matches('>'));
            let mailto = format!("<mailto:{address}?subject=unsubscribe>");
            // RFC 8058 one-click needs https: a plain-http public URL (local
            // development) offers the mailto only.
            let one_click = deps.public_url.starts_with("https://");
            let unsubscribe = if one_click { format!("<{}>, {mailto}", unsubscribe_url(deps, plan)) } else { mailto };
            let email = Email {
                to: &plan.to,
                subject: plan.subject.as_deref().unwrap_or_default(),
                body: &plan.body,
                message_id: &message_id,
                in_reply_to: in_reply_to.as_deref(),
                list_unsubscribe: &unsubscribe,
                one_click,
            };
            // Checked here, outside any transaction: the lookup may be slow.
            let connect_to = deps.smtp.resolve(account).await.map_err(SendError::Permanent)?;
            smtp::send(account, connect_to, &email).await.map(as_planned)
        }
    }
}

fn as_message(t: &ApprovedTemplate) -> WhatsappMessage<'_> {
    WhatsappMessage::Template { name: &t.name, language: &t.language, parameters: t.parameters.clone() }
}

/// The one-click link the api answers at `/unsubscribe/…` (signed, so it
/// names its workspace and lead and cannot be altered).
fn unsubscribe_url(deps: &SendDeps, plan: &Plan) -> String {
    let lead = plan.lead_id.to_string();
    let token = deps.vault.link_token(plan.workspace_id, UNSUBSCRIBE_EMAIL, &lead);
    format!("{}/unsubscribe/{}/{lead}/{token}", deps.public_url.trim_end_matches('/'), plan.workspace_id)
}
