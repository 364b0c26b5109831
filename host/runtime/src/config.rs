//! Runtime configuration: where data lives, resource limits, the integrations the host
//! serves (with their OAuth apps), and the HTTP server. Read from TOML (`terapi.toml`,
//! see `terapi.example.toml` at the repository root); unknown keys are rejected so a typo
//! never silently falls back to a default.
//!
//! Secrets (the API secret key, the encryption key, OAuth client secrets) are best given
//! through the environment; when they are in the file they are held in [`Secret`],
//! whose `Debug` never prints them.
//!
//! ```
//! let config = terapi_runtime::RuntimeConfig::from_toml_str(r#"
//!     data_dir = "/var/lib/terapi"
//!
//!     [limits]
//!     invocation_timeout_ms = 10000
//!
//!     [integrations.checkr-partner]
//!     component = "/opt/terapi/checkr_partner.wasm"
//! "#, std::path::Path::new(".")).unwrap();
//! assert_eq!(config.integrations["checkr-partner"].provider(), "checkr-partner");
//! ```

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::{Host, Url};

/// A secret read from the configuration. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Secret(secret.into())
    }

    /// The secret itself; keep it out of logs and messages.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Where connections are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite database file (`sqlite://PATH` or `sqlite:PATH`; relative paths resolve
    /// against the configuration file's directory).
    Sqlite(PathBuf),
}

impl Database {
    /// Parses a database URL. Only SQLite is built in; other schemes are refused with a
    /// message saying so.
    pub fn parse(url: &str) -> Result<Self, String> {
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err("`database` must name a file: sqlite://PATH".into());
            }
            return Ok(Database::Sqlite(PathBuf::from(path)));
        }
        let scheme = url.split_once(':').map_or(url, |(scheme, _)| scheme);
        Err(format!(
            "`database` must be a sqlite://PATH URL; `{scheme}` databases are not built in \
             (implement the ConnectionStore trait for them)"
        ))
    }
}

impl<'de> Deserialize<'de> for Database {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Database::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// `terapi serve`: where it listens and how it protects what it stores.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The URL at which browsers and clients reach the server (no trailing path), used
    /// for the default OAuth redirect URI `<public_url>/oauth/callback` and the URLs
    /// `terapi connect` prints. Default: `http://<listen>`.
    pub public_url: Option<String>,
    /// The API secret key clients send as `Authorization: Bearer <key>`.
    /// `TERAPI_SECRET_KEY` takes precedence.
    pub secret_key: Option<Secret>,
    /// Base64 of the 32-byte key credentials are encrypted with.
    /// `TERAPI_ENCRYPTION_KEY` takes precedence.
    pub encryption_key: Option<Secret>,
    /// How many results of asynchronous action runs (`X-Async: true`) are kept; the
    /// oldest finished ones are dropped first.
    pub async_results_max: usize,
    /// How long a finished asynchronous run's result is kept, in seconds.
    pub async_results_ttl_secs: u64,
    /// Where terapi POSTs webhooks to the application (sync results, forwarded provider
    /// events), as Nango does. `TERAPI_WEBHOOK_URL` takes precedence. None: no webhooks.
    pub webhook_url: Option<String>,
    /// The key webhooks are signed with (`X-Nango-Hmac-Sha256`: hex HMAC-SHA256 of the
    /// body). `TERAPI_WEBHOOK_SIGNING_KEY` takes precedence; default: the secret key, as
    /// Nango's clients expect.
    pub webhook_signing_key: Option<Secret>,
    /// Delivery attempts before a webhook is marked failed (it stays listed and can be
    /// replayed).
    pub webhook_max_attempts: u32,
    /// How long the ids of received provider webhooks are remembered, in seconds: a
    /// retried delivery within it is acknowledged and not processed again.
    pub webhook_dedupe_window_secs: u64,
    /// Largest provider webhook body accepted, in bytes.
    pub webhook_max_body_bytes: usize,
    /// Also send a sync webhook when a sync run fails (by default only runs that changed
    /// records send one), as Nango's "send webhooks on sync errors" setting.
    pub webhook_on_sync_error: bool,
    /// Whether `terapi serve` runs the sync scheduler (scheduled, auto-started and
    /// triggered syncs). Off for a node that should only serve the API while others,
    /// sharing the database, run syncs.
    pub sync_scheduler: bool,
    /// On SIGTERM (or Ctrl-C) `terapi serve` stops accepting connections at once and
    /// gives requests, asynchronous runs and sync runs in flight this long to finish, in
    /// milliseconds; then it stops anyway, giving what it stopped up to 5 s more to record
    /// that (sync runs cut short resume from their checkpoints, asynchronous runs end
    /// with an error). 30 s matches the default
    /// invocation timeout, so an action that started before the signal can finish, and
    /// stays within the usual 30 s grace period of process managers (Kubernetes'
    /// `terminationGracePeriodSeconds`, systemd's `TimeoutStopSec` is 90 s).
    pub shutdown_grace_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 3003)),
            public_url: None,
            secret_key: None,
            encryption_key: None,
            async_results_max: 1_000,
            async_results_ttl_secs: 600,
            webhook_url: None,
            webhook_signing_key: None,
            // With the backoff doubling from 1 s and capped at 10 minutes, 12 attempts
            // span about 45 minutes: long enough to ride out a deploy of the receiving
            // application, short enough that a failure is seen the same hour.
            webhook_max_attempts: 12,
            // Checkr retries a delivery for about a day (every minute for 10 minutes, then
            // hourly for 24 hours); a week covers that with room for a long outage.
            webhook_dedupe_window_secs: 7 * 24 * 3600,
            // Checkr's events are a few KiB; 1 MiB is generous and bounds what an
            // unauthenticated request can make the host buffer before checking it.
            webhook_max_body_bytes: 1 << 20,
            webhook_on_sync_error: false,
            sync_scheduler: true,
            shutdown_grace_ms: 30_000,
        }
    }
}

