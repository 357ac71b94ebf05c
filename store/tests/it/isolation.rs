//! Layers 3 and 4 of tenant isolation: row-level security under the
//! runtime role, and composite foreign keys.

use frontdesk_store::{leads, leads::NewLead};
use sqlx::{AssertSqlSafe, PgPool, Row};

use crate::helpers::{A, B, app_db, tenant_tables, workspace_column};

const MIGRATOR: &sqlx::migrate::Migrator = &frontdesk_store::MIGRATOR;

#[sqlx::test(migrator = "MIGRATOR", fixtures("two_workspaces"))]
async fn message_naming_a_lead_of_another_workspace_is_rejected_by_the_database(owner: PgPool) {
    // As the owner (a superuser bypasses RLS), so only the composite foreign key stands in the way.
    let lead_of_b: uuid::Uuid = sqlx::query_scalar("SELECT id FROM leads WHERE workspace_id = $1")
        .bind(B.as_uuid())
        .fetch_one(&owner)
        .await
        .unwrap();
    let err = sqlx::query(
        "INSERT INTO messages (workspace_id, id, lead_id, direction, channel, body)
         VALUES ($1, gen_random_uuid(), $2, 'inbound', 'sms', 'cross-tenant')",
    )
    .bind(A.as_uuid())
    .bind(lead_of_b)
    .execute(&owner)
    .await
    .unwrap_err();
    let code = err.as_database_error().and_then(|e| e.code()).map(|c| c.into_owned());
    assert_eq!(code.as_deref(), Some("23503"), "expected a foreign-key violation, got {err}");
}

#[sqlx::test(migrator = "MIGRATOR", fixtures("two_workspaces"))]
async fn every_tenant_table_forces_row_level_security_with_a_policy(owner: PgPool) {
    for table in tenant_tables(&owner).await {
        let row = sqlx::query(
            "SELECT c.relrowsecurity, c.relforcerowsecurity,
                    (SELECT count(*) FROM pg_policies p WHERE p.schemaname = 'public' AND p.tablename = c.relname) AS policies
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relname = $1",
        )
        .bind(&table)
        .fetch_one(&owner)
        .await
        .unwrap();
        assert!(row.get::<bool, _>("relrowsecurity"), "{table}: RLS not enabled");
        assert!(row.get::<bool, _>("relforcerowsecurity"), "{table}: RLS not forced");
        assert!(row.get::<i64, _>("policies") >= 1, "{table}: no policy");
    }
}

#[sqlx::test(migrator = "MIGRATOR", fixtures("two_workspaces"))]
async fn runtime_role_without_tenant_context_sees_no_row_of_any_tenant_table(owner: PgPool) {
    let app = app_db(&owner).await;
    for table in tenant_tables(&owner).await {
        let seeded: i64 =
            sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {table}"))).fetch_one(&owner).await.unwrap();
        assert!(seeded >= 2, "{table}: fixture must seed both workspaces (found {seeded} rows)");
        let visible: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(app.pool())
            .await
            .unwrap();
        assert_eq!(visible, 0, "{table}: runtime role saw rows with no tenant context");
    }
}

#[sqlx::test(migrator = "MIGRATOR", fixtures("two_workspaces"))]
async fn runtime_role_under_workspace_a_reads_and_writes_only_a_rows(owner: PgPool) {
    let app = app_db(&owner).await;
    for table in tenant_tables(&owner).await {
        let col = workspace_column(&table);
        let mut tx = app.tenant(A).await.unwrap();
        let own: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {table} WHERE {col} = $1")))
            .bind(A.as_uuid())
            .fetch_one(tx.conn())
            .await
            .unwrap();
        assert!(own >= 1, "{table}: workspace A cannot see its own rows");
        // Deliberately no workspace filter: RLS alone must hide B.
        let foreign: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {table} WHERE {col} <> $1")))
            .bind(A.as_uuid())
            .fetch_one(tx.conn())
            .await
            .unwrap();
        assert_eq!(foreign, 0, "{table}: workspace A saw another workspace's rows");
        let touched = sqlx::query(AssertSqlSafe(format!("UPDATE {table} SET {col} = {col} WHERE {col} = $1")))
            .bind(B.as_uuid())
            .execute(tx.conn())
            .await
            .unwrap()
            .rows_affected();
        assert_eq!(touched, 0, "{table}: workspace A updated B's rows");
        let deleted = sqlx::query(AssertSqlSafe(format!("DELETE FROM {table} WHERE {col} = $1")))
            .bind(B.as_uuid())
            .execute(tx.conn())
            .await
            .unwrap()
            .rows_affected();
        assert_eq!(deleted, 0, "{table}: workspace A deleted B's rows");
        tx.rollback().await.unwrap();
    }
    // Writing a row labelled with B from A's transaction is refused by the policy's WITH CHECK.
    let mut tx = app.tenant(A).await.unwrap();
    let err = sqlx::query("INSERT INTO leads (workspace_id, id, name) VALUES ($1, gen_random_uuid(), 'smuggled')")
        .bind(B.as_uuid())
        .execute(tx.conn())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("row-level security"), "{err}");
}

