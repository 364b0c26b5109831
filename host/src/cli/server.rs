//! `terapi serve`, `terapi connect`, and the hidden `terapi demo-flow` that drives the
//! OAuth connect like a browser would (for `cargo xtask demo`).

use super::Failure;
use clap::Args;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use terapi_host::server::{ServeOptions, Server, connect_link};
use terapi_host::{
    AesGcmCipher, Connection, CredentialCipher, Credentials, HttpPolicy, PlaintextCipher,
    Providers, RuntimeConfig,
};

/// Longest validity of a connect link: a week.
const MAX_LINK_SECS: u64 = 7 * 24 * 3600;

/// `terapi serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Listen on this address instead of `server.listen`.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Store credentials UNENCRYPTED when no encryption key is set. Local development
    /// only; without it the server refuses to start without TERAPI_ENCRYPTION_KEY.
    #[arg(long)]
    insecure_dev: bool,
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
    std::env::var("TERAPI_SECRET_KEY")
        .ok()
        .filter(|key| !key.is_empty())
        .or_else(|| {
            config
                .server
                .secret_key
                .as_ref()
                .map(|key| key.expose().to_string())
        })
        .ok_or_else(|| {
            Failure::message("no secret key: set TERAPI_SECRET_KEY (or `server.secret_key`)")
        })
}

/// The credential cipher the CLI's own store access uses: AES-256-GCM when
/// `TERAPI_ENCRYPTION_KEY` (or `server.encryption_key`) is set, else none.
pub fn cipher(config: &RuntimeConfig) -> Result<(Arc<dyn CredentialCipher>, bool), Failure> {
    let key = std::env::var("TERAPI_ENCRYPTION_KEY")
        .ok()
        .filter(|key| !key.is_empty());
    let (key, source) = match key {
        Some(key) => (Some(key), "TERAPI_ENCRYPTION_KEY"),
        None => (
            config
                .server
                .encryption_key
                .as_ref()
                .map(|key| key.expose().to_string()),
            "`server.encryption_key`",
        ),
    };
    match key {
        Some(key) => {
            let cipher = AesGcmCipher::from_base64(&key)
                .map_err(|error| Failure::message(format!("{source}: {error}")))?;
            Ok((Arc::new(cipher), true))
        }
        None => Ok((Arc::new(PlaintextCipher), false)),
    }
}

/// Revokes a connection's OAuth token at its provider, when the provider has a
/// deauthorize endpoint; the error says the connection was kept.
pub async fn deauthorize(config: &RuntimeConfig, connection: &Connection) -> Result<(), Failure> {
    if !matches!(connection.credentials, Credentials::OAuth2 { .. }) {
        return Ok(());
    }
    let providers = Providers::built_in();
    let Some(provider) = providers.get(&connection.provider) else {
        return Ok(());
    };
    let Some(endpoint) = &provider.deauthorize_endpoint else {
        return Ok(());
    };
    let integration = config.integrations.get(&connection.provider_config_key);
    let base_url = integration
        .and_then(|integration| integration.api_base_url.clone())
        .unwrap_or_else(|| provider.api_base_url.clone());
    let allowed: &[String] = integration.map_or(&[], |integration| &integration.allowed_hosts);
    let policy = HttpPolicy::new(
        &base_url,
        allowed,
        provider.request_auth,
        provider.rate_limit_reset_header.as_deref(),
        &config.limits,
    )
    .map_err(Failure::message)?;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(Failure::message)?;
    terapi_host::oauth::deauthorize(&policy, &client, &connection.credentials, endpoint)
        .await
        .map_err(|error| {
            Failure::message(format!(
                "{error}; the connection was kept (--local-only removes it without revoking)"
            ))
        })
}

/// `terapi serve`.
pub async fn serve(config: RuntimeConfig, args: ServeArgs) -> Result<(), Failure> {
    let options = ServeOptions {
        insecure_dev: args.insecure_dev,
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
