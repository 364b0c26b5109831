//! The shared wasmtime [`Engine`], its epoch ticker, and the on-disk cache of compiled
//! components.

use crate::config::{InstanceAllocator, Limits};
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use wasmtime::component::Component;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the ticker thread advances the engine's epoch. A guest that spins on the
/// CPU yields its thread at every tick (so others run) and is stopped at most one tick
/// after its deadline; 10 ms keeps both small while the ticker costs nothing measurable
/// (100 atomic increments a second).
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Bytes of each linear memory kept resident (and reset in place) between invocations.
/// terapi's actions are linked with 1 MiB of initial memory (a 256 KiB stack, data, heap;
/// see `actions/checkr-partner/build.rs`); 2 MiB also covers an invocation that grew its
/// heap somewhat, and only pages actually dirtied are reset. The `PAGEMAP_SCAN` that finds
/// them walks the instance's whole accessible memory, which is why actions start small.
pub const KEEP_RESIDENT: usize = 2 << 20;

/// Builds the engine every invocation shares.
///
/// * Pooling allocator: instance slots (memories, tables, stacks) are reserved once and
///   reused, so a fresh sandbox per invocation costs a few page resets, not mmap calls.
///   Memory images are copy-on-write, so the data segments are not copied either.
/// * Epoch interruption: a compiled-in check at loop headers and function entries,
///   far cheaper than fuel; the ticker thread below drives it.
/// * Slot reuse without page faults: by default a freed slot's memory is handed back to
///   the kernel with `madvise`, so the next invocation page-faults on every page it
///   touches — most of a no-op invocation's cost. Instead the pages an invocation dirtied
///   are found with Linux's `PAGEMAP_SCAN` (6.7+; elsewhere the low addresses are assumed
///   dirty) and reset with `memset`, up to [`KEEP_RESIDENT`] bytes per memory: an action's
///   stack plus a typical heap. Beyond that, `madvise` as before.
/// * Memory comes back as soon as a run ends: see [`pooling_config`].
pub fn build_engine(limits: &Limits) -> wasmtime::Result<Engine> {
    let pooling = pooling_config(limits);
    let mut config = Config::new();
    config
        .epoch_interruption(true)
        .memory_init_cow(true)
        .wasm_component_model(true);
    if limits.instance_allocator == InstanceAllocator::Pooling {
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    }
    Engine::new(&config)
}

