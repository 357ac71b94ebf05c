//! Leads: the people who contacted a studio.

use frontdesk_jobs::{LeadId, WorkspaceId};

use crate::{StoreError, TenantTx};

#[derive(Clone, Debug, Default)]
pub struct NewLead {
    pub name: Option<String>,
    /// E.164, e.g. `+15551234567`.
    pub phone: Option<String>,
    pub email: Option<String>,
    pub source: String,
}

#[derive(Clone, Debug)]
pub struct Lead {
    pub id: LeadId,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub status: String,
}

pub async fn create(tx: &mut TenantTx, new: &NewLead) -> Result<LeadId, StoreError> {
    let id = LeadId::new();
    let ws = tx.workspace_id();
    sqlx::query!(
        "INSERT INTO leads (workspace_id, id, name, phone, email, source) VALUES ($1, $2, $3, $4, $5, $6)",
        ws as WorkspaceId,
        id as LeadId,
        new.name,
        new.phone,
        new.email,
        new.source
    )
    .execute(tx.conn())
    .await?;
    Ok(id)
}

pub async fn find(tx: &mut TenantTx, id: LeadId) -> Result<Option<Lead>, StoreError> {
    let ws = tx.workspace_id();
    let lead = sqlx::query_as!(
        Lead,
        r#"SELECT id AS "id: LeadId", name, phone, email, status
           FROM leads WHERE workspace_id = $1 AND id = $2"#,
        ws as WorkspaceId,
        id as LeadId
    )
    .fetch_optional(tx.conn())
    .await?;
    Ok(lead)
}

pub async fn exists(tx: &mut TenantTx, id: LeadId) -> Result<bool, StoreError> {
    let ws = tx.workspace_id();
    let found = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM leads WHERE workspace_id = $1 AND id = $2) AS "found!""#,
        ws as WorkspaceId,
        id as LeadId
    )
    .fetch_one(tx.conn())
    .await?;
    Ok(found)
}

pub async fn touch_contacted(tx: &mut TenantTx, id: LeadId) -> Result<(), StoreError> {
    let ws = tx.workspace_id();
    sqlx::query!(
        "UPDATE leads SET last_inbound_at = now(), updated_at = now() WHERE workspace_id = $1 AND id = $2",
        ws as WorkspaceId,
        id as LeadId
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}
