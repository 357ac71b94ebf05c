//! Sends one follow-up, at most once.
//!
//! The follow-up's message has an idempotency key (`followup:<id>`) and a
//! state machine in Postgres: `queued → sending → sent | sent_sandbox |
//! failed`, moved only by the job delivery holding the newest fencing token
//! from the queue. One delivery runs in three steps:
//!
//! 1. In the guard's transaction (the follow-up row locked): check that it
//!    may go out *now* (not opted out, outside quiet hours, under the
//!    frequency cap, the sequence not stopped), render it, and move its
//!    message `queued → sending` with this delivery's token. Commit.
//! 2. Call the provider, holding no transaction.
//! 3. Record the outcome, guarded by the same token.
//!
//! A crash before step 1 commits leaves the message `queued` (or absent), so
//! the retry sends it once. A crash after step 3 leaves it `sent`, so the
//! retry sends nothing. The one ambiguous window is between committing
//! `sending` and committing the outcome: the provider may or may not have
//! accepted. A delivery that finds a message left `sending` by an earlier
//! one never calls the provider again; it marks the follow-up failed with
//! reason `outcome_unknown` and logs it for the studio to check (the
//! message stays `sending` with error `outcome_unknown`). We chose at most
//! once: a studio would rather re-send by hand than have a lead texted
//! twice. The same rule covers a provider call that times out after the
//! request left: `SendError::Unknown`, never a retry.

use std::collections::HashMap;

use apalis::prelude::Data;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use frontdesk_jobs::{MessageId, SendFollowup};
use frontdesk_queue::Lease;
use frontdesk_store::{
    TenantTx, activity,
    activity::Activity,
    followups::{self, Followup, Status},
    integrations::{self, Integration},
    leads::{self, Lead},
    messages::{self, Channel, NewOutbound, SendOutcome},
    vault::{Secret, Vault},
    workspaces::{self, SendingPolicy},
};
use tracing::{info, warn};

use crate::{
    JobContext, JobError,
    compliance::{quiet_hours::QuietHours, template},
    providers::{
        SendError, Sent,
        smtp::{self, Email, Security, SmtpAccount},
        twilio::{Sms, TwilioAccount, TwilioClient},
        whatsapp::{WhatsappClient, WhatsappMessage, WhatsappSender},
    },
};

/// What the send job needs besides the database: provider clients and keys.
#[derive(Clone, Debug)]
pub struct SendDeps {
    pub vault: Vault,
    pub twilio: TwilioClient,
    pub whatsapp: WhatsappClient,
    /// Our public base URL, for Twilio's `StatusCallback`.
    pub public_url: String,
}

/// The window in which `max_messages_per_lead_per_day` counts.
const CAP_WINDOW: Duration = Duration::hours(24);
const WHATSAPP_WINDOW: Duration = Duration::hours(24);

pub async fn handle(job: SendFollowup, lease: Lease, cx: JobContext, deps: Data<SendDeps>) -> Result<(), JobError> {
    let fence = i64::try_from(lease.fence).unwrap_or(i64::MAX);
    let mut tx = cx.tenant().await?;
    let plan = match prepare(&mut tx, &job, fence, &deps).await {
        Ok(Prepared::Done) => {
            tx.commit().await?;
            return Ok(());
        }
        Ok(Prepared::Send(plan)) => plan,
        Err(JobError::Permanent(why)) => {
            // Dead-lettered, but the studio sees why on the follow-up itself.
            drop(tx);
            let mut tx = cx.tenant().await?;
            followups::set_status(&mut tx, job.followup_id, Status::Failed, Some(&why), None).await?;
            tx.commit().await?;
            return Err(JobError::Permanent(why));
        }
        Err(other) => return Err(other),
    };
    // `sending` is durable before the provider hears anything.
    tx.commit().await?;
    let result = deliver(&deps, &plan).await;
    let last_attempt = lease.attempt >= lease.max_attempts;
    let mut tx = cx.tenant().await?;
    let outcome = record(&mut tx, &plan, fence, result, last_attempt).await?;
    tx.commit().await?;
    outcome
}

enum Prepared {
    /// Nothing to send now (already handled, skipped, rescheduled…).
    Done,
    Send(Box<Plan>),
}

/// One provider call, fully decided.
struct Plan {
    followup_id: frontdesk_jobs::FollowupId,
    message_id: MessageId,
    lead_id: frontdesk_jobs::LeadId,
    channel: Channel,
    sandbox: bool,
    to: String,
    body: String,
    subject: Option<String>,
    request: Request,
}

