//! What every end-to-end test needs: built components, a simulator, a runtime.

use checkr_sim::{AccountSeed, SimConfig, Simulator};
use std::path::PathBuf;
use terapi_runtime::{
    ConnectionStore, Credentials, IntegrationConfig, Limits, NewConnection, Runtime, RuntimeConfig,
};

/// The token the simulator accepts for the default connection.
pub const TOKEN: &str = "sim-token-acme";
/// The default connection's id.
pub const CONNECTION: &str = "acme";
/// The integration backed by the real Checkr component.
pub const CHECKR: &str = "checkr-partner";
/// The integration backed by the misbehaving test guests (tests/guests).
pub const GUESTS: &str = "test-guests";
/// The integration backed by the sandbox probe (tests/sandbox-probe); only in the
/// configurations that add it with [`with_sandbox_probe`].
pub const PROBE: &str = "sandbox-probe";

/// Where `cargo xtask build-actions` puts the components.
pub fn component(name: &str) -> PathBuf {
    // TERAPI_TEST_COMPONENTS overrides where the components come from (e.g. to compare
    // builds in a benchmark).
    let dir = std::env::var_os("TERAPI_TEST_COMPONENTS").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../actions/target/wasm32-wasip2/release")
        },
        PathBuf::from,
    );
    let path = dir.join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask build-actions` (or `cargo xtask test`) first",
        path.display()
    );
    path
}

/// A simulator with one account and its token. The contract check is on: every request
/// and response is validated against Checkr's OpenAPI description, and the simulator fails
/// the test when it is dropped with violations.
pub async fn simulator() -> Simulator {
    Simulator::start(
        SimConfig::default()
            .with_contract_check()
            .with_token(TOKEN, AccountSeed::new("Acme Staffing")),
    )
    .await
    .expect("simulator starts")
}

/// A simulator standing in for some other host (not for Checkr's API), so without the
/// contract check: what it receives is not meant to be a Checkr request.
pub async fn simulator_for_another_host() -> Simulator {
    Simulator::start(SimConfig::default().with_token(TOKEN, AccountSeed::new("Elsewhere")))
        .await
        .expect("simulator starts")
}

/// A runtime configuration with both integrations pointed at `api_base_url`.
pub fn config(data_dir: &std::path::Path, api_base_url: &str) -> RuntimeConfig {
    let mut config = RuntimeConfig {
        data_dir: data_dir.to_path_buf(),
        limits: Limits {
            // Short enough for the runaway-guest tests, long enough for a debug build.
            invocation_timeout_ms: 5_000,
            memory_bytes: 32 << 20,
            http_retry_base_delay_ms: 50,
            ..Limits::default()
        },
        ..RuntimeConfig::default()
    };
    let mut checkr = IntegrationConfig::new(component("checkr_partner"));
    checkr.api_base_url = Some(api_base_url.to_string());
    let mut guests = IntegrationConfig::new(component("terapi_test_guests"));
    guests.provider = Some("checkr-partner".into());
    guests.api_base_url = Some(api_base_url.to_string());
    config.integrations.insert(CHECKR.into(), checkr);
    config.integrations.insert(GUESTS.into(), guests);
    config
}

/// Adds the [`PROBE`] integration to `config`.
pub fn with_sandbox_probe(config: &mut RuntimeConfig) {
    let mut probe = IntegrationConfig::new(component("terapi_sandbox_probe"));
    probe.provider = Some("checkr-partner".into());
    config.integrations.insert(PROBE.into(), probe);
}

/// A simulator, a runtime pointed at it, and the default connection on both
/// integrations.
pub struct Harness {
    pub sim: Simulator,
    pub runtime: Runtime,
    /// Kept alive for the runtime's database and cache.
    pub _data_dir: tempfile::TempDir,
}

impl Harness {
    /// Where the runtime keeps its data (database, component cache).
    #[allow(dead_code)]
    pub fn runtime_data_dir(&self) -> std::path::PathBuf {
        self._data_dir.path().to_path_buf()
    }

    /// The runtime's database file.
    #[allow(dead_code)]
    pub fn runtime_database(&self) -> std::path::PathBuf {
        config(self._data_dir.path(), "http://unused.invalid").database_path()
    }

    pub async fn start() -> Harness {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut RuntimeConfig)) -> Harness {
        let sim = simulator().await;
        let data_dir = tempfile::tempdir().expect("tempdir");
        let mut config = config(data_dir.path(), &sim.base_url());
        adjust(&mut config);
        let runtime = Runtime::new(config).await.expect("runtime starts");
        let harness = Harness {
            sim,
            runtime,
            _data_dir: data_dir,
        };
        harness
            .connect(CHECKR, CONNECTION, Credentials::access_token(TOKEN))
            .await;
        harness
            .connect(GUESTS, CONNECTION, Credentials::access_token(TOKEN))
            .await;
        harness
    }

    pub async fn connect(&self, integration: &str, connection_id: &str, credentials: Credentials) {
        self.runtime
            .connections()
            .upsert(&NewConnection::new(
                integration,
                connection_id,
                "checkr-partner",
                credentials,
            ))
            .await
            .expect("connection stored");
    }

    /// Runs `get-account` for the default connection and returns the account name.
    pub async fn account_name(&self) -> String {
        let output = self
            .runtime
            .trigger_action(CHECKR, CONNECTION, "get-account", "{}")
            .await
            .expect("get-account succeeds");
        let account: serde_json::Value = output.parse().expect("JSON");
        account["name"].as_str().expect("name").to_string()
    }
}

/// `Basic base64(token + ":")`.
pub fn basic(token: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{token}:"))
    )
}

/// Keeps the compiler quiet about the trait being used only through `connections()`.
#[allow(dead_code)]
fn _store_is_object_safe(_: &dyn ConnectionStore) {}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}
