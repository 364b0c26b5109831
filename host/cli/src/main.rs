//! The `terapi` command line.

mod listen;

/// mimalloc rather than the system allocator: the server allocates on its tokio workers
/// and frees on others (and on the store's committer thread), and glibc's malloc spent a
/// fifth of a webhook burst's CPU in its arena locks and bookkeeping (see
/// `host/benches/analysis.md`, P7).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod serve;
mod sync;

use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use terapi_runtime::service::{Service, ServiceOptions, keys, process_env};
use terapi_runtime::store::{DeliveryFilter, DeliveryStatus};
use terapi_runtime::{ConnectionFilter, Credentials, NewConnection, RuntimeConfig, TriggerError};

/// terapi: an embeddable runtime for integration workflows written as WebAssembly actions.
#[derive(Debug, Parser)]
#[command(name = "terapi", version, about, long_about = None)]
struct Cli {
    /// Configuration file. Default: $TERAPI_CONFIG, else ./terapi.toml if it exists, else
    /// built-in defaults (data in ./.terapi, no integrations).
    #[arg(long, global = true, env = "TERAPI_CONFIG")]
    config: Option<PathBuf>,

    /// Store and read credentials UNENCRYPTED when no encryption key is set. Local
    /// development only: without it, every command that touches credentials refuses to
    /// run without TERAPI_ENCRYPTION_KEY (or `server.encryption_key`).
    #[arg(long, global = true)]
    insecure_dev: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run an action for a connection and print its JSON output.
    ///
    /// Exit status 0 with the output on stdout; 1 with the error as JSON on stderr.
    Run(RunArgs),
    /// Add, list and remove connections.
    #[command(subcommand)]
    Connection(ConnectionCommand),
    /// List the actions of configured integrations, or build the action components.
    #[command(subcommand)]
    Actions(ActionsCommand),
    /// Run syncs by hand and see their status.
    #[command(subcommand)]
    Sync(sync::SyncCommand),
    /// Read the records syncs keep.
    #[command(subcommand)]
    Records(sync::RecordsCommand),
    /// Serve the HTTP API (Nango-compatible) and the OAuth connect flow.
    ///
    /// Needs TERAPI_SECRET_KEY (clients send it as `Authorization: Bearer`) and
    /// TERAPI_ENCRYPTION_KEY (base64 of 32 bytes) unless --insecure-dev. Prints one line,
    /// `terapi listening on http://ADDR`, to stdout; logs go to stderr (RUST_LOG).
    Serve(serve::ServeArgs),
    /// Print a link that starts an OAuth connect in a browser: open it, approve at the
    /// provider, and the server stores the connection. Valid for 10 minutes by default.
    Connect(serve::ConnectArgs),
    /// List the webhooks sent to the application, or replay one.
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// Drive the OAuth connect like a browser against a running server, then trigger an
    /// action over the API (used by `cargo xtask demo`).
    #[command(hide = true)]
    DemoFlow(serve::DemoFlowArgs),
}

