//! How a simulator starts: its accounts and tokens, its OAuth applications and its
//! limits.

/// The simulator's configuration. Build it with [`SimConfig::default`] and the
/// `with_*` methods, or set the public fields directly.
///
/// ```
/// use checkr_sim::{AccountSeed, OAuthApp, SimConfig};
/// let config = SimConfig::default()
///     .with_token("tok", AccountSeed::new("Acme Staffing"))
///     .with_token("tok-h", AccountSeed::new("Hier Corp").with_hierarchy(true))
///     .with_oauth_app(OAuthApp::new("cid", "secret", "https://app.example.com/callback"))
///     .with_rate_limit(600);
/// ```
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// API tokens seeded at start, each bound to an account. Tokens whose seeds carry
    /// the same [`AccountSeed::id`] share one account (and its data).
    pub tokens: Vec<(String, AccountSeed)>,
    /// Registered partner OAuth applications.
    pub oauth_apps: Vec<OAuthApp>,
    /// When true, the authorize page denies every request: it redirects with
    /// `error=access_denied`. Can be changed at run time with
    /// [`crate::Simulator::set_oauth_deny`].
    pub oauth_deny: bool,
    /// Requests allowed per token per (wall-clock) minute. Checkr's is 1200.
    pub rate_limit_per_minute: u32,
    /// How many candidates with the same identity (case-insensitive email and the same
    /// `custom_id`, absent counting as one value) may be created within 24 hours;
    /// the next one is a 409 "Duplicate candidate detected". Checkr documents 2.
    pub duplicate_candidate_limit: usize,
    /// Base URL used in `next_href`/`previous_href` links instead of the bound
    /// address (e.g. when the simulator sits behind a proxy). No trailing slash.
    pub public_base_url: Option<String>,
    /// Checkr's published API description, when every request and response is to be
    /// checked against it (see [`SimConfig::with_contract_check`]).
    pub contract: Option<&'static checkr_openapi::Spec>,
    /// How many candidates (with invitations and reports) every account gets when it is
    /// created, seeded accounts and OAuth-connected ones alike. Default 0.
    pub seed_candidates: usize,
    /// When set, every account changes this often (one step of
    /// [`crate::Simulator::churn`]: a report completes, an invitation completes, a
    /// candidate is updated, one is created). Default: never.
    pub churn_every: Option<std::time::Duration>,
    /// The delays between a webhook delivery's failed attempts (real time); when they are
    /// used up the delivery has failed. Default: Checkr's
    /// ([`crate::checkr_retry_schedule`]: every minute for 10 minutes, then hourly for 24
    /// hours). Tests use short ones ([`SimConfig::with_webhook_retry_schedule`]).
    pub webhook_retry_schedule: Vec<std::time::Duration>,
    /// How many webhook deliveries may wait at once; beyond that they are dropped
    /// (recorded as such). Default 10,000.
    pub webhook_queue_capacity: usize,
    /// How long one delivery attempt may take before it counts as failed. Default 10 s.
    pub webhook_timeout: std::time::Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            tokens: Vec::new(),
            oauth_apps: Vec::new(),
            oauth_deny: false,
            rate_limit_per_minute: 1200,
            duplicate_candidate_limit: 2,
            public_base_url: None,
            contract: None,
            seed_candidates: 0,
            churn_every: None,
            webhook_retry_schedule: crate::delivery::checkr_retry_schedule(),
            webhook_queue_capacity: 10_000,
            webhook_timeout: std::time::Duration::from_secs(10),
        }
    }
}

impl SimConfig {
    /// Seeds an API token bound to the account described by `account`.
    pub fn with_token(mut self, token: impl Into<String>, account: AccountSeed) -> Self {
        self.tokens.push((token.into(), account));
        self
    }

    /// Registers a partner OAuth application.
    pub fn with_oauth_app(mut self, app: OAuthApp) -> Self {
        self.oauth_apps.push(app);
        self
    }

    /// Makes the authorize page deny (or approve) every request.
    pub fn with_oauth_deny(mut self, deny: bool) -> Self {
        self.oauth_deny = deny;
        self
    }

    /// Sets the per-minute rate limit.
    pub fn with_rate_limit(mut self, per_minute: u32) -> Self {
        self.rate_limit_per_minute = per_minute;
        self
    }

