//! The records and sync API over a real server with its scheduler, running the test
//! guest's `numbers` sync.

use super::support::{NUMBER, NUMBERS};
use crate::server_support::{ENCRYPTION_KEY, SECRET_KEY};
use crate::support::{CONNECTION, GUESTS, TOKEN, config, simulator};
use base64::Engine as _;
use checkr_sim::Simulator;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use terapi_runtime::{ConnectionStore, Credentials, NewConnection, SqliteStore};
use terapi_server::{ServeOptions, Server};
use tokio::sync::oneshot;

/// A server with the scheduler on, and the test-guests connection.
pub(super) struct SyncServer {
    _sim: Simulator,
    pub(super) base_url: String,
    client: reqwest::Client,
    _shutdown: oneshot::Sender<()>,
    _data_dir: tempfile::TempDir,
}

impl SyncServer {
    pub(super) async fn start(numbers: Value) -> SyncServer {
        let sim = simulator().await;
        let data_dir = tempfile::tempdir().expect("tempdir");
        let config = config(data_dir.path(), &sim.base_url());
        let key = base64::engine::general_purpose::STANDARD.encode(ENCRYPTION_KEY);
        let env: HashMap<&str, String> = HashMap::from([
            ("TERAPI_SECRET_KEY", SECRET_KEY.to_string()),
            ("TERAPI_ENCRYPTION_KEY", key),
        ]);
        let store = SqliteStore::open_with_cipher(
            &config.database_path(),
            Arc::new(terapi_runtime::AesGcmCipher::new(&ENCRYPTION_KEY)),
        )
        .expect("store");
        let mut connection = NewConnection::new(
            GUESTS,
            CONNECTION,
            "checkr-partner",
            Credentials::access_token(TOKEN),
        );
        connection.metadata = numbers;
        store.upsert(&connection).await.expect("connection");
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
        SyncServer {
            _sim: sim,
            base_url,
            client: reqwest::Client::new(),
            _shutdown: shutdown,
            _data_dir: data_dir,
        }
    }

    fn api(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base_url))
            .bearer_auth(SECRET_KEY)
    }

    async fn trigger(&self) {
        let response = self
            .api(Method::POST, "/sync/trigger")
            .json(&json!({
                "syncs": [NUMBERS],
                "provider_config_key": GUESTS,
                "connection_id": CONNECTION,
            }))
            .send()
            .await
            .expect("trigger");
        assert_eq!(
            response.status(),
            200,
            "{}",
            response.text().await.unwrap_or_default()
        );
    }

    async fn status(&self) -> Value {
        let response = self
            .api(
                Method::GET,
                &format!(
                    "/sync/status?syncs={NUMBERS}&provider_config_key={GUESTS}&connection_id={CONNECTION}"
                ),
            )
            .send()
            .await
            .expect("status");
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("json");
        body["syncs"][0].clone()
    }

    /// Waits until the sync has run to `status` (`SUCCESS`/`ERROR`).
    async fn wait_for(&self, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let current = self.status().await;
            if current["status"] == status && !current["finishedAt"].is_null() {
                return current;
            }
            assert!(
                Instant::now() < deadline,
                "the sync never reached {status}: {current}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn records(&self, query: &str) -> reqwest::Response {
        self.api(Method::GET, &format!("/records?{query}"))
            .header("Connection-Id", CONNECTION)
            .header("Provider-Config-Key", GUESTS)
            .send()
            .await
            .expect("records")
    }
}

#[tokio::test]
async fn two_triggers_at_once_make_one_run() {
    let server = SyncServer::start(json!({ "count": 150, "page_size": 50, "delay_ms": 100 })).await;
    let before = server.status().await;
    assert_eq!(before["status"], "STOPPED", "{before}");
    tokio::join!(server.trigger(), server.trigger());
    let done = server.wait_for("SUCCESS").await;
    // A second run would have found everything unchanged and reported 0 added.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let after = server.status().await;
    assert_eq!(
        after["finishedAt"], done["finishedAt"],
        "one run only: {after}"
    );
    assert_eq!(after["latestResult"][NUMBER]["added"], 150, "{after}");
    assert_eq!(after["recordCount"][NUMBER], 150, "{after}");
    assert_eq!(after["frequency"], "every hour");
    assert!(
        after["checkpoint"].is_null(),
        "a finished run clears it: {after}"
    );
}

