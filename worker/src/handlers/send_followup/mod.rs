//! Sends one follow-up, at most once.
//!
//! The follow-up's message has an idempotency key (`followup:<id>`) and a
//! state machine in Postgres: `queued → sending → sent | sent_sandbox |
//! failed`, moved by the job delivery holding the queue's fencing token.
//! One delivery runs in three steps:
//!
//! 1. [`prepare`], in the guard's transaction with the follow-up and its
//!    lead locked: decide whether it may go out *now* (not opted out,
//!    outside quiet hours, under the frequency cap, the sequence not
//!    stopped), render it, and move its message `queued → sending` with this
//!    delivery's token. Commit.
//! 2. [`deliver`]: call the provider, holding no transaction.
//! 3. [`record`]: write the outcome, only if this delivery still holds the
//!    message (same token, still `sending`).
//!
//! A crash before step 1 commits leaves the message `queued` (or absent), so
//! the retry sends it once. A crash after step 3 leaves it `sent`, so the
//! retry sends nothing. The one ambiguous window is between committing
//! `sending` and committing the outcome: the provider may or may not have
//! accepted. A later delivery that finds the message `sending` under an
//! older token never calls the provider again: it takes the message over
//! (so the older delivery's late outcome is refused), fails the follow-up
//! with reason `outcome_unknown` and logs it for the studio to check —
//! unless the provider has already said it took the message (a status
//! callback named the follow-up): then the send is resolved as sent. A
//! callback, the lead's reply or Twilio's message list resolves a flagged
//! send later (`frontdesk_store::unknown_sends`, `reconcile_send`). The
//! same rule covers a provider call that times out after the request left,
//! or a gateway error (502/504) that may follow acceptance
//! (`SendError::Unknown`). We chose at most once: a studio would rather
//! re-send by hand than have a lead texted twice.
//!
//! Business outcomes (opted out, invalid number, no template, missing
//! variable) end the follow-up with a reason and the job succeeds; only
//! system faults fail the job.

mod deliver;
mod prepare;
mod record;

use frontdesk_jobs::{FollowupId, LeadId, MessageId, SendFollowup, WorkspaceId};
use frontdesk_store::{followups, followups::Status, messages::Channel, vault::Vault};

use crate::{
    JobContext, JobError,
    providers::{smtp::SmtpAccount, twilio::TwilioAccount, twilio::TwilioClient, whatsapp::WhatsappClient},
    providers::{smtp::SmtpPolicy, whatsapp::WhatsappSender},
};

/// What the send job needs besides the database: provider clients and keys.
#[derive(Clone, Debug)]
pub struct SendDeps {
    pub vault: Vault,
    pub twilio: TwilioClient,
    pub whatsapp: WhatsappClient,
    /// Which SMTP servers a studio may point the worker at.
    pub smtp: SmtpPolicy,
    /// Our public base URL, for Twilio's `StatusCallback` and unsubscribe links.
    pub public_url: String,
}

pub async fn handle(job: SendFollowup, cx: JobContext, deps: SendDeps) -> Result<(), JobError> {
    // Fencing is what makes the send at most once: no lease, no send.
    let lease = cx.lease.clone().ok_or_else(|| JobError::permanent("send job delivered without a queue lease"))?;
    let fence = i64::try_from(lease.fence).unwrap_or(i64::MAX);
    let mut tx = cx.tenant().await?;
    let mut triggered = Vec::new();
    let plan = match prepare::prepare(&mut tx, &job, fence, &deps, &mut triggered).await {
        Ok(Some(plan)) => plan,
        Ok(None) => {
            tx.commit().await?;
            cx.push_committed(triggered).await;
            return Ok(());
        }
        Err(e @ JobError::Permanent { .. }) => {
            // Dead-lettered, and the studio sees why on the follow-up itself.
            drop(tx);
            let mut tx = cx.tenant().await?;
            let why = frontdesk_jobs::Report(&e).to_string();
            followups::set_status(&mut tx, job.followup_id, Status::Failed, Some(&why), None).await?;
            tx.commit().await?;
            return Err(e);
        }
        Err(other) => return Err(other),
    };
    // `sending` is durable before the provider hears anything.
    tx.commit().await?;
    let result = deliver::deliver(&deps, &plan).await;
    let last_attempt = lease.attempt >= lease.max_attempts;
    record::record(&cx, &plan, fence, result, last_attempt).await
}

/// One provider call, fully decided.
struct Plan {
    workspace_id: WorkspaceId,
    followup_id: FollowupId,
    message_id: MessageId,
    lead_id: LeadId,
    channel: Channel,
    sandbox: bool,
    to: String,
    /// What the lead receives (for a WhatsApp template, its rendered parameters).
    body: String,
    subject: Option<String>,
    request: Request,
}

enum Request {
    Sms(TwilioAccount),
    /// Free-form text inside the 24-hour window, with the approved template
    /// to fall back to if Meta's clock disagrees (131047).
    WhatsappText {
        sender: WhatsappSender,
        fallback: Option<ApprovedTemplate>,
    },
    /// Outside the window: the approved template only.
    WhatsappTemplate {
        sender: WhatsappSender,
        template: ApprovedTemplate,
    },
    Email {
        account: SmtpAccount,
        in_reply_to: Option<String>,
    },
}

/// A WhatsApp template the studio had approved, with its parameters rendered.
#[derive(Clone, Debug)]
struct ApprovedTemplate {
    name: String,
    language: String,
    parameters: Vec<String>,
}
