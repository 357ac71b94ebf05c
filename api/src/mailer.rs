//! Invitation emails. They go through the workspace's own live SMTP
//! integration if it has one (the studio's staff expect mail from the
//! studio), else through the platform's SMTP server (`FRONTDESK_SMTP_URL`).
//! With neither, the invitation is refused with a problem that says how to
//! fix it. Sending happens inside the request, before the invited user is
//! committed, so an invitation that could not be delivered leaves no user
//! behind and the inviter learns why at once.

use frontdesk_store::{
    TenantTx,
    integrations::{self, Provider},
};
use frontdesk_worker::providers::{
    SendError,
    smtp::{self, SmtpAccount},
};

use crate::{ApiError, AppState, routes::integrations::setup};

/// Which server carried the email.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SentVia {
    WorkspaceSmtp,
    PlatformSmtp,
}

impl SentVia {
    pub fn as_str(self) -> &'static str {
        match self {
            SentVia::WorkspaceSmtp => "workspace_smtp",
            SentVia::PlatformSmtp => "platform_smtp",
        }
    }
}

pub async fn send(
    state: &AppState,
    tx: &mut TenantTx,
    to: &str,
    subject: &str,
    body: &str,
) -> Result<SentVia, ApiError> {
    let (account, connect_to, via) = match workspace_account(state, tx).await? {
        Some(account) => {
            let connect_to = state.studio.checks.smtp.resolve(&account).await.map_err(ApiError::MailFailed)?;
            (account, connect_to, SentVia::WorkspaceSmtp)
        }
        None => match &state.studio.platform_smtp {
            // The operator's own server: trusted, reached by name.
            Some(account) => (account.clone(), None, SentVia::PlatformSmtp),
            None => return Err(ApiError::NoMailer),
        },
    };
    smtp::send_notice(&account, connect_to, to, subject, body).await.map_err(|e| match e {
        SendError::Permanent(d) | SendError::Unknown(d) | SendError::OptedOut(d) | SendError::OutsideWindow(d) => {
            ApiError::MailFailed(d)
        }
        SendError::Transient { detail, .. } => ApiError::MailFailed(detail),
    })?;
    Ok(via)
}

/// The workspace's SMTP account, if it has a live integration (a sandbox
/// one records sends without making them, which an invitation cannot use).
async fn workspace_account(state: &AppState, tx: &mut TenantTx) -> Result<Option<SmtpAccount>, ApiError> {
    let Some(integration) = integrations::find_by_provider(tx, Provider::Smtp).await? else { return Ok(None) };
    if integration.sandbox {
        return Ok(None);
    }
    let password = integrations::find_secret(tx, &state.vault, integration.id).await?;
    Ok(Some(setup::smtp_account(&integration.settings, password)))
}
