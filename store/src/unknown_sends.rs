//! Sends whose outcome is unknown, resolved from the provider's own word.
//!
//! A delivery that stops between calling the provider and recording its
//! answer leaves the message `sending`; the next delivery takes it over and
//! flags it `outcome_unknown` rather than send twice (see the send job).
//! Most such sends were in fact accepted, and the providers say so: every
//! send names its follow-up where the provider echoes it back (Twilio's
//! `StatusCallback` URL, WhatsApp's `biz_opaque_callback_data`, our own
//! email `Message-ID`, which a reply quotes), and Twilio can be asked for
//! its message list. Whichever word arrives first resolves the send here:
//! the message becomes `sent` with the provider's id, the follow-up leaves
//! the staff queue, and the studio's activity log says how it was resolved.

use frontdesk_domain::Channel;
use frontdesk_jobs::{FollowupId, MessageId};

use crate::{
    StoreError, TenantTx, activity,
    activity::Activity,
    followups::{self, Status},
    inbound, leads, messages,
};

/// What a provider's word about a follow-up's message did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heard {
    /// The send was `outcome_unknown` and is now resolved.
    Resolved,
    /// A delivery still holds the send; the provider's id is kept for it
    /// (or for the delivery that takes it over).
    Noted,
    /// Nothing to resolve: already recorded, or no such message.
    Nothing,
}

/// A provider named `followup` (its callback carried our signed reference)
/// and gave its message the id `provider_message_id`.
pub async fn heard(
    tx: &mut TenantTx,
    followup: FollowupId,
    channel: Channel,
    provider_message_id: &str,
    by: &str,
) -> Result<Heard, StoreError> {
    let Some(message) = messages::find_outbound(tx, &followups::message_key(followup)).await? else {
        return Ok(Heard::Nothing);
    };
    if message.status != "sending" {
        return Ok(Heard::Nothing);
    }
    if message.error_code.as_deref() != Some("outcome_unknown") {
        messages::note_provider_id(tx, message.id, provider_message_id).await?;
        return Ok(Heard::Noted);
    }
    let resolved = resolve(tx, followup, message.id, channel, provider_message_id, by).await?;
    Ok(if resolved { Heard::Resolved } else { Heard::Nothing })
}

/// The lead replied to one of our emails (its `In-Reply-To` names our
/// `Message-ID`, `<message id>@<domain>`): that email reached them.
pub async fn replied_to(tx: &mut TenantTx, rfc_message_id: &str) -> Result<bool, StoreError> {
    let id = rfc_message_id.trim_matches(['<', '>']);
    let Some(message_id) = id.split_once('@').and_then(|(local, _)| local.parse::<MessageId>().ok()) else {
        return Ok(false);
    };
    let Some((followup, _)) = followups::of_message(tx, message_id).await? else { return Ok(false) };
    resolve(tx, followup, message_id, Channel::Email, id, "the lead's reply to it").await
}

/// Resolves `message` (flagged `outcome_unknown`) as accepted under
/// `provider_message_id`; statuses the provider already reported for that
/// id are applied after. False if the message is not such a send.
pub async fn resolve(
    tx: &mut TenantTx,
    followup: FollowupId,
    message: MessageId,
    channel: Channel,
    provider_message_id: &str,
    by: &str,
) -> Result<bool, StoreError> {
    if !messages::resolve_unknown_as_sent(tx, message, provider_message_id).await? {
        return Ok(false);
    }
    let reason = format!("outcome resolved by {by}");
    followups::set_status(tx, followup, Status::Sent, Some(&reason), Some(message)).await?;
    let lead = followups::of_message(tx, message).await?.map(|(_, lead)| lead);
    if let Some(lead) = lead {
        leads::mark_contacted(tx, lead).await?;
    }
    let detail = serde_json::json!({
        "followup_id": followup,
        "message_id": message,
        "channel": channel.as_str(),
        "provider_message_id": provider_message_id,
        "by": by,
    });
    activity::record(tx, &Activity { kind: "followup_resolved", lead_id: lead, is_security: false, detail }).await?;
    inbound::apply_early_statuses(tx, channel, provider_message_id).await?;
    Ok(true)
}
