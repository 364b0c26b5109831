//! The outbox of webhooks terapi sends to the application: each is stored before it is
//! sent, so it survives a restart and a receiver that is down; delivery retries with
//! backoff and gives up visibly (`FAILED`, replayable).

use time::OffsetDateTime;

/// Where an outbound webhook stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookStatus {
    /// Not delivered yet; will be (re)tried.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up on: attempts exhausted or refused (4xx other than 429).
    Failed,
}

impl WebhookStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookStatus::Pending => "PENDING",
            WebhookStatus::Delivered => "DELIVERED",
            WebhookStatus::Failed => "FAILED",
        }
    }

    /// Reads the stored form.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "PENDING" => Some(WebhookStatus::Pending),
            "DELIVERED" => Some(WebhookStatus::Delivered),
            "FAILED" => Some(WebhookStatus::Failed),
            _ => None,
        }
    }
}

/// One webhook in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundWebhook {
    /// Its id in the outbox.
    pub id: i64,
    /// Where it goes.
    pub url: String,
    /// The JSON body, exactly as it is sent (and signed).
    pub body: String,
    /// When it was queued.
    pub created_at: OffsetDateTime,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// Where it stands.
    pub status: WebhookStatus,
    /// When it is next tried (pending ones).
    pub next_attempt_at: Option<OffsetDateTime>,
    /// When it was delivered.
    pub delivered_at: Option<OffsetDateTime>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}
