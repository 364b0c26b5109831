//! The embeddable runtime: loads integrations' components once, then runs each action
//! invocation in a fresh sandbox.

use crate::bindings::terapi::runtime::connection as wit_connection;
use crate::bindings::{Action, ActionPre};
use crate::capabilities::http::{HttpContext, HttpPolicy};
use crate::capabilities::log::{LogLevel, LogLine, LogSource};
use crate::capabilities::{self, connection::to_guest};
use crate::config::{IntegrationConfig, Limits, RuntimeConfig};
use crate::connections::{
    CachingStore, Connection, ConnectionStore, Credentials, SqliteConnectionStore,
};
use crate::engine::{CacheStats, ComponentCache, EpochTicker, build_engine, ticks_for};
use crate::providers::{Provider, Providers};
use crate::sandbox::Sandbox;
use crate::schema::{FieldError, InputSchema};
use reqwest::header::HeaderValue;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use wasmtime::component::Linker;
use wasmtime::{Engine, Store, Trap};

/// An action a component carries, as it describes itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionInfo {
    /// The name it is triggered by, e.g. `get-account`.
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of its input.
    pub input_schema: Value,
    /// JSON Schema of its output.
    pub output_schema: Value,
}

/// A component, compiled and linked once, instantiated per invocation.
struct LoadedComponent {
    path: PathBuf,
    pre: ActionPre<Sandbox>,
    actions: Vec<ActionInfo>,
    /// Each action's compiled input schema, in the order of `actions`.
    ///
    /// Compiling the eleven schemas of the Checkr component takes ~2 ms, as long as the
    /// rest of a cached start together; a start from a recorded description therefore
    /// leaves compiling to each action's first invocation (~0.2 ms, once). A description
    /// is only recorded after all its schemas compiled, so a lazy compile does not fail
    /// in practice.
    validators: Vec<OnceLock<Result<InputSchema, String>>>,
}

impl LoadedComponent {
    /// The compiled input schema of the action at `index` in `actions`.
    fn input_schema(&self, index: usize) -> Result<&InputSchema, &str> {
        self.validators[index]
            .get_or_init(|| InputSchema::compile(self.actions[index].input_schema.clone()))
            .as_ref()
            .map_err(String::as_str)
    }
}

/// The format of the description recorded beside a cached component.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordedDescription {
    format: u32,
    actions: Vec<ActionInfo>,
}

const DESCRIPTION_FORMAT: u32 = 1;

/// One configured integration.
struct Integration {
    provider_name: String,
    provider: Provider,
    component: Arc<LoadedComponent>,
    policy: Arc<HttpPolicy>,
    /// What invocations derived from each connection, by connection id.
    prepared: Mutex<HashMap<String, PreparedConnection>>,
}

impl Integration {
    /// The guest's view of `connection` and the `Authorization` value the host injects
    /// for it, reused while the store hands out the same connection.
    fn prepare_connection(
        &self,
        connection: Arc<Connection>,
    ) -> (Arc<wit_connection::Connection>, Option<HeaderValue>) {
        let mut prepared = self.prepared();
        if let Some(entry) = prepared.get(&connection.connection_id)
            && Arc::ptr_eq(&entry.source, &connection)
        {
            return (entry.guest.clone(), entry.authorization.clone());
        }
        let authorization = self.policy.authorization_header(&connection.credentials);
        if authorization.is_none() && !matches!(connection.credentials, Credentials::None) {
            tracing::warn!(
                integration = %connection.provider_config_key,
                connection = %connection.connection_id,
                "the connection's credentials cannot form an Authorization header"
            );
        }
        let guest = Arc::new(to_guest(&connection));
        if prepared.len() >= MAX_PREPARED {
            prepared.clear();
        }
        prepared.insert(
            connection.connection_id.clone(),
            PreparedConnection {
                source: connection,
                guest: guest.clone(),
                authorization: authorization.clone(),
            },
        );
        (guest, authorization)
    }

