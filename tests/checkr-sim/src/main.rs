//! `checkr-sim`: runs the loopback Checkr API simulator until Ctrl-C or SIGTERM.
//!
//! On start it prints exactly one line to stdout,
//! `checkr-sim listening on http://127.0.0.1:PORT`; everything else goes to stderr.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};

use anyhow::{Context as _, bail};
use checkr_sim::{AccountSeed, OAuthApp, SimConfig, Simulator};
use clap::Parser;

/// A loopback simulator of the Checkr API (candidates, invitations, reports,
/// packages, nodes, webhooks, partner OAuth), for terapi's tests and demo.
#[derive(Debug, Parser)]
#[command(name = "checkr-sim", version)]
struct Args {
    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Loopback address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// API token to accept (repeatable); all share one account. Default: `demo-token`.
    #[arg(long = "token", value_name = "TOKEN")]
    tokens: Vec<String>,
    /// Enable Account Hierarchy (nodes) on the seeded and connected accounts.
    #[arg(long)]
    hierarchy: bool,
    /// Name of the seeded account.
    #[arg(long, default_value = "Acme Staffing")]
    account_name: String,
    /// OAuth client id of the partner application.
    #[arg(long, default_value = "checkr-sim-client")]
    client_id: String,
    /// OAuth client secret of the partner application.
    #[arg(long, default_value = "checkr-sim-secret")]
    client_secret: String,
    /// Registered OAuth redirect URI (repeatable). Default: any loopback http URI.
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// Make the OAuth authorize page deny every request.
    #[arg(long)]
    oauth_deny: bool,
    /// Requests allowed per token per minute.
    #[arg(long, default_value_t = 1200)]
    rate_limit: u32,
    /// Seed every account (the token's and each OAuth-connected one) with this many
    /// candidates, with invitations and reports, so there is something to sync.
    #[arg(long, default_value_t = 0, value_name = "N")]
    seed_candidates: usize,
    /// Change every account this often, in seconds (a report and an invitation complete,
    /// a candidate is updated, one is created). 0: never.
    #[arg(long, default_value_t = 0, value_name = "SECONDS")]
    churn_every: u64,
    /// Webhook URL of the partner application: every event of an OAuth-connected account,
    /// and `token.deauthorized`, is delivered there, signed with the client secret (also
    /// settable at run time: `PUT /_sim/partner/webhook`).
    #[arg(long, value_name = "URL")]
    partner_webhook_url: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.host.is_loopback() {
        bail!(
            "checkr-sim only listens on loopback addresses, not {}",
            args.host
        );
    }
    let account = AccountSeed::new(args.account_name.clone())
        .with_id("4a1f9e1c2b3d4e5f60718293")
        .with_hierarchy(args.hierarchy);
    let mut tokens = args.tokens.clone();
    if tokens.is_empty() {
        eprintln!("checkr-sim: no --token given; seeding the default token `demo-token`");
        tokens.push("demo-token".to_string());
    }
    let redirect_uris = if args.redirect_uris.is_empty() {
        vec![
            "http://127.0.0.1/".to_string(),
            "http://localhost/".to_string(),
        ]
    } else {
        args.redirect_uris.clone()
    };
    let mut app = OAuthApp::new(&args.client_id, &args.client_secret, &redirect_uris[0])
        .with_connect_account(
            AccountSeed::new("Connected Customer").with_hierarchy(args.hierarchy),
        );
    for uri in &redirect_uris[1..] {
        app = app.with_redirect_uri(uri);
    }
    if let Some(url) = &args.partner_webhook_url {
        app = app.with_webhook_url(url);
    }
    let mut config = SimConfig::default()
        .with_oauth_app(app)
        .with_oauth_deny(args.oauth_deny)
        .with_rate_limit(args.rate_limit)
        .with_seed_candidates(args.seed_candidates);
    if args.churn_every > 0 {
        config = config.with_churn_every(std::time::Duration::from_secs(args.churn_every));
    }
    for token in &tokens {
        config = config.with_token(token, account.clone());
    }

    let sim = Simulator::start_on(SocketAddr::new(args.host, args.port), config)
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "checkr-sim listening on {}", sim.base_url())?;
        stdout.flush()?;
    }
    eprintln!(
        "checkr-sim: {} token(s), hierarchy {}, {} seeded candidate(s) per account, OAuth client `{}` (redirect URIs: {})",
        tokens.len(),
        if args.hierarchy { "on" } else { "off" },
        args.seed_candidates,
        args.client_id,
        redirect_uris.join(", ")
    );

    wait_for_signal().await?;
    eprintln!("checkr-sim: shutting down");
    sim.shutdown().await;
    Ok(())
}

/// Waits for Ctrl-C, or SIGTERM on Unix.
async fn wait_for_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await?;
    Ok(())
}
