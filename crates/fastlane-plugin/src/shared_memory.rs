//! Shared-memory regions the host offers to a plugin (feature `shared-memory`). A plugin opens
//! them by name from [`Plugin::new`](crate::Plugin::new) and keeps the [`SharedRegion`]; the host
//! keeps every region it offered mapped for as long as the data plane runs. The region's layout
//! and synchronisation are between the plugin and whoever else maps it.

use std::cell::Cell;
use std::ptr::NonNull;

use crate::abi::{FfiStr, SharedMemoryHook};

thread_local! {
    /// The host's hook while `Plugin::new` runs on this thread.
    static OFFERED: Cell<SharedMemoryHook> = const { Cell::new(SharedMemoryHook::NONE) };
}

/// Makes the host's hook visible to [`open`] until dropped.
pub(crate) struct Offered(SharedMemoryHook);

impl Offered {
    pub(crate) fn enter(hook: SharedMemoryHook) -> Offered {
        Offered(OFFERED.with(|offered| offered.replace(hook)))
    }
}

impl Drop for Offered {
    fn drop(&mut self) {
        OFFERED.with(|offered| offered.set(self.0));
    }
}

/// A shared-memory region: raw bytes that other threads or processes may touch concurrently, so
/// it is handed out as a pointer, not a slice.
#[derive(Debug)]
pub struct SharedRegion {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the region is process-wide memory the host keeps mapped; the pointer carries no
// thread affinity, and every access through it is the plugin's own (unsafe) business.
unsafe impl Send for SharedRegion {}

impl SharedRegion {
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Opens the region the host calls `name`. Returns `None` when the host offers no region of that
/// name, when it offers no shared memory at all, or when called outside `Plugin::new`.
pub fn open(name: &str) -> Option<SharedRegion> {
    let hook = OFFERED.with(Cell::get);
    let open = hook.open?;
    let mut len = 0usize;
    let name = FfiStr {
        ptr: name.as_ptr(),
        len: name.len(),
    };
    // SAFETY: the hook is the host's, valid while `Plugin::new` runs (which `Offered` brackets);
    // `name` and `len` outlive the call.
    let ptr = unsafe { open(hook.host, name, &mut len) };
    NonNull::new(ptr).map(|ptr| SharedRegion { ptr, len })
}
