//! The `terapi` binary: exit codes and output a script can rely on.

use crate::support::*;
use std::path::Path;
use std::process::Output;

fn write_config(dir: &Path, api_base_url: &str) -> std::path::PathBuf {
    let path = dir.join("terapi.toml");
    let text = format!(
        "data_dir = \"data\"\n\n[integrations.checkr-partner]\ncomponent = \"{}\"\napi_base_url = \"{api_base_url}\"\n",
        component("checkr_partner").display()
    );
    std::fs::write(&path, text).expect("config written");
    path
}

/// An encryption key (base64 of 32 bytes), as a production CLI has one.
const KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";
/// Another valid key.
const OTHER_KEY: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";

/// Runs `terapi --config CONFIG ARGS` with the encryption key [`KEY`].
fn terapi(config: &Path, args: &[&str]) -> Output {
    terapi_keyed(config, args, Some(KEY))
}

/// Runs `terapi --config CONFIG ARGS` with `key` as TERAPI_ENCRYPTION_KEY (or none).
fn terapi_keyed(config: &Path, args: &[&str], key: Option<&str>) -> Output {
    let mut command = crate::process::terapi(config);
    command.args(args);
    if let Some(key) = key {
        command.env("TERAPI_ENCRYPTION_KEY", key);
    }
    command.output().expect("terapi runs")
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

/// Regression: `terapi connection add` without an encryption key used to store the
/// credentials unencrypted (with a warning) while `terapi serve` refused to; both now
/// refuse unless `--insecure-dev`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_without_an_encryption_key_refuses_credentials_unless_insecure_dev() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &sim.base_url());
    let add = ["connection", "add", CHECKR, "demo", "--access-token", TOKEN];
    let refused = terapi_keyed(&config, &add, None);
    assert_eq!(refused.status.code(), Some(1));
    let text = String::from_utf8_lossy(&refused.stderr);
    assert!(text.contains("TERAPI_ENCRYPTION_KEY"), "{text}");
    assert!(text.contains("--insecure-dev"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
    let listed = terapi(&config, &["connection", "list"]);
    assert!(listed.status.success());
    assert!(
        !String::from_utf8_lossy(&listed.stdout).contains("demo"),
        "nothing was stored"
    );

    let mut insecure = vec!["--insecure-dev"];
    insecure.extend(add);
    let stored = terapi_keyed(&config, &insecure, None);
    assert!(
        stored.status.success(),
        "{}",
        String::from_utf8_lossy(&stored.stderr)
    );
    let warning = String::from_utf8_lossy(&stored.stderr);
    assert!(warning.contains("unencrypted"), "{warning}");
    let run = terapi_keyed(
        &config,
        &[
            "run",
            CHECKR,
            "get-account",
            "--connection",
            "demo",
            "--insecure-dev",
        ],
        None,
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

/// A CLI reading a store sealed with a key it does not have says so, whether it has no
/// key or another one, and never prints the credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_reading_a_store_sealed_with_another_key_says_so() {
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
    let run = ["run", CHECKR, "get-account", "--connection", "demo"];

    let mut insecure = vec!["--insecure-dev"];
    insecure.extend(run);
    let without = terapi_keyed(&config, &insecure, None);
    assert_eq!(without.status.code(), Some(1));
    let text = String::from_utf8_lossy(&without.stderr);
    assert!(
        text.contains("encrypted") && text.contains("TERAPI_ENCRYPTION_KEY"),
        "{text}"
    );
    assert!(!text.contains(TOKEN), "{text}");

    let listed = terapi_keyed(&config, &["connection", "list"], Some(OTHER_KEY));
    assert_eq!(listed.status.code(), Some(1));
    let text = String::from_utf8_lossy(&listed.stderr);
    assert!(text.contains("wrong encryption key"), "{text}");
    assert!(text.contains("demo"), "names the connection: {text}");
    assert!(!text.contains(TOKEN), "{text}");

    assert!(
        terapi(&config, &run).status.success(),
        "the right key still works"
    );
}
