//! A short-lived cache of where Twilio requests route and the routed
//! workspace's auth token, so a busy number's webhooks skip two database
//! round trips (the route lookup and the vault read) per request.
//!
//! Staleness is bounded: a cached token that no longer verifies (the studio
//! rotated it, or the number moved to another workspace) is dropped and the
//! request is checked again against the database before it is refused, so a
//! new token works at once. The other way round is bounded by the TTL: after
//! a rotation (or a route removed or moved), a process that has not yet seen
//! a request under the new state keeps honouring the old one for at most
//! the TTL.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use frontdesk_store::{routes::Route, vault::Secret};

/// Entries beyond this are not cached (the map is cleared when full), so a
/// flood of distinct numbers cannot grow memory.
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug)]
pub struct SigningKeys {
    ttl: Duration,
    entries: Mutex<HashMap<Vec<String>, (Instant, Route, Secret)>>,
}

impl Default for SigningKeys {
    fn default() -> Self {
        Self::new(Duration::from_secs(10))
    }
}

impl SigningKeys {
    /// `ttl` zero disables the cache.
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()) }
    }

    pub(crate) fn get(&self, keys: &[String]) -> Option<(Route, Secret)> {
        let entries = self.entries.lock().expect("signing key cache poisoned");
        let (at, route, token) = entries.get(keys)?;
        (at.elapsed() < self.ttl).then(|| (route.clone(), token.clone()))
    }

    pub(crate) fn put(&self, keys: Vec<String>, route: Route, token: Secret) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().expect("signing key cache poisoned");
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(keys, (Instant::now(), route, token));
    }

    pub(crate) fn forget(&self, keys: &[String]) {
        self.entries.lock().expect("signing key cache poisoned").remove(keys);
    }
}

impl SigningKeys {
    /// Drops every cached entry routed to `workspace` (its Twilio integration
    /// changed in this process).
    pub(crate) fn forget_workspace(&self, workspace: frontdesk_jobs::WorkspaceId) {
        self.entries
            .lock()
            .expect("signing key cache poisoned")
            .retain(|_, (_, route, _)| route.workspace_id != workspace);
    }
}
