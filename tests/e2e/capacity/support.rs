//! A real `terapi serve` process with the test guests and the Checkr component, its
//! configuration written by the test.

use crate::support::{CHECKR, GUESTS, component};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The encryption key (base64 of 32 bytes).
pub const KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";
/// The API secret key.
pub const SECRET: &str = "capacity-test-secret-key-0123456789";
/// The connection every test uses, on both integrations.
pub const CONNECTION: &str = "acme";

/// A `terapi serve` child, SIGKILLed when dropped if still running.
pub struct Serving {
    pub child: Child,
    pub url: String,
    /// Where its stderr (its log) goes.
    pub log: PathBuf,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serving {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits up to `limit` for the process to exit; its exit code and how long it took.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<(Option<i32>, Duration)> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some((status.code(), started.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Its resident set size, in KiB (Linux).
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("proc status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// An API request with the secret key.
    pub fn api(
        &self,
        client: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        client
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(SECRET)
    }

    /// One sample of `GET /metrics`: the value of the metric line that starts with
    /// `series` (a name, with its labels if it has any).
    pub async fn metric(&self, client: &reqwest::Client, series: &str) -> u64 {
        let response = self
            .api(client, reqwest::Method::GET, "/metrics")
            .send()
            .await
            .expect("GET /metrics");
        assert_eq!(response.status(), 200);
        let text = response.text().await.expect("metrics");
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
    }

    /// Waits (up to 30 s) until the metric `series` reads `value`.
    pub async fn wait_for_metric(&self, client: &reqwest::Client, series: &str, value: u64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let now = self.metric(client, series).await;
            if now == value {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{series} stayed {now}, not {value}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// `POST /action/trigger` of `action` on `integration` for [`CONNECTION`].
    pub fn trigger(
        &self,
        client: &reqwest::Client,
        integration: &str,
        action: &str,
        input: serde_json::Value,
    ) -> reqwest::RequestBuilder {
        self.api(client, reqwest::Method::POST, "/action/trigger")
            .header("Connection-Id", CONNECTION)
            .header("Provider-Config-Key", integration)
            .json(&serde_json::json!({ "action_name": action, "input": input }))
    }
}

/// Writes `terapi.toml` in `dir`: both integrations pointed at `sim_url`, then `extra`
/// (TOML tables such as `[limits]`, `[server]`).
pub fn write_config(dir: &Path, sim_url: &str, extra: &str) -> PathBuf {
    let path = dir.join("terapi.toml");
    let text = format!(
        "data_dir = \"data\"\n\n{extra}\n\n\
         [integrations.{CHECKR}]\ncomponent = \"{}\"\napi_base_url = \"{sim_url}\"\n\n\
         [integrations.{GUESTS}]\ncomponent = \"{}\"\nprovider = \"checkr-partner\"\napi_base_url = \"{sim_url}\"\n",
        component("checkr_partner").display(),
        component("terapi_test_guests").display(),
    );
    std::fs::write(&path, text).expect("config written");
    path
}

/// `terapi --config <config>` with the keys in its environment.
pub fn terapi(config: &Path) -> Command {
    let mut command = crate::process::terapi(config);
    command
        .env("TERAPI_ENCRYPTION_KEY", KEY)
        .env("TERAPI_SECRET_KEY", SECRET);
    command
}

/// Adds [`CONNECTION`] (the simulator's token) to both integrations, the test guests'
/// with `metadata`.
pub fn add_connections(config: &Path, metadata: &str) {
    for (integration, metadata) in [(CHECKR, "{}"), (GUESTS, metadata)] {
        crate::process::add_connection(terapi(config), integration, CONNECTION, metadata);
    }
}

/// Starts `terapi serve` on a free port, logging at `rust_log` to `serve.log` beside the
/// configuration; returns once it listens.
pub fn serve(config: &Path, rust_log: &str) -> Serving {
    let log = config.with_file_name("serve.log");
    let stderr = std::fs::File::create(&log).expect("log file");
    let (child, url, _) = crate::process::spawn_serve(
        terapi(config)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", rust_log)
            .stderr(stderr),
    );
    Serving { child, url, log }
}

/// Status, `Retry-After` and JSON body of a response.
pub async fn answer(response: reqwest::Response) -> (u16, Option<String>, serde_json::Value) {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, retry_after, body)
}
