//! The `extern "C"` shims [`export!`](crate::export) instantiates for a [`Plugin`]: they turn the
//! C ABI's raw parts back into Rust values and keep every panic on the plugin's side.

use std::any::Any;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::AtomicU64;

use fastlane_abi::Slot;

use crate::abi::{
    EmitHook, ErrorBuf, FfiStr, PluginDescriptor, SharedMemoryHook, Status, STATUS_OK,
    STATUS_PANICKED, STATUS_REFUSED,
};
use crate::batch::Batch;
use crate::counters::Counters;
use crate::emit::Emitter;
use crate::{Plugin, ABI_VERSION};

/// Exports `$plugin` (a type implementing [`Plugin`]) as this `cdylib`'s Fastlane plugin, named
/// after the crate. Use it once per crate.
#[macro_export]
macro_rules! export {
    ($plugin:ty) => {
        /// The entry point the Fastlane host looks up when it loads this library.
        #[unsafe(no_mangle)]
        pub extern "C" fn fastlane_plugin_entry() -> *const $crate::abi::PluginDescriptor {
            static DESCRIPTOR: $crate::abi::PluginDescriptor =
                $crate::export::descriptor::<$plugin>(env!("CARGO_PKG_NAME"));
            &DESCRIPTOR
        }
    };
}

/// The descriptor of plugin `P`, named `name`.
pub const fn descriptor<P: Plugin>(name: &'static str) -> PluginDescriptor {
    PluginDescriptor {
        abi_version: ABI_VERSION,
        name: FfiStr::new(name),
        counter_count: P::COUNTERS.len(),
        counter_name: counter_name::<P>,
        drop_reason_count: P::DROP_REASONS.len(),
        drop_reason_name: drop_reason_name::<P>,
        create: create::<P>,
        process: process::<P>,
        destroy: destroy::<P>,
        poll: poll::<P>,
    }
}

/// One thread's instance with the host's counter block for it.
struct Instance<P> {
    plugin: P,
    counters: *const AtomicU64,
    counter_count: usize,
}

unsafe extern "C" fn counter_name<P: Plugin>(index: usize) -> FfiStr {
    name_at(P::COUNTERS, index)
}

unsafe extern "C" fn drop_reason_name<P: Plugin>(index: usize) -> FfiStr {
    name_at(P::DROP_REASONS, index)
}

fn name_at(names: &'static [&'static str], index: usize) -> FfiStr {
    FfiStr::new(names.get(index).copied().unwrap_or(""))
}

unsafe extern "C" fn create<P: Plugin>(
    config: *const u8,
    config_len: usize,
    counters: *const AtomicU64,
    counter_count: usize,
    shared_memory: *const SharedMemoryHook,
    state: *mut *mut c_void,
    error: *mut ErrorBuf,
) -> Status {
    if counter_count != P::COUNTERS.len() {
        let message = format!(
            "the host gave {counter_count} counters for the {} this plugin declares",
            P::COUNTERS.len()
        );
        // SAFETY: the host passes a valid error buffer.
        unsafe { write_error(error, &message) };
        return STATUS_REFUSED;
    }
    let built = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the host passes `config_len` bytes of JSON at `config`, alive for the call.
        let text = unsafe { bytes(config, config_len) };
        let text = std::str::from_utf8(text)
            .map_err(|e| format!("the plugin's config is not UTF-8: {e}"))?;
        #[cfg(feature = "shared-memory")]
        // SAFETY: the host passes a valid hook, alive for the call.
        let _offered = crate::shared_memory::Offered::enter(unsafe { *shared_memory });
        #[cfg(not(feature = "shared-memory"))]
        let _ = shared_memory;
        P::new(text)
    }));
    let (status, message) = match built {
        Ok(Ok(plugin)) => {
            let instance = Box::new(Instance {
                plugin,
                counters,
                counter_count,
            });
            // SAFETY: the host passes a valid place for the state.
            unsafe { *state = Box::into_raw(instance).cast() };
            return STATUS_OK;
        }
        Ok(Err(message)) => (STATUS_REFUSED, message),
        Err(panic) => (STATUS_PANICKED, panic_message(panic)),
    };
    // SAFETY: the host passes a valid error buffer.
    unsafe { write_error(error, &message) };
    status
}

