//! The plugin's side of the boundary: the descriptor it exports and the `extern "C"` functions in
//! it. [`PluginDescriptor::abi_version`] stays the first field in every version, so that a host
//! can read it before trusting the rest of the layout.

use core::ffi::c_void;
use core::mem::{align_of, offset_of, size_of};
use core::sync::atomic::AtomicU64;

use crate::packet::Slot;

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
    /// `ptr` must point at `len` bytes that live for `'a`.
    pub unsafe fn as_str<'a>(self) -> Option<&'a str> {
        if self.ptr.is_null() {
            return None;
        }
        // SAFETY: the caller guarantees `len` readable bytes at `ptr` for `'a`.
        let bytes = unsafe { core::slice::from_raw_parts(self.ptr, self.len) };
        core::str::from_utf8(bytes).ok()
    }
}

/// Borrowed bytes: a frame a plugin hands the host.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub struct FfiBytes {
    pub ptr: *const u8,
    pub len: usize,
}

impl FfiBytes {
    pub fn new(bytes: &[u8]) -> Self {
        FfiBytes {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        }
    }

    /// # Safety
    /// `ptr` must point at `len` bytes that live for `'a` (or `len` must be 0).
    pub unsafe fn as_bytes<'a>(self) -> &'a [u8] {
        if self.len == 0 || self.ptr.is_null() {
            return &[];
        }
        // SAFETY: the caller guarantees `len` readable bytes at `ptr` for `'a`.
        unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// The host's way out for frames a plugin originates (not packets of the batch it was given),
/// lent for one [`PollFn`] call.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub struct EmitHook {
    pub host: *mut c_void,
    /// Sends copies of the `count` frames at `frames` out of port `port`, in order; returns how
    /// many were queued. The host counts every frame once: as transmitted, or as dropped with
    /// its reason (no such port on this thread, no buffer, ring full).
    pub transmit: unsafe extern "C" fn(
        host: *mut c_void,
        port: u16,
        frames: *const FfiBytes,
        count: usize,
    ) -> usize,
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
        host: core::ptr::null(),
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

/// Called by the data-plane thread once per round of its loop, whether or not packets arrived
/// (at the latest about every 100 ms when idle): the instance sends the frames it originates
/// (held packets it releases, messages it makes) through `emit`.
pub type PollFn =
    unsafe extern "C" fn(state: *mut c_void, emit: *const EmitHook, error: *mut ErrorBuf) -> Status;

/// Frees an instance.
pub type DestroyFn = unsafe extern "C" fn(state: *mut c_void);

/// Names entry `index` of one of the descriptor's name lists (an empty string past its end).
pub type NameFn = unsafe extern "C" fn(index: usize) -> FfiStr;

/// What [`ENTRY_SYMBOL`] returns: static data in the plugin.
#[derive(Debug)]
#[repr(C)]
pub struct PluginDescriptor {
    /// Always first: see the module documentation.
    pub abi_version: u32,
    pub name: FfiStr,
    pub counter_count: usize,
    pub counter_name: NameFn,
    /// The plugin's own drop reasons: a slot dropped with `PluginReason(i)` is counted by the
    /// host under `drop_reason_name(i)`.
    pub drop_reason_count: usize,
    pub drop_reason_name: NameFn,
    pub create: CreateFn,
    pub process: ProcessFn,
    pub destroy: DestroyFn,
    /// Since version 3.
    pub poll: PollFn,
}

// SAFETY: a descriptor is immutable static data (string literals and function pointers) that any
// thread may read.
unsafe impl Sync for PluginDescriptor {}

// The layout plugins are built against. A change here is a new ABI version.
const _: () = {
    assert!(size_of::<FfiStr>() == 16 && align_of::<FfiStr>() == 8);
    assert!(offset_of!(FfiStr, ptr) == 0);
    assert!(offset_of!(FfiStr, len) == 8);

    assert!(size_of::<ErrorBuf>() == 24 && align_of::<ErrorBuf>() == 8);
    assert!(offset_of!(ErrorBuf, ptr) == 0);
    assert!(offset_of!(ErrorBuf, cap) == 8);
    assert!(offset_of!(ErrorBuf, len) == 16);

    assert!(size_of::<SharedMemoryHook>() == 16 && align_of::<SharedMemoryHook>() == 8);
    assert!(offset_of!(SharedMemoryHook, host) == 0);
    assert!(offset_of!(SharedMemoryHook, open) == 8);

    assert!(size_of::<FfiBytes>() == 16 && align_of::<FfiBytes>() == 8);
    assert!(offset_of!(FfiBytes, ptr) == 0);
    assert!(offset_of!(FfiBytes, len) == 8);

    assert!(size_of::<EmitHook>() == 16 && align_of::<EmitHook>() == 8);
    assert!(offset_of!(EmitHook, host) == 0);
    assert!(offset_of!(EmitHook, transmit) == 8);

    assert!(size_of::<PluginDescriptor>() == 88 && align_of::<PluginDescriptor>() == 8);
    assert!(offset_of!(PluginDescriptor, abi_version) == 0);
    assert!(offset_of!(PluginDescriptor, name) == 8);
    assert!(offset_of!(PluginDescriptor, counter_count) == 24);
    assert!(offset_of!(PluginDescriptor, counter_name) == 32);
    assert!(offset_of!(PluginDescriptor, drop_reason_count) == 40);
    assert!(offset_of!(PluginDescriptor, drop_reason_name) == 48);
    assert!(offset_of!(PluginDescriptor, create) == 56);
    assert!(offset_of!(PluginDescriptor, process) == 64);
    assert!(offset_of!(PluginDescriptor, destroy) == 72);
    assert!(offset_of!(PluginDescriptor, poll) == 80);

    assert!(size_of::<Status>() == 4);
    assert!(size_of::<AtomicU64>() == 8 && align_of::<AtomicU64>() == 8);
};
