//! The `checkr-sim` binary: `--help`, the one stdout line, serving, SIGTERM.

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use common::basic;

const BIN: &str = env!("CARGO_BIN_EXE_checkr-sim");

#[test]
fn help_lists_the_flags() {
    let out = Command::new(BIN).arg("--help").output().expect("runs");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--port",
        "--host",
        "--token",
        "--hierarchy",
        "--client-id",
        "--client-secret",
        "--seed-candidates",
        "--churn-every",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[tokio::test]
async fn prints_its_url_and_serves() {
    let mut child = Command::new(BIN)
        .args([
            "--port",
            "0",
            "--token",
            "t1",
            "--token",
            "t2",
            "--hierarchy",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawns");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .expect("join")
    .expect("line");
    let url = line
        .trim_end()
        .strip_prefix("checkr-sim listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let client = reqwest::Client::new();
    let nodes = client
        .get(format!("{url}/v1/nodes"))
        .header("authorization", basic("t2"))
        .send()
        .await
        .expect("request");
    assert_eq!(nodes.status(), reqwest::StatusCode::OK);
    let a1: serde_json::Value = client
        .get(format!("{url}/v1/account"))
        .header("authorization", basic("t1"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(a1["segmentation_enabled"], true);
    let demo = client
        .get(format!("{url}/v1/account"))
        .header("authorization", basic("demo-token"))
        .send()
        .await
        .expect("request");
    assert_eq!(demo.status(), reqwest::StatusCode::UNAUTHORIZED);

    // SIGTERM ends it cleanly.
    let pid = child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn seeds_demo_token_by_default() {
    let mut child = Command::new(BIN)
        .args(["--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .expect("join")
    .expect("line");
    let url = line
        .trim_end()
        .trim_start_matches("checkr-sim listening on ")
        .to_string();
    let resp = reqwest::Client::new()
        .get(format!("{url}/v1/account"))
        .header("authorization", basic("demo-token"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    child.kill().expect("kill");
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("demo-token"), "{stderr}");
}
