//! The wasmtime engine, the component cache and per-job stores.
//!
//! One [`TemplateEngine`] serves every job of a process. Components are keyed by the sha256 of
//! their bytes (the template *version*): the first load compiles and writes the native code to
//! `{cache_dir}/{sha256}-{engine}.cwasm`, with a MAC under a key this process keeps in memory;
//! later loads in this process deserialize that file once it verifies, and within a process the
//! `InstancePre` is kept in memory so instantiating a step is a pool-slot allocation plus a
//! memcpy of the data segments. A new process recompiles each version once: see [`cache`] for
//! why the cache is trusted only that far, and where it must (not) live.
//!
//! ## Fast first runs: Winch first, Cranelift behind it
//!
//! Cranelift takes about 16 s for the 11.5 MiB SpiderMonkey inside a TypeScript template (a
//! Python one is larger still), and a fresh worker (every new Lambda environment) would make
//! its first job wait that long. So a component of [`BASELINE_FIRST_BYTES`] or more is first
//! compiled by Winch, wasmtime's single-pass baseline compiler (6.5 times faster on
//! SpiderMonkey as measured in BENCHMARKS.md; its code runs slower, which a template that
//! mostly waits on ffmpeg barely notices), and a background thread compiles it with Cranelift, caches that, and swaps it in: jobs that start
//! afterwards instantiate the Cranelift code, jobs already running keep their instance, and
//! nothing waits for the swap. Smaller components compile with Cranelift directly (under a
//! second), as before.
//!
//! The alternative, native code compiled at publish time and shipped through the bucket, was
//! rejected: the worker would have to verify it under a key that the publisher holds too
//! (a secret on the developer's machine or CI, rotated across every deployed worker), the
//! publisher's wasmtime, target and CPU features would have to match the workers' exactly (or
//! every worker falls back to a 16 s compile), and a leaked publisher key would let its holder
//! run native code in every worker. Winch keeps the trust boundary where it is: no native
//! code is ever read from anywhere but this host's own MAC-verified cache. Winch does not
//! support tail calls, relaxed SIMD, exceptions or GC; a component that uses them is compiled
//! by Cranelift directly.

use crate::bindings::transflow::template::{ffmpeg, log, status, types, workspace};
use crate::bindings::{TemplateInfo, TemplatePre};
use crate::capabilities::{FfmpegScope, LogScope, Metered, StatusScope, Types, WorkspaceScope};
use crate::job::JobState;
use crate::limits::JobLimits;
use crate::traps::StepTimedOut;
use cache::CodeCache;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use transflow_store::template::TemplateDescription;
use wasmtime::component::{Component, Linker};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig, Store, Strategy,
    UpdateDeadline,
};

pub mod cache;

/// How often the epoch advances; also the granularity of step deadlines inside wasm.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Bytes of each freed table the pool zeroes and keeps mapped, rather than giving them back to
/// the kernel: every table of our templates (SpiderMonkey's has 7,577 entries of 8 bytes).
const TABLE_KEEP_RESIDENT: usize = 64 << 10;

/// Bytes of each freed linear memory the pool may restore in place where the kernel reports
/// which pages were written (see [`config`]): a describe() or a step of a Rust template
/// writes well under this, and what is kept is reset before any other job sees it.
const MEMORY_KEEP_RESIDENT: usize = 1 << 20;

/// Components at least this large are compiled by Winch first (see the module docs). Below
/// it Cranelift compiles in under a second here (135 KiB: 0.3 s), and a second compile of the
/// same component would cost more CPU than the wait it saves.
pub const BASELINE_FIRST_BYTES: usize = 1 << 20;

/// Settings for a [`TemplateEngine`].
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Where compiled components are kept. Only the host writes here: it must not be, or be
    /// under, a directory where tools run or write (the job workspaces, `{data_dir}/work`); the
    /// layouts in use put it beside them, at `{data_dir}/cache`. See
    /// [`TemplateEngine::check_cache_outside`] and [`cache`].
    pub cache_dir: PathBuf,
    /// The file holding the key that authenticates cached artifacts, so a restarted process
    /// trusts what its predecessor compiled; `None` for a key kept only in this process's
    /// memory (Lambda, tests). It must lie outside the cache and every workspace.
    pub cache_key_file: Option<PathBuf>,
    /// How many instances may be alive at once (pool size when pooling).
    pub max_instances: u32,
    /// Limits applied to every job.
    pub limits: JobLimits,
}

