//! What terapi keeps, and where: one async trait per kind of data, one factory.
//!
//! | trait | what |
//! | --- | --- |
//! | [`ConnectionStore`] | connections: one customer's account at a provider, with its credentials |
//! | [`OAuthSessionStore`] | pending OAuth authorizations, consumed once by the callback |
//! | [`IntegrationCredentialStore`] | OAuth app credentials set over the API |
//! | [`RunStore`] | results of asynchronous action runs |
//! | [`OutboxStore`] | webhooks to the application, until they are delivered |
//! | [`WebhookEventStore`] | provider webhooks received, to process each once |
//! | [`RecordStore`] | synced records and sync checkpoints |
//! | [`ScheduleStore`] | sync schedules and their run leases |
//!
//! (Outbound webhooks join this list as a trait of its own.) Every kind lives behind its trait so that state several nodes must share
//! is in the database, never in one process's memory. [`Stores::open`] opens every kind
//! from the configuration's `database` setting: a SQLite file ([`SqliteStore`], all SQL
//! in `sqlite/`) today; another backend is one more implementation of these traits and
//! one more arm in [`Stores::open`].
//!
//! Credentials pass through a [`CredentialCipher`] on their way in and out:
//! [`AesGcmCipher`] encrypts them at rest, [`PlaintextCipher`] (development only) does
//! not. [`CachingConnectionStore`] keeps recently read connections in memory for a short
//! time (the invocation hot path reads one per run).

mod cache;
mod cipher;
mod outbox;
mod records;
mod runs;
mod schedules;
mod sqlite;

pub use cache::CachingConnectionStore;
pub use cipher::{AesGcmCipher, KeyError, PlaintextCipher};
pub use outbox::{
    AttemptOutcome, Delivery, DeliveryFilter, DeliveryStatus, HANDLER_KIND, NewDelivery, OutboxWork,
};
pub use records::{
    RecordAction, RecordCursor, RecordPage, RecordQuery, RecordScope, StoredRecord, SyncScope,
    WriteCounts,
};
pub(crate) use records::{content_hash, record_id};
pub use runs::{RunLimits, RunState, StartRunError};
pub use schedules::{FinishedRun, ScheduleState, SyncSchedule};
pub use sqlite::SqliteStore;

use crate::config::{Database, RuntimeConfig};
use crate::runtime::TriggerError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::sync::Arc;
use time::OffsetDateTime;

/// What a connection authenticates with. Serialized with a `type` tag in Nango's style
/// (`OAUTH2`, `API_KEY`, `BASIC`, `NONE`).
///
/// `Debug` never prints secrets.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE", deny_unknown_fields)]
pub enum Credentials {
    /// OAuth 2 tokens.
    #[serde(rename = "OAUTH2")]
    OAuth2 {
        /// The access token.
        access_token: String,
        /// The refresh token, for providers that refresh.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        refresh_token: Option<String>,
        /// When the access token expires (RFC 3339), if it does.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_at: Option<String>,
        /// The scopes granted, as the provider reported them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scope: Option<String>,
        /// The token response, verbatim.
        #[serde(default)]
        raw: Value,
    },
    /// A static API key.
    ApiKey {
        /// The key.
        api_key: String,
    },
    /// HTTP Basic credentials.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// No credentials.
    None,
}

impl Credentials {
    /// OAuth 2 credentials holding just an access token (Checkr partner tokens are
    /// long-lived and come without refresh token or expiry).
    pub fn access_token(token: impl Into<String>) -> Self {
        let access_token = token.into();
        Credentials::OAuth2 {
            raw: serde_json::json!({ "access_token": access_token }),
            access_token,
            refresh_token: None,
            expires_at: None,
            scope: None,
        }
    }

    /// The token these credentials present to the provider — the OAuth access token or
    /// the API key — by which a provider's revocation event names a connection; `None`
    /// for basic credentials and none.
    pub fn token(&self) -> Option<&str> {
        match self {
            Credentials::OAuth2 { access_token, .. } => Some(access_token),
            Credentials::ApiKey { api_key } => Some(api_key),
            Credentials::Basic { .. } | Credentials::None => None,
        }
    }

    /// [`Credentials::token`]'s [`token_digest`].
    pub fn token_digest(&self) -> Option<String> {
        self.token().map(token_digest)
    }

