//! The embeddable runtime: loads integrations' components once, then runs each guest
//! call in a fresh sandbox.
//!
//! | file | job |
//! | --- | --- |
//! | `mod.rs` | the [`Runtime`] facade |
//! | `registry.rs` | configured integrations: provider, HTTP policy, components, per-connection memo |
//! | `component.rs` | loading a component and learning what it carries |
//! | `sandbox.rs` | the one "call a guest export in a fresh sandbox" step |
//! | `action.rs` | the `action` world's export call |
//! | `error.rs` | why a call or a start failed |

mod action;
mod component;
mod error;
mod registry;
mod sandbox;

pub use action::{ActionInfo, ActionOutput, Invocation};
pub use error::{StartError, TriggerError};
pub use registry::resolve_provider;

use crate::capabilities::log::{LogLevel, LogLine, LogSource};
use crate::config::{Limits, RuntimeConfig};
use crate::engine::{CacheStats, ComponentCache, EpochTicker, build_engine};
use crate::outbound::HttpPolicy;
use crate::providers::{Provider, Providers};
use crate::store::{Connection, ConnectionStore, PlaintextCipher, Stores};
use component::LoadedComponent;
use registry::Integration;
use reqwest::header::HeaderValue;
use sandbox::{Grant, SandboxState, Sandboxes};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use wasmtime::component::Linker;

