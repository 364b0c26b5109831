//! `cargo xtask`: build orchestration for terapi.
//!
//! terapi has two Cargo workspaces: the root one (host runtime, SDK, simulator, tests), built
//! for the host, and `actions/`, whose crates are WASI preview 2 components built for
//! `wasm32-wasip2`. Tests and the demo need both, and the wasm one needs a toolchain that is not
//! always installable the usual way (see [`toolchain`]). xtask ties it together:
//!
//! ```text
//! cargo xtask toolchain       ensure a wasm32-wasip2 toolchain, report the route used
//! cargo xtask build-actions   build actions/ into components
//! cargo xtask demo            the five Checkr features against the simulator: OAuth, an action, a sync, a webhook, the proxy
//! cargo xtask test [-- ARGS]  build actions/, then cargo test --workspace ARGS
//! cargo xtask lint            cargo fmt --check (both workspaces), cargo clippy -D warnings
//! cargo xtask fuzz [TARGET]   build the libFuzzer targets (fuzz/), run them for a while
//! ```
//!
//! It uses only the standard library so that it compiles in seconds. Every child command is
//! echoed as `$ command` before it runs; failures end with a one-line `error: ...` and exit
//! status 1.

mod cmd;
mod demo;
mod fuzz;
mod json;
mod toolchain;
mod wasm;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cmd::Cmd;
use toolchain::Toolchain;

/// An xtask failure: a one-line message plus optional `help:` lines.
#[derive(Debug)]
pub struct Error {
    message: String,
    help: Vec<String>,
}

impl Error {
    /// A failure described by `message` (one line, no trailing period).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            help: Vec::new(),
        }
    }

    /// Adds a `help:` line printed below the error.
    #[must_use]
    pub fn help(mut self, line: impl Into<String>) -> Self {
        self.help.push(line.into());
        self
    }

    /// The one-line message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// xtask's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a subcommand does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Toolchain,
    BuildActions,
    Demo,
    Test,
    Bench,
    Lint,
    Fuzz,
}

/// A subcommand: its name, one-line summary and `--help` text.
struct Command {
    action: Action,
    name: &'static str,
    summary: &'static str,
    help: &'static str,
}

