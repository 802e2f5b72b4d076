//! Fastlane's DPDK packet I/O backend.
//!
//! DPDK is reached through `libfastlane_dpdk.so`, a small C shim built with this crate and loaded
//! at run time only when a config asks for DPDK, so that a fastlane binary without DPDK installed
//! still runs its other backends. The shim is looked for beside the binary or `.node` file holding
//! this code, then at `FASTLANE_DPDK_LIB`, then on the dynamic linker's path, then where the build
//! left it. The hot path reads and writes `struct rte_mbuf` fields directly (bindgen layout) and
//! makes one call per burst.
//!
//! Built without libdpdk-dev, the crate keeps its API and [`Dpdk::start`] says DPDK support is
//! missing.

mod error;

pub use error::DpdkError;

/// A port's counters as its DPDK driver keeps them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DpdkPortStats {
    pub ipackets: u64,
    pub opackets: u64,
    /// Dropped by the device because the receive queue was full.
    pub imissed: u64,
    pub ierrors: u64,
    pub oerrors: u64,
    /// Receive failures for lack of an mbuf.
    pub rx_nombuf: u64,
}

#[cfg(fastlane_dpdk_shim)]
mod dpdk;
#[cfg(fastlane_dpdk_shim)]
mod eal;
#[cfg(fastlane_dpdk_shim)]
mod sys;
#[cfg(fastlane_dpdk_shim)]
mod thread;
#[cfg(fastlane_dpdk_shim)]
pub use dpdk::Dpdk;
#[cfg(fastlane_dpdk_shim)]
pub use thread::DpdkThread;

#[cfg(not(fastlane_dpdk_shim))]
mod unbuilt;
#[cfg(not(fastlane_dpdk_shim))]
pub use unbuilt::{Dpdk, DpdkThread};

/// Finds and loads `libfastlane_dpdk.so` (and so DPDK's libraries) without starting DPDK, and
/// returns the path it was loaded from: what `fastlane` would use, or why it cannot.
pub fn dpdk_library() -> Result<String, DpdkError> {
    #[cfg(fastlane_dpdk_shim)]
    return sys::shim().map(|shim| shim.path.clone());
    #[cfg(not(fastlane_dpdk_shim))]
    return Err(DpdkError::NotBuilt);
}
