//! The C ABI between host and plugin. Everything here is `#[repr(C)]` and is versioned by
//! [`ABI_VERSION`](crate::ABI_VERSION); [`PluginDescriptor::abi_version`] stays the first field in
//! every version so that a host can read it before trusting the rest of the layout.

use std::ffi::c_void;
use std::sync::atomic::AtomicU64;

use fastlane_core::Slot;

/// The symbol every plugin exports: `extern "C" fn() -> *const PluginDescriptor`.
pub const ENTRY_SYMBOL: &str = "fastlane_plugin_entry";

/// The type of [`ENTRY_SYMBOL`].
pub type EntryFn = unsafe extern "C" fn() -> *const PluginDescriptor;

/// What a call into the plugin came to.
pub type Status = u32;
/// The call succeeded.
pub const STATUS_OK: Status = 0;
/// `Plugin::new` returned an error; the message is in the error buffer.
pub const STATUS_REFUSED: Status = 1;
/// The plugin panicked; the panic message is in the error buffer.
pub const STATUS_PANICKED: Status = 2;

/// A borrowed UTF-8 string.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub struct FfiStr {
    pub ptr: *const u8,
    pub len: usize,
}

impl FfiStr {
    pub const fn new(s: &'static str) -> Self {
        FfiStr {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    /// # Safety
    /// `ptr` must point at `len` bytes of UTF-8 that live for `'a`.
    pub unsafe fn as_str<'a>(self) -> Option<&'a str> {
        if self.ptr.is_null() {
            return None;
        }
        // SAFETY: the caller guarantees `len` readable bytes at `ptr` for `'a`.
        let bytes = unsafe { std::slice::from_raw_parts(self.ptr, self.len) };
        std::str::from_utf8(bytes).ok()
    }
}

/// A buffer the host lends for an error message; the plugin writes at most `cap` bytes of UTF-8
/// and sets `len`.
#[derive(Debug)]
#[repr(C)]
pub struct ErrorBuf {
    pub ptr: *mut u8,
    pub cap: usize,
    pub len: usize,
}

/// Shared memory the host offers to a plugin while it is being created. `open` is null when the
/// host has no shared memory to offer.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub struct SharedMemoryHook {
    pub host: *const c_void,
    /// Looks a region up by name: its first byte, with its length in `*len`, or null.
    pub open:
        Option<unsafe extern "C" fn(host: *const c_void, name: FfiStr, len: *mut usize) -> *mut u8>,
}

impl SharedMemoryHook {
    pub const NONE: SharedMemoryHook = SharedMemoryHook {
        host: std::ptr::null(),
        open: None,
    };
}

/// Builds one thread's instance from `config` (JSON text). On [`STATUS_OK`] `*state` is the
/// instance; `counters` is the host's block of `counter_count` counters for it, in the order of
/// the descriptor's counter names, which the instance writes for as long as it lives.
pub type CreateFn = unsafe extern "C" fn(
    config: *const u8,
    config_len: usize,
    counters: *const AtomicU64,
    counter_count: usize,
    shared_memory: *const SharedMemoryHook,
    state: *mut *mut c_void,
    error: *mut ErrorBuf,
) -> Status;

/// Processes one batch: `len` slots received on `port`/`queue`.
pub type ProcessFn = unsafe extern "C" fn(
    state: *mut c_void,
    slots: *mut Slot,
    len: usize,
    port: u16,
    queue: u16,
    error: *mut ErrorBuf,
) -> Status;

/// Frees an instance.
pub type DestroyFn = unsafe extern "C" fn(state: *mut c_void);

/// Names counter `index` (an empty string beyond `counter_count`).
pub type CounterNameFn = unsafe extern "C" fn(index: usize) -> FfiStr;

/// What [`ENTRY_SYMBOL`] returns: static data in the plugin.
#[derive(Debug)]
#[repr(C)]
pub struct PluginDescriptor {
    /// Always first: see the module documentation.
    pub abi_version: u32,
    pub name: FfiStr,
    pub counter_count: usize,
    pub counter_name: CounterNameFn,
    pub create: CreateFn,
    pub process: ProcessFn,
    pub destroy: DestroyFn,
}

// SAFETY: a descriptor is immutable static data (string literals and function pointers) that any
// thread may read.
unsafe impl Sync for PluginDescriptor {}
