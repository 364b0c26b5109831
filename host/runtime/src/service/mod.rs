//! The workflows the HTTP server and the CLI share.
//!
//! [`Service`] owns what both front ends need and used to build each on its own: the
//! stores (opened by one factory, credentials sealed by one rule — see [`keys`]), the
//! HTTP client, each integration's provider and outbound policy, and, once started, the
//! [`Runtime`]. On top of them it runs the workflows: the OAuth connect and callback,
//! deleting a connection with token revocation, all-or-nothing metadata changes, OAuth
//! app credentials, asynchronous runs, and syncs (`sync.rs`: the scheduler, triggers,
//! status, records). Front ends only translate: HTTP requests or
//! command-line arguments in, [`ServiceError`]s out as status codes or messages.

mod handlers;
pub mod inbound;
pub mod keys;
mod sync;
pub mod webhooks;

pub use keys::{EnvLookup, process_env};
pub use sync::{SchedulerHandle, SyncReset, SyncStatus};
pub use webhooks::WebhookSettings;

use crate::config::RuntimeConfig;
use crate::oauth::{OAuthApp, STATE_TTL, post_connection_check, state_digest};
use crate::outbound::HttpPolicy;
use crate::providers::{Provider, Providers};
use crate::runtime::{Runtime, StartError, TriggerError, resolve_provider};
use crate::store::{
    Connection, ConnectionStore, Delivery, DeliveryFilter, IntegrationCredentials, MetadataUpdate,
    NewConnection, NewDelivery, OAuthSession, RunState, StartRunError, StoreError, Stores,
};
use crate::util::random_id;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use time::OffsetDateTime;
use url::Url;

/// What kind of failure a [`ServiceError`] is; front ends map it to a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The configuration or the environment is missing or wrong (at start).
    Config,
    /// The request is wrong: the message says which part.
    Invalid,
    /// Something named does not exist.
    NotFound,
    /// Capacity is exhausted for now; try again later.
    Unavailable,
    /// The caller did not prove who it is (a webhook without a valid signature).
    Unauthorized,
    /// What was asked is not allowed in its present state (a revoked connection).
    Forbidden,
    /// The provider failed or refused.
    Upstream,
    /// terapi itself failed (store, randomness).
    Internal,
}

/// A failed workflow: its kind, a stable machine-readable code (as in Nango's API
/// errors) and a message naming what is wrong. Never contains secrets.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ServiceError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// Stable code, e.g. `unknown_connection`.
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
}

impl ServiceError {
    /// A failure of `kind` with `code` and `message`.
    pub fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> Self {
        ServiceError {
            kind,
            code,
            message: message.into(),
        }
    }

    /// A configuration problem.
    pub fn config(message: impl Into<String>) -> Self {
        ServiceError::new(ErrorKind::Config, "invalid_configuration", message)
    }

    /// An internal failure.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        ServiceError::new(ErrorKind::Internal, "internal_error", message.to_string())
    }

    /// No such integration.
    pub fn unknown_integration(key: &str) -> Self {
        ServiceError::new(
            ErrorKind::NotFound,
            "unknown_provider_config",
            format!("no integration `{key}` is configured"),
        )
    }

    /// No such connection.
    pub fn unknown_connection(key: &str, connection_id: &str) -> Self {
        ServiceError::new(
            ErrorKind::NotFound,
            "unknown_connection",
            format!("no connection `{connection_id}` for integration `{key}`"),
        )
    }

    fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        ServiceError::new(ErrorKind::Invalid, code, message)
    }
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        ServiceError::internal(error)
    }
}

impl From<StartError> for ServiceError {
    fn from(error: StartError) -> Self {
        ServiceError::new(ErrorKind::Config, "start_failed", error.to_string())
    }
}

/// How to open a [`Service`], beyond the configuration file.
#[derive(Clone)]
pub struct ServiceOptions {
    /// Store credentials unencrypted when no encryption key is configured (local
    /// development only). Without it a missing key is refused.
    pub insecure_dev: bool,
    /// Where `TERAPI_ENCRYPTION_KEY`, `TERAPI_SECRET_KEY` and client secrets come from.
    pub env: EnvLookup,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        ServiceOptions {
            insecure_dev: false,
            env: process_env(),
        }
    }
}

