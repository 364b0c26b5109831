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
//! | `sync.rs` | syncs: descriptions, frequencies, the `fetch-data` call |
//! | `error.rs` | why a call or a start failed |

mod action;
mod admission;
mod component;
mod error;
mod registry;
mod sandbox;
mod sync;

use crate::capabilities::records::{SyncProgress, SyncRun};
pub use action::{ActionInfo, ActionOutput, Invocation};
pub use admission::{AdmissionStats, Overloaded, RETRY_AFTER};
pub use error::{StartError, TriggerError};
pub use registry::resolve_provider;
pub use sync::{MIN_FREQUENCY, ModelInfo, SyncError, SyncInfo, SyncOutcome, parse_frequency};

use crate::capabilities::log::{LogLevel, LogLine, LogSource};
use crate::config::{Limits, RuntimeConfig};
use crate::engine::{CacheStats, ComponentCache, EpochTicker, build_engine};
use crate::outbound::HttpPolicy;
use crate::providers::{Provider, Providers};
use crate::store::{
    Connection, ConnectionStore, PlaintextCipher, RecordScope, RecordStore, Stores,
};
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
    records: Arc<dyn RecordStore>,
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
    /// [`Runtime::with_stores`] with stores opened with an
    /// [`AesGcmCipher`](crate::AesGcmCipher) to encrypt them.
    pub async fn new(config: RuntimeConfig) -> Result<Self, StartError> {
        let stores = Stores::open(&config, Arc::new(PlaintextCipher)).await?;
        Self::with_stores(config, &stores).await
    }

    /// Starts a runtime over the given stores, used as they are: connections read
    /// through a [`CachingConnectionStore`](crate::CachingConnectionStore) (as
    /// [`Stores::open`] makes them) spare the invocation hot path a database read per
    /// run. Syncs write their records to `stores.records`.
    pub async fn with_stores(
        mut config: RuntimeConfig,
        stores: &Stores,
    ) -> Result<Self, StartError> {
        let connections = stores.connections.clone();
        let records = stores.records.clone();
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
            records,
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

    /// The syncs an integration's component carries (none for a component of world
    /// `action`).
    pub fn syncs(&self, integration: &str) -> Option<&[SyncInfo]> {
        self.integrations.get(integration).map(|found| {
            found
                .component
                .syncs
                .as_ref()
                .map_or(&[][..], |syncs| syncs.infos.as_slice())
        })
    }

    /// The records store syncs write to.
    pub fn records(&self) -> &Arc<dyn RecordStore> {
        &self.records
    }

    /// Runs a sync once for a connection, in a fresh sandbox with its own deadline
    /// (`limits.sync_timeout_ms`). Batches commit as the guest saves them, so a failed
    /// run keeps what it saved (its counts say what); track-deletes only applies when it
    /// succeeds. Two runs of the same sync and connection must not overlap: the
    /// scheduler's lease sees to that, not this call.
    pub async fn run_sync(
        &self,
        provider_config_key: &str,
        connection_id: &str,
        sync: &str,
    ) -> SyncOutcome {
        self.run_sync_with_progress(provider_config_key, connection_id, sync, None)
            .await
    }

    /// [`Runtime::run_sync`], reporting what the run changed into `progress` as it goes
    /// (for a live display); `None` makes a fresh one.
    pub async fn run_sync_with_progress(
        &self,
        provider_config_key: &str,
        connection_id: &str,
        sync: &str,
        progress: Option<Arc<SyncProgress>>,
    ) -> SyncOutcome {
        self.call_sync(
            provider_config_key,
            connection_id,
            sync,
            progress,
            sync::SyncCall::FetchData,
        )
        .await
    }

    /// Runs a sync's webhook handler (`on-webhook`) with one provider event (JSON text)
    /// for a connection, in a fresh sandbox like [`Runtime::run_sync`] but with an
    /// action's deadline (`limits.invocation_timeout_ms`); the outcome's
    /// counts say which records it changed. Events are only for syncs that subscribe to
    /// their type ([`Runtime::webhook_syncs`]); the caller checks that.
    pub async fn run_sync_webhook(
        &self,
        provider_config_key: &str,
        connection_id: &str,
        sync: &str,
        event: &str,
    ) -> SyncOutcome {
        self.call_sync(
            provider_config_key,
            connection_id,
            sync,
            None,
            sync::SyncCall::OnWebhook(event.into()),
        )
        .await
    }

    /// The syncs of an integration whose webhook handlers take events of `event_type`.
    pub fn webhook_syncs(&self, provider_config_key: &str, event_type: &str) -> Vec<String> {
        self.syncs(provider_config_key)
            .unwrap_or_default()
            .iter()
            .filter(|info| info.subscribes_to(event_type))
            .map(|info| info.name.clone())
            .collect()
    }

    async fn call_sync(
        &self,
        provider_config_key: &str,
        connection_id: &str,
        sync: &str,
        progress: Option<Arc<SyncProgress>>,
        what: sync::SyncCall,
    ) -> SyncOutcome {
        let started_at = time::OffsetDateTime::now_utc();
        let failed = |error: SyncError| SyncOutcome {
            result: Err(error),
            counts: BTreeMap::new(),
            started_at,
            finished_at: time::OffsetDateTime::now_utc(),
            logs: Vec::new(),
        };
        let integration = match self.integration(provider_config_key) {
            Ok(integration) => integration,
            Err(TriggerError::UnknownIntegration { key, known }) => {
                return failed(SyncError::UnknownIntegration { key, known });
            }
            Err(other) => return failed(SyncError::Internal(other.to_string())),
        };
        let unknown_sync = |available: &[SyncInfo]| SyncError::UnknownSync {
            integration: provider_config_key.to_string(),
            sync: sync.to_string(),
            available: available.iter().map(|info| info.name.clone()).collect(),
        };
        let Some(exports) = integration.component.syncs.as_ref() else {
            return failed(unknown_sync(&[]));
        };
        let Some(index) = exports.infos.iter().position(|info| info.name == sync) else {
            return failed(unknown_sync(&exports.infos));
        };
        let models = match exports.schemas(index) {
            Ok(models) => models,
            Err(error) => return failed(SyncError::Internal(error)),
        };
        let prepared = match self
            .prepare_connection(integration, provider_config_key, connection_id)
            .await
        {
            Ok(prepared) => prepared,
            Err(TriggerError::UnknownConnection {
                integration,
                connection_id,
            }) => {
                return failed(SyncError::UnknownConnection {
                    integration,
                    connection_id,
                });
            }
            Err(TriggerError::ConnectionRevoked {
                integration,
                connection_id,
            }) => {
                return failed(SyncError::ConnectionRevoked {
                    integration,
                    connection_id,
                });
            }
            Err(other) => return failed(SyncError::Internal(other.to_string())),
        };
        let run_id = match crate::util::random_id() {
            Ok(id) => id,
            Err(error) => return failed(SyncError::Internal(error)),
        };
        let info = &exports.infos[index];
        let progress = progress.unwrap_or_else(|| sync::new_progress(info));
        progress.declare(info.models.iter().map(|model| model.name.clone()));
        let run = Arc::new(SyncRun {
            records: self.records.clone(),
            connections: self.connections.clone(),
            provider_config_key: provider_config_key.to_string(),
            connection_id: connection_id.to_string(),
            sync: sync.to_string(),
            run_id,
            models,
            progress: progress.clone(),
            webhook: matches!(what, sync::SyncCall::OnWebhook(_)),
        });
        let grant = Grant {
            connection: prepared.guest,
            policy: integration.policy.clone(),
            authorization: prepared.authorization,
            sync: None,
        };
        let (result, logs) = sync::run(
            &self.sandboxes,
            exports,
            index,
            grant,
            run,
            // A handler applies one event: it gets an action's deadline, not a full
            // listing's.
            match what {
                sync::SyncCall::FetchData => self.limits.sync_timeout(),
                sync::SyncCall::OnWebhook(_) => self.limits.invocation_timeout(),
            },
            what,
        )
        .await;
        for line in &logs {
            forward_to_tracing(provider_config_key, connection_id, sync, line);
        }
        SyncOutcome {
            result,
            counts: progress.counts(),
            started_at,
            finished_at: time::OffsetDateTime::now_utc(),
            logs,
        }
    }

    /// How many live records of `model` a connection has.
    pub async fn record_count(
        &self,
        provider_config_key: &str,
        connection_id: &str,
        model: &str,
    ) -> Result<u64, crate::store::StoreError> {
        self.records
            .count_records(&RecordScope::new(provider_config_key, connection_id, model))
            .await
    }

    /// Where an integration's component was loaded from.
    pub fn component_path(&self, integration: &str) -> Option<&std::path::Path> {
        self.integrations
            .get(integration)
            .map(|found| found.component.path.as_path())
    }

    /// Counters of the admission control: sandbox slots, running and waiting calls,
    /// calls admitted and refused as overloaded.
    pub fn admission_stats(&self) -> AdmissionStats {
        self.sandboxes.admission_stats()
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
                    self.limits.max_output_bytes,
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
        action::check_input(&integration.component, index, input_json).await?;
        let prepared = self
            .prepare_connection(integration, provider_config_key, connection_id)
            .await?;
        let grant = Grant {
            connection: prepared.guest,
            policy: integration.policy.clone(),
            authorization: prepared.authorization,
            sync: None,
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