impl ServerConfig {
    /// How long in-flight work may take to finish once a shutdown is asked for.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }

    /// `public_url`, or `http://<listen>`, without a trailing slash.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.listen),
        }
    }
}

/// Whether a URL's host is loopback (`localhost`, 127.0.0.0/8, `::1`).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Checks an OAuth redirect URI: https, or http on a loopback host (local development).
pub fn check_redirect_uri(uri: &str) -> Result<Url, String> {
    let url = Url::parse(uri).map_err(|error| format!("`{uri}` is not a URL: {error}"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        _ => {
            return Err(format!(
                "`{uri}` must use https (http is accepted only for localhost, 127.0.0.1 or [::1])"
            ));
        }
    }
    if url.fragment().is_some() {
        return Err(format!("`{uri}` must not have a #fragment"));
    }
    Ok(url)
}

/// Everything a [`Runtime`](crate::Runtime) needs to start.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Directory for the SQLite connection store and the compiled-component cache.
    /// Relative paths are resolved against the configuration file's directory.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Resource limits for each invocation.
    #[serde(default)]
    pub limits: Limits,
    /// Where connections are stored. Default: `sqlite://<data_dir>/terapi.db`.
    #[serde(default)]
    pub database: Option<Database>,
    /// Integrations by provider-config-key, e.g. `checkr-partner`.
    #[serde(default)]
    pub integrations: BTreeMap<String, IntegrationConfig>,
    /// The HTTP server (`terapi serve`).
    #[serde(default)]
    pub server: ServerConfig,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from(".terapi")
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            data_dir: default_data_dir(),
            limits: Limits::default(),
            database: None,
            integrations: BTreeMap::new(),
            server: ServerConfig::default(),
        }
    }
}

/// Error reading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is invalid, has an unknown key, or a value of the wrong type. The message
    /// names the key and what was expected.
    #[error("invalid configuration{}: {message}", path.as_ref().map(|p| format!(" in {}", p.display())).unwrap_or_default())]
    Invalid {
        /// The file, if the configuration came from one.
        path: Option<PathBuf>,
        /// What is wrong, from the TOML parser (it names the key and the line).
        message: String,
    },
}