#[derive(Debug, Subcommand)]
enum WebhooksCommand {
    /// Print the outbox's webhooks, newest first, one JSON object per line.
    List {
        /// Only the ones that failed for good.
        #[arg(long)]
        failed: bool,
        /// At most this many.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        limit: u64,
    },
    /// Send a webhook again from its first attempt (and attempt it now); a webhook
    /// handler job (kind `on-webhook`) is run again by `terapi serve`.
    Replay {
        /// The delivery id `terapi webhooks list` shows.
        id: i64,
    },
    /// Receive terapi's webhooks locally and print each (one JSON line, with whether its
    /// signature verifies): point `TERAPI_WEBHOOK_URL` of `terapi serve` here while
    /// developing.
    Listen {
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:3001")]
        listen: std::net::SocketAddr,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The integration, e.g. `checkr-partner`.
    provider_config_key: String,
    /// The action, e.g. `get-account`.
    action: String,
    /// The connection to run for.
    #[arg(long)]
    connection: String,
    /// The input: JSON text, or @FILE to read it from a file (@- for stdin).
    #[arg(long, default_value = "{}")]
    input: String,
    /// Also print the run log (what the action logged and printed) to stderr.
    #[arg(long)]
    logs: bool,
}

#[derive(Debug, Subcommand)]
enum ConnectionCommand {
    /// Store a connection with credentials entered by hand.
    Add(AddConnectionArgs),
    /// List connections (credentials are never printed).
    List {
        /// Only this integration.
        #[arg(long)]
        integration: Option<String>,
    },
    /// Remove a connection.
    /// Remove a connection. OAuth tokens are revoked at the provider first (Checkr:
    /// `POST /oauth/deauthorize`); if that fails the connection is kept.
    Remove {
        /// The integration.
        provider_config_key: String,
        /// The connection.
        connection_id: String,
        /// Only forget the connection here; do not revoke its token at the provider.
        #[arg(long)]
        local_only: bool,
    },
}

#[derive(Debug, Args)]
struct AddConnectionArgs {
    /// The integration, e.g. `checkr-partner`.
    provider_config_key: String,
    /// The id your application uses for this connection.
    connection_id: String,
    /// An OAuth access token (Checkr partner token). `-` reads it from stdin, which keeps
    /// it out of shell history and process listings; so does $TERAPI_ACCESS_TOKEN.
    #[arg(long, env = "TERAPI_ACCESS_TOKEN", hide_env_values = true, conflicts_with_all = ["api_key", "username"])]
    access_token: Option<String>,
    /// An API key. `-` reads it from stdin.
    #[arg(long, conflicts_with = "username")]
    api_key: Option<String>,
    /// HTTP Basic user name (with --password).
    #[arg(long, requires = "password")]
    username: Option<String>,
    /// HTTP Basic password. `-` reads it from stdin.
    #[arg(long, requires = "username")]
    password: Option<String>,
    /// The provider, if it differs from the integration key.
    #[arg(long)]
    provider: Option<String>,
    /// Connection configuration, a JSON object.
    #[arg(long, default_value = "{}")]
    connection_config: String,
    /// Metadata, a JSON object.
    #[arg(long, default_value = "{}")]
    metadata: String,
}

#[derive(Debug, Subcommand)]
enum ActionsCommand {
    /// List each integration's actions with their descriptions and input schemas.
    List {
        /// Only this integration.
        integration: Option<String>,
    },
    /// Compile the repository's `actions/` workspace to WebAssembly components
    /// (runs `cargo xtask build-actions` in the terapi checkout).
    Build {
        /// The terapi checkout (default: the nearest parent directory with `actions/` and `xtask/`).
        #[arg(long)]
        repo: Option<PathBuf>,
    },
}

/// A failure reported to the user: a message on stderr (JSON for `run`), exit 1.
struct Failure(Value);

impl Failure {
    fn message(message: impl std::fmt::Display) -> Self {
        Failure(json!({ "error": { "code": "cli_error", "message": message.to_string() } }))
    }
}

/// The entry point.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // A server reports what it does; one-shot commands only what went wrong.
    let default_filter = match cli.command {
        Command::Serve(_) => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(dispatch(cli));
    // Tasks still running (a request or a guest past `terapi serve`'s shutdown grace
    // period) are dropped; blocking work (a database call) gets a moment to finish, so a
    // stuck one cannot keep the process from exiting.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(error)) => {
            eprintln!(
                "{}",
                serde_json::to_string_pretty(&error).unwrap_or_else(|_| error.to_string())
            );
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> Result<(), Failure> {
    let config = load_config(cli.config.as_deref())?;
    let options = ServiceOptions {
        insecure_dev: cli.insecure_dev,
        env: process_env(),
    };
    match cli.command {
        Command::Run(args) => run(config, options, args).await,
        Command::Connection(command) => connection(config, options, command).await,
        Command::Actions(ActionsCommand::List { integration }) => {
            list_actions(config, integration).await
        }
        Command::Actions(ActionsCommand::Build { repo }) => build_actions(repo),
        Command::Sync(command) => sync::sync(config, options, command).await,
        Command::Records(command) => sync::records(config, options, command).await,
        Command::Serve(args) => serve::serve(config, args, cli.insecure_dev).await,
        Command::Webhooks(command) => webhooks(config, options, command).await,
        Command::Connect(args) => serve::connect(config, args),
        Command::DemoFlow(args) => serve::demo_flow(config, args).await,
    }
}

fn load_config(path: Option<&Path>) -> Result<RuntimeConfig, Failure> {
    let default = Path::new("terapi.toml");
    match path {
        Some(path) => RuntimeConfig::from_file(path).map_err(Failure::message),
        None if default.exists() => RuntimeConfig::from_file(default).map_err(Failure::message),
        None => Ok(RuntimeConfig::default()),
    }
}

fn read_input(input: &str) -> Result<String, Failure> {
    match input.strip_prefix('@') {
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|error| {
                    Failure::message(format!("cannot read the input from stdin: {error}"))
                })?;
            Ok(text)
        }
        Some(file) => std::fs::read_to_string(file).map_err(|error| {
            Failure::message(format!("cannot read the input file {file}: {error}"))
        }),
        None => Ok(input.to_string()),
    }
}

