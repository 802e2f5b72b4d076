//! Every call into DPDK: finding and loading `libfastlane_dpdk.so`, its function table, and the
//! bindgen view of `struct rte_mbuf` that the hot path reads and writes directly.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::DpdkError;

#[allow(
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    dead_code,
    missing_debug_implementations,
    clippy::all,
    clippy::undocumented_unsafe_blocks
)]
mod bindings {
    include!(concat!(env!("OUT_DIR"), "/mbuf.rs"));
}

pub(crate) use bindings::rte_mbuf;

/// `struct rte_mempool`, only ever handled by pointer.
#[repr(C)]
pub(crate) struct RteMempool {
    _opaque: [u8; 0],
}

const SHIM_FILE: &str = "libfastlane_dpdk.so";
/// The shim this crate was built with; the last place looked, for development trees.
const BUILT_SHIM: &str = env!("FASTLANE_DPDK_SHIM");

/// Declares the shim's function table and how to resolve it.
macro_rules! shim_functions {
    ($($name:ident: fn($($arg:ty),*) $(-> $ret:ty)?;)*) => {
        /// The loaded shim. Loaded once per process and never unloaded: DPDK cannot be.
        pub(crate) struct Shim {
            pub path: String,
            $(pub $name: unsafe extern "C" fn($($arg),*) $(-> $ret)?,)*
        }

        impl Shim {
            fn resolve(library: &libloading::Library, path: &str) -> Result<Shim, DpdkError> {
                Ok(Shim {
                    path: path.to_string(),
                    $($name: {
                        let symbol = concat!("fastlane_dpdk_", stringify!($name));
                        // SAFETY: the type is the C prototype of the same name in
                        // shim/fastlane_dpdk.c, built together with this crate.
                        let f = unsafe {
                            library.get::<unsafe extern "C" fn($($arg),*) $(-> $ret)?>(symbol)
                        }
                        .map_err(|e| DpdkError::ShimSymbol {
                            path: path.to_string(),
                            symbol,
                            reason: with_sources(&e),
                        })?;
                        *f
                    },)*
                })
            }
        }
    };
}

shim_functions! {
    mbuf_layout: fn(*mut u32);
    errno: fn() -> c_int;
    strerror: fn(c_int) -> *const c_char;
    eal_init: fn(c_int, *mut *mut c_char) -> c_int;
    eal_cleanup: fn() -> c_int;
    thread_register: fn() -> c_int;
    thread_unregister: fn();
    pool_create: fn(*const c_char, c_uint, c_uint) -> *mut RteMempool;
    pool_free: fn(*mut RteMempool);
    port_by_name: fn(*const c_char, *mut u16) -> c_int;
    port_start: fn(u16, u16, u16, u16, *mut RteMempool, *mut c_int) -> c_int;
    port_stop: fn(u16) -> c_int;
    port_close: fn(u16) -> c_int;
    port_mac: fn(u16, *mut u8) -> c_int;
    port_stats: fn(u16, *mut u64) -> c_int;
    rx_burst: fn(u16, u16, *mut *mut rte_mbuf, u16) -> u16;
    tx_burst: fn(u16, u16, *mut *mut rte_mbuf, u16) -> u16;
    alloc_bulk: fn(*mut RteMempool, *mut *mut rte_mbuf, c_uint) -> c_int;
    free_bulk: fn(*mut *mut rte_mbuf, c_uint);
}

impl std::fmt::Debug for Shim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shim").field("path", &self.path).finish()
    }
}

impl Shim {
    /// DPDK's text for an errno value (its own codes included).
    pub fn error_text(&self, errno: i32) -> String {
        // SAFETY: rte_strerror returns a static or thread-local NUL-terminated string.
        let text = unsafe { (self.strerror)(errno) };
        if text.is_null() {
            return format!("error {errno}");
        }
        // SAFETY: non-null and NUL-terminated, read before this thread calls DPDK again.
        unsafe { CStr::from_ptr(text) }
            .to_string_lossy()
            .into_owned()
    }

    /// rte_errno of this thread, with its text.
    pub fn last_error(&self) -> (i32, String) {
        // SAFETY: reads a thread-local integer.
        let errno = unsafe { (self.errno)() };
        (errno, self.error_text(errno))
    }

