//! The simulator's in-memory store, behind one mutex. Each resource module owns its
//! record type; this module holds them per account, plus the cross-cutting state
//! (tokens, rate-limit windows, idempotency records, faults, recorded requests, the
//! clock and the event log).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;

use checkr_openapi::Spec;

use crate::config::{AccountSeed, NodeSeed, OAuthApp, SimConfig};
use crate::contract::ContractReport;
use crate::delivery::Outbox;
use crate::error::ApiError;
use crate::faults::Fault;
use crate::oauth::AuthCode;
use crate::recording::RecordedRequest;
use crate::resources::candidates::Candidate;
use crate::resources::invitations::Invitation;
use crate::resources::packages::{self, Package};
use crate::resources::reports::Report;
use crate::resources::webhooks::Webhook;

/// Cheap handle to the simulator's shared state; the axum state.
#[derive(Clone)]
pub(crate) struct Sim(pub(crate) Arc<Shared>);

/// What the handle points at.
pub(crate) struct Shared {
    state: Mutex<State>,
    base_url: String,
    contract: Option<&'static Spec>,
}

impl Sim {
    /// Builds the shared state from a configuration, for a server reachable at
    /// `base_url`.
    pub(crate) fn new(config: &SimConfig, base_url: String) -> Self {
        let mut state = State {
            clock: Clock::default(),
            rate_limit: config.rate_limit_per_minute,
            duplicate_candidate_limit: config.duplicate_candidate_limit,
            oauth_deny: config.oauth_deny,
            oauth_apps: config.oauth_apps.clone(),
            tokens: HashMap::new(),
            accounts: HashMap::new(),
            requests: Vec::new(),
            faults: Vec::new(),
            rate_windows: HashMap::new(),
            idempotency: HashMap::new(),
            idempotency_in_flight: HashSet::new(),
            codes: HashMap::new(),
            events: Vec::new(),
            ids: IdGen::default(),
            contract: ContractReport::default(),
            seed_candidates: config.seed_candidates,
            outbox: Outbox::new(
                config.webhook_retry_schedule.clone(),
                config.webhook_queue_capacity,
                config.webhook_timeout,
            ),
        };
        for (token, seed) in &config.tokens {
            state.add_token(token, seed, None);
        }
        let base_url = config.public_base_url.clone().unwrap_or(base_url);
        Self(Arc::new(Shared {
            state: Mutex::new(state),
            base_url,
            contract: config.contract,
        }))
    }

    /// Locks the state. A poisoned lock (a panic while held) is recovered: the
    /// simulator keeps serving.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.0
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The description requests and responses are checked against, when the contract
    /// check is on.
    pub(crate) fn contract(&self) -> Option<&'static Spec> {
        self.0.contract
    }

    /// The base URL used in absolute links.
    pub(crate) fn base_url(&self) -> &str {
        &self.0.base_url
    }
}

/// A token and what it may do.
#[derive(Debug, Clone)]
pub(crate) struct TokenEntry {
    /// The account the token acts for.
    pub(crate) account_id: String,
    /// Revoked (deauthorized) tokens get 401.
    pub(crate) revoked: bool,
    /// The OAuth application that issued the token, if any.
    pub(crate) client_id: Option<String>,
}

/// A saved 2xx response to a `POST` with an `Idempotency-Key`.
#[derive(Debug, Clone)]
pub(crate) struct StoredResponse {
    pub(crate) status: StatusCode,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Vec<u8>,
    pub(crate) saved_at: OffsetDateTime,
}

/// An account and all its data.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) uri_name: String,
    pub(crate) hierarchy_enabled: bool,
    pub(crate) purpose: String,
    pub(crate) require_work_locations: bool,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) nodes: Vec<NodeSeed>,
    pub(crate) packages: Vec<Package>,
    pub(crate) candidates: Vec<Candidate>,
    pub(crate) invitations: Vec<Invitation>,
    pub(crate) reports: Vec<Report>,
    pub(crate) webhooks: Vec<Webhook>,
}

impl Account {
    /// The node with `custom_id`.
    pub(crate) fn node(&self, custom_id: &str) -> Option<&NodeSeed> {
        self.nodes.iter().find(|n| n.custom_id == custom_id)
    }

