//! A short-lived in-memory cache in front of a connection store.
//!
//! Every invocation looks its connection up. Against SQLite that is a trip to the
//! blocking pool, a file lock, a query, decryption and JSON parsing (BENCHMARKS.md, P1).
//! Connections change rarely, so [`CachingConnectionStore`] keeps what `get` returned for
//! a short time. It wraps connections only: other kinds of data are read rarely, or must
//! be seen at once by every node.
//!
//! Writes made through the cache (this process: the runtime, the HTTP API, the CLI)
//! invalidate the entry at once. Writes made by *another* process sharing the database
//! file are seen within the time-to-live; that is the price, and why it is short.

use super::{
    Connection, ConnectionFilter, ConnectionStore, MetadataUpdate, NewConnection, StoreError,
};
use async_trait::async_trait;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Entries beyond this are not added (the cache then behaves like no cache for new keys)
/// until expired ones are swept; bounds memory when many connections are used once.
const MAX_ENTRIES: usize = 100_000;

type Key = (String, String);

/// Caches [`ConnectionStore::get`] of the wrapped store for `ttl`.
pub struct CachingConnectionStore {
    inner: Arc<dyn ConnectionStore>,
    ttl: Duration,
    entries: Mutex<HashMap<Key, (Instant, Arc<Connection>)>>,
}

impl CachingConnectionStore {
    /// Wraps `inner`; entries live for `ttl`.
    pub fn new(inner: Arc<dyn ConnectionStore>, ttl: Duration) -> Self {
        CachingConnectionStore {
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

#[async_trait]
impl ConnectionStore for CachingConnectionStore {
    async fn upsert(&self, connection: &NewConnection) -> Result<Connection, StoreError> {
        self.forget(&connection.provider_config_key, &connection.connection_id);
        let stored = self.inner.upsert(connection).await;
        self.forget(&connection.provider_config_key, &connection.connection_id);
        stored
    }

    async fn get(
        &self,
        provider_config_key: &str,
        connection_id: &str,
    ) -> Result<Option<Connection>, StoreError> {
        Ok(self
            .get_shared(provider_config_key, connection_id)
            .await?
            .map(|connection| (*connection).clone()))
    }

    async fn get_shared(
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
            .get(provider_config_key, connection_id)
            .await?
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

    async fn list(&self, filter: &ConnectionFilter) -> Result<Vec<Connection>, StoreError> {
        self.inner.list(filter).await
    }

    async fn connection_ids(&self, filter: &ConnectionFilter) -> Result<Vec<String>, StoreError> {
        self.inner.connection_ids(filter).await
    }

    async fn with_token_digest(
        &self,
        provider_config_key: &str,
        digest: &str,
    ) -> Result<Vec<String>, StoreError> {
        self.inner
            .with_token_digest(provider_config_key, digest)
            .await
    }

    async fn delete(
        &self,
        provider_config_key: &str,
        connection_id: &str,
    ) -> Result<bool, StoreError> {
        self.forget(provider_config_key, connection_id);
        let deleted = self.inner.delete(provider_config_key, connection_id).await;
        self.forget(provider_config_key, connection_id);
        deleted
    }

    async fn update_metadata(
        &self,
        provider_config_key: &str,
        connection_id: &str,
        metadata: &Value,
        how: MetadataUpdate,
    ) -> Result<Option<Connection>, StoreError> {
        let updated = self
            .inner
            .update_metadata(provider_config_key, connection_id, metadata, how)
            .await;
        self.forget(provider_config_key, connection_id);
        updated
    }

    async fn mark_fetched(
        &self,
        provider_config_key: &str,
        connection_id: &str,
    ) -> Result<(), StoreError> {
        let marked = self
            .inner
            .mark_fetched(provider_config_key, connection_id)
            .await;
        self.forget(provider_config_key, connection_id);
        marked
    }

    async fn mark_revoked(
        &self,
        provider_config_key: &str,
        connection_id: &str,
    ) -> Result<bool, StoreError> {
        self.forget(provider_config_key, connection_id);
        let marked = self
            .inner
            .mark_revoked(provider_config_key, connection_id)
            .await;
        self.forget(provider_config_key, connection_id);
        marked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Credentials, SqliteStore};

    fn stores(ttl: Duration) -> (Arc<dyn ConnectionStore>, CachingConnectionStore) {
        let inner: Arc<dyn ConnectionStore> = Arc::new(SqliteStore::in_memory().expect("store"));
        (inner.clone(), CachingConnectionStore::new(inner, ttl))
    }

    fn connection(token: &str) -> NewConnection {
        NewConnection::new(
            "checkr-partner",
            "a",
            "checkr-partner",
            Credentials::access_token(token),
        )
    }

    #[tokio::test]
    async fn writes_through_the_cache_are_visible_at_once() {
        let (_, cache) = stores(Duration::from_secs(3600));
        cache.upsert(&connection("one")).await.expect("upsert");
        assert!(
            cache
                .get("checkr-partner", "a")
                .await
                .expect("get")
                .is_some()
        );
        cache.upsert(&connection("two")).await.expect("rotate");
        let seen = cache
            .get("checkr-partner", "a")
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(seen.credentials, Credentials::access_token("two"));
        assert!(cache.delete("checkr-partner", "a").await.expect("delete"));
        assert!(
            cache
                .get("checkr-partner", "a")
                .await
                .expect("get")
                .is_none()
        );
    }

    #[tokio::test]
    async fn writes_behind_the_cache_are_visible_after_the_ttl() {
        let (inner, cache) = stores(Duration::from_millis(50));
        cache.upsert(&connection("one")).await.expect("upsert");
        assert!(
            cache
                .get("checkr-partner", "a")
                .await
                .expect("get")
                .is_some()
        );
        inner
            .delete("checkr-partner", "a")
            .await
            .expect("delete elsewhere");
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert!(
            cache
                .get("checkr-partner", "a")
                .await
                .expect("get")
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_missing_connection_is_not_cached() {
        let (inner, cache) = stores(Duration::from_secs(3600));
        assert!(
            cache
                .get("checkr-partner", "a")
                .await
                .expect("get")
                .is_none()
        );
        inner
            .upsert(&connection("one"))
            .await
            .expect("created elsewhere");
        assert!(
            cache
                .get("checkr-partner", "a")
                .await
                .expect("get")
                .is_some()
        );
    }

    #[tokio::test]
    async fn shared_connection_stays_the_same_until_it_changes() {
        let (_, cache) = stores(Duration::from_secs(3600));
        cache.upsert(&connection("one")).await.expect("upsert");
        let first = cache
            .get_shared("checkr-partner", "a")
            .await
            .expect("get")
            .expect("exists");
        let again = cache
            .get_shared("checkr-partner", "a")
            .await
            .expect("get")
            .expect("exists");
        assert!(
            Arc::ptr_eq(&first, &again),
            "a fresh entry is handed out as is"
        );
        cache.upsert(&connection("two")).await.expect("rotate");
        let rotated = cache
            .get_shared("checkr-partner", "a")
            .await
            .expect("get")
            .expect("exists");
        assert!(
            !Arc::ptr_eq(&first, &rotated),
            "a change gives a new connection"
        );
        assert_eq!(rotated.credentials, Credentials::access_token("two"));
    }
}
