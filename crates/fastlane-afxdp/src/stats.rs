//! The kernel's per-socket AF_XDP statistics, readable from any thread while the data plane runs.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use crate::error::AfXdpError;

/// What the kernel counted on one AF_XDP socket (`XDP_STATISTICS`). Kernels before 5.9 report
/// only the first three; the others then read 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XdpStatistics {
    /// Frames dropped for reasons other than a full RX ring or an empty fill ring.
    pub rx_dropped: u64,
    pub rx_invalid_descs: u64,
    pub tx_invalid_descs: u64,
    /// Frames dropped because the RX ring was full (the application fell behind).
    pub rx_ring_full: u64,
    /// Times the kernel found the fill ring empty (no buffer to receive into).
    pub rx_fill_ring_empty_descs: u64,
    /// Times the kernel found the TX ring empty when asked to transmit.
    pub tx_ring_empty_descs: u64,
}

/// Reads one socket's statistics. Cheap to clone and safe to use from another thread; it keeps
/// the socket's file descriptor open.
#[derive(Debug, Clone)]
pub struct XskStatsReader {
    fd: Arc<OwnedFd>,
}

impl XskStatsReader {
    pub(crate) fn new(fd: Arc<OwnedFd>) -> Self {
        XskStatsReader { fd }
    }

    pub fn read(&self) -> Result<XdpStatistics, AfXdpError> {
        let s = fastlane_sys::xsk::statistics(self.fd.as_fd())
            .map_err(|e| AfXdpError::Statistics(e.into()))?;
        Ok(XdpStatistics {
            rx_dropped: s.rx_dropped,
            rx_invalid_descs: s.rx_invalid_descs,
            tx_invalid_descs: s.tx_invalid_descs,
            rx_ring_full: s.rx_ring_full,
            rx_fill_ring_empty_descs: s.rx_fill_ring_empty_descs,
            tx_ring_empty_descs: s.tx_ring_empty_descs,
        })
    }
}
