//! The `terapi` binary: exit codes and output a script can rely on.

use crate::support::*;
use std::path::Path;
use std::process::{Command, Output};

fn write_config(dir: &Path, api_base_url: &str) -> std::path::PathBuf {
    let path = dir.join("terapi.toml");
    let text = format!(
        "data_dir = \"data\"\n\n[integrations.checkr-partner]\ncomponent = \"{}\"\napi_base_url = \"{api_base_url}\"\n",
        component("checkr_partner").display()
    );
    std::fs::write(&path, text).expect("config written");
    path
}

fn terapi(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_terapi"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("TERAPI_ACCESS_TOKEN")
        .output()
        .expect("terapi runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_prints_the_account_and_exits_zero() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &sim.base_url());
    let added = terapi(
        &config,
        &["connection", "add", CHECKR, "demo", "--access-token", TOKEN],
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let output = terapi(
        &config,
        &["run", CHECKR, "get-account", "--connection", "demo"],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let account: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(account["name"], "Acme Staffing");
    let listed = terapi(&config, &["connection", "list"]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(text.contains("\"demo\""), "{text}");
    assert!(
        !text.contains(TOKEN),
        "credentials are never listed: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_token_prints_the_action_error_as_json_and_exits_one() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &sim.base_url());
    assert!(
        terapi(&config, &["connection", "add", CHECKR, "empty"])
            .status
            .success()
    );
    let output = terapi(
        &config,
        &["run", CHECKR, "get-account", "--connection", "empty"],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let error: serde_json::Value = serde_json::from_slice(&output.stderr).expect("JSON on stderr");
    assert_eq!(error["error"]["message"], "access_token is missing");
    assert_eq!(error["error"]["code"], "action_script_runtime_error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_connection_and_bad_input_exit_one_with_a_clear_message() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &sim.base_url());
    let output = terapi(
        &config,
        &["run", CHECKR, "get-account", "--connection", "ghost"],
    );
    assert_eq!(output.status.code(), Some(1));
    let error: serde_json::Value = serde_json::from_slice(&output.stderr).expect("JSON");
    assert_eq!(error["error"]["code"], "unknown_connection");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("ghost")
    );

    assert!(
        terapi(
            &config,
            &["connection", "add", CHECKR, "demo", "--access-token", TOKEN]
        )
        .status
        .success()
    );
    let output = terapi(
        &config,
        &[
            "run",
            CHECKR,
            "get-account",
            "--connection",
            "demo",
            "--input",
            "{nope",
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let error: serde_json::Value = serde_json::from_slice(&output.stderr).expect("JSON");
    assert_eq!(error["error"]["code"], "invalid_action_input");
}

#[test]
fn invalid_config_names_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("terapi.toml");
    std::fs::write(
        &path,
        "[integrations.checkr-partner]\ncomponent = 'x.wasm'\nbase_url = 'oops'\n",
    )
    .expect("written");
    let output = terapi(&path, &["connection", "list"]);
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("base_url"), "{text}");
}
