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
    Ok(())
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