enum Request {
    Sms(TwilioAccount),
    Whatsapp {
        sender: WhatsappSender,
        /// Free-form text is allowed (inside the 24-hour window).
        free_form: bool,
        template: Option<ApprovedTemplate>,
    },
    Email(SmtpAccount),
}

/// A WhatsApp template the studio had approved, with its parameters rendered.
#[derive(Clone, Debug)]
struct ApprovedTemplate {
    name: String,
    language: String,
    parameters: Vec<String>,
}

async fn prepare(tx: &mut TenantTx, job: &SendFollowup, fence: i64, deps: &SendDeps) -> Result<Prepared, JobError> {
    let followup = followups::find_for_update(tx, job.followup_id)
        .await?
        .ok_or_else(|| JobError::Permanent("follow-up vanished after the guard saw it".into()))?;
    // Finished, or put back for later (the scheduler enqueues it again when due).
    if followup.status.is_final() || followup.status == Status::Scheduled {
        return Ok(Prepared::Done);
    }
    let key = format!("followup:{}", followup.id);
    if let Some(existing) = messages::find_outbound(tx, &key).await? {
        match existing.status.as_str() {
            "queued" => {} // an earlier delivery was turned away by the provider: send
            "sending" => {
                // The ambiguous window (see the module docs): never call again.
                let token = existing.fencing_token.unwrap_or_default();
                messages::record_outcome(tx, existing.id, token, &SendOutcome::Unknown).await?;
                let reason = "outcome_unknown: an earlier attempt stopped after calling the provider";
                finish(tx, &followup, Status::Failed, reason, Some(existing.id)).await?;
                warn!(followup_id = %followup.id, "follow-up outcome unknown; not sending again");
                return Ok(Prepared::Done);
            }
            "failed" => {
                finish(tx, &followup, Status::Failed, "message failed", Some(existing.id)).await?;
                return Ok(Prepared::Done);
            }
            _ => {
                // sent, sent_sandbox, delivered, read: done in an earlier delivery.
                followups::set_status(tx, followup.id, Status::Sent, None, Some(existing.id)).await?;
                return Ok(Prepared::Done);
            }
        }
    }
    let policy = workspaces::sending_policy(tx).await?;
    let lead = leads::find(tx, followup.lead_id)
        .await?
        .ok_or_else(|| JobError::Permanent("lead vanished after the guard saw it".into()))?;
    let now = Utc::now();
    if let Some(stop) = sequence_stopped(&followup, &lead) {
        finish(tx, &followup, Status::Canceled, stop, None).await?;
        return Ok(Prepared::Done);
    }
    if lead.opted_out(followup.channel) {
        finish(tx, &followup, Status::Skipped, "opted_out", None).await?;
        return Ok(Prepared::Done);
    }
    let Some(to) = lead.address(followup.channel).map(str::to_owned) else {
        finish(tx, &followup, Status::Skipped, "no_address", None).await?;
        return Ok(Prepared::Done);
    };
    if let Some(later) = not_before(tx, &policy, &lead, now).await? {
        let (due_at, reason) = later;
        followups::reschedule(tx, followup.id, due_at, reason).await?;
        record_activity(
            tx,
            &followup,
            "followup_rescheduled",
            serde_json::json!({ "reason": reason, "due_at": due_at }),
        )
        .await?;
        return Ok(Prepared::Done);
    }
    let provider = followups::sending_provider(followup.channel);
    let Some(integration) = integrations::find_by_provider(tx, provider).await? else {
        let reason = format!("no {} integration", provider.as_str());
        finish(tx, &followup, Status::Failed, &reason, None).await?;
        return Ok(Prepared::Done);
    };
    let vars = variables(&policy, &lead);
    let body = match template::render(&followup.template, &vars) {
        Ok(body) => body,
        Err(e) => {
            finish(tx, &followup, Status::Failed, &format!("template: {e}"), None).await?;
            return Ok(Prepared::Done);
        }
    };
    let subject = match (followup.channel, &followup.subject) {
        (Channel::Email, subject) => {
            let subject = subject.as_deref().unwrap_or("{studio_name}");
            match template::render(subject, &vars) {
                Ok(s) => Some(s),
                Err(e) => {
                    finish(tx, &followup, Status::Failed, &format!("subject template: {e}"), None).await?;
                    return Ok(Prepared::Done);
                }
            }
        }
        _ => None,
    };
    let secret = match integration.sandbox {
        true => None,
        false => integrations::find_secret(tx, &deps.vault, integration.id).await?,
    };
    let request = match request(&followup, &lead, &integration, secret, &vars, now) {
        Ok(request) => request,
        Err(reason) => {
            finish(tx, &followup, Status::Failed, &reason, None).await?;
            return Ok(Prepared::Done);
        }
    };
    let message = messages::outbound_for_key(
        tx,
        &NewOutbound {
            lead_id: lead.id,
            channel: followup.channel,
            body: &body,
            subject: subject.as_deref(),
            idempotency_key: &key,
        },
    )
    .await?;
    if !messages::begin_send(tx, message.id, fence, &body, subject.as_deref()).await? {
        // A delivery with a newer token holds it; this one is stale.
        return Ok(Prepared::Done);
    }
    followups::set_status(tx, followup.id, Status::Sending, None, Some(message.id)).await?;
    Ok(Prepared::Send(Box::new(Plan {
        followup_id: followup.id,
        message_id: message.id,
        lead_id: lead.id,
        channel: followup.channel,
        sandbox: integration.sandbox,
        to,
        body,
        subject,
        request,
    })))
}