impl std::fmt::Debug for ServiceOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceOptions")
            .field("insecure_dev", &self.insecure_dev)
            .finish_non_exhaustive()
    }
}

/// An integration's provider and outbound policy, as the service uses them.
struct Outbound {
    provider_name: String,
    provider: Provider,
    policy: Arc<HttpPolicy>,
}

/// terapi's workflows over one configuration: see the module docs.
pub struct Service {
    config: RuntimeConfig,
    env: EnvLookup,
    stores: Stores,
    client: reqwest::Client,
    integrations: BTreeMap<String, Outbound>,
    runtime: Option<Arc<Runtime>>,
    started_at: OffsetDateTime,
    /// Where webhooks to the application go, if anywhere; an error when configured but
    /// unusable (reported by [`Service::start`] and by anything that needs them).
    webhooks: Result<Option<WebhookSettings>, ServiceError>,
    /// Wakes the webhook worker when a webhook is written.
    webhook_written: Arc<tokio::sync::Notify>,
    /// Wakes the webhook handler worker when a handler job is written.
    handlers_written: Arc<tokio::sync::Notify>,
    /// Each integration's webhook secret as last resolved, and when: reused for
    /// `limits.connection_cache_ms`, so a burst of provider webhooks does not read (and
    /// decrypt) the OAuth app's credentials once per event. A change over the API is seen
    /// within that time, on every node.
    webhook_secrets:
        std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, Arc<str>)>>,
    /// Wakes the sync scheduler when a run is asked for.
    sync_wake: Arc<tokio::sync::Notify>,
    /// When a shutdown was asked for, the deadline by which work in flight must end
    /// ([`Service::begin_shutdown`]); sync and asynchronous runs watch it.
    shutdown: tokio::sync::watch::Sender<Option<tokio::time::Instant>>,
    /// Asynchronous runs in flight.
    async_runs: Arc<InFlight>,
    /// Provider webhooks being processed now (signature verified): the webhook worker
    /// sends fewer forwards at once while any are ([`webhooks::Deliverer::pass_size`]).
    receiving: Arc<InFlight>,
}

/// Counts tasks in flight and wakes whoever waits for them all to end.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    count: std::sync::atomic::AtomicUsize,
    idle: tokio::sync::Notify,
}

/// One task in flight; counted until dropped.
pub(crate) struct InFlightGuard(Arc<InFlight>);

impl InFlight {
    pub(crate) fn enter(self: &Arc<Self>) -> InFlightGuard {
        self.count.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        InFlightGuard(self.clone())
    }

    /// How many are in flight now.
    pub(crate) fn count(&self) -> usize {
        self.count.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Waits until nothing is in flight, or `deadline`; returns whether all ended.
    pub(crate) async fn wait_idle(&self, deadline: tokio::time::Instant) -> bool {
        loop {
            let idle = self.idle.notified();
            if self.count.load(std::sync::atomic::Ordering::Acquire) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return self.count.load(std::sync::atomic::Ordering::Acquire) == 0;
            }
        }
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self
            .0
            .count
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel)
            == 1
        {
            self.0.idle.notify_waiters();
        }
    }
}

/// Completes once a shutdown deadline is set and reached; never before.
pub(crate) async fn shutdown_deadline(
    mut shutdown: tokio::sync::watch::Receiver<Option<tokio::time::Instant>>,
) {
    let deadline = match shutdown.wait_for(Option::is_some).await {
        Ok(deadline) => *deadline,
        // The service is gone: nothing will ever ask for a shutdown.
        Err(_) => None,
    };
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field(
                "integrations",
                &self.integrations.keys().collect::<Vec<_>>(),
            )
            .field("runtime", &self.runtime.is_some())
            .finish_non_exhaustive()
    }
}

/// A connection the OAuth callback stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connected {
    /// The integration.
    pub provider_config_key: String,
    /// The connection.
    pub connection_id: String,
}

/// What the provider sent back to the OAuth callback.
#[derive(Debug, Clone, Default)]
pub struct Callback {
    /// `state`.
    pub state: Option<String>,
    /// `code`.
    pub code: Option<String>,
    /// `error`, when the user or the provider refused.
    pub error: Option<String>,
    /// `error_description`.
    pub error_description: Option<String>,
}