async fn run(config: RuntimeConfig, options: ServiceOptions, args: RunArgs) -> Result<(), Failure> {
    let input = read_input(&args.input)?;
    let service = Service::open(config, options)
        .await
        .map_err(Failure::message)?
        .with_runtime()
        .await
        .map_err(Failure::message)?;
    let runtime = service
        .runtime()
        .ok_or_else(|| Failure::message("the runtime did not start"))?;
    let invocation = runtime
        .run_action(
            &args.provider_config_key,
            &args.connection,
            &args.action,
            &input,
        )
        .await;
    if args.logs {
        for line in &invocation.logs {
            // Escaped: guest text cannot fake lines or send terminal escape sequences.
            eprintln!(
                "[{:?} {:?}] {}",
                line.level,
                line.source,
                line.message.escape_debug()
            );
        }
    }
    match invocation.result {
        Ok(output) => {
            let pretty = serde_json::from_str::<Value>(output.as_json())
                .and_then(|value| serde_json::to_string_pretty(&value))
                .unwrap_or_else(|_| output.into_json());
            println!("{pretty}");
            Ok(())
        }
        Err(error) => Err(Failure(error_json(&error))),
    }
}

/// The error document printed for a failed run, shaped like the HTTP API's errors.
fn error_json(error: &TriggerError) -> Value {
    let mut body = json!({ "code": error.code(), "message": error.to_string() });
    if let TriggerError::Action {
        payload: Some(payload),
        ..
    } = error
    {
        body["payload"] = payload.clone();
    }
    json!({ "error": body })
}

fn secret_argument(value: String, what: &str) -> Result<String, Failure> {
    if value != "-" {
        return Ok(value);
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|error| Failure::message(format!("cannot read the {what} from stdin: {error}")))?;
    Ok(text.trim().to_string())
}

fn json_object(text: &str, flag: &str) -> Result<Value, Failure> {
    match serde_json::from_str::<Value>(text) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(Failure::message(format!("{flag} must be a JSON object"))),
        Err(error) => Err(Failure::message(format!(
            "{flag} is not valid JSON: {error}"
        ))),
    }
}