impl RuntimeConfig {
    /// Reads a configuration file. Relative paths inside it are resolved against the
    /// file's directory.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_toml_str(&text, base).map_err(|error| match error {
            ConfigError::Invalid { message, .. } => ConfigError::Invalid {
                path: Some(path.to_path_buf()),
                message,
            },
            other => other,
        })
    }

    /// Parses configuration text; relative paths are resolved against `base`.
    pub fn from_toml_str(text: &str, base: &Path) -> Result<Self, ConfigError> {
        let mut config: RuntimeConfig =
            toml::from_str(text).map_err(|error| ConfigError::Invalid {
                path: None,
                message: error.to_string(),
            })?;
        config.resolve_paths(base);
        config.limits.validate()?;
        config.validate()?;
        Ok(config)
    }

    /// The SQLite database file connections are stored in.
    pub fn database_path(&self) -> PathBuf {
        match &self.database {
            Some(Database::Sqlite(path)) => path.clone(),
            None => self.data_dir.join("terapi.db"),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: None,
            message,
        };
        if let Some(url) = &self.server.public_url {
            let parsed = Url::parse(url).map_err(|error| {
                invalid(format!("`server.public_url` `{url}` is not a URL: {error}"))
            })?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(invalid(format!(
                    "`server.public_url` must be an http(s) URL, not `{url}`"
                )));
            }
        }
        if let Some(url) = &self.server.webhook_url {
            let parsed = Url::parse(url).map_err(|error| {
                invalid(format!(
                    "`server.webhook_url` `{url}` is not a URL: {error}"
                ))
            })?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(invalid(format!(
                    "`server.webhook_url` must be an http(s) URL with a host, not `{url}`"
                )));
            }
        }
        if self.server.webhook_max_attempts == 0 {
            return Err(invalid(
                "`server.webhook_max_attempts` must be at least 1".into(),
            ));
        }
        if self.server.async_results_max == 0 {
            return Err(invalid(
                "`server.async_results_max` must be at least 1".into(),
            ));
        }
        for (key, integration) in &self.integrations {
            if let Some(uri) = &integration.redirect_uri {
                check_redirect_uri(uri).map_err(|message| {
                    invalid(format!("`integrations.{key}.redirect_uri`: {message}"))
                })?;
            }
            if integration.client_secret.is_some() && integration.client_secret_env.is_some() {
                return Err(invalid(format!(
                    "`integrations.{key}`: set `client_secret` or `client_secret_env`, not both"
                )));
            }
            if let Some(name) = &integration.client_secret_env
                && (name.is_empty() || name.contains('='))
            {
                return Err(invalid(format!(
                    "`integrations.{key}.client_secret_env` must be an environment variable name"
                )));
            }
        }
        Ok(())
    }

    fn resolve_paths(&mut self, base: &Path) {
        if self.data_dir.is_relative() {
            self.data_dir = base.join(&self.data_dir);
        }
        if let Some(Database::Sqlite(path)) = &mut self.database
            && path.is_relative()
        {
            *path = base.join(&*path);
        }
        self.fill_integration_keys();
        for integration in self.integrations.values_mut() {
            if integration.component.is_relative() {
                integration.component = base.join(&integration.component);
            }
        }
    }
}