    /// Sets how many same-identity candidates may be created per 24 hours.
    pub fn with_duplicate_candidate_limit(mut self, limit: usize) -> Self {
        self.duplicate_candidate_limit = limit;
        self
    }

    /// Turns the contract check on: every request is validated against Checkr's published
    /// OpenAPI description (`../shared/checkr-openapi.yaml` beside the repository, or
    /// `$CHECKR_OPENAPI_SPEC`) and every response against the schema for its status; see
    /// [`crate::Simulator::contract_report`]. A simulator dropped with violations panics,
    /// failing the test that caused them.
    ///
    /// # Panics
    ///
    /// When the description is missing or unreadable, saying where it was looked for: a
    /// test that asks for the check must not pass without it.
    pub fn with_contract_check(self) -> Self {
        self.with_contract(crate::contract::required_spec())
    }

    /// Turns the contract check on with a description already loaded.
    pub fn with_contract(mut self, spec: &'static checkr_openapi::Spec) -> Self {
        self.contract = Some(spec);
        self
    }

    /// Gives every account `n` candidates with invitations and reports when it is
    /// created (see [`crate::Simulator::seed_candidates`] for the mix).
    pub fn with_seed_candidates(mut self, n: usize) -> Self {
        self.seed_candidates = n;
        self
    }

    /// Changes every account every `every` (see [`crate::Simulator::churn`]).
    pub fn with_churn_every(mut self, every: std::time::Duration) -> Self {
        self.churn_every = Some(every);
        self
    }

    /// Sets the delays between failed webhook delivery attempts (see
    /// [`SimConfig::webhook_retry_schedule`]).
    pub fn with_webhook_retry_schedule(mut self, delays: Vec<std::time::Duration>) -> Self {
        self.webhook_retry_schedule = delays;
        self
    }

    /// Sets the base URL used in pagination links.
    pub fn with_public_base_url(mut self, url: impl Into<String>) -> Self {
        self.public_base_url = Some(url.into().trim_end_matches('/').to_string());
        self
    }
}

/// Describes an account to create (or, when its `id` names an existing account, to
/// reuse).
#[derive(Debug, Clone)]
pub struct AccountSeed {
    /// The account id (24 lowercase hex digits at Checkr). `None`: a fresh random id,
    /// so a fresh account.
    pub id: Option<String>,
    /// Display name, also the company name.
    pub name: String,
    /// Whether Account Hierarchy (nodes) is enabled: `GET /v1/nodes` works and
    /// `POST /v1/invitations` requires `node`. Shown as `segmentation_enabled`.
    pub hierarchy_enabled: bool,
    /// Permissible purpose: `employment`, `business`, `insurance` or `tenant`.
    pub purpose: String,
    /// The hierarchy's nodes, parents before children. Empty: a default tree
    /// (see [`NodeSeed::default_tree`]) when hierarchy is enabled.
    pub nodes: Vec<NodeSeed>,
    /// Whether `POST /v1/invitations` requires `work_locations` (the OpenAPI marks it
    /// required for hierarchy-enabled accounts; real accounts vary). Default false.
    pub require_work_locations: bool,
}

impl Default for AccountSeed {
    fn default() -> Self {
        Self {
            id: None,
            name: "Acme Staffing".to_string(),
            hierarchy_enabled: false,
            purpose: "employment".to_string(),
            nodes: Vec::new(),
            require_work_locations: false,
        }
    }
}

impl AccountSeed {
    /// An account named `name`, no hierarchy, random id.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Fixes the account id (tokens seeded with the same id share the account).
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Enables or disables Account Hierarchy.
    pub fn with_hierarchy(mut self, enabled: bool) -> Self {
        self.hierarchy_enabled = enabled;
        self
    }

    /// Sets the hierarchy's nodes (parents before children).
    pub fn with_nodes(mut self, nodes: Vec<NodeSeed>) -> Self {
        self.nodes = nodes;
        self
    }

    /// Sets the permissible purpose.
    pub fn with_purpose(mut self, purpose: impl Into<String>) -> Self {
        self.purpose = purpose.into();
        self
    }

    /// Makes invitations require `work_locations`.
    pub fn with_required_work_locations(mut self, required: bool) -> Self {
        self.require_work_locations = required;
        self
    }
}

