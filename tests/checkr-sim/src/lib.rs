//! A loopback simulator of the Checkr API, for terapi's tests and demo.
//!
//! [`Simulator::start`] serves a stateful, in-memory imitation of Checkr on
//! `127.0.0.1` (a random port): Basic-auth tokens bound to accounts, `GET /v1/account`,
//! candidates, invitations, reports, packages, hierarchy nodes and webhooks under
//! `/v1`, Checkr's page-number pagination, rate-limit headers and 429s,
//! `Idempotency-Key` replay, and the partner OAuth flow (`/authorize/{client_id}`,
//! `/oauth/tokens`, `/oauth/deauthorize`). Tests steer it with hooks (complete an
//! invitation or a report, expire OAuth codes, move the clock, revoke tokens, inject
//! faults) and inspect every request it received.
//!
//! For syncs it can seed every account with candidates, invitations and reports
//! ([`SimConfig::with_seed_candidates`], `--seed-candidates N`) and change them over time
//! ([`SimConfig::with_churn_every`], [`Simulator::churn`]) or on request (the `/_sim`
//! control endpoints: seed more, churn, complete a report or an invitation, expire an
//! invitation, delete a candidate).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use checkr_sim::{AccountSeed, SimConfig, Simulator};
//! let sim = Simulator::start(SimConfig::default().with_token("tok", AccountSeed::default())).await?;
//! // point the client at sim.base_url(), authenticate with `Basic base64("tok:")`
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! With [`SimConfig::with_contract_check`], every request and response is also validated
//! against Checkr's published OpenAPI description (see [`contract`]); the end-to-end
//! suite runs that way.
//!
//! Behaviour where Checkr documents nothing is described on the item concerned:
//! duplicate candidates in [`SimConfig::duplicate_candidate_limit`], idempotency in
//! [`Simulator`], redirect-URI matching in [`OAuthApp::redirect_uris`].

mod auth;
mod config;
pub mod contract;
mod control;
pub mod delivery;
mod error;
mod faults;
mod idempotency;
mod oauth;
mod pagination;
mod params;
mod ratelimit;
mod recording;
mod resources;
mod seed;
mod signature;
mod state;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use checkr_openapi;
pub use config::{AccountSeed, NodeSeed, OAuthApp, SimConfig};
pub use contract::ContractReport;
pub use delivery::{DeliveryAttempt, DeliveryStatus, WebhookDelivery, checkr_retry_schedule};
pub use faults::{Fault, FaultKind};
pub use recording::RecordedRequest;
pub use signature::sign_webhook;

use state::Sim;

/// A running simulator. Dropping it stops the server (without waiting);
/// [`Simulator::shutdown`] stops it and waits.
///
/// Idempotency: the first 2xx response to a `POST` carrying an `Idempotency-Key`
/// is saved per (Authorization header, key) and replayed verbatim (status,
/// content type, body) for 24 hours of simulator time, whatever the new request's
/// body; errors are not saved; a second request while the first is still being
/// handled gets 409.
pub struct Simulator {
    sim: Sim,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    /// Changes the accounts every [`SimConfig::churn_every`], when set.
    churn_task: Option<JoinHandle<()>>,
    /// Delivers webhooks.
    delivery_task: Option<JoinHandle<()>>,
}

