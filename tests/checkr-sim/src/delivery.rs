//! Webhook delivery: every event the simulator's state changes produce is POSTed, signed,
//! to the URLs registered for it, by one background task per simulator.
//!
//! Where an event goes ([`crate::state::State::emit`]):
//!
//! * to every live `/v1/webhooks` subscription of the event's account, signed with the key
//!   of the token that registered it (the partner application's client secret when that
//!   token came from an OAuth exchange, the API key itself otherwise), with the whole
//!   object only when the subscription has `include_object`;
//! * to the partner application's webhook URL ([`crate::OAuthApp::webhook_url`],
//!   [`crate::Simulator::set_partner_webhook_url`]) when the account is connected to that
//!   application by an unrevoked OAuth token, signed with the client secret, always with
//!   the whole object; `token.deauthorized` goes only there.
//!
//! A URL is delivered to once per event. The body is the compact JSON
//! `{"id","object":"event","type","created_at","webhook_url","data":{"object"},"account_id"}`
//! with `webhook_url` the URL it is sent to; `X-Checkr-Signature` is
//! [`crate::sign_webhook`] of exactly those bytes; the `User-Agent` starts with
//! `Checkr-Webhook/`. Basic credentials in the URL (`https://user:pass@host/`) are sent as
//! Basic authentication.
//!
//! Any 2xx acknowledges. Anything else (another status, a refused connection, a timeout)
//! is retried after the next delay of [`crate::SimConfig::webhook_retry_schedule`]
//! (Checkr's: every minute for 10 minutes, then hourly for 24 hours; real time, not the
//! simulator's clock); when the schedule is used up the delivery is `failed`. Deliveries
//! may overlap (up to [`MAX_IN_FLIGHT`] at once), so, as at Checkr, events may arrive out
//! of order. At most [`crate::SimConfig::webhook_queue_capacity`] deliveries wait at once;
//! beyond that a delivery is recorded as `dropped` and never sent. The records of the
//! last [`RETAINED`] finished deliveries are kept for inspection.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::state::Sim;

/// How many deliveries may be on the wire at once.
pub const MAX_IN_FLIGHT: usize = 4;

/// How many finished (delivered, failed, dropped) deliveries are remembered; older ones
/// are forgotten, oldest first.
pub const RETAINED: usize = 20_000;

/// Checkr's retry schedule: the delays after the first, second, … failed attempt (every
/// minute for 10 minutes, then every hour for 24 hours).
pub fn checkr_retry_schedule() -> Vec<Duration> {
    let mut schedule = vec![Duration::from_secs(60); 10];
    schedule.extend(std::iter::repeat_n(Duration::from_secs(3600), 24));
    schedule
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its first attempt or for a retry (or on the wire).
    Pending,
    /// A 2xx answered it.
    Delivered,
    /// Every attempt of the retry schedule failed.
    Failed,
    /// The queue was full; never sent.
    Dropped,
}

/// One POST of a delivery.
#[derive(Debug, Clone)]
pub struct DeliveryAttempt {
    /// The HTTP status received; `None` when there was no answer (see `error`).
    pub status: Option<u16>,
    /// Why there was no answer (connection refused, timeout, …).
    pub error: Option<String>,
    /// The `X-Checkr-Signature` sent.
    pub signature: String,
    /// Whether the signature was forged on purpose
    /// ([`crate::Simulator::forge_next_webhook_signature`]).
    pub forged: bool,
    /// Whether this was the deliberate second copy of a delivered event
    /// ([`crate::Simulator::duplicate_next_webhook`]).
    pub duplicate: bool,
    /// When the attempt was sent.
    pub sent_at: std::time::SystemTime,
}

