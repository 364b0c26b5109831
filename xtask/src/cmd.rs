//! Running child processes.
//!
//! Every command xtask runs goes through [`Cmd`], which echoes it (`$ program args`) on stderr
//! before running it, so the output of `cargo xtask ...` doubles as a transcript that can be
//! copied into a shell. Environment variables that xtask *sets* are part of the echo; ones it
//! merely removes are not (see [`crate::toolchain`] for which and why).

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

use crate::{Error, Result};

/// A child command: a thin, echoing wrapper around [`std::process::Command`].
#[derive(Debug, Clone)]
pub struct Cmd {
    program: OsString,
    /// What to show instead of `program` in the echo (e.g. `cargo` for `$CARGO`).
    shown_program: Option<String>,
    args: Vec<OsString>,
    cwd: Option<PathBuf>,
    envs: Vec<(OsString, OsString)>,
    removed_envs: Vec<OsString>,
}

impl Cmd {
    /// A command running `program`, found on `PATH` unless it is a path.
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Self {
            program: program.as_ref().to_owned(),
            shown_program: None,
            args: Vec::new(),
            cwd: None,
            envs: Vec::new(),
            removed_envs: Vec::new(),
        }
    }

    /// The `cargo` that runs xtask itself (`$CARGO`, set by `cargo run`), so host builds use the
    /// same toolchain as the outer `cargo xtask`. Echoed as plain `cargo`.
    pub fn cargo() -> Self {
        let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Self::new(program).without_cargo_run_env();
        cmd.shown_program = Some("cargo".into());
        cmd
    }

    /// Removes the package-specific variables that `cargo run` exported for the xtask binary
    /// (`CARGO_PKG_*`, `CARGO_MANIFEST_*`, ...): they describe xtask, not whatever the child
    /// builds or runs.
    pub fn without_cargo_run_env(mut self) -> Self {
        for (key, _) in std::env::vars_os() {
            let Some(key) = key.to_str() else { continue };
            if key.starts_with("CARGO_PKG_")
                || key.starts_with("CARGO_MANIFEST_")
                || matches!(
                    key,
                    "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE"
                )
            {
                self = self.env_remove(key);
            }
        }
        self
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Appends several arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable for the child (shown in the echo).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        let key = key.as_ref().to_owned();
        self.removed_envs.retain(|k| *k != key);
        self.envs.retain(|(k, _)| *k != key);
        self.envs.push((key, value.as_ref().to_owned()));
        self
    }

    /// Removes an environment variable from the child's environment (not shown in the echo).
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        let key = key.as_ref().to_owned();
        self.envs.retain(|(k, _)| *k != key);
        self.removed_envs.push(key);
        self
    }

    /// Whether `key` is removed from the child's environment.
    #[cfg(test)]
    pub fn removes_env(&self, key: &str) -> bool {
        self.removed_envs.iter().any(|k| k == key)
    }

    /// Runs the child in `dir` instead of xtask's working directory.
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// Runs the command with inherited stdio; fails unless it exits successfully.
    pub fn run(&self) -> Result<()> {
        self.echo();
        let status = self.command().status().map_err(|e| self.spawn_error(&e))?;
        self.check(status)
    }

    /// Runs the command, capturing stdout (stderr is inherited); fails unless it exits
    /// successfully.
    pub fn stdout(&self) -> Result<String> {
        self.echo();
        let output = self
            .command()
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| self.spawn_error(&e))?;
        self.check(output.status)?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Runs a read-only query (e.g. "is this package installed?") and returns its stdout, or
    /// `None` if it could not be started or failed. Its stderr is discarded: a failing probe is
    /// an answer, not an error.
    pub fn probe(&self) -> Option<String> {
        self.probe_output()
            .filter(|(success, _)| *success)
            .map(|(_, stdout)| stdout)
    }

    /// Like [`Cmd::probe`], but returns stdout whatever the exit status (`None` only if the
    /// command could not be started): for queries that report partial results with a failure.
    pub fn probe_any_status(&self) -> Option<String> {
        self.probe_output().map(|(_, stdout)| stdout)
    }

    /// Runs the command quietly: whether it succeeded, and its stdout.
    fn probe_output(&self) -> Option<(bool, String)> {
        self.echo();
        let output = self
            .command()
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        Some((
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        ))
    }

    /// Starts the command with stdout piped (stdin closed, stderr inherited).
    pub fn spawn_piped_stdout(&self) -> Result<Child> {
        self.echo();
        self.command()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| self.spawn_error(&e))
    }

    fn echo(&self) {
        eprintln!("$ {self}");
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.args);
        for key in &self.removed_envs {
            command.env_remove(key);
        }
        command.envs(self.envs.iter().map(|(k, v)| (k, v)));
        if let Some(dir) = &self.cwd {
            command.current_dir(dir);
        }
        command
    }

    /// `cargo build`, `apt-get install`, ...: enough to recognise the command in an error.
    fn short_name(&self) -> String {
        let program = match &self.shown_program {
            Some(shown) => shown.clone(),
            None => Path::new(&self.program)
                .file_name()
                .unwrap_or(&self.program)
                .to_string_lossy()
                .into_owned(),
        };
        match self.args.first().map(|a| a.to_string_lossy()) {
            Some(first) if !first.starts_with('-') => format!("{program} {first}"),
            _ => program,
        }
    }

    fn check(&self, status: ExitStatus) -> Result<()> {
        if status.success() {
            Ok(())
        } else {
            Err(Error::new(format!(
                "`{}` failed ({status})",
                self.short_name()
            )))
        }
    }

    fn spawn_error(&self, error: &io::Error) -> Error {
        let program = self.program.to_string_lossy();
        if error.kind() == io::ErrorKind::NotFound {
            Error::new(format!("could not run `{program}`: not found"))
        } else {
            Error::new(format!("could not run `{program}`: {error}"))
        }
    }
}

