//! The host side (feature `host`): loads plugin libraries, checks their ABI version, and makes
//! one [`Processor`] per data-plane thread out of them.

use std::collections::HashMap;
use std::ffi::c_void;
use std::fmt;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use fastlane_abi::PluginReason;
use fastlane_core::config::ProcessorObject;
use fastlane_core::processor::{BuiltinsOnly, ProcessorFactory};
use fastlane_core::{Batch, DropReason, Emit, Processor, Verdict};

use crate::abi::{
    EmitHook, EntryFn, ErrorBuf, FfiBytes, FfiStr, NameFn, PluginDescriptor, SharedMemoryHook,
    Status, ENTRY_SYMBOL, STATUS_OK, STATUS_PANICKED,
};
use crate::ABI_VERSION;

/// Room for a plugin's error or panic message; longer ones are cut.
const ERROR_CAPACITY: usize = 4096;

/// Why a plugin could not be loaded or instantiated.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("plugin library {path} does not exist")]
    NotFound { path: PathBuf },
    #[error("cannot load plugin library {path}: {source}")]
    Load {
        path: PathBuf,
        source: libloading::Error,
    },
    #[error("{path} is not a Fastlane plugin: it does not export `{ENTRY_SYMBOL}` ({source})")]
    NoEntry {
        path: PathBuf,
        source: libloading::Error,
    },
    #[error("{path}: `{ENTRY_SYMBOL}` returned no descriptor")]
    NoDescriptor { path: PathBuf },
    #[error(
        "{path} was built for plugin ABI version {found}, but this host speaks version {expected}: \
         rebuild the plugin against fastlane-plugin {}", env!("CARGO_PKG_VERSION")
    )]
    AbiMismatch {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("{path}: the plugin's name, a counter name or a drop reason's name is not UTF-8")]
    BadName { path: PathBuf },
    #[error("plugin {plugin} ({path}) refused its config: {message}")]
    Refused {
        plugin: String,
        path: PathBuf,
        message: String,
    },
    #[error("plugin {plugin} ({path}) panicked while starting: {message}")]
    Panicked {
        plugin: String,
        path: PathBuf,
        message: String,
    },
}

/// Offers named shared-memory regions to plugins while they are created (see the plugin-side
/// `fastlane_plugin::shared_memory`). A region must stay mapped while any plugin may use it.
pub trait SharedMemoryProvider: Send + Sync + fmt::Debug {
    /// The region called `name`: its first byte and its length.
    fn region(&self, name: &str) -> Option<(NonNull<u8>, usize)>;
}

/// A loaded plugin library; clones share it, and it stays loaded while any clone or instance
/// lives.
#[derive(Debug, Clone)]
pub struct PluginLibrary(Arc<Loaded>);

struct Loaded {
    path: PathBuf,
    name: String,
    counter_names: Arc<[String]>,
    drop_reason_names: Arc<[String]>,
    descriptor: *const PluginDescriptor,
    /// Dropped last: the descriptor and its functions live in it.
    _library: libloading::Library,
}

// SAFETY: the descriptor is immutable static data of the library, which `_library` keeps loaded;
// the plugin's functions are called only on instances, which `PluginProcessor` keeps to one
// thread at a time.
unsafe impl Send for Loaded {}
// SAFETY: as for Send: nothing in `Loaded` is mutated after loading.
unsafe impl Sync for Loaded {}

impl fmt::Debug for Loaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginLibrary")
            .field("path", &self.path)
            .field("name", &self.name)
            .field("counters", &self.counter_names)
            .field("drop_reasons", &self.drop_reason_names)
            .finish_non_exhaustive()
    }
}