impl Service {
    /// Opens the stores and resolves every integration's provider and policy, without
    /// loading components: enough to manage connections. Refuses to store credentials
    /// unencrypted unless `options.insecure_dev`.
    pub async fn open(
        mut config: RuntimeConfig,
        options: ServiceOptions,
    ) -> Result<Service, ServiceError> {
        config.fill_integration_keys();
        let cipher = keys::credential_cipher(&config, &options.env, options.insecure_dev)?;
        let stores = Stores::open(&config, cipher).await?;
        let client = crate::outbound::client(true).map_err(ServiceError::config)?;
        let providers = Providers::built_in();
        let mut integrations = BTreeMap::new();
        for (key, integration) in &config.integrations {
            let (provider_name, provider, policy) =
                resolve_provider(key, integration, &providers, &config.limits)
                    .map_err(ServiceError::config)?;
            integrations.insert(
                key.clone(),
                Outbound {
                    provider_name,
                    provider,
                    policy: Arc::new(policy),
                },
            );
        }
        let webhooks = WebhookSettings::resolve(&config, &options.env);
        Ok(Service {
            config,
            env: options.env,
            stores,
            client,
            integrations,
            runtime: None,
            started_at: OffsetDateTime::now_utc(),
            webhooks,
            webhook_written: Arc::new(tokio::sync::Notify::new()),
            handlers_written: Arc::new(tokio::sync::Notify::new()),
            webhook_secrets: std::sync::Mutex::new(std::collections::HashMap::new()),
            sync_wake: Arc::new(tokio::sync::Notify::new()),
            shutdown: tokio::sync::watch::channel(None).0,
            async_runs: Arc::new(InFlight::default()),
            receiving: Arc::new(InFlight::default()),
        })
    }

    /// [`Service::open`], then starts the runtime (loads every component) and checks that
    /// every integration's OAuth app, if it has one, is configured correctly.
    pub async fn start(
        config: RuntimeConfig,
        options: ServiceOptions,
    ) -> Result<Service, ServiceError> {
        let service = Service::open(config, options).await?.with_runtime().await?;
        service.webhooks.clone()?;
        for key in service.integrations.keys() {
            service.oauth_app(key).await.map_err(|error| {
                ServiceError::config(format!("integration `{key}`: {}", error.message))
            })?;
        }
        Ok(service)
    }

    /// Starts the runtime (loads every component) over the service's stores.
    pub async fn with_runtime(mut self) -> Result<Service, ServiceError> {
        let runtime = Runtime::with_stores(self.config.clone(), &self.stores).await?;
        self.runtime = Some(Arc::new(runtime));
        Ok(self)
    }

    /// The runtime, once started ([`Service::start`], [`Service::with_runtime`]).
    pub fn runtime(&self) -> Option<&Arc<Runtime>> {
        self.runtime.as_ref()
    }

    fn started_runtime(&self) -> Result<&Arc<Runtime>, ServiceError> {
        self.runtime
            .as_ref()
            .ok_or_else(|| ServiceError::internal("the runtime was not started"))
    }

    /// The configuration (with `server.public_url` as the front end set it).
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Where secrets are looked up.
    pub fn env(&self) -> &EnvLookup {
        &self.env
    }

    /// Every store.
    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    /// The connection store (cached as the configuration says).
    pub fn connections(&self) -> &Arc<dyn ConnectionStore> {
        &self.stores.connections
    }

    /// The HTTP client provider requests go out with.
    pub fn http_client(&self) -> &reqwest::Client {
        &self.client
    }

    /// When the service started.
    pub fn started_at(&self) -> OffsetDateTime {
        self.started_at
    }

    /// Configured integration keys.
    pub fn integration_keys(&self) -> impl Iterator<Item = &str> {
        self.integrations.keys().map(String::as_str)
    }

    /// The provider name and definition of an integration.
    pub fn provider(&self, key: &str) -> Option<(&str, &Provider)> {
        self.integrations
            .get(key)
            .map(|found| (found.provider_name.as_str(), &found.provider))
    }