    /// Checks that the shim's `struct rte_mbuf` is the one this crate was compiled against.
    fn check_layout(&self) -> Result<(), DpdkError> {
        let mut shim = [0u32; 7];
        // SAFETY: the shim writes exactly 7 values.
        unsafe { (self.mbuf_layout)(shim.as_mut_ptr()) };
        let ours = [
            std::mem::size_of::<rte_mbuf>(),
            std::mem::offset_of!(rte_mbuf, buf_addr),
            std::mem::offset_of!(rte_mbuf, data_off),
            std::mem::offset_of!(rte_mbuf, nb_segs),
            std::mem::offset_of!(rte_mbuf, pkt_len),
            std::mem::offset_of!(rte_mbuf, data_len),
            std::mem::offset_of!(rte_mbuf, buf_len),
        ]
        .map(|v| v as u32);
        if shim != ours {
            return Err(DpdkError::ShimLayout {
                path: self.path.clone(),
                shim: shim.to_vec(),
                ours: ours.to_vec(),
            });
        }
        Ok(())
    }
}

/// The process's shim, loaded on first use.
pub(crate) fn shim() -> Result<&'static Shim, DpdkError> {
    static SHIM: Mutex<Option<&'static Shim>> = Mutex::new(None);
    let mut loaded = SHIM.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(shim) = *loaded {
        return Ok(shim);
    }
    let shim: &'static Shim = Box::leak(Box::new(load()?));
    *loaded = Some(shim);
    Ok(shim)
}

/// Looks beside the binary or .node file holding this code, then at `FASTLANE_DPDK_LIB`, then on
/// the dynamic linker's path, then where the build left it.
fn load() -> Result<Shim, DpdkError> {
    let mut looked = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();
    if let Some(dir) = own_image_dir() {
        files.push(dir.join(SHIM_FILE));
    }
    if let Some(path) = std::env::var_os("FASTLANE_DPDK_LIB") {
        let path = PathBuf::from(path);
        files.push(if path.is_dir() {
            path.join(SHIM_FILE)
        } else {
            path
        });
    }
    for file in files {
        if file.exists() {
            return open(&file);
        }
        looked.push(file.display().to_string());
    }
    match open(Path::new(SHIM_FILE)) {
        Err(DpdkError::ShimLoad { reason, .. })
            if reason.contains(&format!("{SHIM_FILE}: cannot open shared object file")) =>
        {
            looked.push("the dynamic linker's library path".into());
        }
        other => return other,
    }
    let built = Path::new(BUILT_SHIM);
    if built.exists() {
        return open(built);
    }
    looked.push(BUILT_SHIM.into());
    Err(DpdkError::ShimNotFound {
        looked: looked.join(", "),
    })
}

fn open(path: &Path) -> Result<Shim, DpdkError> {
    let shown = path.display().to_string();
    // SAFETY: loading runs the initialisers of the shim and DPDK's libraries, which only
    // register drivers and buses; nothing else in the process depends on them.
    let library = unsafe {
        libloading::os::unix::Library::open(Some(path), libc::RTLD_NOW | libc::RTLD_LOCAL)
    }
    .map_err(|e| {
        let reason = with_sources(&e);
        if reason.contains("librte_") {
            DpdkError::DpdkLibrariesMissing {
                path: shown.clone(),
                reason,
            }
        } else {
            DpdkError::ShimLoad {
                path: shown.clone(),
                reason,
            }
        }
    })?;
    let library = libloading::Library::from(library);
    let shim = Shim::resolve(&library, &shown)?;
    shim.check_layout()?;
    // The function pointers stay valid for the life of the process.
    std::mem::forget(library);
    Ok(shim)
}

/// An error with its causes: libloading puts dlerror's text in the source.
fn with_sources(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The directory of the executable or shared object (the .node file) holding this code.
fn own_image_dir() -> Option<PathBuf> {
    // SAFETY: Dl_info is plain data that dladdr fills.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let here = own_image_dir as fn() -> Option<PathBuf> as *const c_void;
    // SAFETY: `here` is an address inside this image; `info` is writable.
    let found = unsafe { libc::dladdr(here, &mut info) } != 0 && !info.dli_fname.is_null();
    let image = if found {
        // SAFETY: dli_fname is a NUL-terminated path owned by the dynamic linker.
        PathBuf::from(
            unsafe { CStr::from_ptr(info.dli_fname) }
                .to_string_lossy()
                .into_owned(),
        )
    } else {
        PathBuf::new()
    };
    // The main program's entry is its name as started, possibly relative or empty.
    let image = if image.is_absolute() {
        image
    } else {
        std::env::current_exe().ok()?
    };
    image.parent().map(Path::to_path_buf)
}