/// The same loaded library (not merely the same file loaded twice by different hosts).
impl PartialEq for PluginLibrary {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for PluginLibrary {}

impl PluginLibrary {
    /// Loads the plugin at `path`, relative to `config_dir` (the config file's directory) when
    /// given one and `path` is relative, and checks its ABI version.
    pub fn load(path: &Path, config_dir: Option<&Path>) -> Result<PluginLibrary, PluginError> {
        let path = match config_dir {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_path_buf(),
        };
        if !path.exists() {
            return Err(PluginError::NotFound { path });
        }
        // SAFETY: loading a library runs its initialisers; a plugin library is code the operator
        // chose to run in the data plane, which is the trust this whole interface rests on.
        let library =
            unsafe { libloading::Library::new(&path) }.map_err(|source| PluginError::Load {
                path: path.clone(),
                source,
            })?;
        // SAFETY: `EntryFn` is the type every plugin's entry symbol has (`export!` defines it).
        let entry =
            unsafe { library.get::<EntryFn>(ENTRY_SYMBOL.as_bytes()) }.map_err(|source| {
                PluginError::NoEntry {
                    path: path.clone(),
                    source,
                }
            })?;
        // SAFETY: the entry point takes nothing and returns a pointer to static data.
        let descriptor = unsafe { entry() };
        if descriptor.is_null() {
            return Err(PluginError::NoDescriptor { path });
        }
        // SAFETY: `abi_version` is the first field of the descriptor in every ABI version, so it
        // can be read before the rest of the layout is known to match.
        let found = unsafe { descriptor.cast::<u32>().read() };
        if found != ABI_VERSION {
            return Err(PluginError::AbiMismatch {
                path,
                found,
                expected: ABI_VERSION,
            });
        }
        // SAFETY: same ABI version, so the descriptor has this layout; it is static data of the
        // library, which outlives this borrow.
        let d = unsafe { &*descriptor };
        // SAFETY: the name is a static string of the library.
        let name = unsafe { d.name.as_str() }
            .ok_or_else(|| PluginError::BadName { path: path.clone() })?;
        let names = |count: usize, name: NameFn| {
            (0..count)
                // SAFETY: the descriptor's name functions return static strings of the library.
                .map(|i| unsafe { name(i).as_str() }.map(str::to_owned))
                .collect::<Option<Arc<[String]>>>()
                .ok_or_else(|| PluginError::BadName { path: path.clone() })
        };
        let counter_names = names(d.counter_count, d.counter_name)?;
        let drop_reason_names = names(d.drop_reason_count, d.drop_reason_name)?;
        Ok(PluginLibrary(Arc::new(Loaded {
            name: name.to_owned(),
            counter_names,
            drop_reason_names,
            path,
            descriptor,
            _library: library,
        })))
    }

    /// The plugin's name (its crate's name).
    pub fn name(&self) -> &str {
        &self.0.name
    }
    /// Where it was loaded from.
    pub fn path(&self) -> &Path {
        &self.0.path
    }
    /// The names of the counters each instance keeps.
    pub fn counter_names(&self) -> &[String] {
        &self.0.counter_names
    }
    /// The names of the plugin's own drop reasons, by [`PluginReason`] index.
    pub fn drop_reason_names(&self) -> &[String] {
        &self.0.drop_reason_names
    }

    /// A new instance for one data-plane thread, built from the stage's `config`.
    pub fn instantiate(&self, config: &serde_json::Value) -> Result<PluginProcessor, PluginError> {
        self.instantiate_with(config, None)
    }

    /// As [`PluginLibrary::instantiate`], offering `shared_memory` to the plugin's constructor.
    pub fn instantiate_with(
        &self,
        config: &serde_json::Value,
        shared_memory: Option<&Arc<dyn SharedMemoryProvider>>,
    ) -> Result<PluginProcessor, PluginError> {
        let zeroes = |names: &[String]| names.iter().map(|_| AtomicU64::new(0)).collect();
        let counters = Arc::new(PluginCounters {
            names: self.0.counter_names.clone(),
            values: zeroes(&self.0.counter_names),
            drop_reason_names: self.0.drop_reason_names.clone(),
            drops: zeroes(&self.0.drop_reason_names),
        });
        let config = config.to_string();
        let hook = match shared_memory {
            Some(provider) => SharedMemoryHook {
                host: std::ptr::from_ref(provider).cast(),
                open: Some(open_region),
            },
            None => SharedMemoryHook::NONE,
        };
        let mut error = ErrorMessage::new();
        let mut state: *mut c_void = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; the counter block is kept alive by the
        // processor, which destroys the instance before letting go of it.
        let status = unsafe {
            (self.descriptor().create)(
                config.as_ptr(),
                config.len(),
                counters.values.as_ptr(),
                counters.values.len(),
                &hook,
                &mut state,
                error.buf(),
            )
        };
        match (status, NonNull::new(state)) {
            (STATUS_OK, Some(state)) => Ok(PluginProcessor {
                library: self.clone(),
                state,
                counters,
                error,
            }),
            (STATUS_PANICKED, _) => Err(PluginError::Panicked {
                plugin: self.0.name.clone(),
                path: self.0.path.clone(),
                message: error.text(),
            }),
            (status, _) => Err(PluginError::Refused {
                plugin: self.0.name.clone(),
                path: self.0.path.clone(),
                message: refusal(status, error.text()),
            }),
        }
    }