/// The pooling allocator's settings, and what each costs in memory.
///
/// What a freed slot keeps resident decides the host's RSS after large runs: 200 runs
/// that hit a 64 MiB cap used to leave the process at ~600 MB for dozens of later runs.
///
/// * `linear_memory_keep_resident` ([`KEEP_RESIDENT`], 2 MiB): the low part of a memory
///   is reset in place with `memset` and stays resident, so the common small run does
///   not page-fault (P1, the ~10 µs no-op action). Everything above it is handed back
///   to the kernel with `madvise(MADV_DONTNEED)` when the instance is freed. So an idle
///   slot holds at most 2 MiB of linear memory however large its last run grew.
/// * `decommit_batch_size(1)`: that `madvise` happens at once, when the run ends.
///   With batching (16 was set here before) a large memory's upper part waited in the
///   engine's decommit queue (one queue per CPU) until 15 more large frees arrived —
///   up to 15 × 64 MiB per CPU stayed resident after a burst of large runs, and only
///   later large runs pushed it out. The price is one `madvise` system call per run
///   that grew past 2 MiB, on the thread that ends it, which is small beside faulting
///   in those megabytes in the first place; runs that stayed within 2 MiB enqueue no
///   decommit at all, so they are unaffected. Measured (RELIABILITY.md, "Hostile
///   guests"): 200 runs hitting a 32 MiB cap took RSS from 97 MiB to 364 MiB between
///   runs with batches of 16, and from 99 MiB to 115 MiB with this setting.
/// * `table_keep_resident` (64 KiB): the same for tables, which hold function
///   references and stay far below that.
/// * `max_unused_warm_slots` stays at wasmtime's default (100): a warm (used, now idle)
///   slot keeps its component's memory image mapped, so the next run of that component
///   skips the copy-on-write setup, and at most [`KEEP_RESIDENT`] of dirtied pages. Once
///   100 slots are warm, new runs reuse a warm slot rather than touch a fresh one, so
///   the slots holding memory stay near the larger of 100 and the peak concurrency:
///   ~200 MiB at the very worst, far less in practice (a no-op run dirties a few pages).
/// * Stacks (`async_stack_keep_resident`, default 0) are neither zeroed nor decommitted
///   between runs; they are bounded by the slots ever used concurrently times the
///   engine's 2 MiB async stack.
/// * `memory_protection_keys` stays off (wasmtime's default): MPK packs more memory
///   slots into the address space, it does not change what is resident.
fn pooling_config(limits: &Limits) -> PoolingAllocationConfig {
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(limits.max_instances)
        // A Rust component has a main module plus a few small shims.
        .total_core_instances(limits.max_instances.saturating_mul(4))
        .total_memories(limits.max_instances.saturating_mul(2))
        .total_tables(limits.max_instances.saturating_mul(4))
        .total_stacks(limits.max_instances)
        .max_memory_size(limits.memory_bytes)
        .pagemap_scan(Enabled::Auto)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(64 << 10)
        .decommit_batch_size(1);
    pooling
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    /// Starts the ticker thread.
    pub fn start(engine: &Engine) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let weak = engine.weak();
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name("terapi-epoch".into())
            .spawn(move || {
                let mut next = std::time::Instant::now() + EPOCH_TICK;
                loop {
                    // Parked rather than asleep, so dropping the ticker wakes it at once
                    // instead of waiting out the tick (a runtime's drop would otherwise
                    // take up to 10 ms). Early wake-ups just park again until the tick.
                    let now = std::time::Instant::now();
                    if now < next {
                        std::thread::park_timeout(next - now);
                    }
                    if thread_stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if std::time::Instant::now() < next {
                        continue;
                    }
                    next = std::time::Instant::now() + EPOCH_TICK;
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })?;
        Ok(EpochTicker {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// How many components were compiled and how many were loaded precompiled from disk.
#[derive(Debug, Default)]
pub struct CacheStats {
    compiled: AtomicU64,
    loaded: AtomicU64,
}

impl CacheStats {
    /// Components compiled from WebAssembly by this runtime.
    pub fn compiled(&self) -> u64 {
        self.compiled.load(Ordering::Relaxed)
    }

    /// Components deserialized from the on-disk cache.
    pub fn loaded_from_cache(&self) -> u64 {
        self.loaded.load(Ordering::Relaxed)
    }
}

/// Compiles components, keeping the machine code on disk so the next start skips
/// compilation. Entries are keyed by the SHA-256 of the component and a hash of the
/// engine's configuration and wasmtime version, so a changed component, setting or
/// upgrade never loads stale code.
pub struct ComponentCache {
    dir: PathBuf,
    engine_hash: String,
    stats: CacheStats,
}

impl ComponentCache {
    /// A cache in `dir` (created when first written).
    pub fn new(engine: &Engine, dir: PathBuf) -> Self {
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        ComponentCache {
            dir,
            engine_hash: format!("{:016x}", hasher.finish()),
            stats: CacheStats::default(),
        }
    }

    /// Counters of compiles and cache hits.
    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    /// Loads the component at `path`, from the cache when possible.
    pub fn load(&self, engine: &Engine, path: &Path) -> anyhow::Result<CachedComponent> {
        let wasm = std::fs::read(path).map_err(|error| {
            anyhow::anyhow!("cannot read component {}: {error}", path.display())
        })?;
        let digest = Sha256::digest(&wasm);
        let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
        let entry = self.dir.join(format!("{hex}-{}.cwasm", self.engine_hash));
        if entry.exists() {
            match deserialize(engine, &entry) {
                Ok(component) => {
                    self.stats.loaded.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(component = %path.display(), "loaded precompiled component from cache");
                    return Ok(CachedComponent { component, entry });
                }
                Err(error) => {
                    tracing::warn!(entry = %entry.display(), %error, "discarding unusable cache entry");
                }
            }
        }
        let compiled = engine.precompile_component(&wasm).map_err(|error| {
            anyhow::anyhow!("{} is not a valid component: {error:#}", path.display())
        })?;
        self.stats.compiled.fetch_add(1, Ordering::Relaxed);
        tracing::info!(component = %path.display(), "compiled component");
        // A recompiled entry invalidates whatever was recorded beside the old one.
        let _ = std::fs::remove_file(sidecar(&entry, DESCRIPTION));
        if let Err(error) = store(&self.dir, &entry, &compiled) {
            // The cache is an optimisation: a read-only data directory only costs time.
            tracing::warn!(entry = %entry.display(), %error, "cannot write the component cache");
        }
        let component = deserialize_bytes(engine, &compiled)?;
        Ok(CachedComponent { component, entry })
    }
}

/// Suffix of the file beside a cache entry that holds the component's self-description.
const DESCRIPTION: &str = "actions.json";

/// A component and its place in the [`ComponentCache`].
pub struct CachedComponent {
    /// The compiled component.
    pub component: Component,
    entry: PathBuf,
}

impl CachedComponent {
    /// What the component said of itself the last time it was loaded (its `describe`
    /// output, as the runtime recorded it), if recorded. The entry is keyed by the
    /// component's SHA-256, so a changed component never sees an old description.
    pub fn recorded_description(&self) -> Option<String> {
        std::fs::read_to_string(sidecar(&self.entry, DESCRIPTION)).ok()
    }

    /// Records the component's description beside its compiled code, for the next start.
    pub fn record_description(&self, description: &str) {
        let file = sidecar(&self.entry, DESCRIPTION);
        let dir = self.entry.parent().unwrap_or(Path::new("."));
        if let Err(error) = store(dir, &file, description.as_bytes()) {
            tracing::warn!(entry = %file.display(), %error, "cannot record the component's description");
        }
    }
}

fn sidecar(entry: &Path, suffix: &str) -> PathBuf {
    entry.with_extension(suffix)
}

fn store(dir: &Path, file: &Path, contents: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    // Write then rename, so a crash or a concurrent start never sees a torn file.
    let temporary = file.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temporary, contents)?;
    std::fs::rename(&temporary, file)
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, entry: &Path) -> wasmtime::Result<Component> {
    // SAFETY: the file was produced by `Engine::precompile_component` of an engine with
    // the same compatibility hash (it is in the file name) and written atomically into
    // terapi's own data directory. wasmtime additionally checks the header's version and
    // settings. Whoever can write that directory can already replace the components.
    unsafe { Component::deserialize_file(engine, entry) }
}

#[allow(unsafe_code)]
fn deserialize_bytes(engine: &Engine, compiled: &[u8]) -> anyhow::Result<Component> {
    // SAFETY: `compiled` was produced just now by `precompile_component` on this engine.
    unsafe { Component::deserialize(engine, compiled) }
        .map_err(|error| anyhow::anyhow!("cannot load compiled component: {error:#}"))
}