/// A sequence stops when the lead replies or books.
fn sequence_stopped(followup: &Followup, lead: &Lead) -> Option<&'static str> {
    if followup.kind != "sequence" {
        return None;
    }
    if lead.last_inbound_at.is_some_and(|t| t > followup.created_at) {
        return Some("lead_replied");
    }
    matches!(lead.status.as_str(), "booked" | "member").then_some("lead_booked")
}

/// When the send must wait: quiet hours in the studio's timezone, then the
/// per-lead frequency cap.
async fn not_before(
    tx: &mut TenantTx,
    policy: &SendingPolicy,
    lead: &Lead,
    now: DateTime<Utc>,
) -> Result<Option<(DateTime<Utc>, &'static str)>, JobError> {
    let tz: Tz = policy.timezone.parse().unwrap_or(Tz::UTC);
    if let Some((start, end)) = policy.quiet_hours
        && let Some(resume) = (QuietHours { start, end }).next_allowed(tz, now)
    {
        return Ok(Some((resume, "quiet_hours")));
    }
    let (sent, oldest) = messages::outbound_since(tx, lead.id, now - CAP_WINDOW).await?;
    if sent >= i64::from(policy.max_messages_per_lead_per_day) {
        // Room again once the oldest counted message leaves the window.
        let resume = oldest.unwrap_or(now) + CAP_WINDOW + Duration::minutes(1);
        return Ok(Some((resume, "frequency_cap")));
    }
    Ok(None)
}

fn variables(policy: &SendingPolicy, lead: &Lead) -> HashMap<&'static str, String> {
    let mut vars = HashMap::new();
    vars.insert("studio_name", policy.name.clone());
    if let Some(first) = lead.first_name() {
        vars.insert("first_name", first.to_owned());
    }
    if let Some(link) = &policy.booking_link {
        vars.insert("booking_link", link.clone());
    }
    vars
}

/// The provider request for this channel, from the workspace's own
/// integration and credential. `Err` is why it cannot be sent at all.
fn request(
    followup: &Followup,
    lead: &Lead,
    integration: &Integration,
    secret: Option<Secret>,
    vars: &HashMap<&'static str, String>,
    now: DateTime<Utc>,
) -> Result<Request, String> {
    let settings = &integration.settings;
    let text = |key: &str| settings[key].as_str().map(str::to_owned);
    // Sandbox sends never use the credential; an empty one keeps the types simple.
    let credential = |what: &str| match (secret.clone(), integration.sandbox) {
        (Some(secret), _) => Ok(secret),
        (None, true) => Ok(Secret::new(String::new())),
        (None, false) => Err(format!("the {what} integration has no credential")),
    };
    match followup.channel {
        Channel::Sms => {
            let account_sid = integration.external_id.clone().ok_or("Twilio integration has no AccountSid")?;
            Ok(Request::Sms(TwilioAccount {
                account_sid,
                auth_token: credential("Twilio")?,
                from: text("from"),
                messaging_service_sid: text("messaging_service_sid"),
            }))
        }
        Channel::Whatsapp => {
            let phone_number_id =
                integration.external_id.clone().ok_or("WhatsApp integration has no phone_number_id")?;
            let free_form = lead.last_inbound_whatsapp_at.is_some_and(|t| now - t < WHATSAPP_WINDOW);
            let template = approved_template(&settings["template"], vars)?;
            if !free_form && template.is_none() {
                return Err("outside the WhatsApp 24-hour window and no approved template is configured".into());
            }
            Ok(Request::Whatsapp {
                sender: WhatsappSender { phone_number_id, access_token: credential("WhatsApp")? },
                free_form,
                template,
            })
        }
        Channel::Email => {
            let host = text("host").ok_or("SMTP integration has no host")?;
            let from = text("from").ok_or("SMTP integration has no from address")?;
            let security = serde_json::from_value(settings["security"].clone()).unwrap_or(Security::StartTls);
            let port = settings["port"].as_u64().and_then(|p| u16::try_from(p).ok()).unwrap_or(587);
            let username = text("username");
            let password = username.as_ref().and(secret);
            Ok(Request::Email(SmtpAccount { host, port, security, username, password, from }))
        }
    }
}

