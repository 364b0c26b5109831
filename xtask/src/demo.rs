//! `cargo xtask demo`: the whole product in one command, against a local Checkr simulator.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::mpsc;
use std::time::Duration;

use crate::cmd::Cmd;
use crate::{Error, Result, json};

/// The integration (and provider) the demo runs.
const INTEGRATION: &str = "checkr-partner";
/// The connection the demo creates.
const CONNECTION: &str = "demo-connection";
/// An API token the simulator accepts (for its own seeded account; the demo's connection
/// gets a fresh token through OAuth).
const TOKEN: &str = "demo-token";
/// The simulator's partner OAuth app (its defaults), which terapi is configured with.
const CLIENT_ID: &str = "checkr-sim-client";
/// Its client secret, handed to terapi through the environment.
const CLIENT_SECRET: &str = "checkr-sim-secret";
/// The API secret key of the demo server.
const SECRET_KEY: &str = "demo-secret-key";
/// How long the simulator or the server may take to print its address.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// The terapi configuration the demo writes to `target/demo/terapi.toml`: the integration
/// pointed at the simulator for its API and its OAuth pages, with the simulator's OAuth app.
///
/// This is the one place that knows the host's config format: adjust it here when the host's
/// field names change.
pub fn demo_config_toml(data_dir: &Path, component: &Path, api_base_url: &str) -> String {
    format!(
        "# Written by `cargo xtask demo`; regenerated on every run.\n\
         data_dir = {data_dir}\n\
         \n\
         [integrations.{INTEGRATION}]\n\
         provider = \"{INTEGRATION}\"\n\
         component = {component}\n\
         api_base_url = {api_base_url}\n\
         authorization_url = {authorization_url}\n\
         token_url = {token_url}\n\
         client_id = \"{CLIENT_ID}\"\n\
         # The client secret comes from TERAPI_CLIENT_SECRET_CHECKR_PARTNER.\n",
        data_dir = toml_string(&data_dir.to_string_lossy()),
        component = toml_string(&component.to_string_lossy()),
        authorization_url = toml_string(&format!("{api_base_url}/authorize/{{client_id}}")),
        token_url = toml_string(&format!("{api_base_url}/oauth/tokens")),
        api_base_url = toml_string(api_base_url),
    )
}

/// Runs the demo: `component` is the built `checkr_partner.wasm`.
pub fn run(repo: &Path, component: &Path) -> Result<()> {
    let messages = Cmd::cargo()
        .current_dir(repo)
        .args([
            "build",
            "--bin",
            "terapi",
            "--bin",
            "checkr-sim",
            "--message-format=json-render-diagnostics",
        ])
        .stdout()?;
    let executables = json::cargo_artifacts(&messages).executables;
    let terapi = executable(&executables, "terapi")?;
    let checkr_sim = executable(&executables, "checkr-sim")?;
    let demo_dir = repo.join("target").join("demo");
    run_with(&terapi, &checkr_sim, &demo_dir, component)
}