    /// The type tag, as in the serialized form.
    pub fn kind(&self) -> &'static str {
        match self {
            Credentials::OAuth2 { .. } => "OAUTH2",
            Credentials::ApiKey { .. } => "API_KEY",
            Credentials::Basic { .. } => "BASIC",
            Credentials::None => "NONE",
        }
    }
}

/// The SHA-256 digest of a token, lowercase hex: what a store keeps to find a connection
/// by its token without keeping the token in clear (tokens are random and long, so the
/// digest gives nothing away and needs no salt).
pub fn token_digest(token: &str) -> String {
    use sha2::Digest;
    crate::util::hex(&sha2::Sha256::digest(token.as_bytes()))
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials::{}(<redacted>)", self.kind())
    }
}

/// A stored connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    /// The store's own id (stable across renames of nothing: connections are immutable
    /// keys).
    pub id: i64,
    /// The id the application chose, unique within the integration.
    pub connection_id: String,
    /// The integration, e.g. `checkr-partner`.
    pub provider_config_key: String,
    /// The provider, e.g. `checkr-partner`.
    pub provider: String,
    /// Credentials.
    pub credentials: Credentials,
    /// Provider-specific configuration gathered at connect time (a JSON object).
    pub connection_config: Value,
    /// Application metadata (a JSON object).
    pub metadata: Value,
    /// When the connection was created.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
    /// When its credentials were last handed out through the API, if ever.
    pub last_fetched_at: Option<OffsetDateTime>,
    /// When the provider told terapi the credentials were revoked (Checkr's
    /// `token.deauthorized`), if it did: actions, syncs and proxy calls on it then fail
    /// with `connection_revoked` until it is connected again.
    pub revoked_at: Option<OffsetDateTime>,
}

/// What [`ConnectionStore::upsert`] writes.
#[derive(Debug, Clone, PartialEq)]
pub struct NewConnection {
    /// The id the application chose.
    pub connection_id: String,
    /// The integration.
    pub provider_config_key: String,
    /// The provider.
    pub provider: String,
    /// Credentials.
    pub credentials: Credentials,
    /// Provider-specific configuration (a JSON object).
    pub connection_config: Value,
    /// Application metadata (a JSON object).
    pub metadata: Value,
}

impl NewConnection {
    /// A connection with empty configuration and metadata.
    pub fn new(
        provider_config_key: impl Into<String>,
        connection_id: impl Into<String>,
        provider: impl Into<String>,
        credentials: Credentials,
    ) -> Self {
        NewConnection {
            connection_id: connection_id.into(),
            provider_config_key: provider_config_key.into(),
            provider: provider.into(),
            credentials,
            connection_config: Value::Object(Default::default()),
            metadata: Value::Object(Default::default()),
        }
    }
}

/// Which connections [`ConnectionStore::list`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionFilter {
    /// Only this integration.
    pub provider_config_key: Option<String>,
    /// Only this connection id.
    pub connection_id: Option<String>,
    /// At most this many (after `offset`).
    pub limit: Option<usize>,
    /// Skip this many first (oldest first).
    pub offset: usize,
    /// Only connections whose `connection_config.<key>` is the JSON string `value`, for
    /// every `(key, value)` pair (e.g. `checkr_account_id`, to route a webhook).
    pub config_equals: Vec<(String, String)>,
}

impl ConnectionFilter {
    /// Every connection of `provider_config_key`.
    pub fn for_integration(provider_config_key: impl Into<String>) -> Self {
        ConnectionFilter {
            provider_config_key: Some(provider_config_key.into()),
            ..ConnectionFilter::default()
        }
    }

    /// Connections of `provider_config_key` whose `connection_config.<key>` is `value`.
    pub fn by_config(
        provider_config_key: impl Into<String>,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        ConnectionFilter {
            provider_config_key: Some(provider_config_key.into()),
            config_equals: vec![(key.into(), value.into())],
            ..ConnectionFilter::default()
        }
    }
}

/// How [`ConnectionStore::update_metadata`] changes a connection's metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataUpdate {
    /// The new metadata replaces the old.
    Replace,
    /// The new metadata's top-level keys are set, the others kept.
    Merge,
}