/// Loading or checking a template failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The engine itself could not be configured.
    #[error("cannot configure the WebAssembly engine: {0}")]
    Setup(String),
    /// The bytes are not a valid component.
    #[error("not a valid WebAssembly component: {0}")]
    Compile(String),
    /// The component does not fit the `transflow:template` world.
    #[error("the component does not fit the transflow:template@0.1.1 world: {0}")]
    Incompatible(String),
    /// `describe()` trapped or returned something unusable.
    #[error("describe() failed: {0}")]
    Describe(String),
    /// The compiled-code cache could not be used.
    #[error("component cache at {path}: {source}")]
    Cache {
        /// The cache file or directory.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

/// How a template came to be ready, for diagnostics and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadSource {
    /// Compiled from the `.wasm` bytes now.
    Compiled,
    /// Deserialized from the on-disk cache.
    DiskCache,
    /// Already loaded in this process.
    Memory,
}

/// Which compiler produced the code a template runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compiler {
    /// Winch, the baseline compiler: fast to compile, slower code. Replaced by Cranelift's code.
    Winch,
    /// Cranelift, the optimizing compiler.
    Cranelift,
}

/// A template ready to instantiate.
pub struct LoadedTemplate {
    /// sha256 of the component bytes: the template version.
    pub version: String,
    /// What `describe()` returned, validated.
    pub description: TemplateDescription,
    /// The code new instances are made from; the background compile replaces Winch's.
    code: watch::Sender<Code>,
}

/// Compiled code ready to instantiate, and whether it is the last this process will make.
#[derive(Clone)]
struct Code {
    pre: TemplatePre<JobState>,
    compiler: Compiler,
    /// No replacement is coming: this is Cranelift's code, or its compile failed.
    settled: bool,
}

impl LoadedTemplate {
    /// The compiler whose code the next instance runs.
    pub fn compiler(&self) -> Compiler {
        self.code.borrow().compiler
    }

    /// Waits until the background compile, if any, is over, and returns the compiler whose code
    /// then serves new instances (Winch only if Cranelift failed, which is logged).
    pub async fn settled(&self) -> Compiler {
        let mut code = self.code.subscribe();
        let settled = code.wait_for(|code| code.settled).await.expect("the sender lives in self");
        settled.compiler
    }
}

impl std::fmt::Debug for LoadedTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedTemplate")
            .field("version", &self.version)
            .field("id", &self.description.id)
            .finish()
    }
}

/// The engine every job of this process runs on.
pub struct TemplateEngine {
    /// Cranelift: the code every template ends up running.
    optimized: Tier,
    /// Winch, for the first runs of large components; `None` where Winch cannot run (a CPU
    /// without AVX, an architecture Winch lacks), and then everything compiles with Cranelift.
    baseline: Option<Tier>,
    settings: EngineSettings,
    pooling: bool,
    cache: Arc<CodeCache>,
    loaded: Mutex<HashMap<String, Arc<LoadedTemplate>>>,
    _ticker: EpochTicker,
}

/// One compiler's engine, with its linker and the tag naming its artifacts in the cache.
#[derive(Clone)]
struct Tier {
    compiler: Compiler,
    engine: Engine,
    linker: Linker<JobState>,
    /// Identifies the engine's compiler settings in cache file names.
    tag: String,
}