async fn connection(
    config: RuntimeConfig,
    options: ServiceOptions,
    command: ConnectionCommand,
) -> Result<(), Failure> {
    let encrypted = keys::encryption_configured(&config, &options.env);
    let service = Service::open(config.clone(), options)
        .await
        .map_err(Failure::message)?;
    let store = service.connections();
    match command {
        ConnectionCommand::Add(args) => {
            let credentials = if let Some(token) = args.access_token {
                Credentials::access_token(secret_argument(token, "access token")?)
            } else if let Some(key) = args.api_key {
                Credentials::ApiKey {
                    api_key: secret_argument(key, "API key")?,
                }
            } else if let (Some(username), Some(password)) = (args.username, args.password) {
                Credentials::Basic {
                    username,
                    password: secret_argument(password, "password")?,
                }
            } else {
                Credentials::None
            };
            let provider = args.provider.unwrap_or_else(|| {
                config
                    .integrations
                    .get(&args.provider_config_key)
                    .and_then(|integration| integration.provider.clone())
                    .unwrap_or_else(|| args.provider_config_key.clone())
            });
            let mut connection = NewConnection::new(
                &args.provider_config_key,
                &args.connection_id,
                provider,
                credentials,
            );
            connection.connection_config =
                json_object(&args.connection_config, "--connection-config")?;
            connection.metadata = json_object(&args.metadata, "--metadata")?;
            let stored = store.upsert(&connection).await.map_err(Failure::message)?;
            if !encrypted && !matches!(stored.credentials, Credentials::None) {
                eprintln!(
                    "warning: the credentials are stored unencrypted; set TERAPI_ENCRYPTION_KEY \
                     (base64 of 32 random bytes) to encrypt them"
                );
            }
            println!(
                "stored connection {}/{} ({} credentials)",
                stored.provider_config_key,
                stored.connection_id,
                stored.credentials.kind()
            );
            Ok(())
        }
        ConnectionCommand::List { integration } => {
            let mut filter = ConnectionFilter::default();
            filter.provider_config_key = integration;
            let connections = store.list(&filter).await.map_err(Failure::message)?;
            let listed: Vec<Value> = connections
                .iter()
                .map(|connection| {
                    json!({
                        "connection_id": connection.connection_id,
                        "provider_config_key": connection.provider_config_key,
                        "provider": connection.provider,
                        "credentials": connection.credentials.kind(),
                        "created_at": connection.created_at.to_string(),
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&listed).map_err(Failure::message)?
            );
            Ok(())
        }
        ConnectionCommand::Remove {
            provider_config_key,
            connection_id,
            local_only,
        } => {
            match service
                .delete_connection(&provider_config_key, &connection_id, !local_only)
                .await
            {
                Ok(()) => {
                    println!("removed connection {provider_config_key}/{connection_id}");
                    Ok(())
                }
                Err(error) if error.code == "deauthorize_failed" => Err(Failure::message(format!(
                    "{error} (--local-only removes it without revoking)"
                ))),
                Err(error) => Err(Failure::message(error)),
            }
        }
    }
}

async fn webhooks(
    config: RuntimeConfig,
    options: ServiceOptions,
    command: WebhooksCommand,
) -> Result<(), Failure> {
    if let WebhooksCommand::Listen { listen } = command {
        return listen::listen(&config, &options.env, listen).await;
    }
    let service = Service::open(config, options)
        .await
        .map_err(Failure::message)?;
    match command {
        WebhooksCommand::Listen { .. } => Ok(()),
        WebhooksCommand::List { failed, limit } => {
            let filter = DeliveryFilter {
                status: failed.then_some(DeliveryStatus::Failed),
                limit: Some(usize::try_from(limit).unwrap_or(usize::MAX)),
            };
            for delivery in service
                .list_webhooks(&filter)
                .await
                .map_err(Failure::message)?
            {
                println!(
                    "{}",
                    serde_json::to_string(&delivery).map_err(Failure::message)?
                );
            }
            Ok(())
        }
        WebhooksCommand::Replay { id } => {
            service.replay_webhook(id).await.map_err(Failure::message)?;
            service
                .deliver_due_webhooks()
                .await
                .map_err(Failure::message)?;
            let delivery = service
                .stores()
                .outbox
                .delivery(id)
                .await
                .map_err(Failure::message)?;
            match delivery {
                Some(delivery) => println!(
                    "{}",
                    serde_json::to_string(&delivery).map_err(Failure::message)?
                ),
                None => println!("webhook {id} is queued again"),
            }
            Ok(())
        }
    }
}

async fn list_actions(config: RuntimeConfig, only: Option<String>) -> Result<(), Failure> {
    // Describing components touches no credentials: no store, no encryption key needed.
    let runtime = terapi_runtime::Runtime::new(config)
        .await
        .map_err(Failure::message)?;
    let mut listing = serde_json::Map::new();
    for key in runtime.integration_keys() {
        if only.as_deref().is_some_and(|only| only != key) {
            continue;
        }
        let actions = runtime.actions(key).unwrap_or_default();
        listing.insert(
            key.to_string(),
            serde_json::to_value(actions).map_err(Failure::message)?,
        );
    }
    if let Some(only) = only.filter(|only| !listing.contains_key(only)) {
        return Err(Failure::message(format!(
            "no integration `{only}` is configured"
        )));
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&listing).map_err(Failure::message)?
    );
    Ok(())
}

fn build_actions(repo: Option<PathBuf>) -> Result<(), Failure> {
    let start = match repo {
        Some(repo) => repo,
        None => std::env::current_dir().map_err(Failure::message)?,
    };
    let checkout = start
        .ancestors()
        .find(|dir| dir.join("actions/Cargo.toml").exists() && dir.join("xtask").is_dir())
        .ok_or_else(|| {
            Failure::message(format!(
                "{} is not inside a terapi checkout (no actions/Cargo.toml and xtask/ above it); pass --repo",
                start.display()
            ))
        })?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["xtask", "build-actions"])
        .current_dir(checkout)
        .status()
        .map_err(|error| Failure::message(format!("cannot run cargo: {error}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Failure::message(format!(
            "building the actions failed ({status})"
        )))
    }
}
