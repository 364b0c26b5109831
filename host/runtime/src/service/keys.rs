//! Where secrets come from, and the one rule for storing credentials.
//!
//! The server and the CLI read the same settings the same way: the environment first
//! (`TERAPI_SECRET_KEY`, `TERAPI_ENCRYPTION_KEY`), then the configuration file
//! (`server.secret_key`, `server.encryption_key`). Credentials are never stored
//! unencrypted unless the user said `--insecure-dev`.

use super::ServiceError;
use crate::config::RuntimeConfig;
use crate::store::{AesGcmCipher, CredentialCipher, PlaintextCipher};
use std::sync::Arc;

/// Looks up an environment variable. Secrets are read through this, so tests and
/// embedders can supply them without touching the process environment.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The process environment (empty values count as unset).
pub fn process_env() -> EnvLookup {
    Arc::new(|name| std::env::var(name).ok().filter(|value| !value.is_empty()))
}

/// The secret key API clients present (`Authorization: Bearer <key>`) and connect links
/// are signed with: `TERAPI_SECRET_KEY`, else `server.secret_key`.
pub fn secret_key(config: &RuntimeConfig, env: &EnvLookup) -> Result<String, ServiceError> {
    env("TERAPI_SECRET_KEY")
        .or_else(|| {
            config
                .server
                .secret_key
                .as_ref()
                .map(|secret| secret.expose().to_string())
        })
        .filter(|secret| !secret.trim().is_empty())
        .ok_or_else(|| {
            ServiceError::config(
                "no secret key: set TERAPI_SECRET_KEY (or `server.secret_key`); clients send it \
                 as `Authorization: Bearer <key>`",
            )
        })
}

/// Whether an encryption key is configured (`TERAPI_ENCRYPTION_KEY` or
/// `server.encryption_key`).
pub fn encryption_configured(config: &RuntimeConfig, env: &EnvLookup) -> bool {
    env("TERAPI_ENCRYPTION_KEY").is_some() || config.server.encryption_key.is_some()
}

/// The cipher credentials are sealed with: AES-256-GCM keyed by `TERAPI_ENCRYPTION_KEY`
/// (else `server.encryption_key`). Without a key, refused — unless `insecure_dev`, which
/// stores them as they are (local development only, and said so in the log).
pub fn credential_cipher(
    config: &RuntimeConfig,
    env: &EnvLookup,
    insecure_dev: bool,
) -> Result<Arc<dyn CredentialCipher>, ServiceError> {
    let (key, source) = match env("TERAPI_ENCRYPTION_KEY") {
        Some(key) => (Some(key), "TERAPI_ENCRYPTION_KEY"),
        None => (
            config
                .server
                .encryption_key
                .as_ref()
                .map(|key| key.expose().to_string()),
            "`server.encryption_key`",
        ),
    };
    match key {
        Some(key) => {
            let cipher = AesGcmCipher::from_base64(&key)
                .map_err(|error| ServiceError::config(format!("{source}: {error}")))?;
            Ok(Arc::new(cipher))
        }
        None if insecure_dev => {
            tracing::warn!(
                "--insecure-dev: credentials are stored UNENCRYPTED; never use this in production"
            );
            Ok(Arc::new(PlaintextCipher))
        }
        None => Err(ServiceError::config(
            "refusing to store or read credentials unencrypted: set TERAPI_ENCRYPTION_KEY to \
             the base64 of 32 random bytes (e.g. `openssl rand -base64 32`), or pass \
             --insecure-dev for local development",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> EnvLookup {
        Arc::new(move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        })
    }

    #[test]
    fn no_encryption_key_is_refused_unless_insecure_dev() {
        let config = RuntimeConfig::default();
        let error = credential_cipher(&config, &env(&[]), false)
            .err()
            .expect("refused");
        assert!(error.message.contains("TERAPI_ENCRYPTION_KEY"), "{error}");
        assert!(error.message.contains("--insecure-dev"), "{error}");
        assert!(credential_cipher(&config, &env(&[]), true).is_ok());
    }

    #[test]
    fn a_bad_key_is_named_not_echoed() {
        let config = RuntimeConfig::default();
        let error = credential_cipher(
            &config,
            &env(&[("TERAPI_ENCRYPTION_KEY", "not-a-key-secret-ish")]),
            true,
        )
        .err()
        .expect("bad key");
        assert!(
            error.message.starts_with("TERAPI_ENCRYPTION_KEY"),
            "{error}"
        );
        assert!(!error.message.contains("not-a-key-secret-ish"), "{error}");
    }

    #[test]
    fn the_secret_key_comes_from_the_environment_first() {
        let mut config = RuntimeConfig::default();
        assert!(secret_key(&config, &env(&[])).is_err());
        config.server.secret_key = Some(crate::config::Secret::new("from-file"));
        assert_eq!(secret_key(&config, &env(&[])).expect("file"), "from-file");
        assert_eq!(
            secret_key(&config, &env(&[("TERAPI_SECRET_KEY", "from-env")])).expect("env"),
            "from-env"
        );
    }
}
