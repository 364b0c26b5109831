//! Runtime configuration: where data lives, resource limits, and the integrations the
//! host serves. Read from TOML (`terapi.toml`); unknown keys are rejected so a typo never
//! silently falls back to a default.
//!
//! ```
//! let config = terapi_host::RuntimeConfig::from_toml_str(r#"
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
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    /// Integrations by provider-config-key, e.g. `checkr-partner`.
    #[serde(default)]
    pub integrations: BTreeMap<String, IntegrationConfig>,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from(".terapi")
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            data_dir: default_data_dir(),
            limits: Limits::default(),
            integrations: BTreeMap::new(),
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
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        if self.data_dir.is_relative() {
            self.data_dir = base.join(&self.data_dir);
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
    /// Linear memory an instance may grow to. 64 MiB holds several pages of API results
    /// with room to spare, and keeps 1,000 concurrent sandboxes within a few GiB of RSS
    /// at worst (memory is committed only when touched).
    pub memory_bytes: usize,
    /// Timeout of one outbound HTTP attempt.
    pub http_timeout_ms: u64,
    /// Largest response body an action receives. 10 MiB is far above any Checkr page
    /// (100 items) and bounds what a hostile or broken upstream can make us buffer.
    pub http_max_response_bytes: u64,
    /// First retry delay for 5xx and network errors; doubles on each attempt. Checkr
    /// suggests 2, 5, 10, 30 s; 500 ms doubling reaches the same range in four steps.
    pub http_retry_base_delay_ms: u64,
    /// Longest wait the host accepts for a rate-limit reset before giving up retrying.
    pub http_max_rate_limit_wait_ms: u64,
    /// Bytes of stdout/stderr kept per invocation; the rest is counted and dropped.
    pub log_capture_bytes: usize,
    /// Sandboxes that may exist at once (the pooling allocator's slot count). Each slot
    /// reserves address space, not memory.
    pub max_instances: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            invocation_timeout_ms: 30_000,
            memory_bytes: 64 << 20,
            http_timeout_ms: 30_000,
            http_max_response_bytes: 10 << 20,
            http_retry_base_delay_ms: 500,
            http_max_rate_limit_wait_ms: 60_000,
            log_capture_bytes: 64 << 10,
            max_instances: 1_000,
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

    fn validate(&self) -> Result<(), ConfigError> {
        let checks: [(&str, bool, &str); 4] = [
            (
                "limits.invocation_timeout_ms",
                self.invocation_timeout_ms > 0,
                "a positive number of milliseconds",
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
}
