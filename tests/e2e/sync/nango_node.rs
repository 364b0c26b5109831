//! Nango's own Node client (`@nangohq/node`, pinned in `nango-node/package.json`)
//! against terapi: trigger, status, records paging, ids, an unknown model, and webhook
//! signature verification. Needs `node` and `npm` (the package is installed once into
//! `target/nango-node` from the npm registry).

use super::api::SyncServer;
use super::support::{NUMBER, NUMBERS};
use crate::server_support::SECRET_KEY;
use crate::support::{CONNECTION, GUESTS};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

/// The client project, installed (once) under `target/nango-node`.
fn client_dir() -> PathBuf {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e/sync/nango-node");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/nango-node");
    std::fs::create_dir_all(&dir).expect("target/nango-node");
    for file in ["package.json", "package-lock.json", "client.mjs"] {
        std::fs::copy(source.join(file), dir.join(file)).expect("copy the client project");
    }
    if !dir.join("node_modules/@nangohq/node/package.json").exists() {
        let installed = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--silent"])
            .current_dir(&dir)
            .output()
            .expect("npm runs (install Node.js and npm to run this test)");
        assert!(
            installed.status.success(),
            "npm ci failed: {}",
            String::from_utf8_lossy(&installed.stderr)
        );
    }
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nangos_node_client_drives_syncs_and_reads_records() {
    let dir = client_dir();
    let server = SyncServer::start(json!({ "count": 40, "page_size": 10 })).await;
    let body = json!({ "from": "terapi", "type": "sync", "model": NUMBER }).to_string();
    let signature = terapi_runtime::service::webhook_signature("node-signing-key", body.as_bytes());
    let base_url = server.base_url.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("client.mjs")
            .current_dir(&dir)
            .env("TERAPI_URL", base_url)
            .env("TERAPI_SECRET", SECRET_KEY)
            .env("KEY", GUESTS)
            .env("CONNECTION", CONNECTION)
            .env("SYNC", NUMBERS)
            .env("MODEL", NUMBER)
            .env("SIGNING_KEY", "node-signing-key")
            .env("WEBHOOK_BODY", body)
            .env("WEBHOOK_SIGNATURE", signature)
            .output()
            .expect("node runs")
    })
    .await
    .expect("joined");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).expect("the client's JSON");
    assert_eq!(seen["status"]["name"], NUMBERS, "{seen}");
    assert_eq!(
        seen["status"]["latestResult"][NUMBER]["added"], 40,
        "{seen}"
    );
    let ids: Vec<&str> = seen["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!((ids.len(), unique.len()), (40, 40), "{seen}");
    assert_eq!(seen["pages"], 6, "40 records, 7 a page: {seen}");
    assert_eq!(seen["lastAction"], "ADDED");
    assert_eq!(seen["byIds"], json!(["n1", "n2"]));
    assert_eq!(seen["unknownModel"]["status"], 404, "{seen}");
    assert!(
        seen["unknownModel"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("`Letter`"),
        "{seen}"
    );
    assert_eq!(seen["webhookVerified"], true, "{seen}");
    assert_eq!(seen["forgedRejected"], true, "{seen}");
}