    fn descriptor(&self) -> &PluginDescriptor {
        // SAFETY: checked at load and kept alive by the library this `Arc` holds.
        unsafe { &*self.0.descriptor }
    }
}

fn refusal(status: Status, message: String) -> String {
    if message.is_empty() {
        format!("status {status} without a message")
    } else {
        message
    }
}

unsafe extern "C" fn open_region(host: *const c_void, name: FfiStr, len: *mut usize) -> *mut u8 {
    // SAFETY: `host` is the `&Arc<dyn SharedMemoryProvider>` given to `create`, which only calls
    // this while `create` runs.
    let provider = unsafe { &*host.cast::<Arc<dyn SharedMemoryProvider>>() };
    // SAFETY: the plugin passes a name string alive for the call.
    let Some(name) = (unsafe { name.as_str() }) else {
        return std::ptr::null_mut();
    };
    // A panicking provider must not unwind into the plugin.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| provider.region(name))) {
        Ok(Some((ptr, region_len))) => {
            // SAFETY: the plugin passes a writable place for the length.
            unsafe { *len = region_len };
            ptr.as_ptr()
        }
        _ => std::ptr::null_mut(),
    }
}

/// A buffer the plugin writes its error or panic message into.
struct ErrorMessage {
    bytes: Box<[u8]>,
    raw: ErrorBuf,
}

impl ErrorMessage {
    fn new() -> Self {
        let mut bytes = vec![0u8; ERROR_CAPACITY].into_boxed_slice();
        let raw = ErrorBuf {
            ptr: bytes.as_mut_ptr(),
            cap: bytes.len(),
            len: 0,
        };
        ErrorMessage { bytes, raw }
    }
    fn buf(&mut self) -> *mut ErrorBuf {
        self.raw.len = 0;
        &mut self.raw
    }
    fn text(&self) -> String {
        let len = self.raw.len.min(self.bytes.len());
        String::from_utf8_lossy(&self.bytes[..len]).into_owned()
    }
}

/// One instance's counters and drops by its own reasons, read by the host from any thread and
/// written only by the instance's thread.
#[derive(Debug)]
pub struct PluginCounters {
    names: Arc<[String]>,
    values: Box<[AtomicU64]>,
    drop_reason_names: Arc<[String]>,
    drops: Box<[AtomicU64]>,
}

impl PluginCounters {
    /// Each counter's name and current value, in the plugin's order.
    pub fn values(&self) -> Vec<(&str, u64)> {
        self.names
            .iter()
            .map(String::as_str)
            .zip(self.values.iter().map(|v| v.load(Relaxed)))
            .collect()
    }
    /// The value of the counter called `name`.
    pub fn get(&self, name: &str) -> Option<u64> {
        let index = self.names.iter().position(|n| n == name)?;
        Some(self.values[index].load(Relaxed))
    }
    /// Packets dropped for each of the plugin's own reasons, by name, in the plugin's order.
    pub fn drops(&self) -> Vec<(&str, u64)> {
        self.drop_reason_names
            .iter()
            .map(String::as_str)
            .zip(self.drops.iter().map(|v| v.load(Relaxed)))
            .collect()
    }
}

/// One data-plane thread's instance of a plugin.
pub struct PluginProcessor {
    library: PluginLibrary,
    state: NonNull<c_void>,
    counters: Arc<PluginCounters>,
    error: ErrorMessage,
}

// SAFETY: `Plugin: Send` is required of every plugin type, so its instance may move to the thread
// that runs it; the processor calls into it from one thread at a time (`&mut self`).
unsafe impl Send for PluginProcessor {}

