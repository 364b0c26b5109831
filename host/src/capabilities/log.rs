//! `terapi:runtime/log`: structured run logs.

use crate::bindings::terapi::runtime::log::{self as wit, Level};
use crate::sandbox::Sandbox;
use serde::Serialize;
use wasmtime::component::{HasSelf, Linker};

/// Lines kept per invocation; further lines are counted in one final line. Bounds what a
/// chatty or hostile guest can make the host hold.
const MAX_LINES: usize = 1_000;
/// Longest line kept; longer ones are cut.
const MAX_LINE_BYTES: usize = 8 << 10;

/// Where a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogSource {
    /// The `log` interface.
    Guest,
    /// The guest's stdout.
    Stdout,
    /// The guest's stderr.
    Stderr,
}

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Trace.
    Trace,
    /// Debug.
    Debug,
    /// Info.
    Info,
    /// Warn.
    Warn,
    /// Error.
    Error,
}

/// One line of an invocation's run log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// Severity.
    pub level: LogLevel,
    /// Where it came from.
    pub source: LogSource,
    /// The text.
    pub message: String,
}

/// Grants the log capability.
pub(crate) fn add_to_linker(linker: &mut Linker<Sandbox>) -> wasmtime::Result<()> {
    wit::add_to_linker::<Sandbox, HasSelf<Sandbox>>(linker, |sandbox| sandbox)
}

impl wit::Host for Sandbox {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        push_line(&mut self.logs, level, LogSource::Guest, message);
        Ok(())
    }
}

/// Appends a line, enforcing the per-invocation bounds.
pub(crate) fn push_line(
    logs: &mut Vec<LogLine>,
    level: LogLevel,
    source: LogSource,
    mut message: String,
) {
    if logs.len() > MAX_LINES {
        return;
    }
    if logs.len() == MAX_LINES {
        logs.push(LogLine {
            level: LogLevel::Warn,
            source,
            message: format!("log truncated after {MAX_LINES} lines"),
        });
        return;
    }
    if message.len() > MAX_LINE_BYTES {
        let mut cut = MAX_LINE_BYTES;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push_str(" [truncated]");
    }
    logs.push(LogLine {
        level,
        source,
        message,
    });
}