    fn prepared(&self) -> std::sync::MutexGuard<'_, HashMap<String, PreparedConnection>> {
        // Entries are whole values: a panic elsewhere cannot leave one half-written.
        self.prepared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Why an invocation did not produce output.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TriggerError {
    /// No integration is configured under this key.
    #[error("unknown integration `{key}`; configured: {}", known.join(", "))]
    UnknownIntegration {
        /// The key asked for.
        key: String,
        /// The keys configured.
        known: Vec<String>,
    },
    /// The integration's component has no such action.
    #[error("integration `{integration}` has no action `{action}`; it has: {}", available.join(", "))]
    UnknownAction {
        /// The integration.
        integration: String,
        /// The action asked for.
        action: String,
        /// The actions it has.
        available: Vec<String>,
    },
    /// No connection with this id exists for the integration.
    #[error("unknown connection `{connection_id}` for integration `{integration}`")]
    UnknownConnection {
        /// The integration.
        integration: String,
        /// The connection asked for.
        connection_id: String,
    },
    /// The input is not acceptable: malformed JSON, or JSON that does not match the
    /// action's input schema. Nothing ran and nothing was sent upstream.
    #[error("invalid input: {message}")]
    InvalidInput {
        /// What is wrong with it, every problem in one sentence naming its field.
        message: String,
        /// The problems one by one, for callers that show them per field (empty when
        /// the input is not JSON at all).
        errors: Vec<FieldError>,
    },
    /// The action failed on purpose with an `ActionError`.
    #[error("{message}")]
    Action {
        /// The action's message.
        message: String,
        /// The action's payload.
        payload: Option<Value>,
    },
    /// The invocation ran past its deadline and was stopped.
    #[error("action `{action}` did not finish within {timeout:?} and was stopped")]
    Timeout {
        /// The action.
        action: String,
        /// The deadline.
        timeout: Duration,
    },
    /// The guest tried to grow its memory beyond the cap and was stopped.
    #[error("action `{action}` exceeded its memory limit of {limit} bytes and was stopped")]
    MemoryLimitExceeded {
        /// The action.
        action: String,
        /// The cap.
        limit: usize,
    },
    /// The guest crashed (panic, trap, invalid output).
    #[error("action `{action}` crashed: {message}")]
    Crashed {
        /// The action.
        action: String,
        /// What happened, including the guest's panic message when it printed one.
        message: String,
    },
    /// A failure of the host itself (store, engine).
    #[error("internal error: {0}")]
    Internal(String),
}

impl TriggerError {
    /// A stable machine-readable code, as in Nango's API errors.
    pub fn code(&self) -> &'static str {
        match self {
            TriggerError::UnknownIntegration { .. } => "unknown_provider_config",
            TriggerError::UnknownAction { .. } => "unknown_action",
            TriggerError::UnknownConnection { .. } => "unknown_connection",
            TriggerError::InvalidInput { .. } => "invalid_action_input",
            TriggerError::Action { .. } => "action_script_runtime_error",
            TriggerError::Timeout { .. } => "action_timeout",
            TriggerError::MemoryLimitExceeded { .. } => "action_memory_limit_exceeded",
            TriggerError::Crashed { .. } => "action_crashed",
            TriggerError::Internal(_) => "internal_error",
        }
    }
}

/// The JSON output of an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionOutput {
    json: String,
}

impl ActionOutput {
    /// The output as JSON text, as the action produced it.
    pub fn as_json(&self) -> &str {
        &self.json
    }

    /// The output as JSON text.
    pub fn into_json(self) -> String {
        self.json
    }

    /// Parses the output into `T`.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_str(&self.json)
    }
}

/// An invocation's result together with its run log.
#[derive(Debug)]
pub struct Invocation {
    /// Output or error.
    pub result: Result<ActionOutput, TriggerError>,
    /// What the guest logged and printed.
    pub logs: Vec<LogLine>,
}

