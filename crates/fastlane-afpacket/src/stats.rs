//! The kernel's per-socket counters (PACKET_STATISTICS), readable from any thread.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};

use crate::error::AfPacketError;

/// What the kernel counted for one queue socket since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PacketStatistics {
    /// Frames that passed the socket filter (`tp_packets`), including those dropped below.
    pub packets: u64,
    /// Frames dropped because the ring had no room (`tp_drops`).
    pub drops: u64,
    /// Times the ring was frozen because every block was held by user space
    /// (`tp_freeze_q_cnt`).
    pub freeze_q_cnt: u64,
}

/// Reads a queue socket's statistics. The kernel resets them on every read, so the reader keeps
/// the totals; its clones share them, and each read adds what the kernel counted since the last.
#[derive(Debug, Clone)]
pub struct PacketStatsReader {
    fd: Arc<OwnedFd>,
    totals: Arc<Mutex<PacketStatistics>>,
}

impl PacketStatsReader {
    pub(crate) fn new(fd: Arc<OwnedFd>) -> Self {
        PacketStatsReader {
            fd,
            totals: Arc::default(),
        }
    }

    pub fn read(&self) -> Result<PacketStatistics, AfPacketError> {
        // Held across the read, so that no concurrent read's delta is lost.
        let mut totals = self.totals.lock().unwrap_or_else(|e| e.into_inner());
        let delta = fastlane_sys::tpacket::statistics(self.fd.as_fd())
            .map_err(|e| AfPacketError::Statistics(e.into()))?;
        totals.packets += u64::from(delta.packets);
        totals.drops += u64::from(delta.drops);
        totals.freeze_q_cnt += u64::from(delta.freeze_q_cnt);
        Ok(*totals)
    }
}
