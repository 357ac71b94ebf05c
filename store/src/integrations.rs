//! Provider integrations and their encrypted credentials.

use frontdesk_jobs::{IntegrationId, WorkspaceId};

use crate::{
    StoreError, TenantTx,
    vault::{Sealed, Secret, Vault},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    Twilio,
    Whatsapp,
    Smtp,
    GoogleCalendar,
    OpenAi,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Twilio => "twilio",
            Provider::Whatsapp => "whatsapp",
            Provider::Smtp => "smtp",
            Provider::GoogleCalendar => "google_calendar",
            Provider::OpenAi => "openai",
        }
    }
}

#[derive(Clone, Debug)]
pub struct NewIntegration {
    pub provider: Provider,
    pub sandbox: bool,
    pub external_id: Option<String>,
    pub settings: serde_json::Value,
    pub secret: Option<Secret>,
}

pub async fn create(tx: &mut TenantTx, vault: &Vault, new: &NewIntegration) -> Result<IntegrationId, StoreError> {
    let ws = tx.workspace_id();
    let id = IntegrationId::new();
    let sealed = new.secret.as_ref().map(|s| vault.seal(ws, new.provider.as_str(), s));
    sqlx::query!(
        "INSERT INTO integrations
            (workspace_id, id, provider, mode, external_id, settings, secret_ciphertext, secret_nonce, key_version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        ws as WorkspaceId,
        id as IntegrationId,
        new.provider.as_str(),
        if new.sandbox { "sandbox" } else { "live" },
        new.external_id,
        new.settings,
        sealed.as_ref().map(|s| s.ciphertext.clone()),
        sealed.as_ref().map(|s| s.nonce.clone()),
        sealed.as_ref().map(|s| s.key_version)
    )
    .execute(tx.conn())
    .await?;
    Ok(id)
}

/// Decrypts an integration's credential with the transaction's workspace as
/// associated data: a row holding another workspace's ciphertext fails here.
pub async fn secret(tx: &mut TenantTx, vault: &Vault, id: IntegrationId) -> Result<Secret, StoreError> {
    let ws = tx.workspace_id();
    find_secret(tx, vault, id).await?.ok_or(StoreError::NotFound { entity: "integration credential", workspace_id: ws })
}

/// Like [`secret`], for integrations whose credential is optional (an SMTP
/// relay that needs no login).
pub async fn find_secret(tx: &mut TenantTx, vault: &Vault, id: IntegrationId) -> Result<Option<Secret>, StoreError> {
    let ws = tx.workspace_id();
    let row = sqlx::query!(
        r#"SELECT provider, secret_ciphertext AS "ciphertext!", secret_nonce AS "nonce!", key_version AS "key_version!"
           FROM integrations
           WHERE workspace_id = $1 AND id = $2 AND secret_ciphertext IS NOT NULL"#,
        ws as WorkspaceId,
        id as IntegrationId
    )
    .fetch_optional(tx.conn())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let sealed = Sealed { ciphertext: row.ciphertext, nonce: row.nonce, key_version: row.key_version };
    Ok(Some(vault.open(ws, &row.provider, &sealed)?))
}

/// Re-encrypts this workspace's credentials that are not under the newest
/// key. Rows are locked one transaction at a time, so readers keep working
/// (old keys stay configured until rotation finishes). Returns rows rewritten.
pub async fn rotate(tx: &mut TenantTx, vault: &Vault) -> Result<u64, StoreError> {
    let ws = tx.workspace_id();
    let newest = vault.newest_version();
    let rows = sqlx::query!(
        r#"SELECT id AS "id: IntegrationId", provider, secret_ciphertext AS "ciphertext!",
                  secret_nonce AS "nonce!", key_version AS "key_version!"
           FROM integrations
           WHERE workspace_id = $1 AND secret_ciphertext IS NOT NULL AND key_version <> $2
           FOR UPDATE"#,
        ws as WorkspaceId,
        newest
    )
    .fetch_all(tx.conn())
    .await?;
    let mut rewritten = 0;
    for row in rows {
        let old = Sealed { ciphertext: row.ciphertext, nonce: row.nonce, key_version: row.key_version };
        let secret = vault.open(ws, &row.provider, &old)?;
        let new = vault.seal(ws, &row.provider, &secret);
        sqlx::query!(
            "UPDATE integrations SET secret_ciphertext = $3, secret_nonce = $4, key_version = $5, updated_at = now()
             WHERE workspace_id = $1 AND id = $2",
            ws as WorkspaceId,
            row.id as IntegrationId,
            new.ciphertext,
            new.nonce,
            new.key_version
        )
        .execute(tx.conn())
        .await?;
        rewritten += 1;
    }
    Ok(rewritten)
}

/// A workspace's integration with one provider, without its secret.
#[derive(Clone, Debug)]
pub struct Integration {
    pub id: IntegrationId,
    /// Sandbox mode: record outbound messages as sent without calling the provider.
    pub sandbox: bool,
    /// The provider's public id for the account (AccountSid, phone_number_id…).
    pub external_id: Option<String>,
    pub settings: serde_json::Value,
}

/// The workspace's integration for `provider`, if any (the oldest if several).
pub async fn find_by_provider(tx: &mut TenantTx, provider: Provider) -> Result<Option<Integration>, StoreError> {
    let ws = tx.workspace_id();
    let row = sqlx::query_as!(
        Integration,
        r#"SELECT id AS "id: IntegrationId", mode = 'sandbox' AS "sandbox!", external_id, settings
           FROM integrations WHERE workspace_id = $1 AND provider = $2
           ORDER BY created_at LIMIT 1"#,
        ws as WorkspaceId,
        provider.as_str()
    )
    .fetch_optional(tx.conn())
    .await?;
    Ok(row)
}