/// One integration: a provider, the component carrying its actions, and per-environment
/// overrides.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationConfig {
    /// The provider (from `providers.toml`); defaults to the integration's key.
    #[serde(default)]
    pub provider: Option<String>,
    /// The WebAssembly component with this integration's actions.
    pub component: PathBuf,
    /// Overrides the provider's API base URL (e.g. to point at the simulator).
    #[serde(default)]
    pub api_base_url: Option<String>,
    /// Overrides the provider's OAuth authorize URL.
    #[serde(default)]
    pub authorization_url: Option<String>,
    /// Overrides the provider's OAuth token URL.
    #[serde(default)]
    pub token_url: Option<String>,
    /// Further hosts (`host` or `host:port`) the actions may reach besides the API base
    /// URL's. Everything else is refused with `denied`.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// The OAuth app's client id. Default: `$TERAPI_CLIENT_ID_<KEY>` (the key upper-cased,
    /// `-` as `_`, e.g. `TERAPI_CLIENT_ID_CHECKR_PARTNER`).
    #[serde(default)]
    pub client_id: Option<String>,
    /// The OAuth app's client secret. Prefer `client_secret_env` or the default
    /// `$TERAPI_CLIENT_SECRET_<KEY>`, which keep it out of the file.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// The environment variable holding the client secret.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// Where the provider sends the browser back after authorization; must be https, or
    /// http on loopback. Default: `<server.public_url>/oauth/callback`.
    #[serde(default)]
    pub redirect_uri: Option<String>,
    /// The key the provider signs its webhooks with. Default: `$TERAPI_WEBHOOK_SECRET_<KEY>`,
    /// else the OAuth app's client secret (what Checkr signs partner webhooks with). Set it
    /// for an integration connected with a customer's own API key.
    #[serde(default)]
    pub webhook_secret: Option<Secret>,
    #[serde(skip)]
    key: String,
}

impl IntegrationConfig {
    /// An integration running `component`, with the provider named like the integration.
    pub fn new(component: impl Into<PathBuf>) -> Self {
        IntegrationConfig {
            provider: None,
            component: component.into(),
            api_base_url: None,
            authorization_url: None,
            token_url: None,
            allowed_hosts: Vec::new(),
            client_id: None,
            client_secret: None,
            client_secret_env: None,
            redirect_uri: None,
            webhook_secret: None,
            key: String::new(),
        }
    }

    /// The provider's name: `provider` if set, else the integration key.
    pub fn provider(&self) -> &str {
        self.provider.as_deref().unwrap_or(&self.key)
    }
}

impl RuntimeConfig {
    /// Serde cannot see a map key from inside the value, so each integration learns its
    /// key after parsing (and when a runtime starts from a config built in code):
    /// [`IntegrationConfig::provider`] falls back to it.
    pub(crate) fn fill_integration_keys(&mut self) {
        for (key, integration) in &mut self.integrations {
            integration.key.clone_from(key);
        }
    }
}