/// `settings.template`: `{ "name", "language", "parameters": ["{first_name}", …] }`.
fn approved_template(
    config: &serde_json::Value,
    vars: &HashMap<&'static str, String>,
) -> Result<Option<ApprovedTemplate>, String> {
    let Some(name) = config["name"].as_str() else { return Ok(None) };
    let language = config["language"].as_str().unwrap_or("en_US").to_owned();
    let parameters = config["parameters"]
        .as_array()
        .map(|ps| ps.iter().filter_map(|p| p.as_str()).map(|p| template::render(p, vars)).collect())
        .transpose()
        .map_err(|e| format!("WhatsApp template parameter: {e}"))?
        .unwrap_or_default();
    Ok(Some(ApprovedTemplate { name: name.to_owned(), language, parameters }))
}

async fn deliver(deps: &SendDeps, plan: &Plan) -> Result<Sent, SendError> {
    if plan.sandbox {
        return Ok(Sent { provider_message_id: format!("sandbox-{}", plan.message_id) });
    }
    match &plan.request {
        Request::Sms(account) => {
            let callback = format!("{}/webhooks/twilio/status", deps.public_url.trim_end_matches('/'));
            deps.twilio.send_sms(account, &Sms { to: &plan.to, body: &plan.body, status_callback: &callback }).await
        }
        Request::Whatsapp { sender, free_form, template } => {
            fn as_template(t: &ApprovedTemplate) -> WhatsappMessage<'_> {
                WhatsappMessage::Template { name: &t.name, language: &t.language, parameters: t.parameters.clone() }
            }
            if !free_form {
                let t = template.as_ref().expect("checked when planned");
                return deps.whatsapp.send(sender, &plan.to, &as_template(t)).await;
            }
            match deps.whatsapp.send(sender, &plan.to, &WhatsappMessage::Text { body: &plan.body }).await {
                // Our clock said inside the window, Meta's did not (131047 is
                // a rejection, nothing was sent): the template, once.
                Err(SendError::OutsideWindow(detail)) => match template {
                    Some(t) => deps.whatsapp.send(sender, &plan.to, &as_template(t)).await,
                    None => Err(SendError::OutsideWindow(detail)),
                },
                other => other,
            }
        }
        Request::Email(account) => {
            let domain = account.from.rsplit_once('@').map_or("frontdesk.invalid", |(_, d)| d.trim_end_matches('>'));
            let message_id = format!("{}@{domain}", plan.message_id);
            let address = account.from.rsplit_once('<').map_or(account.from.as_str(), |(_, a)| a.trim_end_matches('>'));
            let unsubscribe = format!("<mailto:{address}?subject=unsubscribe>");
            let email = Email {
                to: &plan.to,
                subject: plan.subject.as_deref().unwrap_or_default(),
                body: &plan.body,
                message_id: &message_id,
                in_reply_to: None,
                list_unsubscribe: &unsubscribe,
            };
            smtp::send(account, &email).await
        }
    }
}

