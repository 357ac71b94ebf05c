//! Layer 5 of tenant isolation: credentials sealed to their workspace.

use frontdesk_store::{
    Db, StoreError, integrations,
    vault::{MasterKeys, Secret, Vault, VaultError},
};
use sqlx::PgPool;

use crate::helpers::{app_db, studio, twilio};

const MIGRATOR: &sqlx::migrate::Migrator = &frontdesk_store::MIGRATOR;

async fn read_secret(
    db: &Db,
    vault: &Vault,
    ws: frontdesk_jobs::WorkspaceId,
    id: frontdesk_jobs::IntegrationId,
) -> Result<Secret, StoreError> {
    let mut tx = db.tenant(ws).await.unwrap();
    integrations::secret(&mut tx, vault, id).await
}

fn is_auth_failure(result: Result<Secret, StoreError>) -> bool {
    matches!(result, Err(StoreError::Vault(VaultError::Authentication)))
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn credential_ciphertext_copied_into_another_workspace_fails_to_decrypt(owner: PgPool) {
    let db = app_db(&owner).await;
    let vault = Vault::new(MasterKeys::generate_encoded(1).parse().unwrap());
    let (a, b) = (studio(&db, "A").await, studio(&db, "B").await);
    let id_a = twilio(&db, &vault, a, "token-of-a").await;
    let id_b = twilio(&db, &vault, b, "token-of-b").await;
    assert_eq!(read_secret(&db, &vault, b, id_b).await.unwrap().expose(), "token-of-b");

    // An attacker with write access to the table copies A's sealed token into B's row.
    sqlx::query(
        "UPDATE integrations dst SET secret_ciphertext = src.secret_ciphertext, secret_nonce = src.secret_nonce,
                key_version = src.key_version
         FROM integrations src WHERE src.id = $1 AND dst.id = $2",
    )
    .bind(id_a.as_uuid())
    .bind(id_b.as_uuid())
    .execute(&owner)
    .await
    .unwrap();
    assert!(is_auth_failure(read_secret(&db, &vault, b, id_b).await));
    assert_eq!(read_secret(&db, &vault, a, id_a).await.unwrap().expose(), "token-of-a");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn tampered_ciphertext_fails_to_decrypt(owner: PgPool) {
    let db = app_db(&owner).await;
    let vault = Vault::new(MasterKeys::generate_encoded(1).parse().unwrap());
    let ws = studio(&db, "A").await;
    let id = twilio(&db, &vault, ws, "token").await;
    sqlx::query("UPDATE integrations SET secret_ciphertext = set_byte(secret_ciphertext, 0, get_byte(secret_ciphertext, 0) # 1) WHERE id = $1")
        .bind(id.as_uuid())
        .execute(&owner)
        .await
        .unwrap();
    assert!(is_auth_failure(read_secret(&db, &vault, ws, id).await));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn rotation_re_encrypts_every_secret_under_the_newest_key_and_keeps_it_readable(owner: PgPool) {
    let db = app_db(&owner).await;
    let v1 = MasterKeys::generate_encoded(1);
    let old = Vault::new(v1.parse().unwrap());
    let mut stored = Vec::new();
    for n in 0..5 {
        let ws = studio(&db, &format!("Studio {n}")).await;
        stored.push((ws, twilio(&db, &old, ws, &format!("token-{n}")).await, format!("token-{n}")));
    }
    let v2 = MasterKeys::generate_encoded(2);
    let both = Vault::new(format!("{v1},{v2}").parse().unwrap());
    let mut rewritten = 0;
    for ws in db.all_workspace_ids().await.unwrap() {
        let mut tx = db.tenant(ws).await.unwrap();
        rewritten += integrations::rotate(&mut tx, &both).await.unwrap();
        tx.commit().await.unwrap();
    }
    assert_eq!(rewritten, 5);
    let versions: Vec<i32> =
        sqlx::query_scalar("SELECT DISTINCT key_version FROM integrations").fetch_all(&owner).await.unwrap();
    assert_eq!(versions, vec![2]);
    // Readable with the new key alone: the old key can now be retired.
    let new_only = Vault::new(v2.parse().unwrap());
    for (ws, id, token) in &stored {
        assert_eq!(read_secret(&db, &new_only, *ws, *id).await.unwrap().expose(), token);
    }
    // A second run finds nothing to do.
    let mut tx = db.tenant(stored[0].0).await.unwrap();
    assert_eq!(integrations::rotate(&mut tx, &both).await.unwrap(), 0);
}
