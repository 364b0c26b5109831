//! The state of one invocation's sandbox: what its `Store` holds.
//!
//! WASI is granted deny-by-default: no preopened directories, no environment variables,
//! no arguments, no sockets and no name lookups. Clocks and randomness work. stdout and
//! stderr are captured into the invocation's log.

use crate::bindings::terapi::runtime::connection as wit_connection;
use crate::capabilities::http::HttpContext;
use crate::capabilities::log::{LogLine, LogSource};
use crate::capabilities::output::CapturedOutput;
use std::sync::Arc;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// Caps linear memory and remembers whether the cap was hit, so a failure can be
/// reported as "memory limit exceeded" instead of whatever the guest did when its
/// allocation failed (usually an abort).
pub(crate) struct MemoryLimiter {
    limit: usize,
    pub(crate) exceeded: Option<usize>,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.exceeded = Some(desired);
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; 100k entries is far beyond any action.
        Ok(desired <= 100_000)
    }
}

/// Everything a sandbox's host functions can reach.
pub(crate) struct Sandbox {
    /// Built on the guest's first WASI call: an action that makes none (a typical Checkr
    /// action only uses terapi's interfaces) does not pay for a WASI context per run.
    wasi: Option<Wasi>,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) connection: Arc<wit_connection::Connection>,
    pub(crate) http: HttpContext,
    pub(crate) logs: Vec<LogLine>,
    log_capture_bytes: usize,
}

/// The WASI context and the output it captures.
struct Wasi {
    ctx: WasiCtx,
    stdout: CapturedOutput,
    stderr: CapturedOutput,
}

impl Wasi {
    fn new(log_capture_bytes: usize) -> Self {
        let stdout = CapturedOutput::new(log_capture_bytes);
        let stderr = CapturedOutput::new(log_capture_bytes);
        let ctx = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Wasi {
            ctx,
            stdout,
            stderr,
        }
    }
}

impl Sandbox {
    pub(crate) fn new(
        connection: Arc<wit_connection::Connection>,
        http: HttpContext,
        memory_limit: usize,
        log_capture_bytes: usize,
    ) -> Self {
        Sandbox {
            wasi: None,
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                limit: memory_limit,
                exceeded: None,
            },
            connection,
            http,
            logs: Vec::new(),
            log_capture_bytes,
        }
    }

    /// The run log: lines the guest logged, then what it printed.
    pub(crate) fn into_logs(mut self) -> Vec<LogLine> {
        if let Some(wasi) = &self.wasi {
            wasi.stdout.drain_into(LogSource::Stdout, &mut self.logs);
            wasi.stderr.drain_into(LogSource::Stderr, &mut self.logs);
        }
        self.logs
    }
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let capture = self.log_capture_bytes;
        let wasi = self.wasi.get_or_insert_with(|| Wasi::new(capture));
        WasiCtxView {
            ctx: &mut wasi.ctx,
            table: &mut self.table,
        }
    }
}
