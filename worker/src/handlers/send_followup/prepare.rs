//! Step 1: everything decided before the provider call, in one transaction.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use frontdesk_domain::reply_language;
use frontdesk_jobs::{Envelope, MessageId, ReconcileSend, SendFollowup};
use frontdesk_store::{
    TenantTx, activity,
    activity::Activity,
    followups::{self, Followup, Status},
    inbound::Triggered,
    integrations::{self, Integration},
    leads::{self, Lead},
    messages::{self, Channel, NewOutbound},
    outbox, unknown_sends,
    vault::Secret,
    workspaces::{self, SendingPolicy},
};
use tracing::{info, warn};

use super::{ApprovedTemplate, Plan, Request, SendDeps};
use crate::{
    JobError,
    compliance::{quiet_hours::QuietHours, template},
    providers::{
        smtp::{Security, SmtpAccount},
        twilio::TwilioAccount,
        whatsapp::WhatsappSender,
    },
};

/// The window in which `max_messages_per_lead_per_day` counts.
const CAP_WINDOW: Duration = Duration::hours(24);

/// `Some` when the message is now `sending` under `fence` and the provider
/// must be called; `None` when there is nothing to send now (already
/// handled, ended with a reason, or rescheduled).
pub(super) async fn prepare(
    tx: &mut TenantTx,
    job: &SendFollowup,
    fence: i64,
    deps: &SendDeps,
    triggered: &mut Triggered,
) -> Result<Option<Plan>, JobError> {
    let followup = followups::find_for_update(tx, job.followup_id)
        .await?
        .ok_or_else(|| JobError::permanent("follow-up vanished after the guard saw it"))?;
    // Finished, or put back for later (the scheduler enqueues it again when due).
    if followup.status.is_final() || followup.status == Status::Scheduled {
        return Ok(None);
    }
    let key = message_key(&followup);
    if let Some(existing) = messages::find_outbound(tx, &key).await? {
        match existing.status.as_str() {
            "queued" => {} // an earlier attempt was turned away by the provider: send
            "sending" => {
                // The ambiguous window (see the module docs): never call again.
                if messages::take_over_unknown(tx, existing.id, fence).await? {
                    if let Some(provider_id) = existing.provider_message_id.as_deref() {
                        // The provider's status callback named this follow-up
                        // while the delivery that sent it was gone: it was sent.
                        let by = "the provider's status callback";
                        unknown_sends::resolve(tx, followup.id, existing.id, followup.channel, provider_id, by).await?;
                        info!(followup_id = %followup.id, "follow-up outcome resolved from a status callback");
                    } else {
                        let reason = "outcome_unknown: an earlier attempt stopped after calling the provider";
                        end(tx, &followup, Status::Failed, reason, Some(existing.id)).await?;
                        warn!(followup_id = %followup.id, "follow-up outcome unknown; not sending again");
                        triggered.extend(reconcile_later(tx, &followup).await?);
                    }
                } else {
                    // A delivery with a newer token holds it: this one is stale.
                    warn!(followup_id = %followup.id, fence, "stale delivery of a follow-up being sent; ignored");
                }
                return Ok(None);
            }
            "failed" => {
                end(tx, &followup, Status::Failed, "message failed", Some(existing.id)).await?;
                return Ok(None);
            }
            _ => {
                // sent, sent_sandbox, delivered, read: done in an earlier delivery.
                followups::set_status(tx, followup.id, Status::Sent, None, Some(existing.id)).await?;
                return Ok(None);
            }
        }
    }
    // Sends to one lead decide one at a time (the frequency cap counts them).
    let lead = leads::find_for_update(tx, followup.lead_id)
        .await?
        .ok_or_else(|| JobError::permanent("lead vanished after the guard saw it"))?;
    let policy = workspaces::sending_policy(tx).await?;
    let now = Utc::now();
    let ended = match check(tx, &followup, &lead, &policy, now).await? {
        Check::Send => match plan(tx, &followup, &lead, &policy, deps, now).await {
            Ok(planned) => Ok(planned),
            Err(Stop::Cannot(reason)) => Err((Status::Failed, reason)),
            Err(Stop::Job(e)) => return Err(e),
        },
        Check::End(status, reason) => Err((status, reason.to_owned())),
        // "Sorry we missed your call" the next morning is worse than none.
        Check::Later(_, reason) if followup.kind == followups::MISSED_CALL => Err((Status::Skipped, reason.to_owned())),
        Check::Later(due_at, reason) => {
            followups::reschedule(tx, followup.id, due_at, reason).await?;
            let detail = serde_json::json!({ "reason": reason, "due_at": due_at });
            record_activity(tx, &followup, "followup_rescheduled", detail).await?;
            return Ok(None);
        }
    };
    let planned = match ended {
        Ok(planned) => planned,
        Err((status, reason)) => {
            end(tx, &followup, status, &reason, None).await?;
            return Ok(None);
        }
    };
    let message = messages::outbound_for_key(
        tx,
        &NewOutbound {
            lead_id: lead.id,
            channel: followup.channel,
            body: &planned.body,
            subject: planned.subject.as_deref(),
            idempotency_key: &key,
        },
    )
    .await?;
    if !messages::begin_send(tx, message.id, fence, &planned.body, planned.subject.as_deref()).await? {
        warn!(followup_id = %followup.id, status = %message.status, "follow-up message is not queued; not sending");
        return Ok(None);
    }
    followups::set_status(tx, followup.id, Status::Sending, None, Some(message.id)).await?;
    Ok(Some(Plan {
        workspace_id: job.workspace_id,
        followup_id: followup.id,
        message_id: message.id,
        lead_id: lead.id,
        channel: followup.channel,
        sandbox: planned.sandbox,
        to: planned.to,
        body: planned.body,
        subject: planned.subject,
        request: planned.request,
    }))
}

