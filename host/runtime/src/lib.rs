//! # terapi-runtime: the terapi integration runtime
//!
//! terapi runs integration workflows — *actions* — as WebAssembly components. Each
//! invocation gets a fresh sandbox that can reach exactly what the host grants it: the
//! connection it runs for (credentials included), HTTP to the provider's API (through the
//! host, which enforces an allow-list, injects authentication, and applies timeouts,
//! size limits and retries) and a run log. No files, no environment, no sockets.
//!
//! Embed it by building a [`Runtime`] from a [`RuntimeConfig`] and calling
//! [`Runtime::trigger_action`]:
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use terapi_runtime::{IntegrationConfig, Runtime, RuntimeConfig};
//!
//! let mut config = RuntimeConfig::default();
//! config.data_dir = "/var/lib/terapi".into();
//! config.integrations.insert(
//!     "checkr-partner".into(),
//!     IntegrationConfig::new("/opt/terapi/checkr_partner.wasm"),
//! );
//! let runtime = Runtime::new(config).await?;
//! let output = runtime
//!     .trigger_action("checkr-partner", "customer-42", "get-account", "{}")
//!     .await?;
//! println!("{}", output.as_json());
//! # Ok(()) }
//! ```
//!
//! Components of world `integration` also carry *syncs*: [`Runtime::run_sync`] runs one
//! for a connection in a fresh sandbox that may also save records (validated against
//! the sync's model schemas), checkpoints and connection metadata, into the
//! [`RecordStore`]; [`service::Service`] schedules them (a database lease per sync and
//! connection, so runs never overlap) and serves their records.
//!
//! This crate has no web server and no command line: `terapi-server` puts the HTTP API
//! on top of it and `terapi-cli` the `terapi` binary; both drive it through
//! [`service::Service`], the workflows they share.

mod bindings;
pub mod capabilities;
pub mod config;
pub mod engine;
#[doc(hidden)]
pub mod fuzzing;
pub mod oauth;
pub mod outbound;
pub mod providers;
mod runtime;
mod schema;
pub mod service;
pub mod store;
pub mod util;

pub use capabilities::log::{LogLevel, LogLine, LogSource};
pub use capabilities::records::SyncProgress;
pub use config::{
    ConfigError, Database, InstanceAllocator, IntegrationConfig, Limits, RuntimeConfig, Secret,
    ServerConfig,
};
pub use engine::CacheStats;
pub use outbound::HttpPolicy;
pub use providers::{Provider, Providers, RequestAuth};
pub use runtime::{
    ActionInfo, ActionOutput, AdmissionStats, CallConnection, Invocation, MIN_FREQUENCY, ModelInfo,
    Overloaded, RETRY_AFTER, Runtime, StartError, SyncError, SyncInfo, SyncOutcome, TriggerError,
    parse_frequency, resolve_provider,
};
pub use schema::FieldError;
pub use store::{
    AesGcmCipher, CachingConnectionStore, Connection, ConnectionFilter, ConnectionStore,
    CredentialCipher, Credentials, IntegrationCredentialStore, IntegrationCredentials,
    MetadataUpdate, NewConnection, OAuthSession, OAuthSessionStore, PlaintextCipher, RecordAction,
    RecordCursor, RecordPage, RecordQuery, RecordScope, RecordStore, RunStore, ScheduleState,
    ScheduleStore, SqliteStore, StoreError, StoredRecord, Stores, SyncSchedule, SyncScope,
    WriteCounts,
};

/// The README's Rust examples, compiled as doctests so they stay true.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