    /// The node and its ancestors, node first. Stops on cycles.
    pub(crate) fn node_lineage(&self, custom_id: &str) -> Vec<&NodeSeed> {
        let mut out: Vec<&NodeSeed> = Vec::new();
        let mut next = self.node(custom_id);
        while let Some(node) = next {
            if out.iter().any(|n| n.custom_id == node.custom_id) {
                break;
            }
            out.push(node);
            next = node.parent_custom_id.as_deref().and_then(|p| self.node(p));
        }
        out
    }

    /// Package slugs a node may order: its own and its ancestors', in package order.
    pub(crate) fn node_packages(&self, custom_id: &str) -> Vec<String> {
        let lineage = self.node_lineage(custom_id);
        self.packages
            .iter()
            .map(|p| p.slug.clone())
            .filter(|slug| lineage.iter().any(|n| n.packages.contains(slug)))
            .collect()
    }

    /// The package with `slug` (or id).
    pub(crate) fn package(&self, slug_or_id: &str) -> Option<&Package> {
        self.packages
            .iter()
            .find(|p| p.slug == slug_or_id || p.id == slug_or_id)
    }
}

/// Everything mutable.
pub(crate) struct State {
    pub(crate) clock: Clock,
    pub(crate) rate_limit: u32,
    pub(crate) duplicate_candidate_limit: usize,
    pub(crate) oauth_deny: bool,
    pub(crate) oauth_apps: Vec<OAuthApp>,
    pub(crate) tokens: HashMap<String, TokenEntry>,
    pub(crate) accounts: HashMap<String, Account>,
    pub(crate) requests: Vec<RecordedRequest>,
    pub(crate) faults: Vec<Fault>,
    /// Per rate-limit key: (minute number since the epoch, requests in it).
    pub(crate) rate_windows: HashMap<String, (i64, u32)>,
    pub(crate) idempotency: HashMap<(String, String), StoredResponse>,
    pub(crate) idempotency_in_flight: HashSet<(String, String)>,
    pub(crate) codes: HashMap<String, AuthCode>,
    pub(crate) events: Vec<Value>,
    pub(crate) ids: IdGen,
    /// What the contract check saw (empty when it is off).
    pub(crate) contract: ContractReport,
    /// Candidates every new account is seeded with.
    pub(crate) seed_candidates: usize,
    /// Webhook deliveries and their knobs.
    pub(crate) outbox: Outbox,
}

impl State {
    /// The simulator's current time.
    pub(crate) fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// The simulator's current time truncated to the second (how stored timestamps
    /// are kept, so filters agree with what responses show).
    pub(crate) fn now_s(&self) -> OffsetDateTime {
        let now = self.now();
        now.replace_nanosecond(0).unwrap_or(now)
    }

    /// The account `id` (401 if it vanished, which only a bug could cause).
    pub(crate) fn account(&self, id: &str) -> Result<&Account, ApiError> {
        self.accounts.get(id).ok_or_else(ApiError::unauthorized)
    }

    /// The account `id`, mutable.
    pub(crate) fn account_mut(&mut self, id: &str) -> Result<&mut Account, ApiError> {
        self.accounts.get_mut(id).ok_or_else(ApiError::unauthorized)
    }

    /// Creates the account `seed` describes, or finds it when its id exists already;
    /// returns its id.
    pub(crate) fn ensure_account(&mut self, seed: &AccountSeed) -> String {
        if let Some(id) = &seed.id
            && self.accounts.contains_key(id)
        {
            return id.clone();
        }
        let id = seed.id.clone().unwrap_or_else(|| self.ids.hex(24));
        let uri_name = slugify(&seed.name);
        let created_at = self.now() - time::Duration::days(400);
        let nodes = if seed.hierarchy_enabled && seed.nodes.is_empty() {
            NodeSeed::default_tree()
        } else {
            seed.nodes.clone()
        };
        let packages = packages::default_packages(&mut self.ids, &uri_name, created_at);
        let account = Account {
            id: id.clone(),
            name: seed.name.clone(),
            uri_name,
            hierarchy_enabled: seed.hierarchy_enabled,
            purpose: seed.purpose.clone(),
            require_work_locations: seed.require_work_locations,
            created_at,
            nodes,
            packages,
            candidates: Vec::new(),
            invitations: Vec::new(),
            reports: Vec::new(),
            webhooks: Vec::new(),
        };
        self.accounts.insert(id.clone(), account);
        if self.seed_candidates > 0 {
            crate::seed::seed_account(self, &id, self.seed_candidates);
        }
        id
    }