impl Tier {
    fn new(compiler: Compiler, engine: Engine) -> Result<Tier, EngineError> {
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| EngineError::Setup(e.to_string()))?;
        link_capabilities(&mut linker).map_err(|e| EngineError::Setup(e.to_string()))?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        // Named too, so the two compilers' code never share a file whatever the hash covers.
        compiler.hash(&mut hasher);
        let tag = format!("{:016x}", hasher.finish());
        Ok(Tier { compiler, engine, linker, tag })
    }

    /// The component from this tier's artifact in `cache`, if there is one that verifies.
    fn cached(&self, cache: &CodeCache, version: &str) -> Option<Component> {
        let verified = cache.read(version, &self.tag)?;
        // SAFETY: `verified` holds bytes read once into memory whose MAC, under the key this
        // process generated and never stored, proves that this process wrote them, from this
        // engine's own `serialize` of the component with this sha256 (see `cache`). They are
        // deserialized from memory, so the file cannot change after the check. wasmtime also
        // checks the header and the engine's compatibility.
        #[allow(unsafe_code)]
        match unsafe { Component::deserialize(&self.engine, verified.artifact()) } {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(
                    path = %cache.path(version, &self.tag).display(),
                    %error,
                    "ignoring unusable cached component"
                );
                None
            }
        }
    }

    /// The component from this tier's cached artifact, else compiled (and cached) now.
    fn component(
        &self,
        cache: &CodeCache,
        version: &str,
        bytes: &[u8],
    ) -> Result<(Component, LoadSource), EngineError> {
        match self.cached(cache, version) {
            Some(component) => Ok((component, LoadSource::DiskCache)),
            None => Ok((self.compile(cache, version, bytes)?, LoadSource::Compiled)),
        }
    }

    /// Compiles `bytes` with this tier's compiler and caches the code.
    fn compile(&self, cache: &CodeCache, version: &str, bytes: &[u8]) -> Result<Component, EngineError> {
        let component =
            Component::new(&self.engine, bytes).map_err(|e| EngineError::Compile(format!("{e:#}")))?;
        let serialized = component.serialize().map_err(|e| EngineError::Cache {
            path: cache.path(version, &self.tag),
            source: std::io::Error::other(e.to_string()),
        })?;
        cache.write(version, &self.tag, &serialized)?;
        Ok(component)
    }

    /// `component` linked against the world, ready to instantiate.
    fn code(&self, component: &Component, settled: bool) -> Result<Code, EngineError> {
        let pre = self
            .linker
            .instantiate_pre(component)
            .map_err(|e| EngineError::Incompatible(format!("{e:#}")))?;
        let pre = TemplatePre::new(pre).map_err(|e| EngineError::Incompatible(format!("{e:#}")))?;
        Ok(Code { pre, compiler: self.compiler, settled })
    }
}

impl std::fmt::Debug for TemplateEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateEngine")
            .field("pooling", &self.pooling)
            .field("settings", &self.settings)
            .finish()
    }
}

impl TemplateEngine {
    /// Builds the engine: component model, async, epoch interruption, and the pooling allocator
    /// when the machine grants the address space it reserves (else on-demand allocation).
    /// Winch's engine, when this machine can run Winch's code, allocates on demand: it serves
    /// only the first jobs of a large template, not worth a second pool's address space.
    pub fn new(settings: EngineSettings) -> Result<TemplateEngine, EngineError> {
        let (engine, pooling) = match Engine::new(&config(&settings, Strategy::Cranelift, true)) {
            Ok(engine) => (engine, true),
            Err(pooling_error) => {
                tracing::warn!(%pooling_error, "pooling allocator unavailable; using on-demand allocation");
                let engine = Engine::new(&config(&settings, Strategy::Cranelift, false))
                    .map_err(|e| EngineError::Setup(e.to_string()))?;
                (engine, false)
            }
        };
        let optimized = Tier::new(Compiler::Cranelift, engine)?;
        let baseline = match Engine::new(&config(&settings, Strategy::Winch, false)) {
            Ok(engine) => Some(Tier::new(Compiler::Winch, engine)?),
            Err(winch_error) => {
                tracing::warn!(%winch_error, "the Winch compiler is unavailable; large templates compile with Cranelift first");
                None
            }
        };
        let ticker =
            EpochTicker::start(std::iter::once(&optimized).chain(&baseline).map(|tier| &tier.engine));
        let cache = Arc::new(CodeCache::new(settings.cache_dir.clone(), settings.cache_key_file.as_deref())?);
        Ok(TemplateEngine {
            optimized,
            baseline,
            settings,
            pooling,
            cache,
            loaded: Mutex::new(HashMap::new()),
            _ticker: ticker,
        })
    }