impl fmt::Debug for PluginProcessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginProcessor")
            .field("plugin", &self.library.name())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl PluginProcessor {
    /// This instance's counters.
    pub fn counters(&self) -> Arc<PluginCounters> {
        self.counters.clone()
    }
}

impl Processor for PluginProcessor {
    /// Panics, with the plugin's message, when the plugin panicked: the runtime records that as
    /// the failure of this data-plane thread.
    fn process(&mut self, batch: &mut Batch) {
        let (port, queue) = (batch.port(), batch.queue());
        let slots = batch.slots_mut();
        // SAFETY: `state` is this processor's live instance; the slots are lent for the call.
        let status = unsafe {
            (self.library.descriptor().process)(
                self.state.as_ptr(),
                slots.as_mut_ptr(),
                slots.len(),
                port,
                queue,
                self.error.buf(),
            )
        };
        self.fail_unless_ok(status);
        self.count_plugin_drops(slots);
    }

    fn poll(&mut self, out: &mut dyn Emit) {
        let mut call = EmitCall { out, panic: None };
        let hook = EmitHook {
            host: std::ptr::from_mut(&mut call).cast(),
            transmit: transmit_for_plugin,
        };
        // SAFETY: `state` is this processor's live instance; the hook and `call` outlive it.
        let status = unsafe {
            (self.library.descriptor().poll)(self.state.as_ptr(), &hook, self.error.buf())
        };
        if let Some(panic) = call.panic {
            std::panic::resume_unwind(panic);
        }
        self.fail_unless_ok(status);
    }
}

/// One `poll` call's emitter, and a panic of it kept from unwinding through the plugin.
struct EmitCall<'a> {
    out: &'a mut dyn Emit,
    panic: Option<Box<dyn std::any::Any + Send>>,
}

/// Frames passed to [`Emit::transmit`] at once: their slices live on the stack.
const EMIT_CHUNK: usize = 32;

unsafe extern "C" fn transmit_for_plugin(
    host: *mut c_void,
    port: u16,
    frames: *const FfiBytes,
    count: usize,
) -> usize {
    // SAFETY: `host` is the `EmitCall` of the `poll` call that lent this hook.
    let call = unsafe { &mut *host.cast::<EmitCall<'_>>() };
    if call.panic.is_some() {
        return 0;
    }
    let frames: &[FfiBytes] = if count == 0 || frames.is_null() {
        &[]
    } else {
        // SAFETY: the plugin passes `count` descriptors alive for the call.
        unsafe { std::slice::from_raw_parts(frames, count) }
    };
    let mut queued = 0;
    for chunk in frames.chunks(EMIT_CHUNK) {
        let mut views: [&[u8]; EMIT_CHUNK] = [&[]; EMIT_CHUNK];
        for (view, raw) in views.iter_mut().zip(chunk) {
            // SAFETY: each descriptor names a frame the plugin keeps alive for the call.
            *view = unsafe { raw.as_bytes() };
        }
        // A panicking emitter must not unwind into the plugin: `poll` raises it on return.
        let sent = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            call.out.transmit(port, &views[..chunk.len()])
        }));
        match sent {
            Ok(n) => queued += n,
            Err(panic) => {
                call.panic = Some(panic);
                break;
            }
        }
    }
    queued
}

impl PluginProcessor {
    /// Panics, with the plugin's message, unless the call succeeded.
    fn fail_unless_ok(&self, status: Status) {
        if status != STATUS_OK {
            panic!(
                "plugin {} ({}) panicked: {}",
                self.library.name(),
                self.library.path().display(),
                self.error.text()
            );
        }
    }

    /// Counts the packets the plugin dropped for its own reasons under their names and turns
    /// their verdicts into `Drop(Plugin)`, which the backend counts like any drop and which the
    /// next plugin stage does not count again. One compare per packet that is not such a drop.
    fn count_plugin_drops(&self, slots: &mut [fastlane_core::Slot]) {
        for slot in slots {
            let Some(PluginReason(reason)) = slot.raw_verdict().plugin_reason() else {
                continue;
            };
            let Some(count) = self.counters.drops.get(usize::from(reason)) else {
                panic!(
                    "plugin {} ({}) dropped a packet for its reason {reason}, but it declares {} \
                     drop reasons",
                    self.library.name(),
                    self.library.path().display(),
                    self.counters.drops.len()
                );
            };
            count.store(count.load(Relaxed).wrapping_add(1), Relaxed);
            slot.set_verdict(Verdict::Drop(DropReason::Plugin));
        }
    }
}