/// The terapi runtime. Build one per process and share it (it is `Send + Sync`); every
/// invocation gets its own sandbox.
///
/// ```no_run
/// # async fn demo() -> anyhow::Result<()> {
/// use terapi_host::{Credentials, NewConnection, Runtime, RuntimeConfig};
///
/// let config = RuntimeConfig::from_file("terapi.toml".as_ref())?;
/// let runtime = Runtime::new(config).await?;
/// runtime.connections().upsert(&NewConnection::new(
///     "checkr-partner", "customer-42", "checkr-partner",
///     Credentials::access_token("token from the OAuth flow"),
/// ))?;
/// let account = runtime
///     .trigger_action("checkr-partner", "customer-42", "get-account", "{}")
///     .await?;
/// println!("{}", account.as_json());
/// # Ok(()) }
/// ```
pub struct Runtime {
    engine: Engine,
    _ticker: EpochTicker,
    cache: ComponentCache,
    connections: Arc<dyn ConnectionStore>,
    integrations: BTreeMap<String, Integration>,
    client: reqwest::Client,
    limits: Limits,
}

/// What an invocation derives from its connection, kept while the connection store hands
/// out the same shared connection (a caching store: until its entry expires or the
/// connection changes). Saves re-encoding the guest's record and the `Authorization` value
/// on every run, about a twelfth of a no-op invocation.
struct PreparedConnection {
    source: Arc<Connection>,
    guest: Arc<wit_connection::Connection>,
    authorization: Option<HeaderValue>,
}

/// Entries kept per integration; beyond it the map is cleared and refilled by use.
const MAX_PREPARED: usize = 10_000;

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