    /// Binds `token` to the account `seed` describes (a new binding replaces an old
    /// one, and un-revokes); returns the account id.
    pub(crate) fn add_token(
        &mut self,
        token: &str,
        seed: &AccountSeed,
        client_id: Option<String>,
    ) -> String {
        let account_id = self.ensure_account(seed);
        self.tokens.insert(
            token.to_string(),
            TokenEntry {
                account_id: account_id.clone(),
                revoked: false,
                client_id,
            },
        );
        account_id
    }

    /// The account of an active token.
    pub(crate) fn account_for_token(&self, token: &str) -> Option<&str> {
        self.tokens
            .get(token)
            .filter(|t| !t.revoked)
            .map(|t| t.account_id.as_str())
    }

    /// Records an event of `event_type` about `object` (webhook payload shape) and
    /// queues its deliveries: to the account's webhook subscriptions and to the webhook
    /// URL of every partner application the account is connected to (see
    /// [`crate::delivery`]).
    pub(crate) fn emit(&mut self, account_id: &str, event_type: &str, object: Value) {
        let mut targets: Vec<Target> = Vec::new();
        if let Some(account) = self.accounts.get(account_id) {
            for webhook in account.webhooks.iter().filter(|w| w.deleted_at.is_none()) {
                targets.push(Target {
                    url: webhook.webhook_url.clone(),
                    key: webhook.signing_key.clone(),
                    include_object: webhook.include_object,
                });
            }
        }
        for app in &self.oauth_apps {
            let connected = self.tokens.values().any(|t| {
                !t.revoked
                    && t.account_id == account_id
                    && t.client_id.as_deref() == Some(app.client_id.as_str())
            });
            if let (true, Some(url)) = (connected, &app.webhook_url) {
                targets.push(Target {
                    url: url.clone(),
                    key: app.client_secret.as_bytes().to_vec(),
                    include_object: true,
                });
            }
        }
        self.record_event(account_id, event_type, object, targets);
    }

    /// Records an event about the partner application `client_id` itself (e.g.
    /// `token.deauthorized`, whose `account_id` is the partner's own) and queues its
    /// delivery to that application's webhook URL, if it has one.
    pub(crate) fn emit_to_app(&mut self, client_id: &str, event_type: &str, object: Value) {
        let Some(app) = self.oauth_apps.iter().find(|a| a.client_id == client_id) else {
            return;
        };
        let account_id = app.partner_account_id.clone();
        let targets = app
            .webhook_url
            .iter()
            .map(|url| Target {
                url: url.clone(),
                key: app.client_secret.as_bytes().to_vec(),
                include_object: true,
            })
            .collect();
        self.record_event(&account_id, event_type, object, targets);
    }

    fn record_event(
        &mut self,
        account_id: &str,
        event_type: &str,
        object: Value,
        targets: Vec<Target>,
    ) {
        let id = self.ids.hex(24);
        let created_at = iso(self.now());
        let event = json!({
            "id": id,
            "object": "event",
            "type": event_type,
            "created_at": created_at,
            "webhook_url": null,
            "data": { "object": object },
            "account_id": account_id,
        });
        let mut seen: HashSet<String> = HashSet::new();
        for target in targets {
            if !seen.insert(target.url.clone()) {
                continue;
            }
            let mut payload = event.clone();
            payload["webhook_url"] = Value::String(target.url.clone());
            if !target.include_object {
                payload["data"]["object"] = summary(&payload["data"]["object"]);
            }
            let body = payload.to_string();
            self.outbox
                .enqueue(&payload, &target.url, &target.key, body);
        }
        self.events.push(event);
    }
}

/// Where an event is to be delivered.
struct Target {
    url: String,
    key: Vec<u8>,
    include_object: bool,
}