impl Simulator {
    /// Starts a simulator on `127.0.0.1` at a random port.
    pub async fn start(config: SimConfig) -> std::io::Result<Simulator> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config).await
    }

    /// Starts a simulator on `addr` (port 0: a random port).
    pub async fn start_on(addr: SocketAddr, config: SimConfig) -> std::io::Result<Simulator> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let sim = Sim::new(&config, format!("http://{addr}"));
        let app = resources::router(sim.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let server = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = rx.await;
            });
            if let Err(e) = server.await {
                eprintln!("checkr-sim: server error: {e}");
            }
        });
        let churn_task = config.churn_every.map(|every| {
            let sim = sim.clone();
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(every.max(Duration::from_millis(10)));
                ticks.tick().await;
                loop {
                    ticks.tick().await;
                    let mut state = sim.lock();
                    let accounts: Vec<String> = state.accounts.keys().cloned().collect();
                    for account in accounts {
                        let _ = seed::churn(&mut state, &account);
                    }
                }
            })
        });
        let delivery_task = Some(tokio::spawn(delivery::run(sim.clone())));
        Ok(Simulator {
            sim,
            addr,
            shutdown: Some(tx),
            task: Some(task),
            churn_task,
            delivery_task,
        })
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.sim.lock().requests.clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.sim.lock().requests.clear();
    }

    /// Binds `token` to the account `account` describes (an existing account when its
    /// id names one; a new one otherwise), replacing any earlier binding and
    /// un-revoking it. Returns the account id.
    pub fn add_token(&self, token: &str, account: AccountSeed) -> String {
        self.sim.lock().add_token(token, &account, None)
    }

    /// Revokes `token`: from now on it gets 401.
    pub fn revoke_token(&self, token: &str) {
        if let Some(entry) = self.sim.lock().tokens.get_mut(token) {
            entry.revoked = true;
        }
    }

    /// The account id of an active token.
    pub fn account_id(&self, token: &str) -> Option<String> {
        self.sim.lock().account_for_token(token).map(str::to_string)
    }

    /// Queues a fault for the next matching requests.
    pub fn inject_fault(&self, fault: Fault) {
        self.sim.lock().faults.push(fault);
    }

    /// Removes all queued faults.
    pub fn clear_faults(&self) {
        self.sim.lock().faults.clear();
    }

    /// Changes the per-minute rate limit.
    pub fn set_rate_limit(&self, per_minute: u32) {
        self.sim.lock().rate_limit = per_minute;
    }

    /// Makes the authorize page deny (true) or approve (false) requests.
    pub fn set_oauth_deny(&self, deny: bool) {
        self.sim.lock().oauth_deny = deny;
    }

    /// Marks every authorization code issued so far as expired.
    pub fn expire_codes(&self) {
        for code in self.sim.lock().codes.values_mut() {
            code.expired = true;
        }
    }

    /// The simulator's current time (UTC).
    pub fn now(&self) -> OffsetDateTime {
        self.sim.lock().now()
    }

    /// Moves the simulator's clock forward by `by` (codes, invitations, idempotency
    /// records and rate-limit windows follow it).
    pub fn advance_clock(&self, by: Duration) {
        self.sim
            .lock()
            .clock
            .advance(time::Duration::try_from(by).unwrap_or(time::Duration::MAX));
    }

    /// Stops the simulator's clock at `at` until [`Simulator::unfreeze_clock`].
    pub fn freeze_clock(&self, at: OffsetDateTime) {
        self.sim.lock().clock.freeze(at);
    }

    /// Lets a frozen clock run again from where it stands.
    pub fn unfreeze_clock(&self) {
        self.sim.lock().clock.unfreeze();
    }

    /// Completes a pending invitation: status `completed`, `completed_at` set, and a
    /// pending report created for its candidate and package. Returns the report id;
    /// `None` if there is no such invitation or it is not pending.
    pub fn complete_invitation(&self, id: &str) -> Option<String> {
        resources::invitations::complete(&mut self.sim.lock(), id)
    }

    /// Completes a pending report with `result` (`"clear"` or `"consider"`), setting
    /// `completed_at`, `turnaround_time` and `assessment` (`eligible`/`review`).
    /// False if there is no such pending report or the result is neither.
    pub fn complete_report(&self, id: &str, result: &str) -> bool {
        resources::reports::complete(&mut self.sim.lock(), id, result)
    }

    /// The events the simulator generated so far (webhook payloads:
    /// `{"id","object":"event","type","created_at","webhook_url":null,"data":{"object"},"account_id"}`),
    /// e.g. `candidate.created`, `invitation.completed`, `report.completed`,
    /// `token.deauthorized`.
    pub fn events(&self) -> Vec<Value> {
        self.sim.lock().events.clone()
    }

    /// What the contract check saw so far (all zero and empty when it is off).
    pub fn contract_report(&self) -> ContractReport {
        self.sim.lock().contract.clone()
    }

    /// Panics listing every contract violation so far (operation, JSON pointer, message).
    pub fn assert_contract(&self) {
        let report = self.contract_report();
        if !report.violations.is_empty() {
            let list: Vec<String> = report.violations.iter().map(|v| format!("  {v}")).collect();
            panic!(
                "the simulator saw requests or responses Checkr's OpenAPI description does not \
                 allow ({}):\n{}",
                report.summary(),
                list.join("\n")
            );
        }
    }

    /// Gives the account of `token` `n` more candidates, with invitations and reports,
    /// created one second apart and ending now. By position `i` among the `n`: no
    /// invitation (`i % 5 == 0`), a pending invitation (1), a completed invitation with a
    /// pending report (2), a completed invitation with a complete report (3), an expired
    /// invitation (4, created eight days earlier). False for an unknown token.
    pub fn seed_candidates(&self, token: &str, n: usize) -> bool {
        let mut state = self.sim.lock();
        let Some(account) = state.account_for_token(token).map(str::to_string) else {
            return false;
        };
        seed::seed_account(&mut state, &account, n);
        true
    }

    /// Changes the account of `token` a little, as a live account changes: completes the
    /// oldest pending report, completes the oldest pending invitation (creating a pending
    /// report), updates the oldest candidate's phone number, creates a candidate. Returns
    /// the ids changed (`{"report_completed", "invitation_completed", "report_created",
    /// "candidate_updated", "candidate_created"}`, `null` where there was nothing to
    /// change); `None` for an unknown token. `POST /_sim/churn` does the same.
    pub fn churn(&self, token: &str) -> Option<Value> {
        let mut state = self.sim.lock();
        let account = state.account_for_token(token)?.to_string();
        seed::churn(&mut state, &account).ok()
    }

    /// Makes a pending invitation (of the account of `token`) expire now. False if there
    /// is no such pending invitation.
    pub fn expire_invitation(&self, token: &str, id: &str) -> bool {
        let mut state = self.sim.lock();
        let Some(account) = state.account_for_token(token).map(str::to_string) else {
            return false;
        };
        seed::expire_invitation(&mut state, &account, id).is_ok()
    }

    /// Removes a candidate of the account of `token`, with its invitations and reports.
    /// False if there is no such candidate.
    pub fn delete_candidate(&self, token: &str, id: &str) -> bool {
        let mut state = self.sim.lock();
        let Some(account) = state.account_for_token(token).map(str::to_string) else {
            return false;
        };
        seed::delete_candidate(&mut state, &account, id).is_ok()
    }

    /// Sets (or, with `None`, clears) the webhook URL of the partner application
    /// `client_id` (see [`OAuthApp::webhook_url`]). False for an unknown application.
    pub fn set_partner_webhook_url(&self, client_id: &str, url: Option<&str>) -> bool {
        let mut state = self.sim.lock();
        match state
            .oauth_apps
            .iter_mut()
            .find(|a| a.client_id == client_id)
        {
            Some(app) => {
                app.webhook_url = url.map(str::to_string);
                true
            }
            None => false,
        }
    }

    /// The customer of `token` disconnects the partner application (in Checkr's
    /// dashboard): the token is revoked and `token.deauthorized` is emitted, as
    /// `POST /oauth/deauthorize` does (`POST /_sim/disconnect` does the same). False for
    /// an unknown or already revoked token.
    pub fn disconnect(&self, token: &str) -> bool {
        oauth::deauthorize_token(&mut self.sim.lock(), token)
    }

    /// Every webhook delivery so far (pending ones included), in the order the events
    /// happened, with their attempts.
    pub fn webhook_deliveries(&self) -> Vec<WebhookDelivery> {
        self.sim
            .lock()
            .outbox
            .deliveries
            .iter()
            .map(|d| d.record.clone())
            .collect()
    }

    /// Waits until no delivery is pending (all delivered, failed or dropped); false if
    /// some still are after `timeout`.
    pub async fn wait_for_webhooks(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if !self.sim.lock().outbox.busy() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Signs the next webhook attempt with a wrong key, once (its retry, if the receiver
    /// refuses it, is signed correctly). The attempt is recorded with `forged: true`.
    pub fn forge_next_webhook_signature(&self) {
        self.sim.lock().outbox.forge_next = true;
    }

    /// Sends the next webhook delivery twice, once: when its first attempt is
    /// acknowledged, the same body with the same signature follows at once (recorded with
    /// `duplicate: true`), as Checkr's retries may.
    pub fn duplicate_next_webhook(&self) {
        self.sim.lock().outbox.duplicate_next = true;
    }

    /// Stops the server and waits for it (at most 5 seconds).
    pub async fn shutdown(mut self) {
        if let Some(churn) = self.churn_task.take() {
            churn.abort();
        }
        if let Some(delivery) = self.delivery_task.take() {
            delivery.abort();
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for Simulator {
    /// Stops the server. With the contract check on, reports what it checked (on stderr)
    /// and panics if there were violations, unless the thread is already panicking.
    fn drop(&mut self) {
        if let Some(churn) = self.churn_task.take() {
            churn.abort();
        }
        if let Some(delivery) = self.delivery_task.take() {
            delivery.abort();
        }
        if self.sim.contract().is_some() {
            eprintln!("checkr-sim {}", self.contract_report().summary());
            if !std::thread::panicking() {
                self.assert_contract();
            }
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
