//! A snapshot of what the data plane did, for the binding, the CLI and metrics.

use fastlane_core::{DropReason, SlowReason};

#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub queues: Vec<QueueStats>,
    pub ports: Vec<PortStats>,
    /// One entry per `count` stage of the pipeline, summed over threads.
    pub pipeline: Vec<StageStats>,
}

#[derive(Debug, Clone, Default)]
pub struct QueueStats {
    pub port: u16,
    pub interface: String,
    pub queue: u16,
    pub core: u16,
    pub zero_copy: bool,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub kernel_packets: u64,
    pub rx_batches: u64,
    /// By [`DropReason::name`].
    pub dropped: Vec<(&'static str, u64)>,
    /// The kernel's XDP_STATISTICS for the queue's socket.
    pub xdp: XskKernelStats,
}

#[derive(Debug, Clone, Default)]
pub struct XskKernelStats {
    pub rx_dropped: u64,
    pub rx_invalid_descs: u64,
    pub tx_invalid_descs: u64,
    pub rx_ring_full: u64,
    pub rx_fill_ring_empty_descs: u64,
    pub tx_ring_empty_descs: u64,
}

#[derive(Debug, Clone, Default)]
pub struct PortStats {
    pub port: u16,
    pub interface: String,
    pub attach_mode: &'static str,
    /// Fast-path frames the XDP program redirected to a socket.
    pub redirected: u64,
    /// Fast-path frames that found no socket on their queue and went to the kernel.
    pub no_socket: u64,
    /// Frames passed to the kernel, by [`SlowReason::name`].
    pub passed: Vec<(&'static str, u64)>,
}

#[derive(Debug, Clone, Default)]
pub struct StageStats {
    pub stage: usize,
    pub packets: u64,
    pub bytes: u64,
}

pub(crate) fn drop_names(counts: impl Fn(DropReason) -> u64) -> Vec<(&'static str, u64)> {
    DropReason::ALL
        .iter()
        .map(|&r| (r.name(), counts(r)))
        .collect()
}

pub(crate) fn slow_names(passed: &[u64; 6]) -> Vec<(&'static str, u64)> {
    SlowReason::ALL
        .iter()
        .map(|&r| (r.name(), passed[r as usize]))
        .collect()
}