    /// Whether instances come from the pooling allocator.
    pub fn is_pooling(&self) -> bool {
        self.pooling
    }

    /// The limits every job runs under.
    pub fn limits(&self) -> &JobLimits {
        &self.settings.limits
    }

    /// How many instances may be alive at once: what the pool was sized for.
    pub fn max_instances(&self) -> u32 {
        self.settings.max_instances
    }

    /// Fails when the compiled-code cache is, or is under, `workspaces` (the directory the job
    /// workspaces are made in, where tools run and write), or contains it. A tool that could
    /// write into the cache would not get its file loaded (every artifact must verify under
    /// this process's key), but the cache belongs where no tool can write at all.
    pub fn check_cache_outside(&self, workspaces: &Path) -> Result<(), EngineError> {
        let cache = self.cache.dir();
        if cache::contains(workspaces, cache) || cache::contains(cache, workspaces) {
            return Err(EngineError::Cache {
                path: cache.to_owned(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "the compiled-code cache and the job workspaces ({}) must not contain each other",
                        workspaces.display()
                    ),
                ),
            });
        }
        Ok(())
    }

    /// Loads a template from its component bytes: from memory, the disk cache, or by compiling
    /// (Winch first for a large component, see the module docs); then checks it against the
    /// world and reads its description.
    pub async fn load(&self, bytes: &[u8]) -> Result<(Arc<LoadedTemplate>, LoadSource), EngineError> {
        let version = hex::encode(Sha256::digest(bytes));
        if let Some(loaded) = self.loaded.lock().expect("cache lock").get(&version) {
            return Ok((loaded.clone(), LoadSource::Memory));
        }
        let (code, source) = self.first_code(&version, bytes)?;
        let info = self.describe(&code.pre).await?;
        let description = crate::describe::describe(info).map_err(EngineError::Describe)?;
        let settled = code.settled;
        let loaded =
            Arc::new(LoadedTemplate { version: version.clone(), description, code: watch::channel(code).0 });
        if !settled {
            self.optimize_in_background(loaded.clone(), bytes.to_vec());
        }
        self.loaded.lock().expect("cache lock").insert(version, loaded.clone());
        Ok((loaded, source))
    }

    /// The code the first instances of `version` run: Cranelift's from the cache, else Winch's
    /// (cached or compiled now) for a large component, else Cranelift's compiled now.
    fn first_code(&self, version: &str, bytes: &[u8]) -> Result<(Code, LoadSource), EngineError> {
        let optimized = &self.optimized;
        if let Some(component) = optimized.cached(&self.cache, version) {
            return Ok((optimized.code(&component, true)?, LoadSource::DiskCache));
        }
        if let Some(baseline) = self.baseline.as_ref().filter(|_| bytes.len() >= BASELINE_FIRST_BYTES) {
            match baseline.component(&self.cache, version, bytes) {
                Ok((component, source)) => return Ok((baseline.code(&component, false)?, source)),
                Err(error) => tracing::info!(
                    version,
                    %error,
                    "Winch cannot compile this component; compiling it with Cranelift now"
                ),
            }
        }
        let component = optimized.compile(&self.cache, version, bytes)?;
        Ok((optimized.code(&component, true)?, LoadSource::Compiled))
    }

    /// Compiles `template` with Cranelift on a thread of its own, caches the code and makes it
    /// what new instances run; instances made before keep Winch's code until they end.
    fn optimize_in_background(&self, template: Arc<LoadedTemplate>, bytes: Vec<u8>) {
        let (optimized, cache) = (self.optimized.clone(), self.cache.clone());
        let spawned = std::thread::Builder::new().name("transflow-optimize".into()).spawn(move || {
            let started = Instant::now();
            let code = optimized
                .compile(&cache, &template.version, &bytes)
                .and_then(|component| optimized.code(&component, true));
            match code {
                Ok(code) => {
                    tracing::info!(
                        version = %template.version,
                        seconds = started.elapsed().as_secs_f64(),
                        "Cranelift's code replaces Winch's for new instances"
                    );
                    template.code.send_replace(code);
                }
                Err(error) => {
                    tracing::error!(version = %template.version, %error, "Cranelift cannot compile a template Winch compiled; it keeps running Winch's code");
                    template.code.send_modify(|code| code.settled = true);
                }
            }
        });
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot start the Cranelift compile; the template keeps running Winch's code");
        }
    }

    /// A version already loaded in this process, so a worker that knows the current version
    /// from the registry pointer need not fetch the bytes again.
    pub fn loaded(&self, version: &str) -> Option<Arc<LoadedTemplate>> {
        self.loaded.lock().expect("cache lock").get(version).cloned()
    }

    /// Drops a version from memory (the disk cache stays); used by tests and hot swap.
    pub fn forget(&self, version: &str) {
        self.loaded.lock().expect("cache lock").remove(version);
    }

    /// Instantiates `template` into a new store holding `state`, with the job's limits and a
    /// wall-clock `deadline` that traps wasm with [`StepTimedOut`] once passed.
    pub async fn instantiate(
        &self,
        template: &LoadedTemplate,
        state: JobState,
        deadline: Instant,
    ) -> wasmtime::Result<(Store<JobState>, crate::bindings::Template)> {
        let pre = template.code.borrow().pre.clone();
        let mut store = new_store(&pre, state, deadline);
        let instance = pre.instantiate_async(&mut store).await?;
        Ok((store, instance))
    }

    async fn describe(&self, pre: &TemplatePre<JobState>) -> Result<TemplateInfo, EngineError> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let state = JobState::for_describe(&self.settings.limits);
        let (mut store, instance) = tokio::time::timeout(Duration::from_secs(10), async {
            let mut store = new_store(pre, state, deadline);
            let instance = pre.instantiate_async(&mut store).await?;
            Ok::<_, wasmtime::Error>((store, instance))
        })
        .await
        .map_err(|_| EngineError::Describe("instantiation timed out".into()))?
        .map_err(|e| EngineError::Describe(format!("{e:#}")))?;
        tokio::time::timeout(
            Duration::from_secs(10),
            instance.transflow_template_pipeline().call_describe(&mut store),
        )
        .await
        .map_err(|_| EngineError::Describe("did not return within 10 s".into()))?
        .map_err(|e| EngineError::Describe(format!("{e:#}")))
    }
}