/// A pending OAuth authorization: created when a connect starts, consumed (once) by the
/// callback. The store keeps a digest of the `state` parameter, never the state itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthSession {
    /// SHA-256 of the `state` sent to the provider, hex-encoded.
    pub state_digest: String,
    /// The integration being connected.
    pub provider_config_key: String,
    /// The connection the authorization will create.
    pub connection_id: String,
    /// When the connect started.
    pub created_at: OffsetDateTime,
    /// After this, the callback is refused.
    pub expires_at: OffsetDateTime,
}

/// OAuth app credentials of an integration, set over the API; they take precedence over
/// the configuration file's. `Debug` never prints the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct IntegrationCredentials {
    /// The integration.
    pub provider_config_key: String,
    /// The OAuth client id.
    pub client_id: String,
    /// The OAuth client secret (sealed at rest like connection credentials).
    pub client_secret: String,
    /// Scopes to request; empty: the provider's defaults.
    pub scopes: Vec<String>,
    /// When they were first set.
    pub created_at: OffsetDateTime,
    /// When they last changed.
    pub updated_at: OffsetDateTime,
}

impl fmt::Debug for IntegrationCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntegrationCredentials")
            .field("provider_config_key", &self.provider_config_key)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// Errors from a connection store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("connection store: {0}")]
    Database(String),
    /// Stored credentials could not be decrypted or decoded.
    #[error(
        "connection store: credentials of {provider_config_key}/{connection_id} are unreadable: {reason}"
    )]
    Credentials {
        /// Integration.
        provider_config_key: String,
        /// Connection (empty for an integration's own credentials).
        connection_id: String,
        /// Why (never the credentials themselves).
        reason: String,
    },
    /// A value passed in is invalid.
    #[error("connection store: {0}")]
    Invalid(String),
}

/// Where connections live. Implementations must be safe to share between threads, and
/// must seal credentials with their [`CredentialCipher`] before they reach storage.
#[async_trait]
pub trait ConnectionStore: Send + Sync + 'static {
    /// Creates the connection, or replaces the credentials, configuration and metadata of
    /// an existing one with the same integration and connection id.
    async fn upsert(&self, connection: &NewConnection) -> Result<Connection, StoreError>;
    /// The connection, if it exists.
    async fn get(
        &self,
        provider_config_key: &str,
        connection_id: &str,
    ) -> Result<Option<Connection>, StoreError>;
    /// [`ConnectionStore::get`], shared. A caching store returns the same `Arc` for as
    /// long as its entry is fresh, which lets callers keep what they derive from a
    /// connection (the runtime: the guest's view and the `Authorization` value) until it
    /// changes.
    async fn get_shared(
        &self,
        provider_config_key: &str,
        connection_id: &str,
    ) -> Result<Option<Arc<Connection>>, StoreError> {
        Ok(self
            .get(provider_config_key, connection_id)
            .await?
            .map(Arc::new))
    }
    /// Connections matching the filter, oldest first.
    async fn list(&self, filter: &ConnectionFilter) -> Result<Vec<Connection>, StoreError>;
    /// The ids of the connections matching the filter, oldest first: [`list`] without
    /// reading (and decrypting) credentials, for routing.
    ///
    /// [`list`]: ConnectionStore::list
    async fn connection_ids(&self, filter: &ConnectionFilter) -> Result<Vec<String>, StoreError> {
        Ok(self
            .list(filter)
            .await?
            .into_iter()
            .map(|connection| connection.connection_id)
            .collect())
    }
    /// The ids of `provider_config_key`'s connections whose credentials' token has
    /// `digest` ([`token_digest`]), oldest first: whom a provider's revocation event
    /// names. A backend keeps each connection's digest beside its sealed credentials so
    /// that this is a lookup, not a decryption of every connection.
    async fn with_token_digest(
        &self,
        provider_config_key: &str,
        digest: &str,
    ) -> Result<Vec<String>, StoreError>;
    /// Deletes the connection; `false` if there was none.
    async fn delete(
        &self,
        provider_config_key: &str,
        connection_id: &str,
    ) -> Result<bool, StoreError>;
    /// Replaces or merges a connection's metadata (a JSON object); `None` if there is no
    /// such connection.
    async fn update_metadata(
        &self,
        provider_config_key: &str,
        connection_id: &str,
        metadata: &Value,
        how: MetadataUpdate,
    ) -> Result<Option<Connection>, StoreError>;
    /// Records that the connection's credentials were handed out now.
    async fn mark_fetched(
        &self,
        provider_config_key: &str,
        connection_id: &str,
    ) -> Result<(), StoreError>;
    /// Records that the provider revoked the connection's credentials (now, unless it
    /// was already revoked); `false` if there is no such connection. Storing new
    /// credentials ([`ConnectionStore::upsert`]) clears it.
    async fn mark_revoked(
        &self,
        provider_config_key: &str,
        connection_id: &str,
    ) -> Result<bool, StoreError>;
}

