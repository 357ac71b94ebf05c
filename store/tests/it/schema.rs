//! The runtime role can tell whether the schema is behind the binary.

use frontdesk_store::{MIGRATOR, SchemaStatus};
use sqlx::PgPool;

use crate::helpers::app_db;

const MIGRATOR_REF: &sqlx::migrate::Migrator = &MIGRATOR;

#[sqlx::test(migrator = "MIGRATOR_REF")]
async fn a_fully_migrated_schema_is_current_for_the_runtime_role(owner: PgPool) {
    assert_eq!(app_db(&owner).await.schema_status().await.unwrap(), SchemaStatus::Current);
}

#[sqlx::test(migrator = "MIGRATOR_REF")]
async fn a_missing_migration_is_named_and_a_newer_one_is_fine(owner: PgPool) {
    let newest: i64 = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations").fetch_one(&owner).await.unwrap();
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1").bind(newest).execute(&owner).await.unwrap();
    let db = app_db(&owner).await;
    assert_eq!(db.schema_status().await.unwrap(), SchemaStatus::Behind { missing: vec![newest] });
    // A release ahead of this binary migrated it: still current here.
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES ($1, 'restored', true, '\\x00', 0), (99990101000001, 'from a newer release', true, '\\x00', 0)",
    )
    .bind(newest)
    .execute(&owner)
    .await
    .unwrap();
    assert_eq!(db.schema_status().await.unwrap(), SchemaStatus::Current);
}

#[sqlx::test(migrations = false)]
async fn a_database_without_the_migrations_table_is_unreadable_not_an_error(owner: PgPool) {
    // The runtime role exists server-wide (other databases created it).
    sqlx::query("DO $$ BEGIN CREATE ROLE frontdesk_app LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
        .execute(&owner)
        .await
        .unwrap();
    assert_eq!(app_db(&owner).await.schema_status().await.unwrap(), SchemaStatus::Unreadable);
}
