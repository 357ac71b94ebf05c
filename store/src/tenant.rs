//! The tenant transaction: begin, set the workspace locally, query, commit.

use frontdesk_jobs::WorkspaceId;
use sqlx::{PgConnection, Postgres, Transaction};

use crate::{Db, StoreError};

/// A transaction confined to one workspace. `set_config(.., true)` is
/// transaction-local, so the setting dies with the transaction and never
/// leaks to the next user of the pooled connection (a session `SET` would).
pub struct TenantTx {
    tx: Transaction<'static, Postgres>,
    workspace_id: WorkspaceId,
}

impl Db {
    pub async fn tenant(&self, workspace_id: WorkspaceId) -> Result<TenantTx, StoreError> {
        // One round trip for both: the workspace id is a typed UUID, so its
        // text form is safe to inline into the simple-protocol BEGIN.
        let begin = format!("BEGIN; SELECT set_config('app.workspace_id', '{}', true)", workspace_id.as_uuid());
        let tx = self.pool().begin_with(sqlx::AssertSqlSafe(begin)).await?;
        Ok(TenantTx { tx, workspace_id })
    }
}

impl TenantTx {
    pub fn workspace_id(&self) -> WorkspaceId {
        self.workspace_id
    }

    /// The connection, for query functions in this crate and for tests.
    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }

    pub async fn rollback(self) -> Result<(), StoreError> {
        self.tx.rollback().await?;
        Ok(())
    }
}