/// A provider webhook terapi accepted: what is remembered of it to process it once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedEvent {
    /// The integration it arrived for.
    pub provider_config_key: String,
    /// The provider's event id (de-duplication key, with the integration).
    pub event_id: String,
    /// Its type, e.g. `report.completed`.
    pub event_type: String,
    /// The account it names, if any.
    pub account_id: Option<String>,
}

/// Which connections of the event's integration an event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventRoute {
    /// None (the event names no account).
    Nowhere,
    /// These, found by the caller (a revocation event, matched by token).
    Connections(Vec<String>),
    /// Those whose `connection_config.<name>` is the JSON string `value` (Checkr:
    /// `checkr_account_id` = the event's `account_id`), oldest first.
    ByConfig {
        /// The `connection_config` key.
        name: String,
        /// The string it must hold.
        value: String,
    },
}

/// How [`WebhookEventStore::accept_event`] routes an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRouting {
    /// The connections it is about.
    pub route: EventRoute,
    /// The syncs whose webhook handlers subscribe to the event's type: each routed
    /// connection is told which of them are scheduled for it and not paused.
    pub handler_syncs: Vec<String>,
}

/// A connection an accepted event was routed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedConnection {
    /// The connection.
    pub connection_id: String,
    /// Those of [`EventRouting::handler_syncs`] that have a schedule for this connection
    /// that is not paused.
    pub handler_syncs: Vec<String>,
}

/// What an accepted event writes to the outbox, given where it was routed. Called at
/// most once, inside the transaction that records the event; it must not block.
pub type OutboxWrites = Box<dyn FnOnce(&[RoutedConnection]) -> Vec<NewDelivery> + Send>;

/// What became of an event offered to [`WebhookEventStore::accept_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventAcceptance {
    /// New: recorded, routed to these connections, its outbox rows written.
    Accepted(Vec<RoutedConnection>),
    /// Seen within the window: nothing written.
    Duplicate,
}

/// Provider webhooks received: remembered for a window so that a retried delivery is
/// processed once.
#[async_trait]
pub trait WebhookEventStore: Send + Sync + 'static {
    /// In one transaction: unless an event with the same integration and id was
    /// recorded within `window` ([`EventAcceptance::Duplicate`]: nothing is written),
    /// routes `event` as `routing` says, records it, and writes to the outbox what
    /// `outbox` makes of the routed connections. Events older than `window` are
    /// forgotten.
    ///
    /// Routing inside the transaction costs the caller one round trip to the store per
    /// event instead of three (route, check the handlers' schedules, commit), and the
    /// routing is that of the moment the event is recorded.
    async fn accept_event(
        &self,
        event: &ReceivedEvent,
        routing: &EventRouting,
        outbox: OutboxWrites,
        window: std::time::Duration,
    ) -> Result<EventAcceptance, StoreError>;
}

/// Pending OAuth authorizations.
#[async_trait]
pub trait OAuthSessionStore: Send + Sync + 'static {
    /// Saves a pending OAuth authorization, and forgets expired ones.
    async fn put_oauth_session(&self, session: &OAuthSession) -> Result<(), StoreError>;
    /// Removes and returns the pending authorization with this state digest, expired or
    /// not (the caller checks `expires_at`). Atomic: of two concurrent callers with the
    /// same state at most one gets it.
    async fn take_oauth_session(
        &self,
        state_digest: &str,
    ) -> Result<Option<OAuthSession>, StoreError>;
}

