//! The `terapi` binary's server side: `serve` (its refusals and its startup line),
//! `connect` (the signed link), and `connection remove` revoking the token.

use crate::process::Serving;
use crate::server::support::{CLIENT_ID, CLIENT_SECRET, SECRET_KEY, oauth_simulator};
use crate::support::{CHECKR, component, free_port};
use checkr_sim::{AccountSeed, Fault};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const ENCRYPTION_KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";

fn write_config(dir: &Path, sim_url: &str, port: u16) -> PathBuf {
    let path = dir.join("terapi.toml");
    let text = format!(
        "data_dir = \"data\"\n\n[server]\nlisten = \"127.0.0.1:{port}\"\n\n\
         [integrations.checkr-partner]\ncomponent = \"{}\"\napi_base_url = \"{sim_url}\"\n\
         authorization_url = \"{sim_url}/authorize/{{client_id}}\"\ntoken_url = \"{sim_url}/oauth/tokens\"\n\
         client_id = \"{CLIENT_ID}\"\n",
        component("checkr_partner").display()
    );
    std::fs::write(&path, text).expect("config written");
    path
}

fn terapi(config: &Path) -> Command {
    let mut command = crate::process::terapi(config);
    command.env("TERAPI_CLIENT_SECRET_CHECKR_PARTNER", CLIENT_SECRET);
    command
}

fn output(command: &mut Command) -> Output {
    command.stdin(Stdio::null()).output().expect("terapi runs")
}

/// Starts `terapi serve`, logging to `log` at trace level for terapi and the HTTP stack
/// (the compiler's trace output would only make the test slow).
fn serve(config: &Path, log: &Path) -> (Serving, String) {
    let log = std::fs::File::create(log).expect("log file");
    let serving = Serving::start(
        terapi(config)
            .args(["serve"])
            .env("TERAPI_SECRET_KEY", SECRET_KEY)
            .env("TERAPI_ENCRYPTION_KEY", ENCRYPTION_KEY)
            .env(
                "RUST_LOG",
                "info,terapi=trace,terapi_runtime=trace,terapi_server=trace,hyper=trace,hyper_util=trace,reqwest=trace,axum=trace,tower_http=trace",
            )
            .stderr(log),
    );
    let url = serving.url.clone();
    (serving, url)
}

#[test]
fn serve_refuses_to_start_without_its_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "http://127.0.0.1:9", free_port());
    let out = output(
        terapi(&config)
            .arg("serve")
            .env("TERAPI_SECRET_KEY", SECRET_KEY),
    );
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("TERAPI_ENCRYPTION_KEY") && text.contains("--insecure-dev"),
        "{text}"
    );
    let out = output(terapi(&config).args(["serve", "--insecure-dev"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TERAPI_SECRET_KEY"));
    let out = output(
        terapi(&config)
            .arg("serve")
            .env("TERAPI_SECRET_KEY", SECRET_KEY)
            .env("TERAPI_ENCRYPTION_KEY", "too-short"),
    );
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("TERAPI_ENCRYPTION_KEY"), "{text}");
    assert!(
        !text.contains("too-short"),
        "the key is never echoed: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_link_from_the_cli_then_remove_revokes_the_token() {
    let sim = oauth_simulator(AccountSeed::new("Linked Co")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &sim.base_url(), free_port());
    let log = dir.path().join("serve.log");
    let (serving, url) = serve(&config, &log);

    // `terapi connect` prints a link to this server that needs no secret key.
    let out = output(
        terapi(&config)
            .args(["connect", CHECKR, "linked"])
            .env("TERAPI_SECRET_KEY", SECRET_KEY),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        link.starts_with(&format!("{url}/oauth/connect/{CHECKR}?")),
        "{link}"
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
        .expect("client");
    let page = client
        .get(&link)
        .header(reqwest::header::ACCEPT, "text/html")
        .send()
        .await
        .expect("browser");
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    assert!(page.text().await.expect("page").contains("Connected"));

    // The CLI reads the encrypted store only with the key.
    let out =
        output(terapi(&config).args(["run", CHECKR, "get-account", "--connection", "linked"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TERAPI_ENCRYPTION_KEY"));
    let out = output(
        terapi(&config)
            .args(["run", CHECKR, "get-account", "--connection", "linked"])
            .env("TERAPI_ENCRYPTION_KEY", ENCRYPTION_KEY),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let account: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(account["name"], "Linked Co");
    let token = sim
        .requests()
        .iter()
        .rev()
        .find(|request| request.path == "/v1/account")
        .and_then(|request| request.header("authorization").map(str::to_string))
        .expect("the action called Checkr");

    // A failing deauthorization keeps the connection.
    sim.inject_fault(Fault::status("/oauth/deauthorize", 500).times(10));
    let remove = |config: &Path| {
        output(
            terapi(config)
                .args(["connection", "remove", CHECKR, "linked"])
                .env("TERAPI_ENCRYPTION_KEY", ENCRYPTION_KEY),
        )
    };
    let out = remove(&config);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("kept"));
    sim.clear_faults();
    let out = remove(&config);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deauthorize = sim
        .requests()
        .into_iter()
        .rev()
        .find(|request| request.path == "/oauth/deauthorize")
        .expect("deauthorized");
    assert_eq!(deauthorize.header("authorization"), Some(token.as_str()));
    let direct = client
        .get(format!("{}/v1/account", sim.base_url()))
        .header(reqwest::header::AUTHORIZATION, token.as_str())
        .send()
        .await
        .expect("direct");
    assert_eq!(direct.status(), reqwest::StatusCode::UNAUTHORIZED);

    // Even at trace level the server's log holds none of the secrets it handled.
    drop(serving);
    let log = std::fs::read_to_string(&log).expect("log");
    assert!(log.contains("OAuth connection stored"), "the log is live");
    let raw_token = {
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(token.trim_start_matches("Basic "))
            .expect("base64");
        String::from_utf8(decoded)
            .expect("utf-8")
            .trim_end_matches(':')
            .to_string()
    };
    for secret in [
        SECRET_KEY,
        CLIENT_SECRET,
        ENCRYPTION_KEY,
        raw_token.as_str(),
        token.as_str(),
    ] {
        assert!(!log.contains(secret), "a secret leaked into the log");
    }
}