/// An object cut down to `id`, `object` and `uri` (an event without `include_object`);
/// objects without an id are kept whole.
fn summary(object: &Value) -> Value {
    if object.get("id").is_none() {
        return object.clone();
    }
    let mut out = serde_json::Map::new();
    for key in ["id", "object", "uri"] {
        if let Some(value) = object.get(key) {
            out.insert(key.to_string(), value.clone());
        }
    }
    Value::Object(out)
}

/// The simulator's clock: real time, shifted by an offset, or frozen.
#[derive(Debug, Clone, Default)]
pub(crate) struct Clock {
    offset: time::Duration,
    frozen: Option<OffsetDateTime>,
}

impl Clock {
    /// Now, by this clock, in UTC.
    pub(crate) fn now(&self) -> OffsetDateTime {
        match self.frozen {
            Some(t) => t,
            None => OffsetDateTime::now_utc() + self.offset,
        }
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub(crate) fn advance(&mut self, by: time::Duration) {
        match &mut self.frozen {
            Some(t) => *t += by,
            None => self.offset += by,
        }
    }

    /// Stops the clock at `at` (until [`Clock::unfreeze`]).
    pub(crate) fn freeze(&mut self, at: OffsetDateTime) {
        self.frozen = Some(at.to_offset(time::UtcOffset::UTC));
    }

    /// Lets the clock run again from where it stands.
    pub(crate) fn unfreeze(&mut self) {
        if let Some(t) = self.frozen.take() {
            self.offset = t - OffsetDateTime::now_utc();
        }
    }
}

/// Random identifiers (process-random keys from the standard library's hasher).
pub(crate) struct IdGen {
    keys: RandomState,
    counter: u64,
}

impl Default for IdGen {
    fn default() -> Self {
        Self {
            keys: RandomState::new(),
            counter: 0,
        }
    }
}

impl IdGen {
    /// 64 random-looking bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.counter = self.counter.wrapping_add(1);
        let mut hasher = self.keys.build_hasher();
        hasher.write_u64(self.counter);
        hasher.finish()
    }

    /// `len` lowercase hex digits, like Checkr's ids (24) or tokens (40).
    pub(crate) fn hex(&mut self, len: usize) -> String {
        let mut out = String::with_capacity(len + 16);
        while out.len() < len {
            out.push_str(&format!("{:016x}", self.next_u64()));
        }
        out.truncate(len);
        out
    }
}

/// ISO-8601 UTC to the second: `2018-02-02T16:39:00Z`.
pub(crate) fn iso(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `Some(t)` as an ISO string, `None` as JSON null.
pub(crate) fn iso_opt(t: Option<OffsetDateTime>) -> Value {
    t.map(|t| Value::String(iso(t))).unwrap_or(Value::Null)
}

/// Parses a date-time query parameter: RFC 3339 (`2024-01-02T03:04:05Z`) or a bare
/// date (`2024-01-02`, midnight UTC).
pub(crate) fn parse_time(value: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339) {
        return Some(t);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(value, &format)
        .ok()
        .map(|d| d.midnight().assume_utc())
}

/// `"Acme Staffing, Inc."` → `"acme-staffing-inc"`.
pub(crate) fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "account".to_string()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_format_and_parse() {
        let t = time::macros::datetime!(2018-02-02 16:39:00.25 UTC);
        assert_eq!(iso(t), "2018-02-02T16:39:00Z");
        assert_eq!(
            parse_time("2018-02-02T16:39:00Z").map(iso).as_deref(),
            Some("2018-02-02T16:39:00Z")
        );
        assert_eq!(
            parse_time("2018-02-02").map(iso).as_deref(),
            Some("2018-02-02T00:00:00Z")
        );
        assert!(parse_time("yesterday").is_none());
    }

    #[test]
    fn ids_are_hex_and_distinct() {
        let mut ids = IdGen::default();
        let a = ids.hex(24);
        let b = ids.hex(24);
        assert_eq!(a.len(), 24);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_eq!(ids.hex(40).len(), 40);
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("Acme Staffing, Inc."), "acme-staffing-inc");
        assert_eq!(slugify("!!"), "account");
    }
}
