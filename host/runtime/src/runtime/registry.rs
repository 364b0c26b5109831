//! The registry of configured integrations: for each, its provider, its outbound HTTP
//! policy, its component (per world), and what the runtime derived from each of its
//! connections.
//!
//! OAuth apps are not kept here: their credentials can be changed over the API, on any
//! node, so the service layer resolves them from the store when a flow needs one.

use super::component::LoadedComponent;
use crate::bindings::connection as wit_connection;
use crate::capabilities::connection::to_guest;
use crate::config::{IntegrationConfig, Limits};
use crate::outbound::HttpPolicy;
use crate::providers::{Provider, Providers};
use crate::store::{Connection, Credentials};
use reqwest::header::HeaderValue;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Entries kept per integration; beyond it the map is cleared and refilled by use.
const MAX_PREPARED: usize = 10_000;

/// One configured integration.
pub(crate) struct Integration {
    pub(crate) provider_name: String,
    pub(crate) provider: Provider,
    pub(crate) policy: Arc<HttpPolicy>,
    pub(crate) component: Arc<LoadedComponent>,
    /// What invocations derived from each connection, by connection id.
    prepared: Mutex<HashMap<String, PreparedConnection>>,
}

/// What a call derives from its connection: the guest's view and the `Authorization`
/// value the host injects. Kept while the connection store hands out the same shared
/// connection (a caching store: until its entry expires or the connection changes),
/// which saves re-encoding both on every run (BENCHMARKS.md, P1).
#[derive(Clone)]
pub(crate) struct PreparedConnection {
    source: Arc<Connection>,
    pub(crate) guest: Arc<wit_connection::Connection>,
    pub(crate) authorization: Option<HeaderValue>,
}

impl PreparedConnection {
    /// The stored connection it was derived from.
    pub(crate) fn connection(&self) -> &Arc<Connection> {
        &self.source
    }
}

/// Resolves an integration's provider and outbound policy from the configuration: the
/// one place both are derived, for the runtime and for the service layer alike.
pub fn resolve_provider(
    key: &str,
    config: &IntegrationConfig,
    providers: &Providers,
    limits: &Limits,
) -> Result<(String, Provider, HttpPolicy), String> {
    let provider_name = config.provider().to_string();
    let provider = providers.get(&provider_name).cloned().ok_or_else(|| {
        format!(
            "integration `{key}`: unknown provider `{provider_name}`; known providers: {}",
            providers.names().collect::<Vec<_>>().join(", ")
        )
    })?;
    let policy = HttpPolicy::for_integration(config, &provider, limits)
        .map_err(|message| format!("integration `{key}`: {message}"))?;
    Ok((provider_name, provider, policy))
}

impl Integration {
    pub(crate) fn new(
        provider_name: String,
        provider: Provider,
        policy: Arc<HttpPolicy>,
        component: Arc<LoadedComponent>,
    ) -> Self {
        Integration {
            provider_name,
            provider,
            policy,
            component,
            prepared: Mutex::new(HashMap::new()),
        }
    }

    /// The guest's view of `connection` and its `Authorization` value, reused while the
    /// store hands out the same connection.
    pub(crate) fn prepare_connection(&self, connection: Arc<Connection>) -> PreparedConnection {
        let mut prepared = self.prepared();
        if let Some(entry) = prepared.get(&connection.connection_id)
            && Arc::ptr_eq(&entry.source, &connection)
        {
            return entry.clone();
        }
        let authorization = self.policy.authorization_header(&connection.credentials);
        if authorization.is_none() && !matches!(connection.credentials, Credentials::None) {
            tracing::warn!(
                integration = %connection.provider_config_key,
                connection = %connection.connection_id,
                "the connection's credentials cannot form an Authorization header"
            );
        }
        let entry = PreparedConnection {
            guest: Arc::new(to_guest(&connection)),
            authorization,
            source: connection,
        };
        if prepared.len() >= MAX_PREPARED {
            prepared.clear();
        }
        prepared.insert(entry.source.connection_id.clone(), entry.clone());
        entry
    }

    /// Forgets what was derived from a connection (it was deleted): its credentials do
    /// not stay behind in memory.
    pub(crate) fn forget_connection(&self, connection_id: &str) {
        self.prepared().remove(connection_id);
    }

    fn prepared(&self) -> MutexGuard<'_, HashMap<String, PreparedConnection>> {
        // Entries are whole values: a panic elsewhere cannot leave one half-written.
        self.prepared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