/// Why a runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is inconsistent (unknown provider, bad URL, ...).
    #[error("integration `{integration}`: {message}")]
    Integration {
        /// The integration.
        integration: String,
        /// What is wrong.
        message: String,
    },
    /// A component failed to load.
    #[error("integration `{integration}`: cannot load {path}: {message}")]
    Component {
        /// The integration.
        integration: String,
        /// The component file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The connection store failed to open.
    #[error(transparent)]
    Store(#[from] crate::connections::StoreError),
    /// The engine could not be created.
    #[error("cannot start the WebAssembly engine: {0}")]
    Engine(String),
}

impl Runtime {
    /// Starts a runtime with the SQLite connection store at `config.database_path()`
    /// (`<data_dir>/terapi.db` by default), credentials unencrypted; use
    /// [`Runtime::with_connection_store`] with an [`AesGcmCipher`](crate::AesGcmCipher)
    /// store to encrypt them.
    pub async fn new(config: RuntimeConfig) -> Result<Self, StartError> {
        let store = SqliteConnectionStore::open(&config.database_path())?;
        Self::with_connection_store(config, Arc::new(store)).await
    }

    /// Starts a runtime with the given connection store.
    pub async fn with_connection_store(
        mut config: RuntimeConfig,
        connections: Arc<dyn ConnectionStore>,
    ) -> Result<Self, StartError> {
        config.fill_integration_keys();
        let engine_error = |error: &dyn std::fmt::Display| StartError::Engine(error.to_string());
        let engine = build_engine(&config.limits).map_err(|e| engine_error(&e))?;
        let ticker = EpochTicker::start(&engine).map_err(|e| engine_error(&e))?;
        let mut linker = Linker::<Sandbox>::new(&engine);
        capabilities::add_action_capabilities(&mut linker).map_err(|e| engine_error(&e))?;
        let cache = ComponentCache::new(&engine, config.data_dir.join("cache"));
        let client = reqwest::Client::builder()
            .user_agent(concat!("terapi/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| engine_error(&e))?;
        let mut runtime = Runtime {
            engine,
            _ticker: ticker,
            cache,
            connections: if config.limits.connection_cache_ms > 0 {
                Arc::new(CachingStore::new(
                    connections,
                    Duration::from_millis(config.limits.connection_cache_ms),
                ))
            } else {
                connections
            },
            integrations: BTreeMap::new(),
            client,
            limits: config.limits.clone(),
        };
        let providers = Providers::built_in();
        let mut loaded: HashMap<PathBuf, Arc<LoadedComponent>> = HashMap::new();
        for (key, integration) in &config.integrations {
            let resolved = runtime
                .prepare_integration(key, integration, &providers, &linker, &mut loaded)
                .await?;
            runtime.integrations.insert(key.clone(), resolved);
        }
        Ok(runtime)
    }

    async fn prepare_integration(
        &self,
        key: &str,
        config: &IntegrationConfig,
        providers: &Providers,
        linker: &Linker<Sandbox>,
        loaded: &mut HashMap<PathBuf, Arc<LoadedComponent>>,
    ) -> Result<Integration, StartError> {
        let fail = |message: String| StartError::Integration {
            integration: key.to_string(),
            message,
        };
        let provider_name = config.provider().to_string();
        let provider = providers.get(&provider_name).cloned().ok_or_else(|| {
            fail(format!(
                "unknown provider `{provider_name}`; known providers: {}",
                providers.names().collect::<Vec<_>>().join(", ")
            ))
        })?;
        let base_url = config
            .api_base_url
            .clone()
            .unwrap_or_else(|| provider.api_base_url.clone());
        let policy = HttpPolicy::new(
            &base_url,
            &config.allowed_hosts,
            provider.request_auth,
            provider.rate_limit_reset_header.as_deref(),
            &self.limits,
        )
        .map_err(fail)?;
        let policy = Arc::new(policy);
        let component = match loaded.get(&config.component) {
            Some(component) => component.clone(),
            None => {
                let component = self
                    .load_component(&config.component, linker, policy.clone())
                    .await
                    .map_err(|error| StartError::Component {
                        integration: key.to_string(),
                        path: config.component.clone(),
                        message: format!("{error:#}"),
                    })?;
                let component = Arc::new(component);
                loaded.insert(config.component.clone(), component.clone());
                component
            }
        };
        Ok(Integration {
            provider_name,
            provider,
            component,
            policy,
            prepared: Mutex::new(HashMap::new()),
        })
    }

    async fn load_component(
        &self,
        path: &std::path::Path,
        linker: &Linker<Sandbox>,
        policy: Arc<HttpPolicy>,
    ) -> anyhow::Result<LoadedComponent> {
        let started = std::time::Instant::now();
        let cached = self.cache.load(&self.engine, path)?;
        let loaded = started.elapsed();
        let pre = linker
            .instantiate_pre(&cached.component)
            .map_err(|error| anyhow::anyhow!("{error:#}"))?;
        let pre = ActionPre::new(pre).map_err(|error| {
            anyhow::anyhow!("does not implement the terapi `action` world: {error:#}")
        })?;
        let recorded = cached.recorded_description().and_then(|text| {
            match serde_json::from_str::<RecordedDescription>(&text) {
                Ok(recorded) if recorded.format == DESCRIPTION_FORMAT => Some(recorded.actions),
                Ok(_) => None,
                Err(error) => {
                    tracing::warn!(component = %path.display(), %error, "ignoring an unreadable recorded description");
                    None
                }
            }
        });
        let from_record = recorded.is_some();
        let (actions, validators) = match recorded {
            Some(actions) => {
                let validators = actions.iter().map(|_| OnceLock::new()).collect();
                (actions, validators)
            }
            None => {
                let (actions, validators) = self.describe(&pre, policy).await?;
                let record = RecordedDescription {
                    format: DESCRIPTION_FORMAT,
                    actions,
                };
                if let Ok(text) = serde_json::to_string(&record) {
                    cached.record_description(&text);
                }
                (record.actions, validators)
            }
        };
        tracing::debug!(
            component = %path.display(),
            actions = actions.len(),
            load_ms = loaded.as_secs_f64() * 1e3,
            link_and_describe_ms = (started.elapsed() - loaded).as_secs_f64() * 1e3,
            described_by = if from_record { "recorded description" } else { "the component" },
            "component ready"
        );
        Ok(LoadedComponent {
            path: path.to_path_buf(),
            pre,
            actions,
            validators,
        })
    }

    /// Asks a component what it carries (its `describe` export) and compiles each
    /// action's input schema, failing on a schema that is not JSON or not a JSON Schema.
    async fn describe(
        &self,
        pre: &ActionPre<Sandbox>,
        policy: Arc<HttpPolicy>,
    ) -> anyhow::Result<(Vec<ActionInfo>, Vec<OnceLock<Result<InputSchema, String>>>)> {
        let connection = Arc::new(wit_connection::Connection {
            connection_id: String::new(),
            provider_config_key: String::new(),
            provider: String::new(),
            credentials: wit_connection::Credentials::None,
            connection_config: "{}".into(),
            metadata: "{}".into(),
        });
        let mut store = self.new_store(connection, policy, None);
        let instance = pre
            .instantiate_async(&mut store)
            .await
            .map_err(|error| anyhow::anyhow!("{error:#}"))?;
        let described = instance
            .call_describe(&mut store)
            .await
            .map_err(|error| anyhow::anyhow!("describe failed: {error:#}"))?;
        let mut actions = Vec::with_capacity(described.len());
        let mut validators = Vec::with_capacity(described.len());
        for info in described {
            let schema = |which: &str, text: &str| {
                serde_json::from_str::<Value>(text).map_err(|error| {
                    anyhow::anyhow!(
                        "action `{}` declares an {which} schema that is not JSON: {error}",
                        info.name
                    )
                })
            };
            let input_schema = schema("input", &info.input_schema)?;
            let output_schema = schema("output", &info.output_schema)?;
            let validator = InputSchema::compile(input_schema.clone())
                .map_err(|error| anyhow::anyhow!("action `{}`: {error}", info.name))?;
            if actions
                .iter()
                .any(|known: &ActionInfo| known.name == info.name)
            {
                anyhow::bail!("the component declares action `{}` twice", info.name);
            }
            validators.push(OnceLock::from(Ok(validator)));
            actions.push(ActionInfo {
                name: info.name,
                description: info.description,
                input_schema,
                output_schema,
            });
        }
        Ok((actions, validators))
    }

    fn new_store(
        &self,
        connection: Arc<wit_connection::Connection>,
        policy: Arc<HttpPolicy>,
        authorization: Option<HeaderValue>,
    ) -> Store<Sandbox> {
        let timeout = self.limits.invocation_timeout();
        let http = HttpContext {
            client: self.client.clone(),
            policy,
            authorization,
            deadline: tokio::time::Instant::now() + timeout,
        };
        let sandbox = Sandbox::new(
            connection,
            http,
            self.limits.memory_bytes,
            self.limits.log_capture_bytes,
        );
        let mut store = Store::new(&self.engine, sandbox);
        store.limiter(|sandbox| &mut sandbox.limiter);
        store.set_epoch_deadline(ticks_for(timeout));
        store.epoch_deadline_trap();
        store
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
            .map(|found| found.component.actions.as_slice())
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
            emit(provider_config_key, connection_id, action, line);
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
        let prepared = self.prepare(provider_config_key, connection_id, action, input_json);
        let (integration, store) = match prepared {
            Ok(prepared) => prepared,
            Err(error) => {
                return Invocation {
                    result: Err(error),
                    logs: Vec::new(),
                };
            }
        };
        self.execute(integration, store, action, input_json).await
    }

    fn prepare(
        &self,
        provider_config_key: &str,
        connection_id: &str,
        action: &str,
        input_json: &str,
    ) -> Result<(&Integration, Store<Sandbox>), TriggerError> {
        let integration = self.integrations.get(provider_config_key).ok_or_else(|| {
            TriggerError::UnknownIntegration {
                key: provider_config_key.to_string(),
                known: self.integrations.keys().cloned().collect(),
            }
        })?;
        let actions = &integration.component.actions;
        let Some(index) = actions.iter().position(|info| info.name == action) else {
            return Err(TriggerError::UnknownAction {
                integration: provider_config_key.to_string(),
                action: action.to_string(),
                available: actions.iter().map(|info| info.name.clone()).collect(),
            });
        };
        check_input(&integration.component, index, input_json)?;
        let connection = self
            .connections
            .get_shared(provider_config_key, connection_id)
            .map_err(|error| TriggerError::Internal(error.to_string()))?
            .ok_or_else(|| {
                // A deleted connection's credentials do not stay behind in memory.
                integration.prepared().remove(connection_id);
                TriggerError::UnknownConnection {
                    integration: provider_config_key.to_string(),
                    connection_id: connection_id.to_string(),
                }
            })?;
        let (guest, authorization) = integration.prepare_connection(connection);
        let store = self.new_store(guest, integration.policy.clone(), authorization);
        Ok((integration, store))
    }

    async fn execute(
        &self,
        integration: &Integration,
        mut store: Store<Sandbox>,
        action: &str,
        input_json: &str,
    ) -> Invocation {
        let timeout = self.limits.invocation_timeout();
        let (action_name, input) = (action.to_string(), input_json.to_string());
        let run = async {
            let instance: Action = integration
                .component
                .pre
                .instantiate_async(&mut store)
                .await?;
            instance.call_run(&mut store, &action_name, &input).await
        };
        let outcome = tokio::time::timeout(timeout, run).await;
        let memory_exceeded = store.data().limiter.exceeded.is_some();
        let logs = store.into_data().into_logs();
        let timed_out = || TriggerError::Timeout {
            action: action.to_string(),
            timeout,
        };
        let result = match outcome {
            Err(_elapsed) => Err(timed_out()),
            Ok(Ok(Ok(json))) => match serde_json::from_str::<serde::de::IgnoredAny>(&json) {
                Ok(_) => Ok(ActionOutput { json }),
                Err(error) => Err(TriggerError::Crashed {
                    action: action.to_string(),
                    message: format!("it returned invalid JSON: {error}"),
                }),
            },
            Ok(Ok(Err(action_error))) => Err(TriggerError::Action {
                message: action_error.message,
                payload: action_error.payload.map(|payload| {
                    serde_json::from_str(&payload).unwrap_or(Value::String(payload))
                }),
            }),
            Ok(Err(_)) if memory_exceeded => Err(TriggerError::MemoryLimitExceeded {
                action: action.to_string(),
                limit: self.limits.memory_bytes,
            }),
            Ok(Err(error)) if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) => {
                Err(timed_out())
            }
            Ok(Err(error)) => Err(TriggerError::Crashed {
                action: action.to_string(),
                message: crash_message(&error, &logs),
            }),
        };
        Invocation { result, logs }
    }
}

/// Rejects input that is not JSON or does not match the action's input schema. An empty
/// input stands for JSON `null`, as the guest SDK reads it.
fn check_input(
    component: &LoadedComponent,
    action: usize,
    input_json: &str,
) -> Result<(), TriggerError> {
    let input: Value = if input_json.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(input_json).map_err(|error| TriggerError::InvalidInput {
            message: format!("the input is not valid JSON: {error}"),
            errors: Vec::new(),
        })?
    };
    let schema = component.input_schema(action).map_err(|error| {
        TriggerError::Internal(format!(
            "the input schema of `{}` does not compile: {error}",
            component.actions[action].name
        ))
    })?;
    schema
        .validate(&input)
        .map_err(|errors| TriggerError::InvalidInput {
            message: crate::schema::summarize(&errors),
            errors,
        })
}

/// A crash explained: the guest's panic message when it printed one, else the trap.
fn crash_message(error: &wasmtime::Error, logs: &[LogLine]) -> String {
    let trap = error
        .downcast_ref::<Trap>()
        .map(|trap| trap.to_string())
        .unwrap_or_else(|| format!("{error:#}"));
    let panic = logs
        .iter()
        .filter(|line| line.source == LogSource::Stderr)
        .find(|line| line.message.contains("panicked at"))
        .map(|line| {
            // The panic message is on the line after "panicked at <file>:<line>:".
            let index = logs
                .iter()
                .position(|candidate| std::ptr::eq(candidate, line))
                .unwrap_or(0);
            match logs.get(index + 1) {
                Some(next) if next.source == LogSource::Stderr => {
                    format!("{} {}", line.message, next.message)
                }
                _ => line.message.clone(),
            }
        });
    match panic {
        Some(panic) => format!("{panic} ({trap})"),
        None => trap,
    }
}

fn emit(integration: &str, connection: &str, action: &str, line: &LogLine) {
    let source = match line.source {
        LogSource::Guest => "log",
        LogSource::Stdout => "stdout",
        LogSource::Stderr => "stderr",
    };
    macro_rules! at {
        ($level:ident) => {
            tracing::$level!(target: "terapi::guest", integration, connection, action, source, "{}", line.message)
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