#[sqlx::test(migrator = "MIGRATOR", fixtures("two_workspaces"))]
async fn tenant_setting_is_transaction_local_and_never_leaks_to_the_next_pool_user(owner: PgPool) {
    let app = frontdesk_store::Db::connect_with(
        frontdesk_store::runtime_options(owner.connect_options().as_ref()),
        1, // one connection: the next query reuses the tenant transaction's connection
    )
    .await
    .unwrap();
    let mut tx = app.tenant(A).await.unwrap();
    leads::create(&mut tx, &NewLead { name: Some("Ana".into()), source: "test".into(), ..NewLead::default() })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let visible: i64 = sqlx::query_scalar("SELECT count(*) FROM leads").fetch_one(app.pool()).await.unwrap();
    assert_eq!(visible, 0);
}

#[sqlx::test(migrator = "MIGRATOR", fixtures("two_workspaces"))]
async fn runtime_role_cannot_switch_off_row_level_security(owner: PgPool) {
    let app = app_db(&owner).await;
    let role = sqlx::query("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert!(!role.get::<bool, _>("rolsuper"), "runtime role is a superuser");
    assert!(!role.get::<bool, _>("rolbypassrls"), "runtime role bypasses RLS");
    let owned: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE tableowner = current_user")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(owned, 0, "runtime role owns tables");

    let mut conn = app.pool().acquire().await.unwrap();
    for table in tenant_tables(&owner).await {
        let err = sqlx::query(AssertSqlSafe(format!("ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")))
            .execute(&mut *conn)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("must be owner"), "{table}: {err}");
        let err = sqlx::query(AssertSqlSafe(format!("ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")))
            .execute(&mut *conn)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("must be owner"), "{table}: {err}");
    }
    // row_security = off does not switch RLS off for an ordinary role: the
    // query errors rather than returning every tenant's rows.
    sqlx::query("SET row_security = off").execute(&mut *conn).await.unwrap();
    let err = sqlx::query("SELECT count(*) FROM leads").fetch_one(&mut *conn).await.unwrap_err();
    assert!(err.to_string().contains("row-level security"), "{err}");
    sqlx::query("RESET row_security").execute(&mut *conn).await.unwrap();
    let err = sqlx::query("SET ROLE postgres").execute(&mut *conn).await.unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    let err = sqlx::query("DROP POLICY tenant_isolation ON leads").execute(&mut *conn).await.unwrap_err();
    assert!(err.to_string().contains("must be owner"), "{err}");
}

#[sqlx::test(migrator = "MIGRATOR", fixtures("two_workspaces"))]
async fn deleting_a_workspace_leaves_no_row_of_it_in_any_tenant_table(owner: PgPool) {
    let app = app_db(&owner).await;
    let mut tx = app.tenant(A).await.unwrap();
    let deleted = sqlx::query("DELETE FROM workspaces WHERE id = $1")
        .bind(A.as_uuid())
        .execute(tx.conn())
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(deleted, 1);
    tx.commit().await.unwrap();
    for table in tenant_tables(&owner).await {
        let col = workspace_column(&table);
        let count = |ws: frontdesk_jobs::WorkspaceId| {
            let owner = owner.clone();
            let sql = format!("SELECT count(*) FROM {table} WHERE {col} = $1");
            async move {
                sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql)).bind(ws.as_uuid()).fetch_one(&owner).await.unwrap()
            }
        };
        assert_eq!(count(A).await, 0, "{table}: rows of the deleted workspace remain");
        assert!(count(B).await >= 1, "{table}: the other workspace lost rows");
    }
}