#[tokio::test]
async fn paging_with_a_small_limit_visits_every_record_once_while_a_sync_writes() {
    let server = SyncServer::start(json!({ "count": 400, "page_size": 20, "delay_ms": 40 })).await;
    server.trigger().await;
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut finished_reads = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut pages = 0;
    while finished_reads < 2 {
        assert!(
            Instant::now() < deadline,
            "paging never caught up: {} seen",
            seen.len()
        );
        let query = match &cursor {
            Some(cursor) => format!("model={NUMBER}&limit=7&cursor={cursor}"),
            None => format!("model={NUMBER}&limit=7"),
        };
        let response = server.records(&query).await;
        assert_eq!(response.status(), 200);
        let page: Value = response.json().await.expect("json");
        pages += 1;
        let records = page["records"].as_array().expect("records");
        assert!(records.len() <= 7);
        for record in records {
            seen.push(record["id"].as_str().expect("id").to_string());
            let metadata = &record["_nango_metadata"];
            assert_eq!(metadata["last_action"], "ADDED");
            assert!(metadata["deleted_at"].is_null());
            assert!(metadata["first_seen_at"].is_string());
            cursor = Some(metadata["cursor"].as_str().expect("cursor").to_string());
        }
        if page["next_cursor"].is_null() {
            // Caught up with the writer: read once more after it finished.
            if server.status().await["status"] == "SUCCESS" {
                finished_reads += 1;
            } else {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        } else {
            assert_eq!(page["next_cursor"].as_str(), cursor.as_deref());
        }
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no record repeated");
    assert_eq!(seen.len(), 400, "no record skipped");
    assert!(pages > 400 / 7, "{pages} pages");
}

#[tokio::test]
async fn filters_ids_and_schedule_changes() {
    let server = SyncServer::start(json!({ "count": 30, "page_size": 10 })).await;
    server.trigger().await;
    server.wait_for("SUCCESS").await;
    let page: Value = server
        .records(&format!("model={NUMBER}&ids=n3&ids=n7&ids=nope"))
        .await
        .json()
        .await
        .expect("json");
    let ids: Vec<&str> = page["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, vec!["n3", "n7"]);
    let page: Value = server
        .records(&format!("model={NUMBER}&filter=deleted"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(page["records"], json!([]));
    let page: Value = server
        .records(&format!(
            "model={NUMBER}&filter=added,updated&modified_after=2000-01-01"
        ))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(page["records"].as_array().map(Vec::len), Some(30));
    let page: Value = server
        .records(&format!(
            "model={NUMBER}&modified_after=2999-01-01T00:00:00Z"
        ))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(page["records"], json!([]));

    // A per-connection frequency, then pause and start.
    let response = server
        .api(Method::PUT, "/sync/update-connection-frequency")
        .json(&json!({
            "sync_name": NUMBERS, "provider_config_key": GUESTS,
            "connection_id": CONNECTION, "frequency": "every 2h",
        }))
        .send()
        .await
        .expect("frequency");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!({"frequency": "every 2h"})
    );
    assert_eq!(server.status().await["frequency"], "every 2h");
    let schedule_change = |path: &'static str| {
        server
            .api(Method::POST, path)
            .json(&json!({ "syncs": [NUMBERS], "provider_config_key": GUESTS, "connection_id": CONNECTION }))
            .send()
    };
    // Starting a sync that was only ever triggered schedules it (it is due at once).
    let response = schedule_change("/sync/start").await.expect("start");
    assert_eq!(response.status(), 200);
    let status = server.status().await;
    assert!(status["nextScheduledSyncAt"].is_string(), "{status}");
    let finished = server.wait_for("SUCCESS").await;
    let response = schedule_change("/sync/pause").await.expect("pause");
    assert_eq!(response.status(), 200);
    let paused = server.status().await;
    assert_eq!(paused["status"], "PAUSED", "{paused}");
    assert!(paused["nextScheduledSyncAt"].is_null(), "{paused}");
    assert!(
        paused["finishedAt"].as_str() >= finished["finishedAt"].as_str(),
        "{paused}"
    );
    let config: Value = server
        .api(Method::GET, "/scripts/config")
        .send()
        .await
        .expect("config")
        .json()
        .await
        .expect("json");
    let guests = config
        .as_array()
        .expect("array")
        .iter()
        .find(|entry| entry["providerConfigKey"] == GUESTS)
        .expect("guests");
    assert_eq!(guests["syncs"][0]["name"], NUMBERS);
    assert_eq!(guests["syncs"][0]["models"][0]["name"], NUMBER);
}

#[tokio::test]
async fn bad_requests_get_a_4xx_naming_what_was_wrong() {
    let server = SyncServer::start(json!({ "count": 1 })).await;
    let expect = |status: u16, named: &'static str| {
        move |(code, body): (u16, Value)| {
            let message = body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            assert_eq!(code, status, "{named}: {body}");
            assert!(message.contains(named), "expected `{named}` in: {message}");
        }
    };
    async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.expect("response");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
    expect(400, "Connection-Id")(send(server.api(Method::GET, "/records?model=Number")).await);
    for (query, status, named) in [
        ("", 400, "`model`"),
        ("model=Letter", 404, "`Letter`"),
        ("model=Number&cursor=abc", 400, "`cursor`"),
        (
            "model=Number&modified_after=last-week",
            400,
            "`modified_after`",
        ),
        ("model=Number&limit=0", 400, "`limit`"),
        ("model=Number&limit=10001", 400, "`limit`"),
        ("model=Number&filter=removed", 400, "`removed`"),
    ] {
        let response = server.records(query).await;
        let code = response.status().as_u16();
        expect(status, named)((code, response.json().await.unwrap_or(Value::Null)));
    }
    expect(404, "`nobody`")(
        send(
            server
                .api(Method::GET, "/records/?model=Number")
                .header("Connection-Id", "nobody")
                .header("Provider-Config-Key", GUESTS),
        )
        .await,
    );
    for (body, status, named) in [
        (
            json!({ "syncs": ["letters"], "provider_config_key": GUESTS }),
            404,
            "`letters`",
        ),
        (json!({ "syncs": [NUMBERS] }), 400, "`provider_config_key`"),
        (json!({ "provider_config_key": GUESTS }), 400, "`syncs`"),
        (
            json!({ "syncs": [NUMBERS], "provider_config_key": "nope" }),
            404,
            "`nope`",
        ),
        (
            json!({ "syncs": [NUMBERS], "provider_config_key": GUESTS, "connection_id": "nobody" }),
            404,
            "`nobody`",
        ),
        (
            json!({ "syncs": [NUMBERS], "provider_config_key": GUESTS, "sync_mode": "sometimes" }),
            400,
            "`sync_mode`",
        ),
    ] {
        expect(status, named)(send(server.api(Method::POST, "/sync/trigger").json(&body)).await);
    }
    expect(400, "`syncs`")(
        send(server.api(
            Method::GET,
            &format!("/sync/status?provider_config_key={GUESTS}"),
        ))
        .await,
    );
    expect(404, "`letters`")(
        send(server.api(
            Method::GET,
            &format!("/sync/status?syncs=letters&provider_config_key={GUESTS}"),
        ))
        .await,
    );
    expect(400, "every 5 seconds")(
        send(
            server
                .api(Method::PUT, "/sync/update-connection-frequency")
                .json(&json!({
                    "sync_name": NUMBERS, "provider_config_key": GUESTS,
                    "connection_id": CONNECTION, "frequency": "every 5 seconds",
                })),
        )
        .await,
    );
    expect(400, "`frequency`")(
        send(server.api(Method::PUT, "/sync/update-connection-frequency").json(&json!({
            "sync_name": NUMBERS, "provider_config_key": GUESTS, "connection_id": CONNECTION,
        })))
        .await,
    );
}
