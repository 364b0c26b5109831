//! `terapi sync run`, `terapi sync status` and `terapi records list`.

use super::support::{NUMBER, NUMBERS};
use crate::support::{GUESTS, TOKEN, component, simulator};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

const KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";

fn terapi(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_terapi"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("TERAPI_ACCESS_TOKEN")
        .env("TERAPI_ENCRYPTION_KEY", KEY)
        .output()
        .expect("terapi runs")
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_run_reports_progress_and_records_list_prints_json_lines() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("terapi.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"data\"\n\n[integrations.{GUESTS}]\ncomponent = \"{}\"\nprovider = \"checkr-partner\"\napi_base_url = \"{}\"\n",
            component("terapi_test_guests").display(),
            sim.base_url()
        ),
    )
    .expect("config");
    ok(&terapi(
        &config,
        &[
            "connection",
            "add",
            GUESTS,
            "demo",
            "--access-token",
            TOKEN,
            "--metadata",
            r#"{"count": 120, "page_size": 50}"#,
        ],
    ));
    let run = terapi(
        &config,
        &["sync", "run", GUESTS, NUMBERS, "--connection", "demo"],
    );
    let stdout = ok(&run);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("Number +120 ~0 -0"), "progress: {stderr}");
    assert!(stderr.contains("3 batches"), "progress: {stderr}");
    let summary: Value = serde_json::from_str(stdout.trim()).expect("JSON summary");
    assert_eq!(summary["success"], true);
    assert_eq!(summary["results"][NUMBER]["added"], 120);

    let listed = ok(&terapi(
        &config,
        &["records", "list", GUESTS, NUMBER, "--connection", "demo"],
    ));
    let records: Vec<Value> = listed
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(records.len(), 120);
    let ids: BTreeSet<&str> = records.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids.len(), 120);
    assert!(
        records
            .iter()
            .all(|r| r["_nango_metadata"]["last_action"] == "ADDED")
    );

    let status: Value = serde_json::from_str(&ok(&terapi(
        &config,
        &["sync", "status", GUESTS, "--connection", "demo"],
    )))
    .expect("status JSON");
    assert_eq!(status["syncs"][0]["name"], NUMBERS);
    assert_eq!(status["syncs"][0]["status"], "SUCCESS");
    assert_eq!(status["syncs"][0]["recordCount"][NUMBER], 120);

    let unknown = terapi(
        &config,
        &["records", "list", GUESTS, "Letter", "--connection", "demo"],
    );
    assert!(!unknown.status.success());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("`Letter`"), "{stderr}");
}
