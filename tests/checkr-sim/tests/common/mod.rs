//! Shared helpers for the simulator's integration tests.
#![allow(dead_code)]

use base64::Engine as _;
use checkr_sim::{AccountSeed, SimConfig, Simulator};
use reqwest::header::HeaderMap;
use reqwest::{Client, StatusCode};
use serde_json::Value;

/// The default token of [`start`].
pub const TOKEN: &str = "tok";
/// A token of a hierarchy-enabled account in [`start`].
pub const HIER_TOKEN: &str = "tok-hier";

/// A simulator with `TOKEN` (no hierarchy) and `HIER_TOKEN` (hierarchy), plus a client.
pub async fn start() -> (Simulator, Api) {
    start_with(
        SimConfig::default()
            .with_token(TOKEN, AccountSeed::new("Acme Staffing"))
            .with_token(
                HIER_TOKEN,
                AccountSeed::new("Hier Corp").with_hierarchy(true),
            ),
    )
    .await
}

/// A simulator with `config`, plus a client.
pub async fn start_with(config: SimConfig) -> (Simulator, Api) {
    let sim = Simulator::start(config).await.expect("simulator starts");
    let api = Api {
        base: sim.base_url(),
        client: Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
    };
    (sim, api)
}

/// `Basic base64(token + ":")`.
pub fn basic(token: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{token}:"))
    )
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `{"error": ...}` message.
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// A small client for the simulator.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub client: Client,
}

impl Api {
    /// Sends `req` and reads the response.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body read");
        Resp {
            status,
            headers,
            text,
        }
    }

    /// A URL from a path, or the URL itself when absolute.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// `GET path` as `token`.
    pub async fn get(&self, token: &str, path: &str) -> Resp {
        self.send(
            self.client
                .get(self.url(path))
                .header("authorization", basic(token)),
        )
        .await
    }

    /// `POST path` with a JSON body as `token`.
    pub async fn post(&self, token: &str, path: &str, body: Value) -> Resp {
        self.send(
            self.client
                .post(self.url(path))
                .header("authorization", basic(token))
                .json(&body),
        )
        .await
    }

    /// `DELETE path` as `token`.
    pub async fn delete(&self, token: &str, path: &str) -> Resp {
        self.send(
            self.client
                .delete(self.url(path))
                .header("authorization", basic(token)),
        )
        .await
    }

    /// Creates a candidate with `email`, returning its id.
    pub async fn candidate(&self, token: &str, email: &str) -> String {
        let resp = self
            .post(
                token,
                "/v1/candidates",
                serde_json::json!({ "email": email }),
            )
            .await;
        assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
        resp.json()["id"]
            .as_str()
            .expect("candidate id")
            .to_string()
    }
}

/// Parses an ISO-8601 UTC time like `2018-02-02T16:39:00Z`.
pub fn parse_iso(value: &str) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{value} is not ISO-8601: {e}"))
}
