//! `terapi webhooks listen`: the real binary receives what a real server sends the
//! application and prints it, saying whether the signature verifies.

use crate::server::support::{CLIENT_SECRET, SECRET_KEY, ServerHarness};
use crate::support::*;
use crate::webhooks::outbox::hmac_hex;
use checkr_sim::AccountSeed;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the listener when the test ends, however it ends.
struct Listener(Child);

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_prints_each_webhook_the_server_sends_and_whether_it_verifies() {
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut listener = Listener(
        Command::new(env!("CARGO_BIN_EXE_terapi"))
            .args([
                "webhooks",
                "listen",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .current_dir(dir.path())
            .env_clear()
            .env("TERAPI_SECRET_KEY", SECRET_KEY)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("terapi starts"),
    );
    let url = format!("http://127.0.0.1:{port}/hooks");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    // Unsigned: refused, and printed as not verified.
    loop {
        match client.post(&url).body("{\"forged\":true}").send().await {
            Ok(response) => {
                assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
                break;
            }
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("the listener never answered: {error}"),
        }
    }

    // A real server forwarding a Checkr event to it.
    let harness = ServerHarness::start_with(AccountSeed::new("Customer"), {
        let url = url.clone();
        move |config| config.server.webhook_url = Some(url)
    })
    .await;
    let event = json!({
        "id": "evt_listen", "object": "event", "type": "report.completed",
        "account_id": "nobody", "data": { "object": { "id": "rpt_1" } },
    })
    .to_string();
    let response = harness
        .client
        .post(format!("{}/webhook/{CHECKR}", harness.base_url))
        .header("X-Checkr-Signature", hmac_hex(CLIENT_SECRET, &event))
        .body(event)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);

    let stdout = listener.0.stdout.take().expect("stdout");
    let lines = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .take(2)
            .map(|line| serde_json::from_str::<Value>(&line.expect("a line")).expect("JSON"))
            .collect::<Vec<_>>()
    });
    let lines = tokio::time::timeout(Duration::from_secs(20), lines)
        .await
        .expect("two lines printed in time")
        .expect("read");
    assert_eq!(lines[0]["verified"], false);
    assert_eq!(lines[0]["body"], json!({ "forged": true }));
    assert_eq!(lines[1]["verified"], true, "{}", lines[1]);
    assert_eq!(lines[1]["body"]["type"], "forward");
    assert_eq!(lines[1]["body"]["payload"]["id"], "evt_listen");
    assert!(lines[1]["delivery_id"].is_string(), "{}", lines[1]);
    assert!(lines[1]["received_at"].is_string(), "{}", lines[1]);
}