/// Writes what the provider said, as the delivery holding `fence`.
async fn record(
    tx: &mut TenantTx,
    plan: &Plan,
    fence: i64,
    result: Result<Sent, SendError>,
    last_attempt: bool,
) -> Result<Result<(), JobError>, JobError> {
    let id = plan.message_id;
    let (status, reason, job_result) = match &result {
        Ok(sent) => {
            let outcome = SendOutcome::Sent { provider_message_id: &sent.provider_message_id, sandbox: plan.sandbox };
            messages::record_outcome(tx, id, fence, &outcome).await?;
            leads::mark_contacted(tx, plan.lead_id).await?;
            info!(followup_id = %plan.followup_id, channel = plan.channel.as_str(), sandbox = plan.sandbox, "follow-up sent");
            (Status::Sent, if plan.sandbox { "sandbox".into() } else { String::new() }, Ok(()))
        }
        Err(SendError::OptedOut(detail)) => {
            messages::record_outcome(tx, id, fence, &SendOutcome::Failed { error_code: "opted_out" }).await?;
            if leads::set_opted_out(tx, plan.lead_id, plan.channel, true).await? {
                let detail = serde_json::json!({ "channel": plan.channel.as_str(), "source": "provider" });
                let entry = Activity { kind: "opted_out", lead_id: Some(plan.lead_id), is_security: false, detail };
                activity::record(tx, &entry).await?;
            }
            (Status::Skipped, format!("opted_out: {detail}"), Ok(()))
        }
        Err(SendError::OutsideWindow(detail)) => {
            messages::record_outcome(tx, id, fence, &SendOutcome::Failed { error_code: "outside_window" }).await?;
            (Status::Failed, format!("outside the WhatsApp window: {detail}"), Ok(()))
        }
        Err(SendError::Permanent(detail)) => {
            messages::record_outcome(tx, id, fence, &SendOutcome::Failed { error_code: "rejected" }).await?;
            (Status::Failed, detail.clone(), Err(JobError::Permanent(detail.clone())))
        }
        Err(SendError::Unknown(detail)) => {
            messages::record_outcome(tx, id, fence, &SendOutcome::Unknown).await?;
            (Status::Failed, format!("outcome_unknown: {detail}"), Ok(()))
        }
        Err(SendError::Transient { detail, retry_after }) => {
            if last_attempt {
                messages::record_outcome(tx, id, fence, &SendOutcome::Failed { error_code: "gave_up" }).await?;
                (Status::Failed, format!("gave up: {detail}"), Err(JobError::Retryable(detail.clone())))
            } else {
                // Certainly not accepted: back to queued for the retry.
                messages::record_outcome(tx, id, fence, &SendOutcome::Requeue { error_code: "transient" }).await?;
                followups::set_status(tx, plan.followup_id, Status::Enqueued, Some(detail), None).await?;
                return Ok(Err(match retry_after {
                    Some(after) => JobError::RetryAfter { detail: detail.clone(), after: *after },
                    None => JobError::Retryable(detail.clone()),
                }));
            }
        }
    };
    let reason = (!reason.is_empty()).then_some(reason);
    followups::set_status(tx, plan.followup_id, status, reason.as_deref(), Some(id)).await?;
    let kind = match status {
        Status::Sent => "followup_sent",
        Status::Skipped => "followup_skipped",
        _ => "followup_failed",
    };
    let detail = serde_json::json!({
        "followup_id": plan.followup_id,
        "message_id": id,
        "channel": plan.channel.as_str(),
        "reason": reason,
    });
    activity::record(tx, &Activity { kind, lead_id: Some(plan.lead_id), is_security: false, detail }).await?;
    Ok(job_result)
}

/// Ends a follow-up before any provider call, with an activity entry.
async fn finish(
    tx: &mut TenantTx,
    followup: &Followup,
    status: Status,
    reason: &str,
    message_id: Option<MessageId>,
) -> Result<(), JobError> {
    followups::set_status(tx, followup.id, status, Some(reason), message_id).await?;
    let kind = match status {
        Status::Canceled => "followup_canceled",
        Status::Skipped => "followup_skipped",
        _ => "followup_failed",
    };
    record_activity(tx, followup, kind, serde_json::json!({ "reason": reason })).await
}

async fn record_activity(
    tx: &mut TenantTx,
    followup: &Followup,
    kind: &'static str,
    mut detail: serde_json::Value,
) -> Result<(), JobError> {
    detail["followup_id"] = serde_json::json!(followup.id);
    detail["channel"] = serde_json::json!(followup.channel.as_str());
    activity::record(tx, &Activity { kind, lead_id: Some(followup.lead_id), is_security: false, detail }).await?;
    Ok(())
}