impl Drop for PluginProcessor {
    fn drop(&mut self) {
        // SAFETY: the instance is live and destroyed exactly once, before its counter block and
        // its library are let go of.
        unsafe { (self.library.descriptor().destroy)(self.state.as_ptr()) };
    }
}

/// The counters of one plugin instance, with the pipeline stage it serves.
#[derive(Debug, Clone)]
pub struct StageCounters {
    pub stage: usize,
    pub plugin: String,
    pub counters: Arc<PluginCounters>,
}

/// Makes `plugin` pipeline stages: loads each library once and shares it across threads, one
/// instance per thread. Other stages go to the fallback factory (by default none).
pub struct PluginFactory {
    config_dir: Option<PathBuf>,
    libraries: Mutex<HashMap<PathBuf, PluginLibrary>>,
    instances: Mutex<Vec<StageCounters>>,
    shared_memory: Option<Arc<dyn SharedMemoryProvider>>,
    fallback: Arc<dyn ProcessorFactory + Send + Sync>,
}

impl fmt::Debug for PluginFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginFactory")
            .field("config_dir", &self.config_dir)
            .field("fallback", &self.fallback)
            .finish_non_exhaustive()
    }
}

impl PluginFactory {
    /// A factory resolving relative plugin paths against `config_dir` (the config file's
    /// directory), or against the working directory when `None`.
    pub fn new(config_dir: Option<PathBuf>) -> Self {
        PluginFactory {
            config_dir,
            libraries: Mutex::new(HashMap::new()),
            instances: Mutex::new(Vec::new()),
            shared_memory: None,
            fallback: Arc::new(BuiltinsOnly),
        }
    }

    /// Sends every stage that is not a plugin (the TypeScript handler) to `fallback`.
    pub fn with_fallback(mut self, fallback: Arc<dyn ProcessorFactory + Send + Sync>) -> Self {
        self.fallback = fallback;
        self
    }

    /// Offers `provider`'s regions to every plugin instance this factory creates.
    pub fn with_shared_memory(mut self, provider: Arc<dyn SharedMemoryProvider>) -> Self {
        self.shared_memory = Some(provider);
        self
    }

    /// The library at `path` (relative to the config's directory), loaded on first use: every
    /// spelling of the same file gives the same library.
    pub fn library(&self, path: &Path) -> Result<PluginLibrary, PluginError> {
        let path = match &self.config_dir {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_path_buf(),
        };
        let path = path.canonicalize().unwrap_or(path);
        let mut libraries = self.libraries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(library) = libraries.get(&path) {
            return Ok(library.clone());
        }
        let library = PluginLibrary::load(&path, None)?;
        libraries.insert(path, library.clone());
        Ok(library)
    }

    /// Forgets the instances made so far, so that [`PluginFactory::counters`] covers only the
    /// run about to start: a data plane started again counts from zero, as its other counters do.
    pub fn begin_run(&self) {
        self.instances
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The counters of every instance created since [`PluginFactory::begin_run`], in creation
    /// order.
    pub fn counters(&self) -> Vec<StageCounters> {
        self.instances
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl ProcessorFactory for PluginFactory {
    fn create(&self, stage: usize, spec: &ProcessorObject) -> Result<Box<dyn Processor>, String> {
        let ProcessorObject::Plugin { path, config } = spec else {
            return self.fallback.create(stage, spec);
        };
        let library = self.library(Path::new(path)).map_err(|e| e.to_string())?;
        let processor = library
            .instantiate_with(config, self.shared_memory.as_ref())
            .map_err(|e| e.to_string())?;
        self.instances
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(StageCounters {
                stage,
                plugin: library.name().to_owned(),
                counters: processor.counters(),
            });
        Ok(Box::new(processor))
    }
}
