//! A snapshot of what the data plane did, for the binding, the CLI and metrics.

use fastlane_core::{DropReason, SlowReason};

#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub queues: Vec<QueueStats>,
    pub ports: Vec<PortStats>,
    /// One entry per `count` stage of the pipeline, summed over threads.
    pub pipeline: Vec<StageStats>,
}

/// Named counters, in a fixed order.
pub type Named = Vec<(&'static str, u64)>;

#[derive(Debug, Clone, Default)]
pub struct QueueStats {
    pub port: u16,
    pub interface: String,
    pub queue: u16,
    pub core: u16,
    /// AF_XDP bound in zero-copy mode.
    pub zero_copy: bool,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Handed to the kernel's slow path.
    pub kernel_packets: u64,
    /// Sent out of this queue by the kernel's slow path (TAP).
    pub from_kernel_packets: u64,
    pub rx_batches: u64,
    /// By [`DropReason::name`].
    pub dropped: Named,
    /// The kernel's counters of the queue's socket (AF_XDP's XDP_STATISTICS).
    pub socket: Named,
}

#[derive(Debug, Clone, Default)]
pub struct PortStats {
    pub port: u16,
    pub interface: String,
    /// The XDP split, when the backend uses one.
    pub xdp: Option<XdpPortStats>,
    /// The device's own counters (DPDK's ethdev stats).
    pub device: Named,
    /// The TAP device carrying the port's slow path, if any.
    pub tap: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct XdpPortStats {
    pub attach_mode: &'static str,
    /// Fast-path frames the XDP program redirected to a socket.
    pub redirected: u64,
    /// Fast-path frames that found no socket on their queue and went to the kernel.
    pub no_socket: u64,
    /// Frames passed to the kernel, by [`SlowReason::name`].
    pub passed: Named,
}

#[derive(Debug, Clone, Default)]
pub struct StageStats {
    pub stage: usize,
    pub packets: u64,
    pub bytes: u64,
}

pub(crate) fn drop_names(counts: impl Fn(DropReason) -> u64) -> Named {
    DropReason::ALL
        .iter()
        .map(|&r| (r.name(), counts(r)))
        .collect()
}

pub(crate) fn slow_names(passed: &[u64; 6]) -> Named {
    SlowReason::ALL
        .iter()
        .map(|&r| (r.name(), passed[r as usize]))
        .collect()
}