/// A node of an account hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSeed {
    /// Customer-defined unique id of the node.
    pub custom_id: String,
    /// Display name.
    pub name: String,
    /// Customer-defined level label, e.g. `region`.
    pub tier: String,
    /// `custom_id` of the parent; `None` for a top-level node.
    pub parent_custom_id: Option<String>,
    /// Package slugs assigned directly to this node. A node can order its own packages
    /// and its ancestors'.
    pub packages: Vec<String>,
}

impl NodeSeed {
    /// A node.
    pub fn new(
        custom_id: impl Into<String>,
        name: impl Into<String>,
        tier: impl Into<String>,
        parent_custom_id: Option<&str>,
        packages: &[&str],
    ) -> Self {
        Self {
            custom_id: custom_id.into(),
            name: name.into(),
            tier: tier.into(),
            parent_custom_id: parent_custom_id.map(str::to_string),
            packages: packages.iter().map(|p| p.to_string()).collect(),
        }
    }

    /// The default hierarchy: a company root holding all four packages, two regions
    /// and four branches (`acme-hq` → `west` → `sf-branch`, `la-branch`; `acme-hq` →
    /// `east` → `nyc-branch`, `bos-branch`).
    pub fn default_tree() -> Vec<NodeSeed> {
        vec![
            NodeSeed::new(
                "acme-hq",
                "Acme Staffing HQ",
                "company",
                None,
                &[
                    "tasker_standard",
                    "tasker_pro",
                    "driver_standard",
                    "driver_pro",
                ],
            ),
            NodeSeed::new("west", "West Region", "region", Some("acme-hq"), &[]),
            NodeSeed::new("east", "East Region", "region", Some("acme-hq"), &[]),
            NodeSeed::new("sf-branch", "San Francisco", "branch", Some("west"), &[]),
            NodeSeed::new("la-branch", "Los Angeles", "branch", Some("west"), &[]),
            NodeSeed::new("nyc-branch", "New York", "branch", Some("east"), &[]),
            NodeSeed::new("bos-branch", "Boston", "branch", Some("east"), &[]),
        ]
    }
}

/// A registered partner OAuth application.
#[derive(Debug, Clone)]
pub struct OAuthApp {
    /// The application's client id (the path segment of the authorize URL).
    pub client_id: String,
    /// The application's client secret; also the key that signs its webhooks.
    pub client_secret: String,
    /// Registered redirect URIs. A `redirect_uri` is accepted when its scheme, host
    /// and port match one of these (Checkr matches the domain); it must be https
    /// unless its host is loopback (`127.0.0.1`, `localhost`, `::1`), and for
    /// loopback hosts the port is not compared.
    pub redirect_uris: Vec<String>,
    /// The application's display name.
    pub name: String,
    /// The partner's own account id (the `account_id` of `token.deauthorized`).
    pub partner_account_id: String,
    /// The account a token exchange connects. `None`: a fresh default account per
    /// exchange. `Some` with an `id`: that account (created on first use). `Some`
    /// without an `id`: a fresh account from that seed per exchange.
    pub connect_account: Option<AccountSeed>,
    /// Where the application's webhooks go: every event of an account connected to it
    /// (by an unrevoked token it obtained), and `token.deauthorized`, signed with
    /// [`OAuthApp::client_secret`]. `None`: no partner webhooks. Can be changed at run
    /// time with [`crate::Simulator::set_partner_webhook_url`].
    pub webhook_url: Option<String>,
}

impl OAuthApp {
    /// An application with one registered redirect URI.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        redirect_uri: impl Into<String>,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            redirect_uris: vec![redirect_uri.into()],
            name: "Terapi Partner App".to_string(),
            partner_account_id: "5f7b2c0a9e1d4c3b2a190817".to_string(),
            connect_account: None,
            webhook_url: None,
        }
    }

    /// Sets the application's webhook URL.
    pub fn with_webhook_url(mut self, url: impl Into<String>) -> Self {
        self.webhook_url = Some(url.into());
        self
    }

    /// Registers another redirect URI.
    pub fn with_redirect_uri(mut self, redirect_uri: impl Into<String>) -> Self {
        self.redirect_uris.push(redirect_uri.into());
        self
    }

    /// Sets the account that token exchanges connect.
    pub fn with_connect_account(mut self, account: AccountSeed) -> Self {
        self.connect_account = Some(account);
        self
    }
}