const COMMANDS: &[Command] = &[
    Command {
        action: Action::Toolchain,
        name: "toolchain",
        summary: "Ensure a wasm32-wasip2 toolchain (installing it if needed) and report the route",
        help: "\
Usage: cargo xtask toolchain

Makes sure the actions can be built for wasm32-wasip2, and says how:

  rustup   `rustup target list --installed` includes wasm32-wasip2: plain
           `cargo build --target wasm32-wasip2` is used.
  Debian   otherwise (rustup cannot download the target), Debian's rustc builds
           the standard library from source: packages rustc-web cargo-web
           rust-web-src lld wasi-libc, plus wasm-component-ld. Missing pieces are
           installed (apt-get as root or with password-less sudo, `cargo install`);
           without the rights to install, it fails listing the commands to run.",
    },
    Command {
        action: Action::BuildActions,
        name: "build-actions",
        summary: "Build the wasm workspace (actions/) into WASI p2 components",
        help: "\
Usage: cargo xtask build-actions

Ensures the toolchain, builds actions/ in release mode for wasm32-wasip2, checks
that every produced .wasm is a component (not a core module), and prints their
paths and sizes. Output: actions/target/wasm32-wasip2/release/*.wasm",
    },
    Command {
        action: Action::Demo,
        name: "demo",
        summary: "Against the local Checkr simulator: OAuth connect, an action, a sync, a webhook, the proxy",
        help: "\
Usage: cargo xtask demo

Builds the actions and the `terapi` and `checkr-sim` binaries, starts the Checkr
simulator on a free port, writes target/demo/terapi.toml pointing the
checkr-partner integration (API and OAuth pages) at it, starts `terapi serve`
(--insecure-dev), connects `demo-connection` through OAuth the way a browser
would (connect link, the simulator's authorize page, terapi's callback), then
runs `get-account` with POST /action/trigger and prints its JSON result; runs
the `candidates` sync and reads its records; creates a candidate, whose signed
`candidate.created` webhook the simulator sends to terapi, and waits for the
record it stores; and lists candidates through the proxy. The server and the
simulator are stopped at the end, also on failure.",
    },
    Command {
        action: Action::Test,
        name: "test",
        summary: "Build the actions, then run `cargo test --workspace`",
        help: "\
Usage: cargo xtask test [-- CARGO-TEST-ARGS...]

Ensures the toolchain, builds the actions (the end-to-end tests load them), then
runs `cargo test --workspace`, appending everything after `--` verbatim
(`--workspace` is left out when those arguments select packages with -p/--package).
Examples:
  cargo xtask test -- -p terapi-cli
  cargo xtask test -- --test e2e -- --nocapture",
    },
    Command {
        action: Action::Bench,
        name: "bench",
        summary: "Build the actions, run the benchmark suite, write BENCHMARKS.md",
        help: "\
Usage: cargo xtask bench

Builds the actions, then runs the benchmark suite in release mode
(`cargo bench -p terapi-cli --bench suite`): invocation overhead against Node's
vm (Nango's model), HTTP action overhead against native reqwest, throughput at
concurrency 1/8/64, cold start and memory. Writes BENCHMARKS.md at the
repository root. Takes a few minutes; run it on an otherwise idle machine.
The criterion regression benchmarks run with `cargo bench -p terapi-cli --bench invocation`.",
    },
    Command {
        action: Action::Lint,
        name: "lint",
        summary: "cargo fmt --check on both workspaces, cargo clippy -D warnings",
        help: "\
Usage: cargo xtask lint

Runs, and reports every failure (not just the first):
  cargo fmt --all --check
  cargo fmt --all --check --manifest-path actions/Cargo.toml
  cargo clippy --workspace --all-targets -- -D warnings
  cargo clippy (the same) on actions/, natively
  cargo tree -p terapi-runtime: no web server, no CLI parser",
    },
    Command {
        action: Action::Fuzz,
        name: "fuzz",
        summary: "Build the libFuzzer targets (fuzz/) and run them for a while",
        help: "\
Usage: cargo xtask fuzz [TARGET] [--seconds N]

Builds fuzz/ (a cargo-fuzz layout) with coverage instrumentation on the stable
toolchain, then runs TARGET, or every target, for N seconds each (default 60):
  webhook        webhook signature verification and event parsing
  schema         compiling a component's JSON Schema, validating input with it
  config         terapi.toml parsing
  providers      providers.toml parsing
  proxy_headers  the proxy's request headers, translated for upstream
  records_query  GET /records query strings
Corpora grow in fuzz/corpus/TARGET, seeded from fuzz/seeds/TARGET; a failing
input is saved in fuzz/artifacts/TARGET/ and the command fails. Ends with a table
of executions and findings. The same properties run as proptests in
`cargo xtask test` for a bounded number of cases.",
    },
];

fn main() -> ExitCode {
    let args: Result<Vec<String>> = std::env::args_os()
        .skip(1)
        .map(|arg| {
            arg.into_string()
                .map_err(|arg| Error::new(format!("argument {arg:?} is not valid UTF-8")))
        })
        .collect();
    match args.and_then(|args| run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", error.message);
            for line in &error.help {
                eprintln!("  help: {line}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    let Some((name, rest)) = args.split_first() else {
        eprint!("{}", main_help());
        return Err(Error::new("no command given"));
    };
    match name.as_str() {
        "-h" | "--help" => {
            print!("{}", main_help());
            return Ok(());
        }
        "help" => {
            match rest.first() {
                None => print!("{}", main_help()),
                Some(name) => println!("{}", find_command(name)?.help),
            }
            return Ok(());
        }
        _ => {}
    }
    let command = find_command(name)?;
    let opts = Options::parse(command, rest)?;
    if opts.help {
        println!("{}", command.help);
        return Ok(());
    }
    let repo = repo_root();
    let actions_manifest = opts
        .manifest_path
        .clone()
        .unwrap_or_else(|| repo.join("actions").join("Cargo.toml"));
    match command.action {
        Action::Toolchain => {
            let toolchain = toolchain::ensure()?;
            println!("wasm32-wasip2 toolchain: {}", toolchain.describe());
            Ok(())
        }
        Action::BuildActions => build_actions(&actions_manifest).map(drop),
        Action::Demo => {
            let components = build_actions(&actions_manifest)?;
            let wanted = wasm::release_dir(&actions_manifest).join("checkr_partner.wasm");
            let component = components
                .iter()
                .map(|c| &c.path)
                .find(|path| path.file_name() == wanted.file_name())
                .ok_or_else(|| {
                    Error::new(format!(
                        "the actions build produced no {}",
                        wanted.display()
                    ))
                })?;
            demo::run(&repo, component)
        }
        Action::Test => {
            build_actions(&actions_manifest)?;
            install_nango_client(&repo)?;
            Cmd::cargo()
                .current_dir(&repo)
                .args(cargo_test_args(&opts.passthrough))
                .run()?;
            if opts.passthrough.is_empty() {
                // The actions' own unit tests (input validation) run natively.
                Cmd::cargo()
                    .current_dir(&repo)
                    .args(["test", "--workspace", "--manifest-path"])
                    .arg(&actions_manifest)
                    .run()?;
                // The benchmarks are compiled and run once each as a smoke test (in the
                // test profile, so nothing is timed): a benchmark that no longer builds
                // or whose setup broke fails CI.
                Cmd::cargo()
                    .current_dir(&repo)
                    .args(["test", "-p", "terapi-cli", "--benches"])
                    .run()?;
            }
            Ok(())
        }
        Action::Bench => {
            build_actions(&actions_manifest)?;
            Cmd::cargo()
                .current_dir(&repo)
                .args(["bench", "-p", "terapi-cli", "--bench", "suite"])
                .env("TERAPI_BENCH_REPORT", repo.join("BENCHMARKS.md"))
                .run()
        }
        Action::Lint => lint(&repo),
        Action::Fuzz => fuzz::run(
            &repo,
            opts.fuzz_target.as_deref(),
            opts.seconds.unwrap_or(fuzz::DEFAULT_SECONDS),
        ),
    }
}

/// Installs Nango's Node client (`@nangohq/node`, pinned by `tests/nango-client`'s
/// lockfile) for the e2e tests that drive terapi with it, unless it is there already.
fn install_nango_client(repo: &Path) -> Result<()> {
    let dir = repo.join("tests").join("nango-client");
    if dir
        .join("node_modules")
        .join("@nangohq")
        .join("node")
        .is_dir()
    {
        return Ok(());
    }
    Cmd::new("npm")
        .current_dir(&dir)
        .args(["ci", "--no-audit", "--no-fund"])
        .run()
        .map_err(|error| {
            error.help(
                "the e2e tests drive terapi with Nango's Node client: install Node.js 20+ and \
                 npm (e.g. `apt-get install nodejs npm`), then run `npm ci` in tests/nango-client",
            )
        })
}

fn main_help() -> String {
    let mut text = String::from(
        "cargo xtask: build orchestration for terapi\n\n\
         Usage: cargo xtask <COMMAND> [OPTIONS]\n\nCommands:\n",
    );
    for command in COMMANDS {
        text.push_str(&format!("  {:<14} {}\n", command.name, command.summary));
    }
    text.push_str(&format!(
        "  {:<14} {}\n",
        "help", "Print this message or a command's help"
    ));
    text.push_str("\nRun `cargo xtask <COMMAND> --help` for more about a command.\n");
    text
}

fn find_command(name: &str) -> Result<&'static Command> {
    COMMANDS.iter().find(|c| c.name == name).ok_or_else(|| {
        Error::new(format!(
            "unknown command `{name}` (see `cargo xtask --help`)"
        ))
    })
}

/// A command's parsed options.
#[derive(Debug, Default)]
struct Options {
    help: bool,
    /// Hidden: build another wasm workspace than `actions/` (for testing the toolchain).
    manifest_path: Option<PathBuf>,
    /// `test`: arguments after `--`, passed to `cargo test`.
    passthrough: Vec<String>,
    /// `fuzz`: the one target to run.
    fuzz_target: Option<String>,
    /// `fuzz`: seconds per target.
    seconds: Option<u64>,
}

impl Options {
    fn parse(command: &Command, args: &[String]) -> Result<Self> {
        let mut opts = Self::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "-h" | "--help" => opts.help = true,
                "--" if command.action == Action::Test => {
                    opts.passthrough = args.by_ref().cloned().collect();
                }
                "--manifest-path" if command.action == Action::BuildActions => {
                    let path = args
                        .next()
                        .ok_or_else(|| Error::new("--manifest-path needs a value"))?;
                    opts.manifest_path = Some(absolute(Path::new(path)));
                }
                "--seconds" if command.action == Action::Fuzz => {
                    let value = args
                        .next()
                        .ok_or_else(|| Error::new("--seconds needs a value"))?;
                    opts.seconds = Some(parse_seconds(value)?);
                }
                other if command.action == Action::Fuzz => {
                    if let Some(value) = other.strip_prefix("--seconds=") {
                        opts.seconds = Some(parse_seconds(value)?);
                    } else if !other.starts_with('-') && opts.fuzz_target.is_none() {
                        opts.fuzz_target = Some(other.to_string());
                    } else {
                        return Err(Error::new(format!(
                            "unexpected argument `{other}` for `cargo xtask fuzz`"
                        )));
                    }
                }
                other => {
                    if let Some(path) = other.strip_prefix("--manifest-path=")
                        && command.action == Action::BuildActions
                    {
                        opts.manifest_path = Some(absolute(Path::new(path)));
                        continue;
                    }
                    let hint = if command.action == Action::Test {
                        " (pass cargo test arguments after `--`)"
                    } else {
                        ""
                    };
                    return Err(Error::new(format!(
                        "unexpected argument `{other}` for `cargo xtask {}`{hint}",
                        command.name
                    )));
                }
            }
        }
        Ok(opts)
    }
}

/// `--seconds`: a whole number of seconds, at least 1.
fn parse_seconds(value: &str) -> Result<u64> {
    value
        .parse::<u64>()
        .ok()
        .filter(|seconds| *seconds > 0)
        .ok_or_else(|| {
            Error::new(format!(
                "--seconds must be a whole number of seconds, at least 1, not `{value}`"
            ))
        })
}

/// The repository root (xtask lives in `<root>/xtask`).
fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    root.canonicalize().unwrap_or(root)
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn ensure_toolchain() -> Result<Toolchain> {
    let toolchain = toolchain::ensure()?;
    eprintln!("toolchain: {}", toolchain.describe());
    Ok(toolchain)
}

/// Ensures the toolchain, builds the wasm workspace and lists its components.
fn build_actions(manifest: &Path) -> Result<Vec<wasm::Component>> {
    let toolchain = ensure_toolchain()?;
    let components = wasm::build_components(&toolchain, manifest)?;
    let cwd = std::env::current_dir().unwrap_or_default();
    println!("components (WASI p2, release):");
    for component in &components {
        let path = component.path.strip_prefix(&cwd).unwrap_or(&component.path);
        println!(
            "  {:>10}  {}",
            wasm::human_size(component.size),
            path.display()
        );
    }
    Ok(components)
}

/// `cargo test --workspace ARGS`, without `--workspace` if `ARGS` select packages (cargo would
/// otherwise ignore the selection and test everything).
fn cargo_test_args(passthrough: &[String]) -> Vec<String> {
    let selects_packages = passthrough
        .iter()
        .take_while(|arg| *arg != "--")
        .any(|arg| arg.starts_with("-p") || arg == "--package" || arg.starts_with("--package="));
    let mut args = vec!["test".to_owned()];
    if !selects_packages {
        args.push("--workspace".to_owned());
    }
    args.extend(passthrough.iter().cloned());
    args
}

/// Crates an application embedding `terapi-runtime` must not have to compile: a web
/// framework, a command-line parser. (`tower` itself arrives with reqwest's client and is
/// no server.)
const NOT_IN_THE_RUNTIME: &[&str] = &["axum", "clap", "actix-web", "warp", "rocket", "tide"];

/// Checks that `cargo tree -p terapi-runtime` (normal dependencies, with features) has no
/// web server, no CLI parser, and no hyper `server` feature.
fn check_embeddable(repo: &Path) -> Result<()> {
    let tree = Cmd::cargo()
        .current_dir(repo)
        .args([
            "tree",
            "-p",
            "terapi-runtime",
            "-e",
            "normal,features",
            "--prefix",
            "none",
        ])
        .stdout()?;
    let offending: Vec<&str> = tree
        .lines()
        .filter(|line| {
            let name = line.split_whitespace().next().unwrap_or_default();
            NOT_IN_THE_RUNTIME.contains(&name) || line.starts_with("hyper feature \"server\"")
        })
        .collect();
    if offending.is_empty() {
        eprintln!("lint: terapi-runtime depends on no web server and no CLI parser");
        Ok(())
    } else {
        Err(Error::new(format!(
            "terapi-runtime must stay embeddable, but depends on: {}",
            offending.join("; ")
        )))
    }
}

fn lint(repo: &Path) -> Result<()> {
    let actions_manifest = repo.join("actions").join("Cargo.toml");
    let checks = [
        (
            "rustfmt (workspace)",
            Cmd::cargo()
                .current_dir(repo)
                .args(["fmt", "--all", "--check"]),
        ),
        (
            "rustfmt (actions)",
            Cmd::cargo()
                .current_dir(repo)
                .args(["fmt", "--all", "--check", "--manifest-path"])
                .arg(&actions_manifest),
        ),
        (
            "clippy",
            Cmd::cargo().current_dir(repo).args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]),
        ),
        (
            // The guests' code compiles natively too (the SDK's imports become stubs), so
            // clippy checks it without the wasm toolchain.
            "clippy (actions)",
            Cmd::cargo()
                .current_dir(repo)
                .args(["clippy", "--workspace", "--all-targets", "--manifest-path"])
                .arg(&actions_manifest)
                .args(["--", "-D", "warnings"]),
        ),
    ];
    // Run every check, so one run reports all problems.
    let mut failed: Vec<&str> = checks
        .iter()
        .filter(|(_, check)| check.run().is_err())
        .map(|(name, _)| *name)
        .collect();
    if let Err(error) = check_embeddable(repo) {
        eprintln!("error: {}", error.message());
        failed.push("embeddable runtime");
    }
    if failed.is_empty() {
        eprintln!("lint: all checks passed");
        Ok(())
    } else {
        Err(Error::new(format!("lint failed: {}", failed.join(", "))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn test_passes_arguments_after_double_dash() {
        let test = find_command("test").expect("test command");
        let opts =
            Options::parse(test, &strings(&["--", "-p", "x", "--", "--nocapture"])).expect("parse");
        assert_eq!(opts.passthrough, ["-p", "x", "--", "--nocapture"]);
        assert!(Options::parse(test, &strings(&["-p"])).is_err());
    }

    #[test]
    fn test_runs_the_workspace_unless_packages_are_selected() {
        assert_eq!(cargo_test_args(&[]), ["test", "--workspace"]);
        assert_eq!(
            cargo_test_args(&strings(&["--", "--nocapture"])),
            ["test", "--workspace", "--", "--nocapture"]
        );
        assert_eq!(
            cargo_test_args(&strings(&["-p", "xtask"])),
            ["test", "-p", "xtask"]
        );
        assert_eq!(
            cargo_test_args(&strings(&["--package=xtask"])),
            ["test", "--package=xtask"]
        );
        assert_eq!(
            cargo_test_args(&strings(&["--", "-p"])),
            ["test", "--workspace", "--", "-p"]
        );
    }

    #[test]
    fn manifest_path_only_for_build_actions() {
        let build = find_command("build-actions").expect("build-actions command");
        let opts =
            Options::parse(build, &strings(&["--manifest-path=/tmp/x/Cargo.toml"])).expect("parse");
        assert_eq!(opts.manifest_path, Some(PathBuf::from("/tmp/x/Cargo.toml")));
        let lint = find_command("lint").expect("lint command");
        assert!(Options::parse(lint, &strings(&["--manifest-path", "x"])).is_err());
    }

    #[test]
    fn fuzz_takes_a_target_and_seconds() {
        let fuzz = find_command("fuzz").expect("fuzz command");
        let opts = Options::parse(fuzz, &strings(&["schema", "--seconds", "30"])).expect("parse");
        assert_eq!(opts.fuzz_target.as_deref(), Some("schema"));
        assert_eq!(opts.seconds, Some(30));
        let opts = Options::parse(fuzz, &strings(&["--seconds=5"])).expect("parse");
        assert_eq!((opts.fuzz_target, opts.seconds), (None, Some(5)));
        for bad in [
            &["--seconds", "0"][..],
            &["--seconds", "x"],
            &["a", "b"],
            &["--fast"],
        ] {
            assert!(Options::parse(fuzz, &strings(bad)).is_err(), "{bad:?}");
        }
        let test = find_command("test").expect("test command");
        assert!(Options::parse(test, &strings(&["--seconds", "3"])).is_err());
    }

    #[test]
    fn every_command_has_help() {
        for command in COMMANDS {
            assert!(command.help.starts_with("Usage: cargo xtask "));
            assert!(main_help().contains(command.name));
        }
        assert!(find_command("bench").is_ok());
        assert!(find_command("benchmark").is_err());
    }
}