/// The demo proper, with already built binaries; writes into `demo_dir`.
fn run_with(terapi: &Path, checkr_sim: &Path, demo_dir: &Path, component: &Path) -> Result<()> {
    let data_dir = demo_dir.join("data");
    // A fresh store each run, so the demo never depends on a previous one.
    if data_dir.exists() {
        std::fs::remove_dir_all(&data_dir)
            .map_err(|e| Error::new(format!("cannot clear {}: {e}", data_dir.display())))?;
    }
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| Error::new(format!("cannot create {}: {e}", data_dir.display())))?;

    // terapi's address is chosen first, so the simulator can be told where the partner
    // application (terapi) receives Checkr's webhooks.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_err(|e| Error::new(format!("cannot find a free port: {e}")))?
        .port();
    let listen = format!("127.0.0.1:{port}");
    let webhook_url = format!("http://{listen}/webhook/{INTEGRATION}");
    let sim = Service::start(
        "checkr-sim",
        &Cmd::new(checkr_sim).args([
            "--port",
            "0",
            "--token",
            TOKEN,
            "--partner-webhook-url",
            &webhook_url,
        ]),
    )?;
    eprintln!("demo: Checkr simulator listening on {}", sim.url);

    let config = demo_dir.join("terapi.toml");
    std::fs::write(&config, demo_config_toml(&data_dir, component, &sim.url))
        .map_err(|e| Error::new(format!("cannot write {}: {e}", config.display())))?;
    eprintln!("demo: wrote {}", config.display());

    // Secrets through the environment, as in production; --insecure-dev because the demo
    // has no encryption key to keep.
    let terapi = |args: &[&str]| {
        Cmd::new(terapi)
            .arg("--config")
            .arg(&config)
            .args(args)
            .env("TERAPI_SECRET_KEY", SECRET_KEY)
            .env("TERAPI_CLIENT_SECRET_CHECKR_PARTNER", CLIENT_SECRET)
    };
    let server = Service::start(
        "terapi",
        &terapi(&["serve", "--listen", &listen, "--insecure-dev"]),
    )?;
    eprintln!("demo: terapi serve listening on {}", server.url);
    let result = terapi(&[
        "demo-flow",
        "--server",
        &server.url,
        "--integration",
        INTEGRATION,
        "--connection",
        CONNECTION,
        "--action",
        "get-account",
    ])
    .stdout()?;

    println!();
    println!("The demo:");
    println!("  1. started the Checkr simulator at {}", sim.url);
    println!(
        "  2. configured integration `{INTEGRATION}` ({}) against it in {}",
        component.display(),
        config.display()
    );
    println!("  3. started `terapi serve` at {}", server.url);
    println!(
        "  4. connected `{CONNECTION}` through OAuth: opened the connect link, followed the \
         simulator's authorize redirect to terapi's callback, which exchanged the code for a token"
    );
    println!("  5. ran `get-account` with POST /action/trigger; it returned:");
    println!();
    println!("{}", result.trim_end());
    println!();
    println!(
        "  6. ran the `candidates` sync (POST /sync/trigger) and read its records (GET /records)"
    );
    println!(
        "  7. created a candidate (`create-candidate`); the simulator sent Checkr's signed \
         `candidate.created` webhook to {webhook_url}, and the sync's handler stored the record"
    );
    println!("  8. listed candidates through the proxy (GET /proxy/v1/candidates)");
    drop(server);
    drop(sim);
    Ok(())
}

/// The executable named `name` among cargo's reported executables.
fn executable(executables: &[String], name: &str) -> Result<PathBuf> {
    executables
        .iter()
        .map(PathBuf::from)
        .find(|path| path.file_stem().is_some_and(|stem| stem == name))
        .ok_or_else(|| Error::new(format!("cargo did not report building the `{name}` binary")))
}

/// A running background program (`checkr-sim`, `terapi serve`) that prints
/// `<name> listening on <url>` as its first stdout line; killed when dropped (also on
/// errors and panics).
struct Service {
    name: &'static str,
    child: Child,
    url: String,
}

impl Service {
    /// Starts `cmd` and waits for its `<name> listening on URL` line.
    fn start(name: &'static str, cmd: &Cmd) -> Result<Self> {
        let mut child = cmd.spawn_piped_stdout()?;
        let Some(stdout) = child.stdout.take() else {
            return Err(Error::new(format!("{name}'s stdout was not captured")));
        };
        // The program is owned by a guard from here on, so every early return kills it.
        let mut service = Self {
            name,
            child,
            url: String::new(),
        };
        let (first_line, lines) = mpsc::channel();
        // Reads the first line for us, then keeps draining (and relaying) stdout so the
        // program never blocks on a full pipe. Ends when the program exits.
        std::thread::spawn(move || {
            let mut lines_in = BufReader::new(stdout).lines();
            let first = lines_in.next().and_then(|line| line.ok());
            let _ = first_line.send(first);
            for line in lines_in.map_while(|line| line.ok()) {
                eprintln!("[{name}] {line}");
            }
        });
        let line = match lines.recv_timeout(STARTUP_TIMEOUT) {
            Ok(Some(line)) => line,
            Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = service
                    .child
                    .wait()
                    .map_or_else(|e| e.to_string(), |s| s.to_string());
                return Err(Error::new(format!(
                    "{name} exited before printing its address ({status})"
                )));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(Error::new(format!(
                    "{name} did not print `{name} listening on <url>` within {}s",
                    STARTUP_TIMEOUT.as_secs()
                )));
            }
        };
        service.url = parse_listening_line(name, &line).ok_or_else(|| {
            Error::new(format!(
                "unexpected first line from {name}: {line:?} (expected `{name} listening on <url>`)"
            ))
        })?;
        Ok(service)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            eprintln!("demo: stopping {} (pid {})", self.name, self.child.id());
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// `<name> listening on http://127.0.0.1:PORT` -> `http://127.0.0.1:PORT`.
fn parse_listening_line(name: &str, line: &str) -> Option<String> {
    let url = line
        .trim()
        .strip_prefix(name)?
        .trim_start()
        .strip_prefix("listening on")?
        .trim();
    (url.starts_with("http://") || url.starts_with("https://")).then(|| url.to_owned())
}

/// A TOML basic string for `s`.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch directory with fake `checkr-sim` and `terapi` shell scripts.
    #[cfg(unix)]
    struct Fakes {
        dir: PathBuf,
    }