/// The terapi runtime. Build one per process and share it (it is `Send + Sync`); every
/// invocation gets its own sandbox.
///
/// ```no_run
/// # async fn demo() -> anyhow::Result<()> {
/// use terapi_runtime::{Credentials, NewConnection, Runtime, RuntimeConfig};
///
/// let config = RuntimeConfig::from_file("terapi.toml".as_ref())?;
/// let runtime = Runtime::new(config).await?;
/// runtime.connections().upsert(&NewConnection::new(
///     "checkr-partner", "customer-42", "checkr-partner",
///     Credentials::access_token("token from the OAuth flow"),
/// )).await?;
/// let account = runtime
///     .trigger_action("checkr-partner", "customer-42", "get-account", "{}")
///     .await?;
/// println!("{}", account.as_json());
/// # Ok(()) }
/// ```
pub struct Runtime {
    sandboxes: Sandboxes,
    _ticker: EpochTicker,
    cache: ComponentCache,
    connections: Arc<dyn ConnectionStore>,
    integrations: BTreeMap<String, Integration>,
    client: reqwest::Client,
    limits: Limits,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field(
                "integrations",
                &self.integrations.keys().collect::<Vec<_>>(),
            )
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// A connection resolved for a call: the stored connection and the `Authorization` value
/// the host injects for it (derived once per connection, shared by actions and the
/// proxy).
#[derive(Clone)]
pub struct CallConnection {
    /// The stored connection.
    pub connection: Arc<Connection>,
    /// The header value; secret (marked sensitive, never logged).
    pub authorization: Option<HeaderValue>,
}

impl std::fmt::Debug for CallConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallConnection")
            .field("connection", &self.connection)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl Runtime {
    /// Starts a runtime with the stores the configuration's `database` names
    /// (`<data_dir>/terapi.db` by default), credentials unencrypted; use
    /// [`Runtime::with_connection_store`] with a store opened with an
    /// [`AesGcmCipher`](crate::AesGcmCipher) to encrypt them.
    pub async fn new(config: RuntimeConfig) -> Result<Self, StartError> {
        let stores = Stores::open(&config, Arc::new(PlaintextCipher)).await?;
        Self::with_connection_store(config, stores.connections).await
    }

    /// Starts a runtime with the given connection store, used as it is: wrap it in a
    /// [`CachingConnectionStore`](crate::CachingConnectionStore) (as [`Stores::open`]
    /// does) to spare the invocation hot path a database read per run.
    pub async fn with_connection_store(
        mut config: RuntimeConfig,
        connections: Arc<dyn ConnectionStore>,
    ) -> Result<Self, StartError> {
        config.fill_integration_keys();
        let engine_error = |error: &dyn std::fmt::Display| StartError::Engine(error.to_string());
        let engine = build_engine(&config.limits).map_err(|e| engine_error(&e))?;
        let ticker = EpochTicker::start(&engine).map_err(|e| engine_error(&e))?;
        let mut linker = Linker::<SandboxState>::new(&engine);
        sandbox::add_capabilities(&mut linker).map_err(|e| engine_error(&e))?;
        let cache = ComponentCache::new(&engine, config.data_dir.join("cache"));
        let client = crate::outbound::client(true).map_err(|e| engine_error(&e))?;
        let sandboxes = Sandboxes::new(engine, config.limits.clone(), client.clone());
        let providers = Providers::built_in();
        let mut loaded: HashMap<PathBuf, Arc<LoadedComponent>> = HashMap::new();
        let mut integrations = BTreeMap::new();
        for (key, integration) in &config.integrations {
            let (provider_name, provider, policy) =
                resolve_provider(key, integration, &providers, &config.limits).map_err(
                    |message| StartError::Integration {
                        integration: key.clone(),
                        message,
                    },
                )?;
            let policy = Arc::new(policy);
            let component = match loaded.get(&integration.component) {
                Some(component) => component.clone(),
                None => {
                    let component = component::load(
                        &sandboxes,
                        &cache,
                        &linker,
                        &integration.component,
                        policy.clone(),
                    )
                    .await
                    .map_err(|error| StartError::Component {
                        integration: key.clone(),
                        path: integration.component.clone(),
                        message: format!("{error:#}"),
                    })?;
                    let component = Arc::new(component);
                    loaded.insert(integration.component.clone(), component.clone());
                    component
                }
            };
            integrations.insert(
                key.clone(),
                Integration::new(provider_name, provider, policy, component),
            );
        }
        Ok(Runtime {
            sandboxes,
            _ticker: ticker,
            cache,
            connections,
            integrations,
            client,
            limits: config.limits.clone(),
        })
    }

    /// The connection store, to add, list and remove connections.
    pub fn connections(&self) -> &Arc<dyn ConnectionStore> {
        &self.connections
    }

    /// Counters of the compiled-component cache.
    pub fn component_cache_stats(&self) -> &CacheStats {
        self.cache.stats()
    }

    /// Configured integration keys.
    pub fn integration_keys(&self) -> impl Iterator<Item = &str> {
        self.integrations.keys().map(String::as_str)
    }

    /// The provider name and definition of an integration.
    pub fn provider(&self, integration: &str) -> Option<(&str, &Provider)> {
        self.integrations
            .get(integration)
            .map(|found| (found.provider_name.as_str(), &found.provider))
    }

    /// The actions an integration's component carries.
    pub fn actions(&self, integration: &str) -> Option<&[ActionInfo]> {
        self.integrations
            .get(integration)
            .map(|found| found.component.actions.infos.as_slice())
    }

    /// Where an integration's component was loaded from.
    pub fn component_path(&self, integration: &str) -> Option<&std::path::Path> {
        self.integrations
            .get(integration)
            .map(|found| found.component.path.as_path())
    }

    /// The resource limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// An integration's outbound HTTP policy (allow-list, authentication, retries, body
    /// cap): what its actions' requests go through, and what the HTTP server's proxy and
    /// OAuth calls reuse.
    pub fn http_policy(&self, integration: &str) -> Option<&Arc<HttpPolicy>> {
        self.integrations
            .get(integration)
            .map(|found| &found.policy)
    }

    /// The HTTP client actions' requests are sent with (redirects are not followed).
    pub fn http_client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Looks a connection up for a call: the stored connection with the `Authorization`
    /// value derived from it (kept while the connection is unchanged).
    pub async fn connection_for_call(
        &self,
        provider_config_key: &str,
        connection_id: &str,
    ) -> Result<CallConnection, TriggerError> {
        let integration = self.integration(provider_config_key)?;
        let prepared = self
            .prepare_connection(integration, provider_config_key, connection_id)
            .await?;
        Ok(CallConnection {
            connection: prepared.connection().clone(),
            authorization: prepared.authorization,
        })
    }

    /// Runs an action and returns its output. The run log goes to `tracing` (target
    /// `terapi::guest`); use [`Runtime::run_action`] to get it back instead.
    pub async fn trigger_action(
        &self,
        provider_config_key: &str,
        connection_id: &str,
        action: &str,
        input_json: &str,
    ) -> Result<ActionOutput, TriggerError> {
        let invocation = self
            .run_action(provider_config_key, connection_id, action, input_json)
            .await;
        for line in &invocation.logs {
            forward_to_tracing(provider_config_key, connection_id, action, line);
        }
        invocation.result
    }

    /// Runs an action in a fresh sandbox and returns its result with its run log.
    pub async fn run_action(
        &self,
        provider_config_key: &str,
        connection_id: &str,
        action: &str,
        input_json: &str,
    ) -> Invocation {
        match self
            .prepare_action(provider_config_key, connection_id, action, input_json)
            .await
        {
            Ok((integration, grant)) => {
                action::run(
                    &self.sandboxes,
                    &integration.component.actions,
                    grant,
                    self.limits.invocation_timeout(),
                    action,
                    input_json,
                )
                .await
            }
            Err(error) => Invocation {
                result: Err(error),
                logs: Vec::new(),
            },
        }
    }

    fn integration(&self, provider_config_key: &str) -> Result<&Integration, TriggerError> {
        self.integrations
            .get(provider_config_key)
            .ok_or_else(|| TriggerError::UnknownIntegration {
                key: provider_config_key.to_string(),
                known: self.integrations.keys().cloned().collect(),
            })
    }

    async fn prepare_connection(
        &self,
        integration: &Integration,
        provider_config_key: &str,
        connection_id: &str,
    ) -> Result<registry::PreparedConnection, TriggerError> {
        let connection = self
            .connections
            .get_shared(provider_config_key, connection_id)
            .await
            .map_err(|error| TriggerError::Internal(error.to_string()))?
            .ok_or_else(|| {
                integration.forget_connection(connection_id);
                TriggerError::UnknownConnection {
                    integration: provider_config_key.to_string(),
                    connection_id: connection_id.to_string(),
                }
            })?;
        if connection.revoked_at.is_some() {
            integration.forget_connection(connection_id);
            return Err(TriggerError::ConnectionRevoked {
                integration: provider_config_key.to_string(),
                connection_id: connection_id.to_string(),
            });
        }
        Ok(integration.prepare_connection(connection))
    }

    /// Everything checked before a sandbox is made: the integration, the action, the
    /// input against its schema, the connection.
    async fn prepare_action(
        &self,
        provider_config_key: &str,
        connection_id: &str,
        action: &str,
        input_json: &str,
    ) -> Result<(&Integration, Grant), TriggerError> {
        let integration = self.integration(provider_config_key)?;
        let exports = &integration.component.actions;
        let Some(index) = exports.infos.iter().position(|info| info.name == action) else {
            return Err(TriggerError::UnknownAction {
                integration: provider_config_key.to_string(),
                action: action.to_string(),
                available: exports.infos.iter().map(|info| info.name.clone()).collect(),
            });
        };
        action::check_input(exports, index, input_json)?;
        let prepared = self
            .prepare_connection(integration, provider_config_key, connection_id)
            .await?;
        let grant = Grant {
            connection: prepared.guest,
            policy: integration.policy.clone(),
            authorization: prepared.authorization,
        };
        Ok((integration, grant))
    }
}

/// Forwards one line of a guest's run log to `tracing` (target `terapi::guest`).
fn forward_to_tracing(integration: &str, connection: &str, action: &str, line: &LogLine) {
    let source = match line.source {
        LogSource::Guest => "log",
        LogSource::Stdout => "stdout",
        LogSource::Stderr => "stderr",
    };
    // Guest text is escaped (line breaks, control characters, ANSI escapes): a guest
    // cannot forge a host log line or drive the operator's terminal.
    let message = line.message.escape_debug();
    macro_rules! at {
        ($level:ident) => {
            tracing::$level!(target: "terapi::guest", integration, connection, action, source, "{message}")
        };
    }
    match line.level {
        LogLevel::Trace => at!(trace),
        LogLevel::Debug => at!(debug),
        LogLevel::Info => at!(info),
        LogLevel::Warn => at!(warn),
        LogLevel::Error => at!(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Regression: a guest's log line with a line break used to come out as two host
    /// log lines, the second of the guest's choosing.
    #[test]
    fn guest_log_lines_cannot_forge_host_log_lines() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::TRACE)
            .finish();
        let line = LogLine {
            level: LogLevel::Info,
            source: LogSource::Guest,
            message: "done\n2026-11-26T00:00:00Z ERROR terapi: forged \u{1b}[2Jline".into(),
        };
        tracing::subscriber::with_default(subscriber, || {
            forward_to_tracing("checkr-partner", "acme", "get-account", &line);
        });
        let text = String::from_utf8(buffer.0.lock().expect("lock").clone()).expect("UTF-8");
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("done\\n2026"), "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
    }
}
