//! `terapi serve`, `terapi connect`, and the hidden `terapi demo-flow` that drives the
//! OAuth connect like a browser would (for `cargo xtask demo`).

use super::Failure;
use clap::Args;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;
use terapi_runtime::RuntimeConfig;
use terapi_runtime::service::process_env;
use terapi_server::{ServeOptions, Server, connect_link};

/// Longest validity of a connect link: a week.
const MAX_LINK_SECS: u64 = 7 * 24 * 3600;

/// `terapi serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Listen on this address instead of `server.listen`.
    #[arg(long)]
    listen: Option<SocketAddr>,
}

/// `terapi connect` options.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The integration, e.g. `checkr-partner`.
    provider_config_key: String,
    /// The id your application uses for the connection being created.
    connection_id: String,
    /// How long the link stays valid, in seconds (at most a week).
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=MAX_LINK_SECS))]
    valid_for: u64,
}

/// `terapi demo-flow` options.
#[derive(Debug, Args)]
pub struct DemoFlowArgs {
    /// The server's URL. Default: `server.public_url` (else `http://<server.listen>`).
    #[arg(long)]
    server: Option<String>,
    /// The integration to connect.
    #[arg(long)]
    integration: String,
    /// The connection to create.
    #[arg(long)]
    connection: String,
    /// The action to trigger once connected.
    #[arg(long, default_value = "get-account")]
    action: String,
    /// The action's input (JSON).
    #[arg(long, default_value = "{}")]
    input: String,
}

/// The secret key clients use: `TERAPI_SECRET_KEY`, else `server.secret_key`.
fn secret_key(config: &RuntimeConfig) -> Result<String, Failure> {
    terapi_runtime::service::keys::secret_key(config, &process_env()).map_err(Failure::message)
}

/// `terapi serve`.
pub async fn serve(
    config: RuntimeConfig,
    args: ServeArgs,
    insecure_dev: bool,
) -> Result<(), Failure> {
    let options = ServeOptions {
        insecure_dev,
        listen: args.listen,
        ..ServeOptions::default()
    };
    let server = Server::bind(config, options)
        .await
        .map_err(Failure::message)?;
    // One line on stdout, for scripts; logs go to stderr.
    println!("terapi listening on http://{}", server.local_addr());
    server
        .run(shutdown_signal())
        .await
        .map_err(|error| Failure::message(format!("the server failed: {error}")))?;
    eprintln!("terapi: stopped");
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `terapi connect`: prints a signed link that starts the OAuth connect in a browser.
pub fn connect(config: RuntimeConfig, args: ConnectArgs) -> Result<(), Failure> {
    if !config.integrations.contains_key(&args.provider_config_key) {
        return Err(Failure::message(format!(
            "no integration `{}` is configured",
            args.provider_config_key
        )));
    }
    let secret = secret_key(&config)?;
    println!(
        "{}",
        connect_link(
            &config,
            &secret,
            &args.provider_config_key,
            &args.connection_id,
            Duration::from_secs(args.valid_for),
        )
    );
    Ok(())
}

/// `terapi demo-flow`: opens the connect link and follows the redirects as a browser
/// would (authorize page, callback), then triggers an action over the API and prints
/// its output.
pub async fn demo_flow(mut config: RuntimeConfig, args: DemoFlowArgs) -> Result<(), Failure> {
    let secret = secret_key(&config)?;
    if let Some(server) = &args.server {
        config.server.public_url = Some(server.clone());
    }
    let base = config.server.public_url();
    let link = connect_link(
        &config,
        &secret,
        &args.integration,
        &args.connection,
        Duration::from_secs(600),
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(Failure::message)?;
    eprintln!("demo: open {link}");
    let mut url = link;
    for hop in 1..=10 {
        let response = client
            .get(&url)
            .header(reqwest::header::ACCEPT, "text/html")
            .send()
            .await
            .map_err(|error| Failure::message(format!("GET {url}: {error}")))?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|value| value.to_str().ok())
                .ok_or_else(|| Failure::message(format!("{url} redirected without a Location")))?;
            let next = reqwest::Url::parse(&url)
                .and_then(|current| current.join(location))
                .map_err(|error| Failure::message(format!("bad redirect {location}: {error}")))?;
            eprintln!("demo: {hop}. {status} -> {}", redact_query(&next));
            url = next.to_string();
            continue;
        }
        let body = response.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(Failure::message(format!(
                "the OAuth flow ended with {status}: {}",
                strip_tags(&body)
            )));
        }
        eprintln!("demo: {hop}. {status}: {}", strip_tags(&body));
        break;
    }
    let input: Value = serde_json::from_str(&args.input)
        .map_err(|error| Failure::message(format!("--input is not valid JSON: {error}")))?;
    let response = client
        .post(format!("{base}/action/trigger"))
        .bearer_auth(&secret)
        .header("Connection-Id", &args.connection)
        .header("Provider-Config-Key", &args.integration)
        .json(&serde_json::json!({ "action_name": args.action, "input": input }))
        .send()
        .await
        .map_err(|error| Failure::message(format!("POST {base}/action/trigger: {error}")))?;
    let status = response.status();
    let body = response.text().await.map_err(Failure::message)?;
    eprintln!("demo: POST /action/trigger ({}) -> {status}", args.action);
    let pretty = serde_json::from_str::<Value>(&body)
        .and_then(|value| serde_json::to_string_pretty(&value))
        .unwrap_or(body);
    if !status.is_success() {
        return Err(Failure::message(format!("the action failed: {pretty}")));
    }
    println!("{pretty}");
    let demo = Demo {
        client: &client,
        base: &base,
        secret: &secret,
        integration: &args.integration,
        connection: &args.connection,
    };
    demo.sync_then_webhook_then_proxy().await
}