    #[cfg(unix)]
    impl Fakes {
        fn new(name: &str, sim_script: &str, terapi_script: &str) -> Self {
            use std::os::unix::fs::PermissionsExt;
            let dir =
                std::env::temp_dir().join(format!("xtask-demo-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create scratch dir");
            for (file, script) in [("checkr-sim", sim_script), ("terapi", terapi_script)] {
                let path = dir.join(file);
                std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).expect("write script");
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                    .expect("chmod script");
            }
            Self { dir }
        }

        fn run(&self) -> Result<()> {
            run_with(
                &self.dir.join("terapi"),
                &self.dir.join("checkr-sim"),
                &self.dir.join("demo"),
                Path::new("/c/checkr_partner.wasm"),
            )
        }

        fn read(&self, file: &str) -> String {
            std::fs::read_to_string(self.dir.join(file)).unwrap_or_default()
        }

        /// Whether the fake simulator (which wrote its pid to `sim.pid`) is still running.
        fn sim_alive(&self) -> bool {
            let pid = self.read("sim.pid");
            !pid.trim().is_empty() && Path::new("/proc").join(pid.trim()).exists()
        }
    }

    #[cfg(unix)]
    impl Drop for Fakes {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[cfg(unix)]
    const SIM: &str = r#"echo $$ > "$(dirname "$0")/sim.pid"
echo "$@" > "$(dirname "$0")/sim.args"
echo "checkr-sim listening on http://127.0.0.1:4567"
exec sleep 60"#;

    /// A fake `terapi`: records its arguments and environment; `serve` prints its address
    /// and keeps running; `demo-flow` prints an account.
    #[cfg(unix)]
    const TERAPI: &str = r#"dir="$(dirname "$0")"
echo "$@" >> "$dir/terapi.args"
echo "$TERAPI_SECRET_KEY $TERAPI_CLIENT_SECRET_CHECKR_PARTNER" >> "$dir/terapi.env"
case "$*" in
  *" serve "*) echo $$ > "$dir/serve.pid"; echo "terapi listening on http://127.0.0.1:5678"; exec sleep 60 ;;
  *" demo-flow "*) echo '{"id":"demo-account"}' ;;