impl fmt::Display for Cmd {
    /// Renders the command as a POSIX shell line (`(cd DIR && VAR=value program args)`), with
    /// paths under the current directory shortened to relative ones when that stays correct.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let here = std::env::current_dir().ok();
        // `cd` only when the child runs elsewhere; relative paths are only valid when it does
        // not.
        let cwd = self
            .cwd
            .as_ref()
            .filter(|dir| Some(dir.as_path()) != here.as_deref());
        let base = if cwd.is_none() { here.as_deref() } else { None };
        let show = |s: &OsStr| shell_quote(&shorten(&s.to_string_lossy(), base));
        let mut line = String::new();
        for (key, value) in &self.envs {
            line.push_str(&format!("{}={} ", key.to_string_lossy(), show(value)));
        }
        match &self.shown_program {
            Some(shown) => line.push_str(shown),
            None => line.push_str(&show(&self.program)),
        }
        for arg in &self.args {
            line.push(' ');
            line.push_str(&show(arg));
        }
        match cwd {
            Some(dir) => {
                let dir = shell_quote(&shorten(&dir.to_string_lossy(), here.as_deref()));
                write!(f, "(cd {dir} && {line})")
            }
            None => f.write_str(&line),
        }
    }
}

/// Strips `base/` from the front of `s` (`/repo/target/x` -> `target/x` when run in `/repo`).
fn shorten(s: &str, base: Option<&Path>) -> String {
    let Some(base) = base.and_then(Path::to_str) else {
        return s.to_owned();
    };
    if s == base {
        return ".".to_owned();
    }
    match s.strip_prefix(base).and_then(|rest| rest.strip_prefix('/')) {
        Some(rest) if !rest.is_empty() => rest.to_owned(),
        _ => s.to_owned(),
    }
}

/// Quotes `s` for a POSIX shell when it contains anything beyond a conservative safe set.
pub fn shell_quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("build"), "build");
        assert_eq!(shell_quote("-C linker=x"), "'-C linker=x'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn shortening() {
        let base = Path::new("/repo");
        assert_eq!(shorten("/repo/target/x", Some(base)), "target/x");
        assert_eq!(shorten("/repository/x", Some(base)), "/repository/x");
        assert_eq!(shorten("/repo", Some(base)), ".");
        assert_eq!(shorten("/repo/x", None), "/repo/x");
    }

    #[test]
    fn echo_shows_set_env_but_not_removed_env() {
        let cmd = Cmd::new("/usr/bin/cargo")
            .env("RUSTFLAGS", "-C linker=wasm-component-ld")
            .env_remove("RUSTUP_TOOLCHAIN")
            .args(["build", "--release"]);
        assert_eq!(
            cmd.to_string(),
            "RUSTFLAGS='-C linker=wasm-component-ld' /usr/bin/cargo build --release"
        );
        assert_eq!(cmd.short_name(), "cargo build");
    }
}
