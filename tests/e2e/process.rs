//! The real `terapi` binary as a child process, for the tests that need one: a command
//! that inherits nothing from the test runner's environment that would change what it
//! does, and `terapi serve` started, its URL read, and killed when dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

/// Variables a developer's shell may set that would change what a command does; every
/// command starts without them, and a test sets the ones it means.
const CLEARED: [&str; 6] = [
    "TERAPI_ACCESS_TOKEN",
    "TERAPI_WEBHOOK_URL",
    "TERAPI_WEBHOOK_SIGNING_KEY",
    "TERAPI_SECRET_KEY",
    "TERAPI_ENCRYPTION_KEY",
    "TERAPI_CONFIG",
];

/// `terapi --config <config>` with none of [`CLEARED`] and `RUST_LOG=warn`.
pub fn terapi(config: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_terapi"));
    command.arg("--config").arg(config);
    for name in CLEARED {
        command.env_remove(name);
    }
    command.env("RUST_LOG", "warn");
    command
}

/// Runs `command` to its end; its stdout. Panics with its stderr when it fails.
pub fn succeed(command: &mut Command) -> String {
    let output = command.output().expect("terapi runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `command` (a `terapi --config …` with its keys) adding `connection` to `integration`
/// with the simulator's token and `metadata`.
pub fn add_connection(mut command: Command, integration: &str, connection: &str, metadata: &str) {
    succeed(command.args([
        "connection",
        "add",
        integration,
        connection,
        "--access-token",
        crate::support::TOKEN,
        "--metadata",
        metadata,
    ]));
}

/// Spawns `command` (a `terapi … serve` command whose stderr the caller has set) and
/// waits for its first line, `terapi listening on <url>`. Returns the child, the URL and
/// the rest of its stdout.
pub fn spawn_serve(command: &mut Command) -> (Child, String, BufReader<ChildStdout>) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    if let Err(error) = stdout.read_line(&mut line) {
        let _ = child.kill();
        panic!("no listening line: {error}");
    }
    let Some(url) = line.trim().strip_prefix("terapi listening on ") else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("unexpected first line {line:?}");
    };
    (child, url.to_string(), stdout)
}

/// A `terapi serve` child, SIGKILLed when dropped if still running.
pub struct Serving {
    pub child: Child,
    pub url: String,
}

impl Serving {
    /// [`spawn_serve`], killed when dropped.
    pub fn start(command: &mut Command) -> Serving {
        let (child, url, _) = spawn_serve(command);
        Serving { child, url }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