/// Resource limits applied to every invocation.
///
/// The defaults are chosen for integration workflows — a handful of HTTP calls and some
/// JSON shuffling — not for compute: a workflow that needs more is usually stuck.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Wall-clock deadline of one invocation, HTTP waits included. 30 s matches Nango's
    /// default action timeout order of magnitude while still freeing a stuck sandbox
    /// quickly; a guest spinning on the CPU is interrupted within one epoch tick of it.
    pub invocation_timeout_ms: u64,
    /// Wall-clock deadline of one sync run. A full sync of a large account pages through
    /// tens of thousands of records at the provider's rate limit, so the default is
    /// four hours; a run stopped at its deadline keeps what it saved and resumes from
    /// its checkpoint.
    pub sync_timeout_ms: u64,
    /// How long a running sync's lease holds without a heartbeat (renewed every third
    /// of it): a run whose process died is taken over this long after its last
    /// heartbeat, by this or another node sharing the database. Default one minute.
    pub sync_lease_ms: u64,
    /// Linear memory an instance may grow to. 64 MiB holds several pages of API results
    /// with room to spare, and keeps 1,000 concurrent sandboxes within a few GiB of RSS
    /// at worst (memory is committed only when touched).
    pub memory_bytes: usize,
    /// Timeout of one outbound HTTP attempt.
    pub http_timeout_ms: u64,
    /// Largest response body an action receives. 10 MiB is far above any Checkr page
    /// (100 items) and bounds what a hostile or broken upstream can make us buffer.
    pub http_max_response_bytes: u64,
    /// Largest request body a guest may send. 10 MiB is far above any Checkr request and
    /// bounds what one invocation can push at an upstream.
    pub http_max_request_bytes: usize,
    /// Requests one invocation may send (retries included). 10,000 covers a sync paging
    /// through a million records at 100 per page; it stops a guest that loops on `send`
    /// from flooding the provider with the customer's credentials.
    pub http_max_requests: u32,
    /// First retry delay for 5xx and network errors; doubles on each attempt. Checkr
    /// suggests 2, 5, 10, 30 s; 500 ms doubling reaches the same range in four steps.
    pub http_retry_base_delay_ms: u64,
    /// Longest wait the host accepts for a rate-limit reset before giving up retrying.
    pub http_max_rate_limit_wait_ms: u64,
    /// Bytes of stdout/stderr kept per invocation; the rest is counted and dropped.
    pub log_capture_bytes: usize,
    /// Largest output (and largest error payload) an action may return, in bytes of
    /// JSON; a larger one fails the run as crashed. 10 MiB, like the largest response
    /// an action may receive, is far above any real result and bounds what one run
    /// makes the host hold and pass on.
    pub max_output_bytes: usize,
    /// Sandboxes that may exist at once (the pooling allocator's slot count). Each slot
    /// reserves address space, not memory.
    pub max_instances: u32,
    /// How sandboxes get their memory: `pooling` (slots reserved at start and reused;
    /// the default and much faster per invocation) or `on-demand` (mmap per instance;
    /// for hosts that cannot reserve the pool's address space).
    pub instance_allocator: InstanceAllocator,
    /// How long a looked-up connection is reused before the store is asked again. Writes
    /// through this process invalidate at once; another process's writes to a shared
    /// database are seen within this time. 0 turns the cache off.
    pub connection_cache_ms: u64,
    /// Sandboxes (actions, syncs) that run at once; further calls wait in line (see
    /// `admission_queue`). Guests mostly wait on their upstream, so this is about bounding
    /// memory and open connections more than CPU: 64 keeps a 2-core host responsive
    /// (every guest yields each 10 ms epoch tick) while far more requests than the
    /// upstream rate limits allow are in flight.
    pub max_concurrent_runs: u32,
    /// Total linear memory all running sandboxes may grow to. Each sandbox is counted at
    /// its cap (`memory_bytes`), since any of them may grow that far, so at most
    /// `memory_budget_bytes / memory_bytes` run at once whatever `max_concurrent_runs`
    /// says. 4 GiB is half of a modest 8 GiB host and, at the default 64 MiB cap, the same
    /// 64 sandboxes `max_concurrent_runs` allows; without it 1,000 pool slots at 64 MiB
    /// could ask for 64 GiB.
    pub memory_budget_bytes: u64,
    /// Calls that may wait for a sandbox when all are busy; beyond that a call is refused
    /// at once as overloaded (503 with `Retry-After` over HTTP). 256 is a few seconds of
    /// typical actions (a few hundred ms each on 64 slots); a longer line only makes
    /// callers wait for answers they would rather retry.
    pub admission_queue: u32,
    /// Longest a call waits in line for a sandbox before it is refused as overloaded, in
    /// milliseconds. 5 s absorbs a burst while staying short beside the 30 s invocation
    /// timeout clients already allow for. 0: refuse at once when every sandbox is busy.
    pub admission_wait_ms: u64,
}

/// How the engine allocates instances.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceAllocator {
    /// Reserved, reused slots.
    #[default]
    Pooling,
    /// A fresh mapping per instance.
    OnDemand,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            invocation_timeout_ms: 30_000,
            sync_timeout_ms: 4 * 3_600_000,
            sync_lease_ms: 60_000,
            memory_bytes: 64 << 20,
            http_timeout_ms: 30_000,
            http_max_response_bytes: 10 << 20,
            http_max_request_bytes: 10 << 20,
            http_max_requests: 10_000,
            http_retry_base_delay_ms: 500,
            http_max_rate_limit_wait_ms: 60_000,
            log_capture_bytes: 64 << 10,
            max_output_bytes: 10 << 20,
            max_instances: 1_000,
            instance_allocator: InstanceAllocator::Pooling,
            connection_cache_ms: 1_000,
            max_concurrent_runs: 64,
            memory_budget_bytes: 4 << 30,
            admission_queue: 256,
            admission_wait_ms: 5_000,
        }
    }
}

impl Limits {
    /// The invocation deadline.
    pub fn invocation_timeout(&self) -> Duration {
        Duration::from_millis(self.invocation_timeout_ms)
    }

