use frontdesk_jobs::Jobs;
use frontdesk_store::{Db, vault::Vault};

/// Shared by every handler. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub db: Db,
    pub jobs: Jobs,
    pub vault: Vault,
}