#[sqlx::test(migrator = "MIGRATOR", fixtures("two_workspaces"))]
async fn every_tenant_policy_checks_the_workspace_on_read_and_on_write(owner: PgPool) {
    for table in tenant_tables(&owner).await {
        let row = sqlx::query(
            "SELECT qual, with_check FROM pg_policies
             WHERE schemaname = 'public' AND tablename = $1 AND policyname = 'tenant_isolation'",
        )
        .bind(&table)
        .fetch_one(&owner)
        .await
        .unwrap();
        let (qual, check): (Option<String>, Option<String>) = (row.get("qual"), row.get("with_check"));
        for (what, expr) in [("USING", qual), ("WITH CHECK", check)] {
            let expr = expr.unwrap_or_default();
            assert!(
                expr.contains("app_current_workspace()"),
                "{table}: {what} does not compare with the tenant setting: {expr:?}"
            );
        }
    }
}

#[sqlx::test(migrator = "MIGRATOR", fixtures("two_workspaces"))]
async fn runtime_role_cannot_move_a_row_into_another_workspace_in_any_table(owner: PgPool) {
    let app = app_db(&owner).await;
    for table in tenant_tables(&owner).await {
        let col = workspace_column(&table);
        let mut tx = app.tenant(A).await.unwrap();
        let err = sqlx::query(AssertSqlSafe(format!("UPDATE {table} SET {col} = $2 WHERE {col} = $1")))
            .bind(A.as_uuid())
            .bind(B.as_uuid())
            .execute(tx.conn())
            .await
            .expect_err(&format!("{table}: a row was relabelled to workspace B"));
        // RLS's WITH CHECK, or a composite key that refuses the move, both hold the line.
        let msg = err.to_string();
        assert!(msg.contains("row-level security") || msg.contains("foreign key"), "{table}: {msg}");
        tx.rollback().await.unwrap();
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn every_foreign_key_to_a_tenant_table_includes_workspace_id(owner: PgPool) {
    // For each FK whose target is a tenant table, workspace_id must be among
    // both the referencing and the referenced columns: a single-column FK
    // to a tenant row could point into another workspace.
    let rows = sqlx::query(
        "SELECT con.conname::text AS name, src.relname::text AS src, dst.relname::text AS dst,
                (SELECT array_agg(a.attname::text) FROM pg_attribute a WHERE a.attrelid = con.conrelid AND a.attnum = ANY (con.conkey)) AS src_cols,
                (SELECT array_agg(a.attname::text) FROM pg_attribute a WHERE a.attrelid = con.confrelid AND a.attnum = ANY (con.confkey)) AS dst_cols
         FROM pg_constraint con
         JOIN pg_class src ON src.oid = con.conrelid
         JOIN pg_class dst ON dst.oid = con.confrelid
         JOIN pg_namespace n ON n.oid = src.relnamespace
         WHERE con.contype = 'f' AND n.nspname = 'public'",
    )
    .fetch_all(&owner)
    .await
    .unwrap();
    let tenant = tenant_tables(&owner).await;
    let mut checked = 0;
    for row in rows {
        let (name, dst): (String, String) = (row.get("name"), row.get("dst"));
        if dst == "workspaces" {
            continue; // the workspace_id → workspaces(id) key itself
        }
        if !tenant.contains(&dst) {
            continue;
        }
        let src_cols: Vec<String> = row.get("src_cols");
        let dst_cols: Vec<String> = row.get("dst_cols");
        assert!(
            src_cols.contains(&"workspace_id".to_string()),
            "{name}: referencing columns {src_cols:?} omit workspace_id"
        );
        assert!(
            dst_cols.contains(&"workspace_id".to_string()),
            "{name}: referenced columns {dst_cols:?} omit workspace_id"
        );
        checked += 1;
    }
    assert!(checked >= 10, "expected the schema's cross-table keys, checked only {checked}");
}