    /// An integration's outbound policy.
    pub fn http_policy(&self, key: &str) -> Option<&Arc<HttpPolicy>> {
        self.integrations.get(key).map(|found| &found.policy)
    }

    fn outbound(&self, key: &str) -> Result<&Outbound, ServiceError> {
        self.integrations
            .get(key)
            .ok_or_else(|| ServiceError::unknown_integration(key))
    }

    /// An integration's OAuth app, resolved now from the file, the environment and the
    /// credentials set over the API (so a change made on any node is seen at once).
    /// `None`: the integration cannot be connected through OAuth.
    pub async fn oauth_app(&self, key: &str) -> Result<Option<OAuthApp>, ServiceError> {
        let outbound = self.outbound(key)?;
        let Some(integration) = self.config.integrations.get(key) else {
            return Err(ServiceError::unknown_integration(key));
        };
        let stored = self
            .stores
            .integration_credentials
            .integration_credentials(key)
            .await?;
        let env = |name: &str| (self.env)(name);
        OAuthApp::resolve(
            key,
            integration,
            &outbound.provider,
            &self.config.server,
            &env,
            stored.as_ref(),
        )
        .map_err(|error| ServiceError::invalid("invalid_integration", error.to_string()))
    }

    /// Sets an integration's OAuth app credentials (they win over the file and the
    /// environment), after checking the app they make resolves.
    pub async fn set_integration_credentials(
        &self,
        key: &str,
        client_id: &str,
        client_secret: String,
        scopes: Vec<String>,
    ) -> Result<IntegrationCredentials, ServiceError> {
        self.outbound(key)?;
        if client_id.trim().is_empty() || client_secret.is_empty() {
            return Err(ServiceError::invalid(
                "invalid_body",
                "`credentials.client_id` and `credentials.client_secret` must not be empty",
            ));
        }
        let now = OffsetDateTime::now_utc();
        let stored = self
            .stores
            .integration_credentials
            .put_integration_credentials(&IntegrationCredentials {
                provider_config_key: key.to_string(),
                client_id: client_id.trim().to_string(),
                client_secret,
                scopes,
                created_at: now,
                updated_at: now,
            })
            .await?;
        self.oauth_app(key).await?;
        Ok(stored)
    }

    /// Starts an OAuth connect for `connection_id`: stores a pending authorization (only
    /// the digest of its single-use `state`, valid for [`STATE_TTL`]) and returns the
    /// provider's authorize URL to send the browser to.
    pub async fn start_connect(&self, key: &str, connection_id: &str) -> Result<Url, ServiceError> {
        self.outbound(key)?;
        let app = self.oauth_app(key).await?.ok_or_else(|| {
            ServiceError::invalid(
                "oauth_not_configured",
                format!(
                    "integration `{key}` has no OAuth app: set `integrations.{key}.client_id` and \
                     its client secret, or PATCH /integrations/{key}"
                ),
            )
        })?;
        let state = random_id().map_err(ServiceError::internal)?;
        let now = OffsetDateTime::now_utc();
        let ttl = time::Duration::try_from(STATE_TTL).unwrap_or(time::Duration::minutes(10));
        self.stores
            .oauth_sessions
            .put_oauth_session(&OAuthSession {
                state_digest: state_digest(&state),
                provider_config_key: key.to_string(),
                connection_id: connection_id.to_string(),
                created_at: now,
                expires_at: now + ttl,
            })
            .await?;
        tracing::info!(integration = %key, connection = %connection_id, "OAuth connect started");
        Ok(app.authorize_url(&state))
    }