/// OAuth app credentials set over the API. Implementations seal the client secret like
/// connection credentials.
#[async_trait]
pub trait IntegrationCredentialStore: Send + Sync + 'static {
    /// An integration's OAuth app credentials set over the API, if any.
    async fn integration_credentials(
        &self,
        provider_config_key: &str,
    ) -> Result<Option<IntegrationCredentials>, StoreError>;
    /// Sets an integration's OAuth app credentials (`created_at`/`updated_at` are the
    /// store's).
    async fn put_integration_credentials(
        &self,
        credentials: &IntegrationCredentials,
    ) -> Result<IntegrationCredentials, StoreError>;
}

/// Results of asynchronous action runs (`X-Async: true`), bounded in count and age
/// ([`RunLimits`]). In the database, so any node can answer `GET /action/{id}` and a
/// run whose node died is reported as lost rather than running forever.
#[async_trait]
pub trait RunStore: Send + Sync + 'static {
    /// Registers a new running entry, evicting the oldest finished one when full.
    async fn start_run(&self, id: &str) -> Result<(), StartRunError>;
    /// Records a run's result. Unknown ids (evicted, expired) are ignored.
    async fn finish_run(
        &self,
        id: &str,
        result: &Result<String, TriggerError>,
    ) -> Result<(), StoreError>;
    /// Where a run stands; `None` if unknown or expired.
    async fn run_state(&self, id: &str) -> Result<Option<RunState>, StoreError>;
}

/// The durable outbox of webhooks to the application (see the `outbox` module's docs: [`Delivery`]).
#[async_trait]
pub trait OutboxStore: Send + Sync + 'static {
    /// Writes a webhook, due at once; returns its id.
    async fn enqueue(&self, delivery: &NewDelivery) -> Result<i64, StoreError>;
    /// Claims up to `limit` pending entries of `work` that are due, for `lease`: no
    /// other worker (in this process or another sharing the database) gets them until
    /// the lease ends or an attempt is recorded. Oldest first.
    async fn claim_due_deliveries(
        &self,
        work: OutboxWork,
        limit: usize,
        lease: std::time::Duration,
    ) -> Result<Vec<Delivery>, StoreError>;
    /// Records an attempt's outcome (and ends the claim).
    async fn record_attempt(&self, id: i64, outcome: &AttemptOutcome) -> Result<(), StoreError> {
        self.record_attempts(&[(id, outcome.clone())]).await
    }
    /// Records several attempts' outcomes (and ends their claims) in one transaction:
    /// the delivery worker records what finished together at once.
    async fn record_attempts(&self, outcomes: &[(i64, AttemptOutcome)]) -> Result<(), StoreError>;
    /// Deliveries, newest first.
    async fn list_deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<Delivery>, StoreError>;
    /// One delivery.
    async fn delivery(&self, id: i64) -> Result<Option<Delivery>, StoreError>;
    /// Makes a delivery pending again, due now, with its attempts reset; `false` if
    /// there is none with this id.
    async fn replay(&self, id: i64) -> Result<bool, StoreError>;
}