/// The demo's calls to the server after the OAuth flow: each a request a user's
/// application makes.
struct Demo<'a> {
    client: &'a reqwest::Client,
    base: &'a str,
    secret: &'a str,
    integration: &'a str,
    connection: &'a str,
}

/// The sync the demo runs and the model it reads.
const DEMO_SYNC: &str = "candidates";
const DEMO_MODEL: &str = "Candidate";
/// How long the demo waits for a sync run or a webhook's effect.
const DEMO_WAIT: Duration = Duration::from_secs(60);

impl Demo<'_> {
    /// `method path` on the server with the secret key and the connection's headers;
    /// the JSON answer, or a failure naming the call.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Failure> {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(self.secret)
            .header("Connection-Id", self.connection)
            .header("Provider-Config-Key", self.integration);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|error| Failure::message(format!("{method} {path}: {error}")))?;
        let status = response.status();
        let text = response.text().await.map_err(Failure::message)?;
        if !status.is_success() {
            return Err(Failure::message(format!(
                "{method} {path}: {status}: {text}"
            )));
        }
        serde_json::from_str(&text)
            .map_err(|error| Failure::message(format!("{method} {path}: not JSON: {error}")))
    }

    /// The connection's stored records of [`DEMO_MODEL`] (the first page).
    async fn records(&self) -> Result<Vec<Value>, Failure> {
        let page = self
            .call(
                reqwest::Method::GET,
                &format!("/records?model={DEMO_MODEL}"),
                None,
            )
            .await?;
        Ok(page["records"].as_array().cloned().unwrap_or_default())
    }

    /// Sync data, receive webhooks, proxy requests: the Checkr features the action and
    /// the OAuth flow did not show.
    async fn sync_then_webhook_then_proxy(&self) -> Result<(), Failure> {
        // Sync data: one run of `candidates` now, then its records.
        self.call(
            reqwest::Method::POST,
            "/sync/trigger",
            Some(serde_json::json!({
                "syncs": [DEMO_SYNC],
                "provider_config_key": self.integration,
                "connection_id": self.connection,
            })),
        )
        .await?;
        let query: String = reqwest::Url::parse_with_params(
            "http://status.invalid/",
            [
                ("syncs", DEMO_SYNC),
                ("provider_config_key", self.integration),
                ("connection_id", self.connection),
            ],
        )
        .ok()
        .and_then(|url| url.query().map(str::to_string))
        .unwrap_or_default();
        let status_path = format!("/sync/status?{query}");
        let deadline = std::time::Instant::now() + DEMO_WAIT;
        loop {
            let status = self.call(reqwest::Method::GET, &status_path, None).await?;
            match status["syncs"][0]["status"].as_str() {
                Some("SUCCESS") => break,
                Some("ERROR") => {
                    return Err(Failure::message(format!("the sync failed: {status}")));
                }
                _ if std::time::Instant::now() > deadline => {
                    return Err(Failure::message(format!(
                        "the sync did not finish within {DEMO_WAIT:?}: {status}"
                    )));
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let synced = self.records().await?.len();
        eprintln!(
            "demo: POST /sync/trigger ({DEMO_SYNC}) -> SUCCESS; GET /records?model={DEMO_MODEL} -> {synced} records"
        );

        // Receive webhooks: a candidate created at Checkr arrives as a signed
        // `candidate.created` webhook, and the sync's handler stores it at once.
        let created = self
            .call(
                reqwest::Method::POST,
                "/action/trigger",
                Some(serde_json::json!({
                    "action_name": "create-candidate",
                    "input": {
                        "email": "demo.applicant@example.com",
                        "first_name": "Demo",
                        "no_middle_name": true,
                        "last_name": "Applicant",
                    },
                })),
            )
            .await?;
        let id = created["id"]
            .as_str()
            .ok_or_else(|| Failure::message(format!("create-candidate returned no id: {created}")))?
            .to_string();
        eprintln!("demo: POST /action/trigger (create-candidate) -> candidate {id}");
        let started = std::time::Instant::now();
        let record = loop {
            let records = self.records().await?;
            if let Some(record) = records
                .into_iter()
                .find(|record| record["id"] == id.as_str())
            {
                break record;
            }
            if started.elapsed() > DEMO_WAIT {
                return Err(Failure::message(format!(
                    "candidate {id} never reached the records: is the simulator's partner \
                     webhook URL this server's /webhook/{}?",
                    self.integration
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        eprintln!(
            "demo: Checkr's signed candidate.created webhook -> POST /webhook/{}; the record \
             was stored {} ms after the action ({})",
            self.integration,
            started.elapsed().as_millis(),
            record["_nango_metadata"]["last_action"]
        );

        // Proxy requests: Checkr's API with the connection's credentials injected.
        let listed = self
            .call(
                reqwest::Method::GET,
                "/proxy/v1/candidates?per_page=1",
                None,
            )
            .await?;
        eprintln!(
            "demo: GET /proxy/v1/candidates -> Checkr's candidate list (count: {})",
            listed["count"]
        );
        Ok(())
    }
}

/// A URL for display: query values that carry secrets (`code`, `state`, `signature`)
/// are elided.
fn redact_query(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(name, value)| {
            let value = if matches!(name.as_ref(), "code" | "state" | "signature") {
                "...".to_string()
            } else {
                value.into_owned()
            };
            (name.into_owned(), value)
        })
        .collect();
    if pairs.is_empty() {
        return shown.to_string();
    }
    shown.query_pairs_mut().clear().extend_pairs(pairs);
    shown.to_string()
}

/// The text of an HTML page's body.
fn strip_tags(html: &str) -> String {
    let html = html.find("<body").map_or(html, |start| &html[start..]);
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