    /// Finishes an OAuth connect: consumes the state (once; unknown, reused and expired
    /// states and `error` answers are refused without contacting the provider),
    /// exchanges the code, runs the provider's post-connection check and stores the
    /// connection (keeping the metadata of one it re-authorizes).
    pub async fn finish_connect(&self, callback: &Callback) -> Result<Connected, ServiceError> {
        let presented = callback
            .state
            .as_deref()
            .filter(|presented| !presented.is_empty())
            .ok_or_else(|| ServiceError::invalid("invalid_state", "the callback has no `state`"))?;
        let session = self
            .stores
            .oauth_sessions
            .take_oauth_session(&state_digest(presented))
            .await?
            .ok_or_else(|| {
                ServiceError::invalid(
                    "invalid_state",
                    "unknown or already used `state`: start the connection again",
                )
            })?;
        let key = session.provider_config_key;
        let connection_id = session.connection_id;
        if session.expires_at <= OffsetDateTime::now_utc() {
            return Err(ServiceError::invalid(
                "expired_state",
                "the authorization took longer than 10 minutes: start the connection again",
            ));
        }
        if let Some(error) = &callback.error {
            let description = callback
                .error_description
                .as_ref()
                .map(|text| format!(" ({text})"))
                .unwrap_or_default();
            tracing::info!(integration = %key, connection = %connection_id, %error, "OAuth authorization refused");
            return Err(ServiceError::invalid(
                "oauth_authorization_failed",
                format!("the provider did not authorize the connection: {error}{description}"),
            ));
        }
        let code = callback
            .code
            .as_deref()
            .filter(|code| !code.is_empty())
            .ok_or_else(|| {
                ServiceError::invalid(
                    "invalid_callback",
                    "the callback has neither `code` nor `error`",
                )
            })?;
        let app = self.oauth_app(&key).await?.ok_or_else(|| {
            ServiceError::invalid(
                "oauth_not_configured",
                format!("integration `{key}` no longer has an OAuth app"),
            )
        })?;
        let outbound = self.outbound(&key)?;
        let grant = app.exchange_code(&self.client, code).await.map_err(|error| {
            tracing::warn!(integration = %key, connection = %connection_id, %error, "token exchange failed");
            ServiceError::new(ErrorKind::Upstream, "token_exchange_failed", error.to_string())
        })?;
        let credentials = grant.credentials();
        let mut config: Map<String, Value> = grant.metadata.clone();
        if let Some(check) = &outbound.provider.post_connection_check {
            let authorization = outbound.policy.authorization_header(&credentials);
            let outcome = post_connection_check(
                &outbound.policy,
                &self.client,
                authorization.as_ref(),
                check,
            )
            .await;
            config.insert(check.config_key.clone(), Value::Bool(outcome));
        }
        let store = self.connections();
        let metadata = store
            .get(&key, &connection_id)
            .await?
            .map(|existing| existing.metadata)
            .unwrap_or_else(|| Value::Object(Map::new()));
        let mut connection = NewConnection::new(
            &key,
            &connection_id,
            outbound.provider_name.clone(),
            credentials,
        );
        connection.connection_config = Value::Object(config);
        connection.metadata = metadata;
        store.upsert(&connection).await?;
        tracing::info!(integration = %key, connection = %connection_id, "OAuth connection stored");
        self.connection_created(&key, &connection_id).await?;
        Ok(Connected {
            provider_config_key: key,
            connection_id,
        })
    }

    /// A connection, or `unknown_connection`.
    pub async fn connection(
        &self,
        key: &str,
        connection_id: &str,
    ) -> Result<Connection, ServiceError> {
        self.connections()
            .get(key, connection_id)
            .await?
            .ok_or_else(|| ServiceError::unknown_connection(key, connection_id))
    }

    /// Deletes a connection. With `revoke`, its OAuth token is first revoked at the
    /// provider (when the provider has a deauthorize endpoint); if that fails the
    /// connection is kept and the error (`deauthorize_failed`) says so.
    pub async fn delete_connection(
        &self,
        key: &str,
        connection_id: &str,
        revoke: bool,
    ) -> Result<(), ServiceError> {
        let connection = self.connection(key, connection_id).await?;
        if revoke
            && let Some(outbound) = self.integrations.get(key)
            && let Some(endpoint) = &outbound.provider.deauthorize_endpoint
            && matches!(
                connection.credentials,
                crate::store::Credentials::OAuth2 { .. }
            )
        {
            let authorization = match &self.runtime {
                Some(runtime) => runtime
                    .connection_for_call(key, connection_id)
                    .await
                    .ok()
                    .and_then(|resolved| resolved.authorization),
                None => outbound
                    .policy
                    .authorization_header(&connection.credentials),
            };
            crate::oauth::deauthorize(&outbound.policy, &self.client, authorization.as_ref(), endpoint)
                .await
                .map_err(|error| {
                    tracing::warn!(integration = %key, connection = %connection_id, %error, "deauthorization failed; connection kept");
                    ServiceError::new(
                        ErrorKind::Upstream,
                        "deauthorize_failed",
                        format!("{error}; the connection was kept"),
                    )
                })?;
        }
        if !self.connections().delete(key, connection_id).await? {
            return Err(ServiceError::unknown_connection(key, connection_id));
        }
        // Its syncs stop with it (its records stay until they are cleared).
        self.stores
            .schedules
            .delete_schedules(key, connection_id)
            .await?;
        Ok(())
    }