/// A store on `pre`'s engine holding `state`, with the job's limits and `deadline`.
fn new_store(pre: &TemplatePre<JobState>, state: JobState, deadline: Instant) -> Store<JobState> {
    let mut store = Store::new(pre.engine(), state);
    store.limiter(|state| state.limiter());
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if Instant::now() >= deadline {
            Err(wasmtime::Error::new(StepTimedOut))
        } else {
            Ok(UpdateDeadline::Yield(1))
        }
    });
    store
}

/// Links each interface of the world on its own, with a getter that hands it only its slice of
/// the step's scope behind the shared host-call budget (see [`crate::capabilities`]), as
/// wasmtime-wasi links each WASI interface to its own view.
fn link_capabilities(linker: &mut Linker<JobState>) -> wasmtime::Result<()> {
    types::add_to_linker::<_, Types>(linker, |_| Types)?;
    ffmpeg::add_to_linker::<_, Metered<FfmpegScope>>(linker, |state| {
        state.metered(|scope| &mut scope.ffmpeg)
    })?;
    workspace::add_to_linker::<_, Metered<WorkspaceScope>>(linker, |state| {
        state.metered(|scope| &mut scope.workspace)
    })?;
    status::add_to_linker::<_, Metered<StatusScope>>(linker, |state| {
        state.metered(|scope| &mut scope.status)
    })?;
    log::add_to_linker::<_, Metered<LogScope>>(linker, |state| state.metered(|scope| &mut scope.log))?;
    Ok(())
}

