//! `terapi:runtime/log`: structured run logs.

use crate::bindings::log::{self as wit, Level};
use serde::Serialize;
use wasmtime::component::{HasData, Linker};

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

/// An invocation's run log: what the guest logged through the `log` interface (what it
/// printed is captured by the WASI state and appended when the run ends).
#[derive(Default)]
pub(crate) struct LogState {
    pub(crate) lines: Vec<LogLine>,
}

struct HasLog;

impl HasData for HasLog {
    type Data<'a> = &'a mut LogState;
}

/// Grants the log capability; `get` projects a store's data onto its state.
pub(crate) fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut LogState,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasLog>(linker, get)
}

impl wit::Host for LogState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        push_line(&mut self.lines, level, LogSource::Guest, message);
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