unsafe extern "C" fn process<P: Plugin>(
    state: *mut c_void,
    slots: *mut Slot,
    len: usize,
    port: u16,
    queue: u16,
    error: *mut ErrorBuf,
) -> Status {
    // SAFETY: `state` is what `create::<P>` returned, and the host calls one instance from one
    // thread at a time.
    let instance = unsafe { &mut *state.cast::<Instance<P>>() };
    let slots: &mut [Slot] = if len == 0 {
        &mut []
    } else {
        // SAFETY: the host passes `len` initialised slots that it lends exclusively for the call;
        // `Slot` is `repr(C)`, and the ABI version check guarantees both sides agree on it.
        unsafe { std::slice::from_raw_parts_mut(slots, len) }
    };
    // SAFETY: the host keeps the block alive for as long as the instance lives.
    let counters =
        Counters::new(unsafe { counter_block(instance.counters, instance.counter_count) });
    let plugin = &mut instance.plugin;
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        plugin.process(&mut Batch::new(slots, port, queue, &counters))
    }));
    // SAFETY: the host passes a valid error buffer.
    unsafe { status_of(outcome, error) }
}

unsafe extern "C" fn poll<P: Plugin>(
    state: *mut c_void,
    emit: *const EmitHook,
    error: *mut ErrorBuf,
) -> Status {
    // SAFETY: as in `process`.
    let instance = unsafe { &mut *state.cast::<Instance<P>>() };
    // SAFETY: the host lends a valid hook for the call.
    let hook = unsafe { &*emit };
    // SAFETY: the host keeps the block alive for as long as the instance lives.
    let counters =
        Counters::new(unsafe { counter_block(instance.counters, instance.counter_count) });
    let plugin = &mut instance.plugin;
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        plugin.poll(&mut Emitter::new(hook, &counters))
    }));
    // SAFETY: the host passes a valid error buffer.
    unsafe { status_of(outcome, error) }
}

/// The host's counter block of `count` counters at `ptr`.
///
/// # Safety
/// The block must stay alive for `'a`: the host keeps it for as long as the instance lives.
unsafe fn counter_block<'a>(ptr: *const AtomicU64, count: usize) -> &'a [AtomicU64] {
    if count == 0 {
        return &[];
    }
    // SAFETY: guaranteed by the caller.
    unsafe { std::slice::from_raw_parts(ptr, count) }
}

/// A call's status, with a panic's message written to `error`.
///
/// # Safety
/// `error` must point at a valid [`ErrorBuf`].
unsafe fn status_of(outcome: std::thread::Result<()>, error: *mut ErrorBuf) -> Status {
    match outcome {
        Ok(()) => STATUS_OK,
        Err(panic) => {
            // SAFETY: guaranteed by the caller.
            unsafe { write_error(error, &panic_message(panic)) };
            STATUS_PANICKED
        }
    }
}

unsafe extern "C" fn destroy<P: Plugin>(state: *mut c_void) {
    // SAFETY: `state` is what `create::<P>` returned and the host destroys it once.
    let instance = unsafe { Box::from_raw(state.cast::<Instance<P>>()) };
    // A panic in the plugin's Drop must not unwind into the host, and there is no one left to
    // tell: the instance is gone either way.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(instance)));
}

/// # Safety
/// `ptr` must be valid for `len` bytes for the returned lifetime (or `len` must be 0).
unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if len == 0 {
        return &[];
    }
    // SAFETY: guaranteed by the caller.
    unsafe { std::slice::from_raw_parts(ptr, len) }
}

fn panic_message(panic: Box<dyn Any + Send>) -> String {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    // Dropping a payload can itself panic; keep that on this side too.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(panic)));
    message
}

/// Copies as much of `message` as fits, cut at a character boundary.
///
/// # Safety
/// `error` must point at a valid [`ErrorBuf`] whose `ptr` is writable for `cap` bytes.
unsafe fn write_error(error: *mut ErrorBuf, message: &str) {
    // SAFETY: guaranteed by the caller.
    let error = unsafe { &mut *error };
    let mut len = message.len().min(error.cap);
    while !message.is_char_boundary(len) {
        len -= 1;
    }
    // SAFETY: `ptr` is writable for `cap >= len` bytes and cannot overlap a Rust string.
    unsafe { std::ptr::copy_nonoverlapping(message.as_ptr(), error.ptr, len) };
    error.len = len;
}
