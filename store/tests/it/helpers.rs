use frontdesk_jobs::{IntegrationId, WorkspaceId};
use frontdesk_store::{
    Db,
    integrations::{self, NewIntegration, Provider},
    runtime_options,
    vault::{Secret, Vault},
    workspaces::{self, NewWorkspace},
};
use sqlx::{PgPool, Row};

pub const A: WorkspaceId = WorkspaceId::from_uuid(uuid::uuid!("00000000-0000-0000-0000-00000000000a"));
pub const B: WorkspaceId = WorkspaceId::from_uuid(uuid::uuid!("00000000-0000-0000-0000-00000000000b"));

/// A runtime-role pool on the test's own database (the test's `PgPool` is the owner).
pub async fn app_db(owner: &PgPool) -> Db {
    Db::connect_with(runtime_options(owner.connect_options().as_ref()), 4).await.unwrap()
}

/// Every tenant table, discovered from the catalog rather than listed by
/// hand, so a table added later is covered (or fails these tests) by default.
pub async fn tenant_tables(owner: &PgPool) -> Vec<String> {
    let rows = sqlx::query(
        "SELECT c.relname::text AS name
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind = 'r'
           AND (c.relname = 'workspaces' OR EXISTS (
                SELECT 1 FROM information_schema.columns col
                WHERE col.table_schema = 'public' AND col.table_name = c.relname AND col.column_name = 'workspace_id'))
         ORDER BY 1",
    )
    .fetch_all(owner)
    .await
    .unwrap();
    let tables: Vec<String> = rows.iter().map(|r| r.get("name")).collect();
    assert!(tables.len() >= 16, "expected every tenant table, found {tables:?}");
    tables
}

/// The column holding the workspace id: `id` on `workspaces` itself.
pub fn workspace_column(table: &str) -> &'static str {
    if table == "workspaces" { "id" } else { "workspace_id" }
}

pub async fn studio(db: &Db, name: &str) -> WorkspaceId {
    workspaces::create(db, &NewWorkspace { name: name.into(), timezone: "America/New_York".into() }).await.unwrap()
}

/// A Twilio integration whose account id is `AC<token>`.
pub async fn twilio(db: &Db, vault: &Vault, ws: WorkspaceId, token: &str) -> IntegrationId {
    let mut tx = db.tenant(ws).await.unwrap();
    let id = integrations::create(
        &mut tx,
        vault,
        &NewIntegration {
            provider: Provider::Twilio,
            sandbox: false,
            external_id: Some(format!("AC{token}")),
            settings: serde_json::json!({}),
            secret: Some(Secret::new(token)),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id
}
