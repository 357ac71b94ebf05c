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

impl Provider {
    pub fn parse(s: &str) -> Option<Self> {
        [Provider::Twilio, Provider::Whatsapp, Provider::Smtp, Provider::GoogleCalendar, Provider::OpenAi]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// An integration as the studio API shows it: never its secret, only the
/// secret's last four characters.
#[derive(Clone, Debug)]
pub struct IntegrationRecord {
    pub id: IntegrationId,
    pub provider: String,
    pub sandbox: bool,
    pub external_id: Option<String>,
    pub settings: serde_json::Value,
    pub secret_hint: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// The last four characters of a credential, shown instead of it.
pub fn hint(secret: &Secret) -> String {
    let chars: Vec<char> = secret.expose().chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

/// Like [`create`], recording the credential's hint too.
pub async fn create_with_hint(
    tx: &mut TenantTx,
    vault: &Vault,
    new: &NewIntegration,
) -> Result<IntegrationId, StoreError> {
    let id = create(tx, vault, new).await.map_err(|e| match e {
        e if e.is_unique_violation() => {
            StoreError::Conflict(format!("the workspace already has a {} integration", new.provider.as_str()))
        }
        other => other,
    })?;
    let ws = tx.workspace_id();
    sqlx::query!(
        "UPDATE integrations SET secret_hint = $3 WHERE workspace_id = $1 AND id = $2",
        ws as WorkspaceId,
        id as IntegrationId,
        new.secret.as_ref().map(hint)
    )
    .execute(tx.conn())
    .await?;
    Ok(id)
}

pub async fn list(tx: &mut TenantTx) -> Result<Vec<IntegrationRecord>, StoreError> {
    let ws = tx.workspace_id();
    let rows = sqlx::query_as!(
        IntegrationRecord,
        r#"SELECT id AS "id: IntegrationId", provider, mode = 'sandbox' AS "sandbox!", external_id, settings,
                  secret_hint, created_at, updated_at
           FROM integrations WHERE workspace_id = $1 ORDER BY created_at, id"#,
        ws as WorkspaceId
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows)
}

pub async fn get(tx: &mut TenantTx, id: IntegrationId) -> Result<Option<IntegrationRecord>, StoreError> {
    let ws = tx.workspace_id();
    let row = sqlx::query_as!(
        IntegrationRecord,
        r#"SELECT id AS "id: IntegrationId", provider, mode = 'sandbox' AS "sandbox!", external_id, settings,
                  secret_hint, created_at, updated_at
           FROM integrations WHERE workspace_id = $1 AND id = $2"#,
        ws as WorkspaceId,
        id as IntegrationId
    )
    .fetch_optional(tx.conn())
    .await?;
    Ok(row)
}

/// Replaces an integration's configuration; `secret` `None` keeps the
/// sealed credential. Takes effect for the next send at once: the send job
/// reads the integration and opens its credential on every send.
#[derive(Clone, Debug)]
pub struct IntegrationChange {
    pub sandbox: bool,
    pub external_id: Option<String>,
    pub settings: serde_json::Value,
    pub secret: Option<Secret>,
}

pub async fn update(
    tx: &mut TenantTx,
    vault: &Vault,
    id: IntegrationId,
    provider: Provider,
    change: &IntegrationChange,
) -> Result<bool, StoreError> {
    let ws = tx.workspace_id();
    let sealed = change.secret.as_ref().map(|s| vault.seal(ws, provider.as_str(), s));
    let done = sqlx::query!(
        "UPDATE integrations SET
            mode = $3, external_id = $4, settings = $5,
            secret_ciphertext = CASE WHEN $6 THEN $7 ELSE secret_ciphertext END,
            secret_nonce = CASE WHEN $6 THEN $8 ELSE secret_nonce END,
            key_version = CASE WHEN $6 THEN $9 ELSE key_version END,
            secret_hint = CASE WHEN $6 THEN $10 ELSE secret_hint END,
            updated_at = now()
         WHERE workspace_id = $1 AND id = $2 AND provider = $11",
        ws as WorkspaceId,
        id as IntegrationId,
        if change.sandbox { "sandbox" } else { "live" },
        change.external_id,
        change.settings,
        sealed.is_some(),
        sealed.as_ref().map(|s| s.ciphertext.clone()),
        sealed.as_ref().map(|s| s.nonce.clone()),
        sealed.as_ref().map(|s| s.key_version),
        change.secret.as_ref().map(hint),
        provider.as_str()
    )
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes an integration; its webhook routes go with it (cascade), so the
/// provider's next delivery to it is unroutable.
pub async fn delete(tx: &mut TenantTx, id: IntegrationId) -> Result<bool, StoreError> {
    let ws = tx.workspace_id();
    let done = sqlx::query!(
        "DELETE FROM integrations WHERE workspace_id = $1 AND id = $2",
        ws as WorkspaceId,
        id as IntegrationId
    )
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}
