//! `terapi sync run|status` and `terapi records list`.

use super::Failure;
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};
use terapi_runtime::service::{Service, ServiceOptions, SyncStatus};
use terapi_runtime::{RecordCursor, RecordQuery, RuntimeConfig, SyncProgress, WriteCounts};

/// `terapi sync ...`.
#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Run a sync once for a connection, now, in this process, with a live progress line
    /// on stderr (added/updated/deleted per model, batches, elapsed). Refused while the
    /// same sync runs for the connection elsewhere (a server sharing the database).
    Run(SyncRunArgs),
    /// Print the status of an integration's syncs (JSON).
    Status(SyncStatusArgs),
}

/// Arguments of `terapi sync run`.
#[derive(Debug, Args)]
pub struct SyncRunArgs {
    /// The integration, e.g. `checkr-partner`.
    provider_config_key: String,
    /// The sync, e.g. `candidates`.
    sync: String,
    /// The connection to run for.
    #[arg(long)]
    connection: String,
    /// Also print the run log to stderr.
    #[arg(long)]
    logs: bool,
}

/// Arguments of `terapi sync status`.
#[derive(Debug, Args)]
pub struct SyncStatusArgs {
    /// The integration.
    provider_config_key: String,
    /// Only this connection (default: every connection of the integration).
    #[arg(long)]
    connection: Option<String>,
    /// Only these syncs, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    syncs: Vec<String>,
}

/// `terapi records ...`.
#[derive(Debug, Subcommand)]
pub enum RecordsCommand {
    /// Print a model's records for a connection as JSON lines (each with its
    /// `_nango_metadata`), in modification order.
    List(RecordsListArgs),
}

/// Arguments of `terapi records list`.
#[derive(Debug, Args)]
pub struct RecordsListArgs {
    /// The integration.
    provider_config_key: String,
    /// The model, e.g. `Candidate`.
    model: String,
    /// The connection.
    #[arg(long)]
    connection: String,
    /// Include deleted records.
    #[arg(long)]
    include_deleted: bool,
}

async fn service(config: RuntimeConfig, options: ServiceOptions) -> Result<Service, Failure> {
    Service::open(config, options)
        .await
        .map_err(Failure::message)?
        .with_runtime()
        .await
        .map_err(Failure::message)
}

/// One progress line: `Candidate +250 ~0 -0 | 3 batches | 1.2s`.
fn progress_line(progress: &SyncProgress, started: Instant) -> String {
    let models: Vec<String> = progress
        .counts()
        .iter()
        .map(|(model, counts): (&String, &WriteCounts)| {
            format!(
                "{model} +{} ~{} -{}",
                counts.added, counts.updated, counts.deleted
            )
        })
        .collect();
    format!(
        "{} | {} batches | {:.1}s",
        models.join(", "),
        progress.batches(),
        started.elapsed().as_secs_f64()
    )
}

/// `terapi sync run|status`.
pub async fn sync(
    config: RuntimeConfig,
    options: ServiceOptions,
    command: SyncCommand,
) -> Result<(), Failure> {
    let service = service(config, options).await?;
    match command {
        SyncCommand::Run(args) => {
            let progress = Arc::new(SyncProgress::default());
            let started = Instant::now();
            // The live line only on a terminal; a log file gets the final line alone.
            let live = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let ticker = {
                let progress = progress.clone();
                tokio::spawn(async move {
                    if !live {
                        return;
                    }
                    loop {
                        tokio::time::sleep(Duration::from_millis(250)).await;
                        eprint!("\r\x1b[2K{}", progress_line(&progress, started));
                        let _ = std::io::stderr().flush();
                    }
                })
            };
            let outcome = service
                .run_sync_now(
                    &args.provider_config_key,
                    &args.connection,
                    &args.sync,
                    Some(progress.clone()),
                )
                .await;
            ticker.abort();
            let outcome = outcome.map_err(Failure::message)?;
            if live {
                eprint!("\r\x1b[2K");
            }
            eprintln!("{}", progress_line(&progress, started));
            // The run wrote its sync webhooks to the outbox (when a webhook URL is set):
            // send them now rather than leave them for a server sharing the database.
            // What fails stays queued and is retried by `terapi serve`.
            match service.deliver_due_webhooks().await {
                Ok(0) => {}
                Ok(attempted) => eprintln!(
                    "{attempted} webhook(s) sent to the application (`terapi webhooks list` shows how each went)"
                ),
                Err(error) => eprintln!("webhooks stay queued: {}", error.message),
            }
            if args.logs {
                for line in &outcome.logs {
                    eprintln!("[{:?} {:?}] {}", line.level, line.source, line.message);
                }
            }
            let counts: serde_json::Map<String, Value> = outcome
                .counts
                .iter()
                .map(|(model, counts)| {
                    (
                        model.clone(),
                        json!({ "added": counts.added, "updated": counts.updated,
                                "deleted": counts.deleted, "unchanged": counts.unchanged }),
                    )
                })
                .collect();
            match outcome.result {
                Ok(()) => {
                    println!(
                        "{}",
                        json!({ "success": true, "results": counts,
                                "elapsed_ms": started.elapsed().as_millis() as u64 })
                    );
                    Ok(())
                }
                Err(error) => Err(Failure(json!({ "error": {
                    "code": "sync_failed",
                    "message": error.to_string(),
                    "results": counts,
                }}))),
            }
        }
        SyncCommand::Status(args) => {
            let statuses = service
                .sync_status(
                    &args.provider_config_key,
                    args.connection.as_deref(),
                    &args.syncs,
                )
                .await
                .map_err(Failure::message)?;
            let listed: Vec<Value> = statuses.iter().map(SyncStatus::to_json).collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({ "syncs": listed }))
                    .map_err(Failure::message)?
            );
            Ok(())
        }
    }
}

/// `terapi records list`: pages through the store 1,000 at a time, one JSON line each.
pub async fn records(
    config: RuntimeConfig,
    options: ServiceOptions,
    command: RecordsCommand,
) -> Result<(), Failure> {
    let service = service(config, options).await?;
    let RecordsCommand::List(args) = command;
    let mut after: Option<RecordCursor> = None;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    loop {
        let page = service
            .list_records(
                &args.provider_config_key,
                &args.connection,
                &args.model,
                &RecordQuery {
                    after,
                    limit: 1_000,
                    ..RecordQuery::default()
                },
            )
            .await
            .map_err(Failure::message)?;
        for record in &page.records {
            if record.deleted_at.is_some() && !args.include_deleted {
                continue;
            }
            let data = record.clone().into_nango_json();
            writeln!(out, "{data}").map_err(Failure::message)?;
        }
        match page.next_cursor {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    out.flush().map_err(Failure::message)
}