    /// Replaces or merges the metadata of several connections: all or nothing (every
    /// connection is checked to exist before any changes).
    pub async fn change_metadata(
        &self,
        key: &str,
        connection_ids: &[String],
        metadata: &Value,
        how: MetadataUpdate,
    ) -> Result<(), ServiceError> {
        if !metadata.is_object() {
            return Err(ServiceError::invalid(
                "invalid_body",
                "`metadata` must be a JSON object",
            ));
        }
        let store = self.connections();
        for id in connection_ids {
            if store.get(key, id).await?.is_none() {
                return Err(ServiceError::unknown_connection(key, id));
            }
        }
        for id in connection_ids {
            store
                .update_metadata(key, id, metadata, how)
                .await?
                .ok_or_else(|| ServiceError::unknown_connection(key, id))?;
        }
        Ok(())
    }

    /// Starts an action in the background and returns the id its result will be kept
    /// under ([`Service::run_state`]). Refused with `too_many_async_runs` when every kept
    /// entry is still running.
    pub async fn trigger_async(
        &self,
        key: &str,
        connection_id: &str,
        action: &str,
        input_json: String,
    ) -> Result<String, ServiceError> {
        let runtime = self.started_runtime()?.clone();
        let id = random_id().map_err(ServiceError::internal)?;
        self.stores
            .runs
            .start_run(&id)
            .await
            .map_err(|error| match error {
                StartRunError::Full(_) => ServiceError::new(
                    ErrorKind::Unavailable,
                    "too_many_async_runs",
                    error.to_string(),
                ),
                StartRunError::Store(error) => ServiceError::internal(error),
            })?;
        let runs = self.stores.runs.clone();
        let (key, connection_id, action) = (
            key.to_string(),
            connection_id.to_string(),
            action.to_string(),
        );
        let run_id = id.clone();
        let in_flight = self.async_runs.enter();
        let shutdown = self.shutdown.subscribe();
        tokio::spawn(async move {
            let _in_flight = in_flight;
            // The run gets a task of its own, so even a panic in it ends the entry.
            let run = tokio::spawn(async move {
                runtime
                    .trigger_action(&key, &connection_id, &action, &input_json)
                    .await
                    .map(|output| output.into_json())
            });
            let abort = run.abort_handle();
            let result = tokio::select! {
                joined = run => joined.unwrap_or_else(|error| {
                    Err(TriggerError::Internal(format!(
                        "the run failed inside the host: {error}"
                    )))
                }),
                () = shutdown_deadline(shutdown) => {
                    abort.abort();
                    Err(TriggerError::Internal(
                        "the server shut down before the run finished; trigger it again".into(),
                    ))
                }
            };
            if let Err(error) = runs.finish_run(&run_id, &result).await {
                tracing::error!(run = %run_id, %error, "cannot record an asynchronous run's result");
            }
        });
        Ok(id)
    }

    /// Asks work in flight to end by `deadline`: sync runs still running then are
    /// stopped (they resume from their checkpoints at the next start), asynchronous runs
    /// still running end with an error. Nothing new is refused by this call itself; the
    /// front end stops taking requests.
    pub fn begin_shutdown(&self, deadline: tokio::time::Instant) {
        self.shutdown.send_replace(Some(deadline));
        // The scheduler wakes to see it.
        self.sync_wake.notify_one();
    }

    /// Waits until every asynchronous run has ended and recorded its result: by the
    /// shutdown deadline, plus `settle` for the ones stopped then to record their error.
    /// Returns whether they all did.
    pub async fn wait_for_async_runs(
        &self,
        deadline: tokio::time::Instant,
        settle: std::time::Duration,
    ) -> bool {
        self.async_runs.wait_idle(deadline + settle).await
    }