/// Synced records and sync checkpoints.
///
/// Every method is one transaction: a batch is written whole or not at all, and a
/// checkpoint saved after a batch can never be newer than what was committed before it.
/// Together with "re-saving identical content changes nothing", this makes a run killed
/// at any moment resumable from its last checkpoint without losing or duplicating a
/// record.
#[async_trait]
pub trait RecordStore: Send + Sync + 'static {
    /// Creates or replaces records (JSON objects with a non-empty string `id`). A record
    /// whose content is unchanged keeps its timestamps and cursor; it is only noted as
    /// seen by `run` (for track-deletes). A later record in the batch with the same id
    /// wins.
    async fn save_records(
        &self,
        scope: &RecordScope,
        records: Vec<Value>,
        run: Option<&str>,
    ) -> Result<WriteCounts, StoreError>;
    /// Merges partial records (each with its `id`) into the stored ones: their top-level
    /// keys replace the stored ones'. Fails, naming the record, when one does not exist
    /// (or is deleted); then nothing of the batch is written.
    async fn update_records(
        &self,
        scope: &RecordScope,
        partial: Vec<Value>,
        run: Option<&str>,
    ) -> Result<WriteCounts, StoreError>;
    /// Marks records deleted; unknown or already deleted ids are counted unchanged.
    async fn delete_records(
        &self,
        scope: &RecordScope,
        ids: Vec<String>,
    ) -> Result<WriteCounts, StoreError>;
    /// Marks deleted every live record of the scope that `run` did not save or update:
    /// track-deletes, applied when a run succeeded.
    async fn delete_records_not_seen_by(
        &self,
        scope: &RecordScope,
        run: &str,
    ) -> Result<WriteCounts, StoreError>;
    /// The live (not deleted) records with these ids, in the order asked; unknown ids are
    /// left out.
    async fn records_by_ids(
        &self,
        scope: &RecordScope,
        ids: Vec<String>,
    ) -> Result<Vec<Value>, StoreError>;
    /// Records in cursor order (see [`RecordQuery`]).
    async fn list_records(
        &self,
        scope: &RecordScope,
        query: &RecordQuery,
    ) -> Result<RecordPage, StoreError>;
    /// How many live records the scope holds.
    async fn count_records(&self, scope: &RecordScope) -> Result<u64, StoreError>;
    /// Forgets every record of the scope (a reset: the next run adds them afresh).
    async fn clear_records(&self, scope: &RecordScope) -> Result<u64, StoreError>;
    /// The sync's checkpoint, if one was saved.
    async fn checkpoint(&self, scope: &SyncScope) -> Result<Option<Value>, StoreError>;
    /// Saves the sync's checkpoint: a flat JSON object (no nested objects or arrays).
    async fn save_checkpoint(
        &self,
        scope: &SyncScope,
        checkpoint: &Value,
    ) -> Result<(), StoreError>;
    /// Forgets the sync's checkpoint.
    async fn clear_checkpoint(&self, scope: &SyncScope) -> Result<(), StoreError>;
}