    /// The per-attempt HTTP timeout.
    pub fn http_timeout(&self) -> Duration {
        Duration::from_millis(self.http_timeout_ms)
    }

    /// A sync run's deadline.
    pub fn sync_timeout(&self) -> Duration {
        Duration::from_millis(self.sync_timeout_ms)
    }

    /// How long a sync run's lease holds without a heartbeat.
    pub fn sync_lease(&self) -> Duration {
        Duration::from_millis(self.sync_lease_ms)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let checks: [(&str, bool, &str); 8] = [
            (
                "limits.invocation_timeout_ms",
                self.invocation_timeout_ms > 0,
                "a positive number of milliseconds",
            ),
            (
                "limits.sync_timeout_ms",
                self.sync_timeout_ms > 0,
                "a positive number of milliseconds",
            ),
            (
                "limits.sync_lease_ms",
                self.sync_lease_ms >= 1_000,
                "at least 1000 (one second)",
            ),
            (
                "limits.memory_bytes",
                self.memory_bytes >= 1 << 20,
                "at least 1048576 (1 MiB)",
            ),
            (
                "limits.http_timeout_ms",
                self.http_timeout_ms > 0,
                "a positive number of milliseconds",
            ),
            ("limits.max_instances", self.max_instances > 0, "at least 1"),
            (
                "limits.max_concurrent_runs",
                self.max_concurrent_runs > 0,
                "at least 1",
            ),
            (
                "limits.memory_budget_bytes",
                self.memory_budget_bytes >= self.memory_bytes as u64,
                "at least `limits.memory_bytes` (room for one sandbox)",
            ),
        ];
        match checks.iter().find(|(_, ok, _)| !ok) {
            Some((key, _, expected)) => Err(ConfigError::Invalid {
                path: None,
                message: format!("`{key}` must be {expected}"),
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_resolve_against_the_file() {
        let config = RuntimeConfig::from_toml_str(
            "data_dir = 'data'\n[integrations.checkr-partner]\ncomponent = 'c.wasm'\n",
            Path::new("/etc/terapi"),
        )
        .expect("valid");
        assert_eq!(config.data_dir, Path::new("/etc/terapi/data"));
        let integration = &config.integrations["checkr-partner"];
        assert_eq!(integration.component, Path::new("/etc/terapi/c.wasm"));
        assert_eq!(integration.provider(), "checkr-partner");
    }

    #[test]
    fn unknown_key_is_named() {
        let error = RuntimeConfig::from_toml_str(
            "[integrations.checkr-partner]\ncomponent = 'c.wasm'\napi_base = 'x'\n",
            Path::new("."),
        )
        .expect_err("unknown key");
        assert!(error.to_string().contains("api_base"), "{error}");
    }

    #[test]
    fn wrong_type_is_named() {
        let error = RuntimeConfig::from_toml_str(
            "[limits]\ninvocation_timeout_ms = 'soon'\n",
            Path::new("."),
        )
        .expect_err("wrong type");
        assert!(
            error.to_string().contains("invocation_timeout_ms"),
            "{error}"
        );
    }

    #[test]
    fn zero_timeout_is_rejected_with_the_key() {
        let error =
            RuntimeConfig::from_toml_str("[limits]\ninvocation_timeout_ms = 0\n", Path::new("."))
                .expect_err("zero");
        assert!(
            error.to_string().contains("limits.invocation_timeout_ms"),
            "{error}"
        );
    }

    #[test]
    fn admission_limits_are_checked_and_named() {
        let error = RuntimeConfig::from_toml_str(
            "[limits]\nmemory_bytes = 67108864\nmemory_budget_bytes = 1048576\n",
            Path::new("."),
        )
        .expect_err("budget below one sandbox");
        let text = error.to_string();
        assert!(
            text.contains("limits.memory_budget_bytes") && text.contains("limits.memory_bytes"),
            "{text}"
        );
        let error =
            RuntimeConfig::from_toml_str("[limits]\nmax_concurrent_runs = 0\n", Path::new("."))
                .expect_err("zero concurrency");
        assert!(error.to_string().contains("limits.max_concurrent_runs"));
        let config = RuntimeConfig::from_toml_str(
            "[limits]\nadmission_queue = 0\nadmission_wait_ms = 0\n",
            Path::new("."),
        )
        .expect("no queue is allowed");
        assert_eq!(config.limits.admission_queue, 0);
    }

    #[test]
    fn server_and_oauth_settings_parse_and_secrets_stay_hidden() {
        let config = RuntimeConfig::from_toml_str(
            r#"
            database = "sqlite://db/terapi.db"
            [server]
            listen = "127.0.0.1:8080"
            secret_key = "sk-very-secret"
            [integrations.checkr-partner]
            component = "c.wasm"
            client_id = "cid"
            client_secret = "cs-very-secret"
            redirect_uri = "https://app.example.com/oauth/callback"
            "#,
            Path::new("/etc/terapi"),
        )
        .expect("valid");
        assert_eq!(
            config.database_path(),
            Path::new("/etc/terapi/db/terapi.db")
        );
        assert_eq!(config.server.public_url(), "http://127.0.0.1:8080");
        let debug = format!("{config:?}");
        assert!(!debug.contains("very-secret"), "{debug}");
        let integration = &config.integrations["checkr-partner"];
        assert_eq!(
            integration.client_secret.as_ref().map(Secret::expose),
            Some("cs-very-secret")
        );
    }

    #[test]
    fn redirect_uri_must_be_https_or_loopback_http() {
        let parse = |uri: &str| {
            RuntimeConfig::from_toml_str(
                &format!(
                    "[integrations.checkr-partner]\ncomponent = 'c.wasm'\nredirect_uri = '{uri}'\n"
                ),
                Path::new("."),
            )
        };
        let error = parse("http://app.example.com/cb").expect_err("plain http");
        let text = error.to_string();
        assert!(
            text.contains("integrations.checkr-partner.redirect_uri") && text.contains("https"),
            "{text}"
        );
        assert!(parse("https://app.example.com/cb").is_ok());
        assert!(parse("http://127.0.0.1:3003/oauth/callback").is_ok());
        assert!(parse("http://localhost/cb").is_ok());
        assert!(parse("http://[::1]:9/cb").is_ok());
        assert!(parse("not a url").is_err());
    }

    #[test]
    fn unsupported_database_and_bad_server_keys_are_named() {
        let error =
            RuntimeConfig::from_toml_str("database = 'postgres://db/terapi'\n", Path::new("."))
                .expect_err("postgres");
        assert!(error.to_string().contains("database"), "{error}");
        assert!(error.to_string().contains("postgres"), "{error}");
        let error = RuntimeConfig::from_toml_str("[server]\nlisten = 'nowhere'\n", Path::new("."))
            .expect_err("bad listen");
        assert!(error.to_string().contains("listen"), "{error}");
        let error = RuntimeConfig::from_toml_str("[server]\nport = 1\n", Path::new("."))
            .expect_err("unknown");
        assert!(error.to_string().contains("port"), "{error}");
        let error = RuntimeConfig::from_toml_str(
            "[integrations.x]\ncomponent='c'\nclient_secret='a'\nclient_secret_env='B'\n",
            Path::new("."),
        )
        .expect_err("both");
        assert!(error.to_string().contains("client_secret_env"), "{error}");
    }

    #[test]
    fn the_example_configuration_is_valid_and_documents_every_default() {
        let text = include_str!("../../../terapi.example.toml");
        let config = RuntimeConfig::from_toml_str(text, Path::new("/repo")).expect("valid example");
        let defaults = RuntimeConfig::default();
        assert_eq!(
            config.limits, defaults.limits,
            "the example shows the defaults"
        );
        assert_eq!(config.server, defaults.server);
        assert_eq!(config.database_path(), Path::new("/repo/.terapi/terapi.db"));
        assert_eq!(
            config.integrations.keys().collect::<Vec<_>>(),
            ["checkr-partner", "checkr-partner-staging"]
        );
    }
}