fn config(settings: &EngineSettings, compiler: Strategy, pooling: bool) -> Config {
    let mut config = Config::new();
    config.strategy(compiler).wasm_component_model(true).epoch_interruption(true);
    if compiler == Strategy::Winch {
        // Winch's code only bridges the first runs, so its compile is what counts: no native
        // unwind tables (wasmtime walks wasm frames itself and stops host panics at the host
        // call; only external profilers read them), no address map (trap backtraces of Winch's
        // code lack wasm offsets) and unoptimised Cranelift trampolines.
        config.native_unwind_info(false).generate_address_map(false).cranelift_opt_level(OptLevel::None);
    }
    if pooling {
        let mut pool = PoolingAllocationConfig::default();
        let instances = settings.max_instances.max(1);
        // A Rust component holds a handful of core instances and usually two memories. A job's
        // store runs on one async stack at a time; the default of 1000 stacks costs a guard-page
        // `mprotect` each when the engine starts (18 ms before a `transflow run` could begin).
        pool.total_component_instances(instances)
            .total_stacks(instances)
            .total_core_instances(instances * 8)
            .total_memories(instances * 4)
            .total_tables(instances * 8)
            .max_memory_size(settings.limits.memory_bytes)
            // A freed table is zeroed with memset instead of madvise, so the next instance's
            // table initialisation takes no page fault (BENCHMARKS.md, issue 14).
            .table_keep_resident(TABLE_KEEP_RESIDENT);
        if PoolingAllocationConfig::is_pagemap_scan_available() {
            // The kernel names the pages a job wrote and only those are restored from the
            // image or zeroed, up to this many bytes; the rest is decommitted. Without
            // PAGEMAP_SCAN keep-resident would memset the lowest bytes whatever was written,
            // and a Rust guest's written stack top lies 1 MiB up: madvise stays cheaper there.
            pool.pagemap_scan(Enabled::Yes).linear_memory_keep_resident(MEMORY_KEEP_RESIDENT);
        }
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// Advances the engines' epochs every [`EPOCH_TICK`] until they are dropped.
struct EpochTicker {
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl EpochTicker {
    fn start<'a>(engines: impl Iterator<Item = &'a Engine>) -> EpochTicker {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let weak: Vec<_> = engines.map(Engine::weak).collect();
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("transflow-epoch".into())
            .spawn(move || {
                while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    let engines: Vec<Engine> = weak.iter().filter_map(|engine| engine.upgrade()).collect();
                    if engines.is_empty() {
                        break;
                    }
                    engines.iter().for_each(Engine::increment_epoch);
                }
            })
            .expect("spawn epoch thread");
        EpochTicker { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component: the preamble of the component binary format and no sections.
    const EMPTY: &[u8] = b"\0asm\x0d\0\x01\0";
    /// Another component: the same with one custom section, so it compiles to other code.
    const NAMED: &[u8] = b"\0asm\x0d\0\x01\0\0\x06\x05hello";

    fn new_engine(cache_dir: &Path) -> TemplateEngine {
        TemplateEngine::new(EngineSettings {
            cache_dir: cache_dir.to_owned(),
            cache_key_file: None,
            max_instances: 1,
            limits: JobLimits::default(),
        })
        .expect("engine")
    }

    fn version(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    #[test]
    fn a_verified_artifact_is_loaded_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let engine = new_engine(&dir.path().join("cache"));
        let version = version(EMPTY);
        assert_eq!(
            engine.optimized.component(&engine.cache, &version, EMPTY).unwrap().1,
            LoadSource::Compiled
        );
        assert_eq!(
            engine.optimized.component(&engine.cache, &version, EMPTY).unwrap().1,
            LoadSource::DiskCache
        );
        // Another engine of this process shares the key, and so the compiled code.
        let other = new_engine(&dir.path().join("cache"));
        assert_eq!(
            other.optimized.component(&other.cache, &version, EMPTY).unwrap().1,
            LoadSource::DiskCache
        );
    }

    #[test]
    fn a_tampered_artifact_is_not_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let engine = new_engine(&dir.path().join("cache"));
        let winch = engine.baseline.as_ref().expect("Winch runs on this machine");
        let (empty, named) = (version(EMPTY), version(NAMED));
        for (tier, other_tier) in [(&engine.optimized, winch), (winch, &engine.optimized)] {
            let source = |tier: &Tier| tier.component(&engine.cache, &empty, EMPTY).unwrap().1;
            source(tier);
            tier.component(&engine.cache, &named, NAMED).unwrap();
            other_tier.component(&engine.cache, &empty, EMPTY).unwrap();
            let path = engine.cache.path(&empty, &tier.tag);
            let genuine = std::fs::read(&path).unwrap();

            // Another component's code, itself a valid artifact of this engine, put in its place.
            let foreign = std::fs::read(engine.cache.path(&named, &tier.tag)).unwrap();
            std::fs::write(&path, &foreign).unwrap();
            assert_eq!(source(tier), LoadSource::Compiled, "{:?}", tier.compiler);
            assert_eq!(std::fs::read(&path).unwrap(), genuine, "recompiled and stored anew");

            // The same component's code from the other compiler, verified under its own tag.
            let other_compiler = std::fs::read(engine.cache.path(&empty, &other_tier.tag)).unwrap();
            std::fs::write(&path, &other_compiler).unwrap();
            assert_eq!(source(tier), LoadSource::Compiled, "{:?}", tier.compiler);

            // wasmtime's own artifact with the header of the genuine file and one byte changed.
            let mut changed = genuine.clone();
            let last = changed.len() - 1;
            changed[last] ^= 0x55;
            std::fs::write(&path, &changed).unwrap();
            assert_eq!(source(tier), LoadSource::Compiled, "{:?}", tier.compiler);

            // What hosts before the MAC wrote: the bare `serialize` output.
            let bare = Component::new(&tier.engine, EMPTY).unwrap().serialize().unwrap();
            std::fs::write(&path, &bare).unwrap();
            assert_eq!(source(tier), LoadSource::Compiled, "{:?}", tier.compiler);
            assert_eq!(source(tier), LoadSource::DiskCache, "{:?}", tier.compiler);
        }
        assert_ne!(engine.optimized.tag, winch.tag, "each compiler's code has its own name");
    }

    /// Each instance gets its memory as the component's image made it, however the pool reuses
    /// slots and whatever it keeps resident: with one instance at a time, every instance takes
    /// the memory and tables the one before it freed.
    #[tokio::test]
    async fn no_instance_sees_what_an_earlier_one_left_in_its_memory() {
        const FRESH: &str = "data fresh, bss fresh, grown fresh";
        let dir = tempfile::tempdir().unwrap();
        let engine = new_engine(&dir.path().join("cache"));
        assert!(engine.is_pooling(), "the pool's reuse of memory is what this test checks");
        let bytes = std::fs::read(test_components::FRESH_MEMORY).unwrap();
        let (template, _) = engine.load(&bytes).await.unwrap();
        assert_eq!(template.description.description, FRESH);
        for _ in 0..3 {
            let state = JobState::for_describe(engine.limits());
            let deadline = Instant::now() + Duration::from_secs(10);
            let (mut store, instance) = engine.instantiate(&template, state, deadline).await.unwrap();
            let pipeline = instance.transflow_template_pipeline();
            assert_eq!(pipeline.call_describe(&mut store).await.unwrap().description, FRESH);
            // The fixture does see marks where they are: its own, in the same instance.
            assert_eq!(
                pipeline.call_describe(&mut store).await.unwrap().description,
                "data marked, bss marked, grown marked"
            );
        }
    }

    #[test]
    fn the_cache_must_lie_outside_the_workspaces() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        new_engine(&data.join("cache")).check_cache_outside(&data.join("work")).unwrap();
        let inside = new_engine(&data.join("work/cache"));
        let error = inside.check_cache_outside(&data.join("work")).unwrap_err();
        assert!(error.to_string().contains("must not contain each other"), "{error}");
        assert!(
            new_engine(data).check_cache_outside(&data.join("work")).is_err(),
            "a cache holding the workspaces"
        );
    }
}