impl DeliveryAttempt {
    /// Whether the receiver acknowledged it (2xx).
    pub fn acknowledged(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// One event on its way to one URL, with every attempt so far.
#[derive(Debug, Clone)]
pub struct WebhookDelivery {
    /// The delivery's own id (not Checkr's; for the simulator's records).
    pub id: u64,
    /// The event's id (`id` of the body).
    pub event_id: String,
    /// The event's type, e.g. `report.completed`.
    pub event_type: String,
    /// The event's `account_id`.
    pub account_id: String,
    /// Where it is sent.
    pub url: String,
    /// The exact body sent (compact JSON).
    pub body: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Every POST so far, in order.
    pub attempts: Vec<DeliveryAttempt>,
}

impl WebhookDelivery {
    /// The body as JSON.
    pub fn payload(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// A delivery with what the worker needs besides the public record.
pub(crate) struct Queued {
    pub(crate) record: WebhookDelivery,
    key: Vec<u8>,
    due: Instant,
    in_flight: bool,
}

/// The delivery side of the state: records, knobs, the schedule.
pub(crate) struct Outbox {
    pub(crate) deliveries: Vec<Queued>,
    pub(crate) schedule: Vec<Duration>,
    pub(crate) capacity: usize,
    pub(crate) timeout: Duration,
    pub(crate) forge_next: bool,
    pub(crate) duplicate_next: bool,
    next_id: u64,
    /// How many deliveries are pending.
    waiting: usize,
    pub(crate) wake: Arc<Notify>,
}

impl Outbox {
    /// An empty outbox.
    pub(crate) fn new(schedule: Vec<Duration>, capacity: usize, timeout: Duration) -> Self {
        Self {
            deliveries: Vec::new(),
            schedule,
            capacity,
            timeout,
            forge_next: false,
            duplicate_next: false,
            next_id: 0,
            waiting: 0,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Queues `body` for `url`, signed with `key`.
    pub(crate) fn enqueue(&mut self, event: &Value, url: &str, key: &[u8], body: String) {
        self.next_id += 1;
        let status = if self.waiting >= self.capacity {
            eprintln!(
                "checkr-sim: webhook queue full ({}); dropping a delivery to {url}",
                self.waiting
            );
            DeliveryStatus::Dropped
        } else {
            self.waiting += 1;
            DeliveryStatus::Pending
        };
        let text = |field: &str| event[field].as_str().unwrap_or_default().to_string();
        self.deliveries.push(Queued {
            record: WebhookDelivery {
                id: self.next_id,
                event_id: text("id"),
                event_type: text("type"),
                account_id: text("account_id"),
                url: url.to_string(),
                body,
                status,
                attempts: Vec::new(),
            },
            key: key.to_vec(),
            due: Instant::now(),
            in_flight: false,
        });
        self.forget_old();
        self.wake.notify_one();
    }

    /// Whether any delivery is still pending.
    pub(crate) fn busy(&self) -> bool {
        self.waiting > 0
    }

    /// Forgets the oldest finished deliveries beyond [`RETAINED`].
    fn forget_old(&mut self) {
        let finished = self.deliveries.len().saturating_sub(self.waiting);
        if finished <= RETAINED {
            return;
        }
        let mut excess = finished - RETAINED;
        self.deliveries.retain(|d| {
            if excess > 0 && d.record.status != DeliveryStatus::Pending {
                excess -= 1;
                false
            } else {
                true
            }
        });
    }
}

/// What one send needs.
struct Job {
    id: u64,
    url: String,
    body: String,
    key: Vec<u8>,
    forge: bool,
    duplicate: bool,
    timeout: Duration,
}

/// Runs the deliveries of `sim` until aborted.
pub(crate) async fn run(sim: Sim) {
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!(
            "Checkr-Webhook/1.0 (checkr-sim ",
            env!("CARGO_PKG_VERSION"),
            ")"
        ))
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            eprintln!("checkr-sim: no HTTP client for webhooks: {e}");
            return;
        }
    };
    let wake = sim.lock().outbox.wake.clone();
    let mut running: JoinSet<()> = JoinSet::new();
    loop {
        let (jobs, next_due) = take_due(&sim, MAX_IN_FLIGHT.saturating_sub(running.len()));
        for job in jobs {
            running.spawn(send(sim.clone(), client.clone(), job));
        }
        let sleep = tokio::time::sleep_until(next_due.unwrap_or_else(far_future));
        tokio::select! {
            _ = wake.notified() => {}
            _ = sleep => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}

/// Marks up to `room` due deliveries in flight and returns them, with the next due time
/// of the rest.
fn take_due(sim: &Sim, room: usize) -> (Vec<Job>, Option<Instant>) {
    let mut state = sim.lock();
    let outbox = &mut state.outbox;
    let now = Instant::now();
    let mut jobs = Vec::new();
    let mut next_due: Option<Instant> = None;
    let timeout = outbox.timeout;
    for i in 0..outbox.deliveries.len() {
        let queued = &outbox.deliveries[i];
        if queued.in_flight || queued.record.status != DeliveryStatus::Pending {
            continue;
        }
        if queued.due > now || jobs.len() >= room {
            if queued.due > now {
                next_due = Some(next_due.map_or(queued.due, |d| d.min(queued.due)));
            }
            continue;
        }
        let forge = std::mem::take(&mut outbox.forge_next);
        let duplicate = !forge && std::mem::take(&mut outbox.duplicate_next);
        let queued = &mut outbox.deliveries[i];
        queued.in_flight = true;
        jobs.push(Job {
            id: queued.record.id,
            url: queued.record.url.clone(),
            body: queued.record.body.clone(),
            key: queued.key.clone(),
            forge,
            duplicate,
            timeout,
        });
    }
    (jobs, next_due)
}

/// One POST; the attempt it makes.
async fn post(client: &reqwest::Client, job: &Job, duplicate: bool) -> DeliveryAttempt {
    let signature = if job.forge {
        let mut key = job.key.clone();
        key.extend_from_slice(b"-forged");
        crate::sign_webhook(&key, job.body.as_bytes())
    } else {
        crate::sign_webhook(&job.key, job.body.as_bytes())
    };
    let sent_at = std::time::SystemTime::now();
    let mut request = client
        .post(&job.url)
        .timeout(job.timeout)
        .header("content-type", "application/json")
        .header("x-checkr-signature", &signature)
        .body(job.body.clone());
    if let Ok(url) = url::Url::parse(&job.url)
        && !url.username().is_empty()
    {
        request = request.basic_auth(url.username(), url.password());
    }
    let (status, error) = match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let _ = response.bytes().await;
            (Some(status), None)
        }
        Err(e) => (None, Some(e.to_string())),
    };
    DeliveryAttempt {
        status,
        error,
        signature,
        forged: job.forge,
        duplicate,
        sent_at,
    }
}

/// Sends a job (twice when it is to be duplicated and the first copy was acknowledged)
/// and records the outcome.
async fn send(sim: Sim, client: reqwest::Client, job: Job) {
    let first = post(&client, &job, false).await;
    let mut attempts = vec![first];
    if job.duplicate && attempts[0].acknowledged() {
        attempts.push(post(&client, &job, true).await);
    }
    let mut state = sim.lock();
    let outbox = &mut state.outbox;
    let schedule = outbox.schedule.clone();
    if let Some(queued) = outbox.deliveries.iter_mut().find(|d| d.record.id == job.id) {
        let delivered = attempts[0].acknowledged();
        queued.record.attempts.extend(attempts);
        queued.in_flight = false;
        if delivered {
            queued.record.status = DeliveryStatus::Delivered;
            outbox.waiting = outbox.waiting.saturating_sub(1);
        } else {
            let failures = queued
                .record
                .attempts
                .iter()
                .filter(|a| !a.acknowledged())
                .count();
            match schedule.get(failures.saturating_sub(1)) {
                Some(delay) => queued.due = Instant::now() + *delay,
                None => {
                    queued.record.status = DeliveryStatus::Failed;
                    outbox.waiting = outbox.waiting.saturating_sub(1);
                }
            }
        }
    }
    outbox.wake.notify_one();
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_full_queue_drops_and_finished_records_are_forgotten_oldest_first() {
        let mut outbox = Outbox::new(Vec::new(), 2, Duration::from_secs(1));
        let event = json!({"id": "e1", "type": "candidate.created", "account_id": "a"});
        for _ in 0..3 {
            outbox.enqueue(&event, "http://127.0.0.1:9/", b"k", event.to_string());
        }
        let statuses: Vec<DeliveryStatus> =
            outbox.deliveries.iter().map(|d| d.record.status).collect();
        assert_eq!(
            statuses,
            [
                DeliveryStatus::Pending,
                DeliveryStatus::Pending,
                DeliveryStatus::Dropped
            ]
        );
        assert!(outbox.busy());
        assert_eq!(outbox.deliveries[2].record.event_id, "e1");

        // Beyond RETAINED finished records, the oldest finished ones go; pending stay.
        for _ in 0..RETAINED + 10 {
            outbox.enqueue(&event, "http://127.0.0.1:9/", b"k", String::new());
        }
        assert_eq!(outbox.deliveries.len(), RETAINED + 2);
        assert_eq!(outbox.deliveries[0].record.id, 1);
        assert_eq!(outbox.deliveries[1].record.id, 2);
        assert_eq!(outbox.deliveries[2].record.id, 14);
    }
}