esac"#;

    #[test]
    #[cfg(target_os = "linux")]
    fn demo_serves_connects_through_oauth_and_triggers_then_stops_everything() {
        let fakes = Fakes::new("ok", SIM, TERAPI);
        fakes.run().expect("demo succeeds");
        let config = fakes.dir.join("demo/terapi.toml");
        let config_arg = config.display();
        // terapi listens where the simulator was told to send the partner's webhooks.
        let args = fakes.read("terapi.args");
        let listen = args
            .split_whitespace()
            .skip_while(|arg| *arg != "--listen")
            .nth(1)
            .expect("serve --listen")
            .to_string();
        assert!(
            listen.starts_with("127.0.0.1:") && listen != "127.0.0.1:0",
            "{listen}"
        );
        assert_eq!(
            args,
            format!(
                "--config {config_arg} serve --listen {listen} --insecure-dev\n\
                 --config {config_arg} demo-flow --server http://127.0.0.1:5678 --integration checkr-partner --connection demo-connection --action get-account\n"
            )
        );
        assert_eq!(
            fakes.read("sim.args").trim(),
            format!(
                "--port 0 --token demo-token --partner-webhook-url http://{listen}/webhook/checkr-partner"
            )
        );
        assert_eq!(
            fakes.read("terapi.env"),
            "demo-secret-key checkr-sim-secret\ndemo-secret-key checkr-sim-secret\n"
        );
        let written = fakes.read("demo/terapi.toml");
        assert!(written.contains("api_base_url = \"http://127.0.0.1:4567\""));
        assert!(written.contains("token_url = \"http://127.0.0.1:4567/oauth/tokens\""));
        assert!(!fakes.sim_alive(), "the simulator must be stopped");
        let serve = fakes.read("serve.pid");
        assert!(
            !Path::new("/proc").join(serve.trim()).exists(),
            "the server must be stopped"
        );
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn simulator_is_stopped_when_terapi_fails() {
        let fakes = Fakes::new("fail", SIM, "exit 3");
        let error = fakes.run().expect_err("terapi fails");
        assert!(
            error
                .message()
                .contains("terapi exited before printing its address"),
            "{}",
            error.message()
        );
        assert!(fakes.read("sim.pid").trim().parse::<u32>().is_ok());
        assert!(!fakes.sim_alive(), "the simulator must be stopped");
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn server_and_simulator_are_stopped_when_the_flow_fails() {
        let terapi = TERAPI.replace(
            r#"*" demo-flow "*) echo '{"id":"demo-account"}' ;;"#,
            r#"*" demo-flow "*) exit 4 ;;"#,
        );
        let fakes = Fakes::new("flow", SIM, &terapi);
        let error = fakes.run().expect_err("the flow fails");
        assert!(error.message().contains("failed"), "{}", error.message());
        assert!(!fakes.sim_alive(), "the simulator must be stopped");
        let serve = fakes.read("serve.pid");
        assert!(!serve.trim().is_empty(), "the server was started");
        assert!(
            !Path::new("/proc").join(serve.trim()).exists(),
            "the server must be stopped"
        );
    }

    #[test]
    #[cfg(unix)]
    fn simulator_exiting_early_is_an_error() {
        let fakes = Fakes::new("early", "echo oops >&2; exit 2", "exit 0");
        let error = fakes.run().expect_err("no address");
        assert!(
            error.message().contains("exited before printing"),
            "{}",
            error.message()
        );
    }

    #[test]
    fn parses_listening_line() {
        assert_eq!(
            parse_listening_line(
                "checkr-sim",
                "checkr-sim listening on http://127.0.0.1:4567\n"
            )
            .as_deref(),
            Some("http://127.0.0.1:4567")
        );
        assert_eq!(
            parse_listening_line("terapi", "terapi listening on http://127.0.0.1:3003").as_deref(),
            Some("http://127.0.0.1:3003")
        );
        assert_eq!(parse_listening_line("checkr-sim", "starting up"), None);
        assert_eq!(
            parse_listening_line("terapi", "checkr-sim listening on http://127.0.0.1:1"),
            None
        );
        assert_eq!(
            parse_listening_line("checkr-sim", "checkr-sim listening on 127.0.0.1:1"),
            None
        );
    }

    #[test]
    fn config_text() {
        let text = demo_config_toml(
            Path::new("/repo/target/demo/data"),
            Path::new("/repo/actions/target/wasm32-wasip2/release/checkr_partner.wasm"),
            "http://127.0.0.1:4567",
        );
        assert!(text.contains("data_dir = \"/repo/target/demo/data\"\n"));
        assert!(text.contains("[integrations.checkr-partner]\nprovider = \"checkr-partner\"\n"));
        assert!(text.contains(
            "component = \"/repo/actions/target/wasm32-wasip2/release/checkr_partner.wasm\"\n"
        ));
        assert!(text.contains("api_base_url = \"http://127.0.0.1:4567\"\n"));
        assert!(
            text.contains("authorization_url = \"http://127.0.0.1:4567/authorize/{client_id}\"\n")
        );
        assert!(text.contains("client_id = \"checkr-sim-client\"\n"));
        assert!(!text.contains("checkr-sim-secret"), "no secret in the file");
    }

    #[test]
    fn toml_escaping() {
        assert_eq!(toml_string(r#"C:\a "b""#), r#""C:\\a \"b\"""#);
    }
}