/// Sync schedules and their leases (see [`SyncSchedule`]). Every method is atomic in the
/// database, so processes sharing it agree on who runs what.
#[async_trait]
pub trait ScheduleStore: Send + Sync + 'static {
    /// Creates a started schedule due at `next_run_at` unless the sync already has one
    /// for the connection (a paused one stays paused); `true` if it was created.
    async fn ensure_schedule(
        &self,
        scope: &SyncScope,
        next_run_at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// The schedule, if there is one.
    async fn schedule(&self, scope: &SyncScope) -> Result<Option<SyncSchedule>, StoreError>;
    /// The schedules of an integration, optionally of one connection.
    async fn schedules(
        &self,
        provider_config_key: &str,
        connection_id: Option<&str>,
    ) -> Result<Vec<SyncSchedule>, StoreError>;
    /// Starts (due at `next_run_at` if it was not scheduled yet) or pauses a schedule,
    /// creating it if needed.
    async fn set_schedule_state(
        &self,
        scope: &SyncScope,
        state: ScheduleState,
        next_run_at: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Sets the connection's frequency override (`None`: the sync's default) and when
    /// the schedule runs next, creating it (stopped) if needed.
    async fn set_frequency(
        &self,
        scope: &SyncScope,
        frequency: Option<&str>,
        next_run_at: Option<OffsetDateTime>,
    ) -> Result<(), StoreError>;
    /// Asks for a run as soon as possible (even when paused), creating the schedule
    /// (stopped) if needed. Asking again before it started asks for nothing more.
    async fn trigger(&self, scope: &SyncScope, at: OffsetDateTime) -> Result<(), StoreError>;
    /// Claims up to `limit` due schedules (started and due, or triggered) whose lease is
    /// free or expired, leasing them to `owner` until `lease_until`.
    async fn claim_due(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<SyncSchedule>, StoreError>;
    /// Claims one schedule now, due or not (creating it, stopped, if needed); `None` if
    /// a run holds its lease.
    async fn claim(
        &self,
        scope: &SyncScope,
        owner: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Result<Option<SyncSchedule>, StoreError>;
    /// Extends `owner`'s lease; `false` if it no longer holds it.
    async fn heartbeat(
        &self,
        scope: &SyncScope,
        owner: &str,
        lease_until: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Records a run's result and releases `owner`'s lease.
    async fn finish(
        &self,
        scope: &SyncScope,
        owner: &str,
        run: &FinishedRun,
    ) -> Result<(), StoreError>;
    /// Forgets every schedule of a connection (it was deleted).
    async fn delete_schedules(
        &self,
        provider_config_key: &str,
        connection_id: &str,
    ) -> Result<u64, StoreError>;
}

/// Every store, opened from one configuration.
#[derive(Clone)]
pub struct Stores {
    /// Connections.
    pub connections: Arc<dyn ConnectionStore>,
    /// Pending OAuth authorizations.
    pub oauth_sessions: Arc<dyn OAuthSessionStore>,
    /// OAuth app credentials set over the API.
    pub integration_credentials: Arc<dyn IntegrationCredentialStore>,
    /// Asynchronous run results.
    pub runs: Arc<dyn RunStore>,
    /// Webhooks to the application.
    pub outbox: Arc<dyn OutboxStore>,
    /// Provider webhooks received.
    pub webhook_events: Arc<dyn WebhookEventStore>,
    /// Synced records and checkpoints.
    pub records: Arc<dyn RecordStore>,
    /// Sync schedules.
    pub schedules: Arc<dyn ScheduleStore>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stores").finish_non_exhaustive()
    }
}

impl Stores {
    /// Opens every store in the database the configuration names (`database`, default
    /// `sqlite://<data_dir>/terapi.db`), creating and migrating it as needed; credentials
    /// pass through `cipher`. Connections are read through a
    /// [`CachingConnectionStore`] unless `limits.connection_cache_ms` is 0.
    pub async fn open(
        config: &RuntimeConfig,
        cipher: Arc<dyn CredentialCipher>,
    ) -> Result<Stores, StoreError> {
        let limits = RunLimits::from_config(config);
        match &config.database {
            Some(Database::Sqlite(_)) | None => {
                let path = config.database_path();
                let store = tokio::task::spawn_blocking(move || {
                    SqliteStore::open_with_cipher(&path, cipher)
                })
                .await
                .map_err(|error| {
                    StoreError::Database(format!("opening the store failed: {error}"))
                })??
                .with_run_limits(limits);
                let mut stores = Stores::all_in(Arc::new(store));
                if config.limits.connection_cache_ms > 0 {
                    stores.connections = Arc::new(CachingConnectionStore::new(
                        stores.connections,
                        std::time::Duration::from_millis(config.limits.connection_cache_ms),
                    ));
                }
                Ok(stores)
            }
        }
    }

    /// Every kind of data in one backend.
    pub fn all_in<S>(store: Arc<S>) -> Stores
    where
        S: ConnectionStore
            + OAuthSessionStore
            + IntegrationCredentialStore
            + RunStore
            + OutboxStore
            + WebhookEventStore
            + RecordStore
            + ScheduleStore,
    {
        Stores {
            connections: store.clone(),
            oauth_sessions: store.clone(),
            integration_credentials: store.clone(),
            runs: store.clone(),
            outbox: store.clone(),
            webhook_events: store.clone(),
            records: store.clone(),
            schedules: store,
        }
    }
}

/// Seals credentials before they are stored and opens them when read. The seam for
/// encryption at rest.
///
/// `associated_data` identifies the row (e.g. the integration and connection id); a
/// cipher that authenticates it makes a sealed value useless on any other row.
pub trait CredentialCipher: Send + Sync + 'static {
    /// Turns serialized credentials into what is stored.
    fn seal(&self, plaintext: &[u8], associated_data: &[u8]) -> Result<Vec<u8>, String>;
    /// Reverses [`CredentialCipher::seal`]. Errors never contain the plaintext.
    fn open(&self, sealed: &[u8], associated_data: &[u8]) -> Result<Vec<u8>, String>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_contains_secrets() {
        let credentials = Credentials::access_token("very-secret-token");
        let text = format!("{credentials:?}");
        assert!(!text.contains("very-secret-token"), "{text}");
        assert!(text.contains("OAUTH2"));
    }

    #[test]
    fn credentials_serialize_with_nango_style_tags() {
        let value = serde_json::to_value(Credentials::access_token("t")).expect("serializes");
        assert_eq!(value["type"], "OAUTH2");
        assert_eq!(value["access_token"], "t");
        let back: Credentials = serde_json::from_value(value).expect("round trip");
        assert_eq!(back, Credentials::access_token("t"));
    }
}
