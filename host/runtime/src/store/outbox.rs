//! The durable outbox of webhooks to the application: what
//! [`OutboxStore`](super::OutboxStore) keeps.
//!
//! A webhook is written to the outbox in the same breath as the event that caused it
//! and delivered from there, so a crash, a restart or a receiver that is down loses
//! nothing: deliveries are retried with backoff until they succeed or run out of
//! attempts, and one that fails for good stays listed and can be replayed.

use serde::Serialize;
use time::OffsetDateTime;

/// The outbox kind of a webhook *handler job*: a verified provider event for one
/// connection that a sync's `on-webhook` applies to its records. Handler jobs share the
/// outbox's durability, retries, listing and replay with webhooks to the application, but
/// a different worker takes them: see [`OutboxWork`].
pub const HANDLER_KIND: &str = "on-webhook";

/// Which entries of the outbox a worker claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxWork {
    /// Webhooks to the application (every kind but [`HANDLER_KIND`]).
    Deliveries,
    /// Webhook handler jobs ([`HANDLER_KIND`]).
    Handlers,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// The application answered 2xx.
    Delivered,
    /// Out of attempts, or refused with a status that retrying will not change; kept for
    /// a replay.
    Failed,
}

impl DeliveryStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(DeliveryStatus::Pending),
            "delivered" => Some(DeliveryStatus::Delivered),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
}

/// One webhook to the application.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    /// The outbox's id for it.
    pub id: i64,
    /// What kind of webhook (`sync`, `forward`, ...).
    pub kind: String,
    /// The integration it is about, if any.
    pub provider_config_key: Option<String>,
    /// The connection it is about, if any.
    pub connection_id: Option<String>,
    /// The exact body sent (JSON text; the signature covers these bytes).
    pub body: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// When it was written.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the next attempt is due (pending ones).
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    /// When it was delivered.
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
}

/// A webhook to write to the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// What kind of webhook (`sync`, `forward`, ...).
    pub kind: String,
    /// The integration it is about, if any.
    pub provider_config_key: Option<String>,
    /// The connection it is about, if any.
    pub connection_id: Option<String>,
    /// The body (JSON text), sent byte for byte.
    pub body: String,
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Delivered.
    Delivered,
    /// Failed; try again at this time.
    RetryAt(OffsetDateTime, String),
    /// Failed for good (out of attempts, or a status retrying will not change).
    Failed(String),
}

/// Which deliveries [`OutboxStore::list_deliveries`](super::OutboxStore::list_deliveries)
/// returns, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    /// Only these.
    pub status: Option<DeliveryStatus>,
    /// At most this many (default 100).
    pub limit: Option<usize>,
}
