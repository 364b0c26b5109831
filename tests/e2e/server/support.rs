//! What the HTTP server's tests share: a real `terapi serve` (the library's `Server`) on
//! loopback in front of the real component and the simulator (with a registered OAuth
//! app), a real HTTP client, and a client that follows redirects like a browser.

use crate::support::{CHECKR, TOKEN, component};
use checkr_sim::{AccountSeed, OAuthApp, SimConfig, Simulator};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use terapi_runtime::{
    AesGcmCipher, ConnectionStore, Credentials, IntegrationConfig, Limits, NewConnection,
    RuntimeConfig, SqliteStore,
};
use terapi_server::{ServeOptions, Server};
use tokio::sync::oneshot;

/// The API secret key the test server expects.
pub const SECRET_KEY: &str = "test-secret-key-0123456789";
/// The OAuth app registered in the simulator and configured in terapi.
pub const CLIENT_ID: &str = "terapi-test-client";
/// Its secret.
pub const CLIENT_SECRET: &str = "terapi-test-client-secret";
/// The encryption key bytes.
pub const ENCRYPTION_KEY: [u8; 32] = [42; 32];

/// [`ENCRYPTION_KEY`] as `TERAPI_ENCRYPTION_KEY` takes it.
pub fn encryption_key_base64() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(ENCRYPTION_KEY)
}

/// A running server and everything behind it.
pub struct ServerHarness {
    pub sim: Simulator,
    pub base_url: String,
    pub client: reqwest::Client,
    pub db_path: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    _data_dir: tempfile::TempDir,
}

impl Drop for ServerHarness {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// The simulator with the default token's account and an OAuth app whose exchanges
/// connect `connect_account`. Its webhooks (none until a test sets the app's webhook URL)
/// are retried every 200 ms rather than every minute.
pub async fn oauth_simulator(connect_account: AccountSeed) -> Simulator {
    let app = OAuthApp::new(CLIENT_ID, CLIENT_SECRET, "http://127.0.0.1/oauth/callback")
        .with_connect_account(connect_account);
    Simulator::start(
        SimConfig::default()
            .with_contract_check()
            .with_token(TOKEN, AccountSeed::new("Acme Staffing"))
            .with_oauth_app(app)
            .with_webhook_retry_schedule(vec![std::time::Duration::from_millis(200); 10]),
    )
    .await
    .expect("simulator starts")
}

impl ServerHarness {
    /// A server whose OAuth app connects a fresh "Connected Customer" account.
    pub async fn start() -> ServerHarness {
        Self::start_with(AccountSeed::new("Connected Customer"), |_| {}).await
    }

    /// A server with `connect_account` behind the OAuth app and `adjust` applied to the
    /// configuration.
    pub async fn start_with(
        connect_account: AccountSeed,
        adjust: impl FnOnce(&mut RuntimeConfig),
    ) -> ServerHarness {
        let sim = oauth_simulator(connect_account).await;
        let data_dir = tempfile::tempdir().expect("tempdir");
        let mut config = RuntimeConfig {
            data_dir: data_dir.path().to_path_buf(),
            limits: Limits {
                invocation_timeout_ms: 10_000,
                http_retry_base_delay_ms: 50,
                ..Limits::default()
            },
            ..RuntimeConfig::default()
        };
        let mut checkr = IntegrationConfig::new(component("checkr_partner"));
        checkr.api_base_url = Some(sim.base_url());
        checkr.authorization_url = Some(format!("{}/authorize/{{client_id}}", sim.base_url()));
        checkr.token_url = Some(format!("{}/oauth/tokens", sim.base_url()));
        checkr.client_id = Some(CLIENT_ID.into());
        config.integrations.insert(CHECKR.into(), checkr);
        // An integration without an OAuth app.
        let mut staging = IntegrationConfig::new(component("checkr_partner"));
        staging.api_base_url = Some(sim.base_url());
        config
            .integrations
            .insert("checkr-partner-staging".into(), staging);
        adjust(&mut config);
        let db_path = config.database_path();
        let env: HashMap<&str, String> = HashMap::from([
            ("TERAPI_SECRET_KEY", SECRET_KEY.to_string()),
            ("TERAPI_ENCRYPTION_KEY", encryption_key_base64()),
            (
                "TERAPI_CLIENT_SECRET_CHECKR_PARTNER",
                CLIENT_SECRET.to_string(),
            ),
        ]);
        let options = ServeOptions {
            insecure_dev: false,
            listen: Some("127.0.0.1:0".parse().expect("address")),
            env: Arc::new(move |name| env.get(name).cloned()),
        };
        let server = Server::bind(config, options).await.expect("server starts");
        let base_url = format!("http://{}", server.local_addr());
        let (shutdown, stop) = oneshot::channel::<()>();
        tokio::spawn(server.run(async move {
            let _ = stop.await;
        }));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        ServerHarness {
            sim,
            base_url,
            client,
            db_path,
            shutdown: Some(shutdown),
            _data_dir: data_dir,
        }
    }

