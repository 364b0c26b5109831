//! Exact crash-resume: `terapi serve` is SIGKILLed in the middle of a sync and started
//! again; the run is taken over once its lease expires and resumes from its checkpoint,
//! ending with every record exactly once and no record re-added or updated.

use super::support::{NUMBER, NUMBERS};
use crate::process::Serving;
use crate::support::{GUESTS, component, simulator};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub(super) const KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";
pub(super) const SECRET: &str = "crash-test-secret-key-0123456789";

pub(super) fn terapi(config: &Path) -> Command {
    let mut command = crate::process::terapi(config);
    command
        .env("TERAPI_ENCRYPTION_KEY", KEY)
        .env("TERAPI_SECRET_KEY", SECRET);
    command
}

/// Starts `terapi serve` with `env` set; returns it and its URL.
pub(super) fn serve_with(config: &Path, env: &[(&str, &str)]) -> (Serving, String) {
    let serving = Serving::start(
        terapi(config)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .envs(env.iter().copied())
            .stderr(Stdio::null()),
    );
    let url = serving.url.clone();
    (serving, url)
}

fn serve(config: &Path) -> (Serving, String) {
    serve_with(config, &[])
}

/// Writes `terapi.toml` in `dir`: `extra` (TOML tables such as `[limits]`), then the test
/// guests pointed at `sim_url`. Returns its path.
pub(super) fn guests_config(dir: &Path, sim_url: &str, extra: &str) -> PathBuf {
    let config = dir.join("terapi.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"data\"\n\n{extra}\n\n\
             [integrations.{GUESTS}]\ncomponent = \"{}\"\nprovider = \"checkr-partner\"\napi_base_url = \"{sim_url}\"\n",
            component("terapi_test_guests").display(),
        ),
    )
    .expect("config");
    config
}

/// `terapi connection add` of the test guests' `demo` connection, with the simulator's
/// token and `metadata` (the `numbers` sync's settings).
pub(super) fn add_demo(config: &Path, metadata: &str) {
    crate::process::add_connection(terapi(config), GUESTS, "demo", metadata);
}

async fn all_records(client: &reqwest::Client, url: &str) -> Vec<Value> {
    let mut records = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = client
            .get(format!("{url}/records"))
            .bearer_auth(SECRET)
            .header("Connection-Id", "demo")
            .header("Provider-Config-Key", GUESTS)
            .query(&[("model", NUMBER), ("limit", "1000")]);
        if let Some(cursor) = &cursor {
            request = request.query(&[("cursor", cursor)]);
        }
        let page: Value = request
            .send()
            .await
            .expect("records")
            .json()
            .await
            .expect("json");
        records.extend(page["records"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return records,
        }
    }
}

pub(super) async fn status(client: &reqwest::Client, url: &str) -> Value {
    let body: Value = client
        .get(format!(
            "{url}/sync/status?syncs={NUMBERS}&provider_config_key={GUESTS}&connection_id=demo"
        ))
        .bearer_auth(SECRET)
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("json");
    body["syncs"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_server_resumes_the_sync_exactly() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = guests_config(
        dir.path(),
        &sim.base_url(),
        "[limits]\nsync_lease_ms = 2000",
    );
    add_demo(
        &config,
        r#"{"count": 600, "page_size": 20, "delay_ms": 100}"#,
    );

    let client = reqwest::Client::new();
    let (mut server, url) = serve(&config);
    let triggered = client
        .post(format!("{url}/sync/trigger"))
        .bearer_auth(SECRET)
        .json(
            &json!({ "syncs": [NUMBERS], "provider_config_key": GUESTS, "connection_id": "demo" }),
        )
        .send()
        .await
        .expect("trigger");
    assert_eq!(triggered.status(), 200);
    // Let it save a few batches, then kill it without warning.
    let deadline = Instant::now() + Duration::from_secs(60);
    let before = loop {
        let records = all_records(&client, &url).await;
        if records.len() >= 100 {
            break records.len();
        }
        assert!(Instant::now() < deadline, "the sync never got going");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");
    drop(server);
    assert!(before < 600, "killed mid-run ({before} saved)");

    // Restarted, the server takes the run over once the dead one's lease expires.
    let (_server, url) = serve(&config);
    let deadline = Instant::now() + Duration::from_secs(90);
    let done = loop {
        let current = status(&client, &url).await;
        if current["status"] == "SUCCESS" {
            break current;
        }
        assert!(Instant::now() < deadline, "never resumed: {current}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let records = all_records(&client, &url).await;
    let ids: BTreeSet<&str> = records.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(records.len(), 600, "exact record count");
    assert_eq!(ids.len(), 600, "no duplicate ids");
    assert!(
        records
            .iter()
            .all(|r| r["_nango_metadata"]["last_action"] == "ADDED"),
        "nothing updated or re-added"
    );
    let result = &done["latestResult"][NUMBER];
    assert_eq!(result["updated"], 0, "{done}");
    assert_eq!(result["deleted"], 0, "{done}");
    let resumed_added = result["added"].as_u64().expect("added");
    assert!(
        resumed_added as usize <= 600 - before && resumed_added > 0,
        "the resumed run added only what was missing: {resumed_added} after {before}"
    );
}