/// How long after a send turned unknown the provider is asked about it:
/// long enough for its own status callback to come first.
const RECONCILE_AFTER: Duration = Duration::seconds(20);

/// Asks the provider later whether an unknown send went out, where the
/// provider can be asked (Twilio's message list); elsewhere only status
/// callbacks resolve it.
async fn reconcile_later(tx: &mut TenantTx, followup: &Followup) -> Result<Triggered, JobError> {
    if followup.channel != Channel::Sms {
        return Ok(Vec::new());
    }
    let job = ReconcileSend { workspace_id: tx.workspace_id(), followup_id: followup.id };
    let mut envelope = Envelope::of(&job)
        .map_err(|e| JobError::Permanent { reason: "cannot encode the reconcile job".into(), cause: Some(e.into()) })?;
    envelope.run_at = Some(Utc::now() + RECONCILE_AFTER);
    Ok(outbox::add(tx, &envelope, None).await?.into_iter().collect())
}

pub(super) fn message_key(followup: &Followup) -> String {
    followups::message_key(followup.id)
}

enum Check {
    Send,
    End(Status, &'static str),
    Later(DateTime<Utc>, &'static str),
}

/// The compliance rules, checked at send time whatever was true when the
/// follow-up was scheduled.
async fn check(
    tx: &mut TenantTx,
    followup: &Followup,
    lead: &Lead,
    policy: &SendingPolicy,
    now: DateTime<Utc>,
) -> Result<Check, JobError> {
    if followup.kind == "sequence" {
        // A sequence stops when the lead replies or books.
        if lead.last_inbound_at.is_some_and(|t| t > followup.created_at) {
            return Ok(Check::End(Status::Canceled, "lead_replied"));
        }
        if matches!(lead.status.as_str(), "booked" | "member") {
            return Ok(Check::End(Status::Canceled, "lead_booked"));
        }
    }
    if lead.opted_out(followup.channel) {
        return Ok(Check::End(Status::Skipped, "opted_out"));
    }
    if lead.address(followup.channel).is_none() {
        return Ok(Check::End(Status::Skipped, "no_address"));
    }
    let tz: Tz = policy.timezone.parse().unwrap_or(Tz::UTC);
    if let Some((start, end)) = policy.quiet_hours
        && let Some(resume) = (QuietHours { start, end }).next_allowed(tz, now)
    {
        return Ok(Check::Later(resume, "quiet_hours"));
    }
    let (sent, oldest) = messages::outbound_since(tx, lead.id, now - CAP_WINDOW).await?;
    if sent >= i64::from(policy.max_messages_per_lead_per_day) {
        // Room again once the oldest counted message leaves the window.
        let resume = oldest.unwrap_or(now) + CAP_WINDOW + Duration::minutes(1);
        return Ok(Check::Later(resume, "frequency_cap"));
    }
    Ok(Check::Send)
}

/// What goes out and through which of the workspace's own integrations.
struct Planned {
    sandbox: bool,
    to: String,
    body: String,
    subject: Option<String>,
    request: Request,
}

/// Why planning stopped.
enum Stop {
    /// The follow-up cannot be sent at all: it fails with this reason.
    Cannot(String),
    Job(JobError),
}

impl From<JobError> for Stop {
    fn from(e: JobError) -> Self {
        Stop::Job(e)
    }
}

impl From<frontdesk_store::StoreError> for Stop {
    fn from(e: frontdesk_store::StoreError) -> Self {
        Stop::Job(e.into())
    }
}

fn cannot(reason: impl Into<String>) -> Stop {
    Stop::Cannot(reason.into())
}

async fn plan(
    tx: &mut TenantTx,
    followup: &Followup,
    lead: &Lead,
    policy: &SendingPolicy,
    deps: &SendDeps,
    now: DateTime<Utc>,
) -> Result<Planned, Stop> {
    let provider = followups::sending_provider(followup.channel);
    let integration = integrations::find_by_provider(tx, provider)
        .await?
        .ok_or_else(|| cannot(format!("no {} integration", provider.as_str())))?;
    let vars = variables(policy, lead);
    // The lead's language, then the studio's, then the template as written.
    let text = reply_language::pick(
        &followup.template,
        &followup.template_variants,
        lead.language.as_deref(),
        &policy.default_language,
    );
    let mut body = template::render(text, &vars).map_err(|e| cannot(format!("template: {e}")))?;
    let secret = match integration.sandbox {
        true => None,
        false => integrations::find_secret(tx, &deps.vault, integration.id).await?,
    };
    let credential = |what: &str| match (secret.clone(), integration.sandbox) {
        (Some(secret), _) => Ok(secret),
        // Sandbox sends never use the credential.
        (None, true) => Ok(Secret::new(String::new())),
        (None, false) => Err(cannot(format!("the {what} integration has no credential"))),
    };
    let external_id = |what: &str| integration.external_id.clone().ok_or_else(|| cannot(format!("the {what}")));
    let to = lead.address(followup.channel).unwrap_or_default().to_owned();
    let mut subject = None;
    let request = match followup.channel {
        Channel::Sms => {
            Request::Sms(TwilioAccount::from_integration(&integration, credential("Twilio")?).map_err(cannot)?)
        }
        Channel::Whatsapp => {
            let phone_number_id = external_id("WhatsApp integration has no phone_number_id")?;
            let sender = WhatsappSender { phone_number_id, access_token: credential("WhatsApp")? };
            let inside = lead.in_whatsapp_window(now);
            let config = &integration.settings["template"];
            if inside {
                // The fallback is rendered only if it is used (a missing
                // variable in it must not stop a free-form send).
                let fallback = approved_template(config, &vars).ok().flatten();
                Request::WhatsappText { sender, fallback }
            } else {
                let template = approved_template(config, &vars).map_err(cannot)?.ok_or_else(|| {
                    cannot("outside the WhatsApp 24-hour window and no approved template is configured")
                })?;
                body = template_body(&template);
                Request::WhatsappTemplate { sender, template }
            }
        }
        Channel::Email => {
            let account = smtp_account(&integration, secret.clone()).map_err(cannot)?;
            // Reply in the lead's own thread when they have emailed us.
            let thread = messages::latest_inbound_email(tx, lead.id).await?;
            let own = followup.subject.as_deref().unwrap_or("{studio_name}");
            let rendered = template::render(own, &vars).map_err(|e| cannot(format!("subject template: {e}")))?;
            subject = Some(match thread.as_ref().and_then(|(_, s)| s.as_deref()) {
                Some(theirs) if theirs.to_ascii_lowercase().starts_with("re:") => theirs.to_owned(),
                Some(theirs) => format!("Re: {theirs}"),
                None => rendered,
            });
            Request::Email { account, in_reply_to: thread.map(|(id, _)| id) }
        }
    };
    Ok(Planned { sandbox: integration.sandbox, to, body, subject, request })
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

/// `settings.template`: `{ "name", "language", "parameters": ["{first_name}", …] }`.
fn approved_template(
    config: &serde_json::Value,
    vars: &HashMap<&'static str, String>,
) -> Result<Option<ApprovedTemplate>, String> {
    let Some(name) = config["name"].as_str() else { return Ok(None) };
    let language = config["language"].as_str().unwrap_or("en_US").to_owned();
    let mut parameters = Vec::new();
    for p in config["parameters"].as_array().map(Vec::as_slice).unwrap_or_default() {
        // Placeholders are positional: a skipped one would shift the rest.
        let p = p.as_str().ok_or("WhatsApp template parameters must be strings")?;
        parameters.push(template::render(p, vars).map_err(|e| format!("WhatsApp template parameter: {e}"))?);
    }
    Ok(Some(ApprovedTemplate { name: name.to_owned(), language, parameters }))
}

/// What the message history shows for a template send.
pub(super) fn template_body(t: &ApprovedTemplate) -> String {
    format!("[template {}] {}", t.name, t.parameters.join(" | "))
}

fn smtp_account(integration: &Integration, secret: Option<Secret>) -> Result<SmtpAccount, String> {
    let settings = &integration.settings;
    let text = |key: &str| settings[key].as_str().map(str::to_owned);
    let host = text("host").ok_or("the SMTP integration has no host")?;
    let from = text("from").ok_or("the SMTP integration has no from address")?;
    let security = serde_json::from_value(settings["security"].clone()).unwrap_or(Security::StartTls);
    let port = settings["port"].as_u64().and_then(|p| u16::try_from(p).ok()).unwrap_or(587);
    let username = text("username");
    let password = username.as_ref().and(secret);
    Ok(SmtpAccount { host, port, security, username, password, from })
}

/// Ends a follow-up before any provider call, with an activity entry; a
/// message an earlier attempt left `queued` is closed with it.
pub(super) async fn end(
    tx: &mut TenantTx,
    followup: &Followup,
    status: Status,
    reason: &str,
    message_id: Option<MessageId>,
) -> Result<(), JobError> {
    followups::set_status(tx, followup.id, status, Some(reason), message_id).await?;
    messages::close_queued(tx, &message_key(followup), status.as_str()).await?;
    record_activity(tx, followup, status.activity_kind(), serde_json::json!({ "reason": reason })).await
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