    /// A request to the server with the secret key.
    pub fn api(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base_url))
            .bearer_auth(SECRET_KEY)
    }

    /// A second handle on the server's database (same key), to seed or inspect it.
    pub fn store(&self) -> SqliteStore {
        SqliteStore::open_with_cipher(&self.db_path, Arc::new(AesGcmCipher::new(&ENCRYPTION_KEY)))
            .expect("store opens")
    }

    /// Stores a connection holding `token` directly.
    pub async fn seed_connection(&self, connection_id: &str, credentials: Credentials) {
        self.store()
            .upsert(&NewConnection::new(
                CHECKR,
                connection_id,
                "checkr-partner",
                credentials,
            ))
            .await
            .expect("seeded");
    }

    /// Whether the connection exists.
    pub async fn has_connection(&self, connection_id: &str) -> bool {
        self.store()
            .get(CHECKR, connection_id)
            .await
            .expect("readable")
            .is_some()
    }

    /// How many token exchanges the simulator has seen.
    pub fn token_exchanges(&self) -> usize {
        self.sim
            .requests()
            .iter()
            .filter(|request| request.path == "/oauth/tokens")
            .count()
    }

    /// The connect URL (with the secret key it needs as a header) that starts an OAuth
    /// connect; returns the simulator's authorize URL the server redirects to.
    pub async fn start_connect(&self, connection_id: &str) -> reqwest::Url {
        let response = self
            .api(
                Method::GET,
                &format!("/oauth/connect/{CHECKR}?connection_id={connection_id}"),
            )
            .send()
            .await
            .expect("connect");
        assert_eq!(response.status(), StatusCode::FOUND, "connect redirects");
        location(&response)
    }

    /// Follows redirects from `url` like a browser until a non-redirect answer.
    pub async fn browse(&self, url: reqwest::Url) -> Browsed {
        let mut url = url;
        let mut visited = Vec::new();
        for _ in 0..10 {
            visited.push(url.clone());
            let response = self
                .client
                .get(url.clone())
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await
                .expect("browser request");
            if response.status().is_redirection() {
                url = location(&response);
                continue;
            }
            let status = response.status();
            let body = response.text().await.expect("body");
            return Browsed {
                visited,
                status,
                body: serde_json::from_str(&body).unwrap_or(Value::String(body)),
            };
        }
        panic!("too many redirects: {visited:?}");
    }

    /// Runs a whole OAuth connect for `connection_id` and returns the final answer.
    pub async fn connect(&self, connection_id: &str) -> Browsed {
        let authorize = self.start_connect(connection_id).await;
        self.browse(authorize).await
    }
}

/// What a browser ended on.
#[derive(Debug)]
pub struct Browsed {
    /// Every URL requested, in order.
    pub visited: Vec<reqwest::Url>,
    pub status: StatusCode,
    pub body: Value,
}

impl Browsed {
    /// The callback URL the provider sent the browser to.
    pub fn callback(&self) -> &reqwest::Url {
        self.visited
            .iter()
            .find(|url| url.path() == "/oauth/callback")
            .expect("the browser reached the callback")
    }

    /// A query parameter of the callback URL.
    pub fn callback_param(&self, name: &str) -> String {
        self.callback()
            .query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
            .unwrap_or_else(|| panic!("the callback has no `{name}`"))
    }
}

/// The `Location` of a redirect, resolved against the request URL.
pub fn location(response: &reqwest::Response) -> reqwest::Url {
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .expect("a Location header");
    response.url().join(location).expect("a valid Location")
}

/// The error code of an API error body.
pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

/// Sends a request and returns its status and JSON body.
pub async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("request");
    let status = response.status();
    let text = response.text().await.expect("body");
    let body =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("a JSON body, got {status}: {text}"));
    (status, body)
}