    /// Where an asynchronous run stands; `None` if unknown or expired.
    pub async fn run_state(&self, id: &str) -> Result<Option<RunState>, ServiceError> {
        Ok(self.stores.runs.run_state(id).await?)
    }

    /// Where webhooks to the application go (`None`: nowhere, none are written).
    pub fn webhook_settings(&self) -> Result<Option<&WebhookSettings>, ServiceError> {
        self.webhooks
            .as_ref()
            .map(Option::as_ref)
            .map_err(Clone::clone)
    }

    /// Writes a webhook to the outbox (durably, before this returns) and wakes the
    /// worker that delivers it. `Ok(None)` when no webhook URL is configured.
    pub async fn enqueue_webhook(
        &self,
        kind: &str,
        provider_config_key: Option<&str>,
        connection_id: Option<&str>,
        body: &Value,
    ) -> Result<Option<i64>, ServiceError> {
        if self.webhook_settings()?.is_none() {
            tracing::debug!(kind, "no webhook URL configured; webhook not written");
            return Ok(None);
        }
        let id = self
            .stores
            .outbox
            .enqueue(&NewDelivery {
                kind: kind.to_string(),
                provider_config_key: provider_config_key.map(str::to_string),
                connection_id: connection_id.map(str::to_string),
                body: body.to_string(),
            })
            .await?;
        self.webhook_written.notify_one();
        Ok(Some(id))
    }

    fn deliverer(&self) -> Result<Option<webhooks::Deliverer>, ServiceError> {
        Ok(self
            .webhook_settings()?
            .map(|settings| webhooks::Deliverer {
                settings: settings.clone(),
                client: self.client.clone(),
                outbox: self.stores.outbox.clone(),
                receiving: self.receiving.clone(),
            }))
    }

    /// Delivers the webhooks that are due now, once; returns how many were attempted.
    pub async fn deliver_due_webhooks(&self) -> Result<usize, ServiceError> {
        match self.deliverer()? {
            Some(deliverer) => deliverer.deliver_due(webhooks::BATCH).await,
            None => Ok(0),
        }
    }

    /// Delivers webhooks until `shutdown` completes: at once when one is written, else
    /// polling every second for retries that came due (and for webhooks other nodes
    /// wrote). Does nothing when no webhook URL is configured.
    pub async fn run_webhook_deliveries(&self, shutdown: impl std::future::Future<Output = ()>) {
        let deliverer = match self.deliverer() {
            Ok(Some(deliverer)) => deliverer,
            Ok(None) => return,
            Err(error) => {
                tracing::error!(%error, "webhooks are not delivered");
                return;
            }
        };
        tracing::info!(url = %deliverer.settings.url(), "delivering webhooks");
        tokio::pin!(shutdown);
        loop {
            let pass = deliverer.pass_size();
            let attempted = match deliverer.deliver_due(pass).await {
                Ok(attempted) => attempted,
                Err(error) => {
                    tracing::error!(%error, "cannot read the webhook outbox");
                    0
                }
            };
            if attempted == pass {
                continue;
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = self.webhook_written.notified() => {}
                () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            }
        }
    }

    /// Webhooks in the outbox, newest first.
    pub async fn list_webhooks(
        &self,
        filter: &DeliveryFilter,
    ) -> Result<Vec<Delivery>, ServiceError> {
        Ok(self.stores.outbox.list_deliveries(filter).await?)
    }

    /// Sends a webhook again (a failed one, or any other), from its first attempt; for a
    /// webhook handler job, runs the handler again.
    pub async fn replay_webhook(&self, id: i64) -> Result<Delivery, ServiceError> {
        if !self.stores.outbox.replay(id).await? {
            return Err(ServiceError::new(
                ErrorKind::NotFound,
                "unknown_webhook",
                format!("no webhook delivery {id}"),
            ));
        }
        self.webhook_written.notify_one();
        self.handlers_written.notify_one();
        self.stores
            .outbox
            .delivery(id)
            .await?
            .ok_or_else(|| ServiceError::internal(format!("webhook delivery {id} vanished")))
    }
}
