//! WASI, granted deny-by-default: no preopened directories, no environment variables, no
//! arguments, no sockets and no name lookups. Clocks and randomness work; stdout and
//! stderr are captured into the run log.

use super::log::{LogLine, LogSource};
use super::output::CapturedOutput;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView};

/// An invocation's WASI context, built on the guest's first WASI call: an action that
/// makes none (a typical Checkr action only uses terapi's interfaces) does not pay for a
/// WASI context per run.
pub(crate) struct WasiState {
    wasi: Option<Wasi>,
    table: ResourceTable,
    log_capture_bytes: usize,
}

/// The WASI context and the output it captures.
struct Wasi {
    ctx: WasiCtx,
    stdout: CapturedOutput,
    stderr: CapturedOutput,
}

impl WasiState {
    /// A state that keeps at most `log_capture_bytes` of each of stdout and stderr.
    pub(crate) fn new(log_capture_bytes: usize) -> Self {
        WasiState {
            wasi: None,
            table: ResourceTable::new(),
            log_capture_bytes,
        }
    }

    /// The view wasmtime-wasi's host functions work on.
    pub(crate) fn view(&mut self) -> WasiCtxView<'_> {
        let capture = self.log_capture_bytes;
        let wasi = self.wasi.get_or_insert_with(|| {
            let stdout = CapturedOutput::new(capture);
            let stderr = CapturedOutput::new(capture);
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
        });
        WasiCtxView {
            ctx: &mut wasi.ctx,
            table: &mut self.table,
        }
    }

    /// Appends what the guest printed (stdout, then stderr) to `lines`.
    pub(crate) fn drain_output_into(&self, lines: &mut Vec<LogLine>) {
        if let Some(wasi) = &self.wasi {
            wasi.stdout.drain_into(LogSource::Stdout, lines);
            wasi.stderr.drain_into(LogSource::Stderr, lines);
        }
    }
}
