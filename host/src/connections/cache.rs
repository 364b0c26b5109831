//! A short-lived in-memory cache in front of a connection store.
//!
//! Every invocation looks its connection up. Against SQLite that is a file lock, a
//! query, decryption and JSON parsing: about a sixth of a no-op invocation. Connections
//! change rarely, so [`CachingStore`] keeps what `get` returned for a short time.
//!
//! Writes made through the cache (this process: the runtime, the HTTP API, the CLI)
//! invalidate the entry at once. Writes made by *another* process sharing the database
//! file are seen within the time-to-live; that is the price, and why it is short.

use super::{
    Connection, ConnectionFilter, ConnectionStore, IntegrationCredentials, MetadataUpdate,
    NewConnection, OAuthSession, StoreError,
};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Entries beyond this are not added (the cache then behaves like no cache for new keys)
/// until expired ones are swept; bounds memory when many connections are used once.
const MAX_ENTRIES: usize = 100_000;

type Key = (String, String);

/// Caches [`ConnectionStore::get`] of the wrapped store for `ttl`.
pub struct CachingStore {
    inner: Arc<dyn ConnectionStore>,
    ttl: Duration,
    entries: Mutex<HashMap<Key, (Instant, Arc<Connection>)>>,
}

impl CachingStore {
    /// Wraps `inner`; entries live for `ttl`.
    pub fn new(inner: Arc<dyn ConnectionStore>, ttl: Duration) -> Self {
        CachingStore {
            inner,
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<Key, (Instant, Arc<Connection>)>> {
        // Entries are plain values: a panic elsewhere cannot leave one half-written.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn forget(&self, provider_config_key: &str, connection_id: &str) {
        self.entries()
            .remove(&(provider_config_key.to_string(), connection_id.to_string()));
    }
}

impl ConnectionStore for CachingStore {
    fn upsert(&self, connection: &NewConnection) -> Result<Connection, StoreError> {
        self.forget(&connection.provider_config_key, &connection.connection_id);
        let stored = self.inner.upsert(connection);
        self.forget(&connection.provider_config_key, &connection.connection_id);
        stored
    }

    fn get(
        &self,
        provider_config_key: &str,
        connection_id: &str,
    ) -> Result<Option<Connection>, StoreError> {
        Ok(self
            .get_shared(provider_config_key, connection_id)?
            .map(|connection| (*connection).clone()))
    }

    fn get_shared(
        &self,
        provider_config_key: &str,
        connection_id: &str,
    ) -> Result<Option<Arc<Connection>>, StoreError> {
        let now = Instant::now();
        let key = (provider_config_key.to_string(), connection_id.to_string());
        if let Some((fetched, connection)) = self.entries().get(&key)
            && now.duration_since(*fetched) < self.ttl
        {
            return Ok(Some(connection.clone()));
        }
        let found = self
            .inner
            .get(provider_config_key, connection_id)?
            .map(Arc::new);
        let mut entries = self.entries();
        match &found {
            Some(connection) => {
                if entries.len() >= MAX_ENTRIES {
                    let ttl = self.ttl;
                    entries.retain(|_, (fetched, _)| now.duration_since(*fetched) < ttl);
                }
                if entries.len() < MAX_ENTRIES {
                    entries.insert(key, (now, connection.clone()));
                }
            }
            None => {
                entries.remove(&key);
            }
        }
        Ok(found)
    }

    fn list(&self, filter: &ConnectionFilter) -> Result<Vec<Connection>, StoreError> {
        self.inner.list(filter)
    }

    fn delete(&self, provider_config_key: &str, connection_id: &str) -> Result<bool, StoreError> {
        self.forget(provider_config_key, connection_id);
        let deleted = self.inner.delete(provider_config_key, connection_id);
        self.forget(provider_config_key, connection_id);
        deleted
    }

    fn update_metadata(
        &self,
        provider_config_key: &str,
        connection_id: &str,
        metadata: &Value,
        how: MetadataUpdate,
    ) -> Result<Option<Connection>, StoreError> {
        let updated = self
            .inner
            .update_metadata(provider_config_key, connection_id, metadata, how);
        self.forget(provider_config_key, connection_id);
        updated
    }

    fn mark_fetched(
        &self,
        provider_config_key: &str,
        connection_id: &str,
    ) -> Result<(), StoreError> {
        let marked = self.inner.mark_fetched(provider_config_key, connection_id);
        self.forget(provider_config_key, connection_id);
        marked
    }

    fn put_oauth_session(&self, session: &OAuthSession) -> Result<(), StoreError> {
        self.inner.put_oauth_session(session)
    }

    fn take_oauth_session(&self, state_digest: &str) -> Result<Option<OAuthSession>, StoreError> {
        self.inner.take_oauth_session(state_digest)
    }

    fn integration_credentials(
        &self,
        provider_config_key: &str,
    ) -> Result<Option<IntegrationCredentials>, StoreError> {
        self.inner.integration_credentials(provider_config_key)
    }

    fn put_integration_credentials(
        &self,
        credentials: &IntegrationCredentials,
    ) -> Result<IntegrationCredentials, StoreError> {
        self.inner.put_integration_credentials(credentials)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connections::{Credentials, SqliteConnectionStore};

    fn stores(ttl: Duration) -> (Arc<dyn ConnectionStore>, CachingStore) {
        let inner: Arc<dyn ConnectionStore> =
            Arc::new(SqliteConnectionStore::in_memory().expect("store"));
        (inner.clone(), CachingStore::new(inner, ttl))
    }

    fn connection(token: &str) -> NewConnection {
        NewConnection::new(
            "checkr-partner",
            "a",
            "checkr-partner",
            Credentials::access_token(token),
        )
    }

    #[test]
    fn writes_through_the_cache_are_visible_at_once() {
        let (_, cache) = stores(Duration::from_secs(3600));
        cache.upsert(&connection("one")).expect("upsert");
        assert!(cache.get("checkr-partner", "a").expect("get").is_some());
        cache.upsert(&connection("two")).expect("rotate");
        let seen = cache
            .get("checkr-partner", "a")
            .expect("get")
            .expect("exists");
        assert_eq!(seen.credentials, Credentials::access_token("two"));
        assert!(cache.delete("checkr-partner", "a").expect("delete"));
        assert!(cache.get("checkr-partner", "a").expect("get").is_none());
    }

    #[test]
    fn writes_behind_the_cache_are_visible_after_the_ttl() {
        let (inner, cache) = stores(Duration::from_millis(50));
        cache.upsert(&connection("one")).expect("upsert");
        assert!(cache.get("checkr-partner", "a").expect("get").is_some());
        inner
            .delete("checkr-partner", "a")
            .expect("delete elsewhere");
        std::thread::sleep(Duration::from_millis(80));
        assert!(cache.get("checkr-partner", "a").expect("get").is_none());
    }

    #[test]
    fn a_missing_connection_is_not_cached() {
        let (inner, cache) = stores(Duration::from_secs(3600));
        assert!(cache.get("checkr-partner", "a").expect("get").is_none());
        inner.upsert(&connection("one")).expect("created elsewhere");
        assert!(cache.get("checkr-partner", "a").expect("get").is_some());
    }

    #[test]
    fn shared_connection_stays_the_same_until_it_changes() {
        let (_, cache) = stores(Duration::from_secs(3600));
        cache.upsert(&connection("one")).expect("upsert");
        let first = cache
            .get_shared("checkr-partner", "a")
            .expect("get")
            .expect("exists");
        let again = cache
            .get_shared("checkr-partner", "a")
            .expect("get")
            .expect("exists");
        assert!(
            Arc::ptr_eq(&first, &again),
            "a fresh entry is handed out as is"
        );
        cache.upsert(&connection("two")).expect("rotate");
        let rotated = cache
            .get_shared("checkr-partner", "a")
            .expect("get")
            .expect("exists");
        assert!(
            !Arc::ptr_eq(&first, &rotated),
            "a change gives a new connection"
        );
        assert_eq!(rotated.credentials, Credentials::access_token("two"));
    }
}
