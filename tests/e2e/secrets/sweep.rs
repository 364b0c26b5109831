//! OAuth connect (against the simulator), actions, the proxy, a sync, received provider
//! webhooks (one forged), webhooks delivered to the application, and CLI commands (some
//! failing on purpose), all against one `terapi serve` at `RUST_LOG=debug`. Every log
//! line (its stderr and stdout), every HTTP response body, every CLI output and every
//! webhook the application received is kept, and none of them may contain the API secret
//! key, the OAuth client secret (also the provider's webhook secret), the encryption key
//! (a wrong one given to the CLI too), the webhook signing key, or the access token in
//! any form it was sent.

use crate::server::support::{CLIENT_ID, CLIENT_SECRET, oauth_simulator};
use crate::support::{CHECKR, basic, component};
use crate::webhooks::outbox::{Received, receiver};
use checkr_sim::{AccountSeed, Fault};
use reqwest::Method;
use serde_json::{Value, json};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicU16;
use std::time::{Duration, Instant};

const SECRET_KEY: &str = "sweep-secret-key-4f1c9a7e2b";
const ENCRYPTION_KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";
/// A valid key that is not the right one, given to the CLI on purpose.
const WRONG_ENCRYPTION_KEY: &str = "ERERERERERERERERERERERERERERERERERERERERERE=";
const SIGNING_KEY: &str = "sweep-webhook-signing-key-77d2e0";
const CONNECTION: &str = "hygiene";

/// Everything a person or a log pipeline could see, labelled by where it came from.
#[derive(Default)]
struct Transcript(Vec<(String, String)>);

impl Transcript {
    fn add(&mut self, source: impl Into<String>, text: impl Into<String>) {
        self.0.push((source.into(), text.into()));
    }

    /// Sends a request and records its answer; returns the status and the body.
    async fn http(&mut self, label: &str, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.expect(label);
        let status = response.status().as_u16();
        let mut text = format!("{:?}\n", response.headers());
        let body = response.text().await.expect("body");
        text.push_str(&body);
        self.add(format!("HTTP {label} ({status})"), text);
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }

    /// Runs the CLI and records its stdout and stderr; returns whether it succeeded and
    /// its stdout.
    fn cli(&mut self, config: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
        let out = terapi(config)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("terapi runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        self.add(
            format!("CLI terapi {}", args.join(" ")),
            format!("{stdout}\n{stderr}"),
        );
        (out.status.success(), stdout)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

fn terapi(config: &Path) -> Command {
    let mut command = crate::process::terapi(config);
    command
        .env("TERAPI_SECRET_KEY", SECRET_KEY)
        .env("TERAPI_ENCRYPTION_KEY", ENCRYPTION_KEY)
        .env("TERAPI_CLIENT_SECRET_CHECKR_PARTNER", CLIENT_SECRET)
        .env("TERAPI_WEBHOOK_SIGNING_KEY", SIGNING_KEY)
        .env("RUST_LOG", "debug");
    command
}

fn write_config(dir: &Path, sim_url: &str, port: u16, app_url: &str) -> PathBuf {
    let path = dir.join("terapi.toml");
    let text = format!(
        "data_dir = \"data\"\n\n[server]\nlisten = \"127.0.0.1:{port}\"\nwebhook_url = \"{app_url}\"\n\
         webhook_on_sync_error = true\n\n\
         [integrations.{CHECKR}]\ncomponent = \"{}\"\napi_base_url = \"{sim_url}\"\n\
         authorization_url = \"{sim_url}/authorize/{{client_id}}\"\ntoken_url = \"{sim_url}/oauth/tokens\"\n\
         client_id = \"{CLIENT_ID}\"\n",
        component("checkr_partner").display()
    );
    std::fs::write(&path, text).expect("config written");
    path
}

/// A `terapi serve` whose stdout is read to the end in a thread and whose stderr goes
/// to a file.
struct Serving {
    child: Child,
    stdout: Option<std::thread::JoinHandle<String>>,
    log: PathBuf,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(config: &Path) -> (Serving, String) {
    let log = config.with_file_name("serve.log");
    let stderr = std::fs::File::create(&log).expect("log file");
    let (child, url, mut stdout) =
        crate::process::spawn_serve(terapi(config).arg("serve").stderr(stderr));
    let first = format!("terapi listening on {url}\n");
    let rest = std::thread::spawn(move || {
        let mut text = first;
        let _ = stdout.read_to_string(&mut text);
        text
    });
    (
        Serving {
            child,
            stdout: Some(rest),
            log,
        },
        url,
    )
}

/// Waits until `done` holds for what the application received.
async fn wait_for(received: &Received, what: &str, done: impl Fn(&[Value]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let webhooks: Vec<Value> = received
            .all()
            .into_iter()
            .filter_map(|(_, body)| serde_json::from_str(&body).ok())
            .collect();
        if done(&webhooks) {
            return;
        }
        assert!(Instant::now() < deadline, "no {what} webhook: {webhooks:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_in_logs_error_bodies_cli_output_or_webhooks() {
    let (app, received, _app_task) = receiver(None, Arc::new(AtomicU16::new(200))).await;
    let sim = oauth_simulator(AccountSeed::new("Hygiene Co")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        &sim.base_url(),
        free_port(),
        &format!("http://{app}/hooks"),
    );
    let mut seen = Transcript::default();
    let (mut serving, url) = serve(&config);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
        .expect("client");
    let api = |method: Method, path: &str| {
        client
            .request(method, format!("{url}{path}"))
            .bearer_auth(SECRET_KEY)
    };

    // OAuth connect from a `terapi connect` link, as a browser would.
    let (ok, link) = seen.cli(&config, &["connect", CHECKR, CONNECTION], &[]);
    assert!(ok, "connect link");
    let (status, page) = seen
        .http(
            "GET connect link",
            client
                .get(link.trim())
                .header(reqwest::header::ACCEPT, "text/html"),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    // Provider webhooks of the connected account come to this server.
    assert!(sim.set_partner_webhook_url(CLIENT_ID, Some(&format!("{url}/webhook/{CHECKR}"))));

    // Actions: one that works, and failures of every kind.
    let trigger = |action: &str, connection: &str, input: Value| {
        api(Method::POST, "/action/trigger")
            .header("Connection-Id", connection)
            .header("Provider-Config-Key", CHECKR)
            .json(&json!({ "action_name": action, "input": input }))
    };
    let (status, account) = seen
        .http("get-account", trigger("get-account", CONNECTION, json!({})))
        .await;
    assert_eq!(status, 200, "{account}");
    assert_eq!(account["name"], "Hygiene Co");
    let basic_token = sim
        .requests()
        .iter()
        .rev()
        .find(|request| request.path == "/v1/account")
        .and_then(|request| request.header("authorization").map(str::to_string))
        .expect("the action called Checkr");
    let token = {
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(basic_token.trim_start_matches("Basic "))
            .expect("base64");
        String::from_utf8(decoded)
            .expect("UTF-8")
            .trim_end_matches(':')
            .to_string()
    };
    assert_eq!(basic(&token), basic_token);
    assert!(sim.seed_candidates(&token, 3), "candidates for the sync");
    seen.http(
        "unknown action",
        trigger("no-such-action", CONNECTION, json!({})),
    )
    .await;
    seen.http(
        "unknown connection",
        trigger("get-account", "nobody", json!({})),
    )
    .await;
    seen.http(
        "invalid input",
        trigger("create-candidate", CONNECTION, json!({ "email": 7 })),
    )
    .await;
    sim.inject_fault(Fault::status("/v1/account", 401));
    let (status, body) = seen
        .http(
            "upstream 401",
            trigger("get-account", CONNECTION, json!({})),
        )
        .await;
    assert!(status >= 400, "{body}");
    seen.http(
        "wrong secret key",
        client
            .get(format!("{url}/integrations"))
            .bearer_auth("not-the-key"),
    )
    .await;

    // The proxy: a call, an upstream failure passed through, a refused override.
    let proxy = |method: Method, path: &str| {
        api(method, &format!("/proxy{path}"))
            .header("Connection-Id", CONNECTION)
            .header("Provider-Config-Key", CHECKR)
    };
    let (status, _) = seen.http("proxy", proxy(Method::GET, "/v1/account")).await;
    assert_eq!(status, 200);
    sim.inject_fault(Fault::status("/v1/account", 500));
    seen.http("proxy 500", proxy(Method::GET, "/v1/account"))
        .await;
    seen.http(
        "proxy denied",
        proxy(Method::GET, "/v1/account").header("Base-Url-Override", "http://127.0.0.1:9"),
    )
    .await;

    // A sync, its status and records; its webhook goes to the application.
    let (status, body) = seen
        .http(
            "sync trigger",
            api(Method::POST, "/sync/trigger").json(&json!({
                "provider_config_key": CHECKR, "connection_id": CONNECTION, "syncs": ["candidates"]
            })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, status) = seen
            .http(
                "sync status",
                api(
                    Method::GET,
                    &format!(
                        "/sync/status?provider_config_key={CHECKR}&connection_id={CONNECTION}&syncs=candidates"
                    ),
                ),
            )
            .await;
        if status["syncs"][0]["status"] == "SUCCESS" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the sync did not finish: {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    seen.http(
        "records",
        api(Method::GET, "/records?model=Candidate")
            .header("Connection-Id", CONNECTION)
            .header("Provider-Config-Key", CHECKR),
    )
    .await;
    wait_for(&received, "sync", |webhooks| {
        webhooks.iter().any(|webhook| webhook["type"] == "sync")
    })
    .await;

    // Provider webhooks: a candidate created in the account is signed with the client
    // secret and forwarded; a forged one is refused (and the retry goes through).
    sim.forge_next_webhook_signature();
    let created = client
        .post(format!("{}/v1/candidates", sim.base_url()))
        .header(reqwest::header::AUTHORIZATION, &basic_token)
        .json(&json!({ "email": "sweep@example.com" }))
        .send()
        .await
        .expect("candidate");
    assert_eq!(created.status(), 201);
    assert!(sim.wait_for_webhooks(Duration::from_secs(30)).await);
    assert!(
        sim.webhook_deliveries()
            .iter()
            .any(|delivery| delivery.attempts.len() > 1),
        "the forged attempt was refused and retried"
    );
    wait_for(&received, "forward", |webhooks| {
        webhooks.iter().any(|webhook| webhook["type"] == "forward")
    })
    .await;
    seen.http("webhooks list", api(Method::GET, "/webhooks"))
        .await;
    seen.http(
        "unsigned provider webhook",
        client
            .post(format!("{url}/webhook/{CHECKR}"))
            .json(&json!({ "id": "evt_forged", "type": "candidate.created" })),
    )
    .await;

    // CLI commands next to the server, and failures with missing or wrong keys.
    for args in [
        &["connection", "list"][..],
        &[
            "run",
            CHECKR,
            "get-account",
            "--connection",
            CONNECTION,
            "--logs",
        ],
        &["webhooks", "list"],
        &["sync", "status", CHECKR, "--connection", CONNECTION],
        &[
            "records",
            "list",
            CHECKR,
            "Candidate",
            "--connection",
            CONNECTION,
        ],
        &["actions", "list"],
    ] {
        let (ok, _) = seen.cli(&config, args, &[]);
        assert!(ok, "terapi {}", args.join(" "));
    }
    let (ok, _) = seen.cli(
        &config,
        &["run", CHECKR, "get-account", "--connection", CONNECTION],
        &[("TERAPI_ENCRYPTION_KEY", WRONG_ENCRYPTION_KEY)],
    );
    assert!(!ok, "the wrong key cannot read the credentials");
    let (ok, _) = seen.cli(
        &config,
        &["run", CHECKR, "get-account", "--connection", CONNECTION],
        &[("TERAPI_ENCRYPTION_KEY", "too-short")],
    );
    assert!(!ok);

    // Stop the server (SIGTERM: a graceful stop logs too) and take its whole output.
    let pid = serving.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let _ = serving.child.wait();
    let stdout = serving
        .stdout
        .take()
        .expect("stdout reader")
        .join()
        .expect("joined");
    let log = std::fs::read_to_string(&serving.log).expect("log");
    drop(serving);
    assert!(
        log.contains("OAuth connection stored")
            && log.contains("sync run succeeded")
            && log.contains("DEBUG"),
        "the log is live at debug level"
    );
    seen.add("serve stdout", stdout);
    seen.add("serve stderr", log);
    for (_, body) in received.all() {
        seen.add("webhook to the application", body);
    }

    let secrets = [
        ("the API secret key", SECRET_KEY.to_string()),
        (
            "the OAuth client secret (and webhook secret)",
            CLIENT_SECRET.to_string(),
        ),
        ("the encryption key", ENCRYPTION_KEY.to_string()),
        ("the wrong encryption key", WRONG_ENCRYPTION_KEY.to_string()),
        ("the webhook signing key", SIGNING_KEY.to_string()),
        ("the access token", token.clone()),
        (
            "the access token as sent",
            basic_token.trim_start_matches("Basic ").to_string(),
        ),
    ];
    let mut leaks = Vec::new();
    for (source, text) in &seen.0 {
        for (name, secret) in &secrets {
            if text.contains(secret.as_str()) {
                leaks.push(format!("{name} in {source}"));
            }
        }
    }
    assert!(seen.0.len() > 20, "the sweep saw {} outputs", seen.0.len());
    assert!(leaks.is_empty(), "secrets leaked: {leaks:#?}");
    eprintln!(
        "SECRETS: {} outputs checked ({} bytes of server log), no secret found",
        seen.0.len(),
        seen.0
            .iter()
            .filter(|(source, _)| source == "serve stderr")
            .map(|(_, text)| text.len())
            .sum::<usize>()
    );
}
