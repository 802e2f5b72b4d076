//! Counters written by one data-plane thread and read by whoever scrapes them. One writer means
//! no atomic read-modify-write on the hot path: a relaxed load and store, which compile to plain
//! moves, while readers still never see a torn value.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::verdict::DropReason;

#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the counter's owning thread may call this.
    #[inline(always)]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// What one thread did on one port queue.
#[derive(Debug, Default)]
pub struct QueueCounters {
    pub rx_packets: Counter,
    pub rx_bytes: Counter,
    pub tx_packets: Counter,
    pub tx_bytes: Counter,
    /// Packets handed to the kernel's slow path (classified slow, or a processor's `Kernel`).
    pub kernel_packets: Counter,
    /// Packets the kernel's slow path sent out of this queue (read from the TAP device).
    pub from_kernel_packets: Counter,
    /// Receive bursts that brought at least one packet.
    pub rx_batches: Counter,
    pub dropped: [Counter; DropReason::COUNT],
}

impl QueueCounters {
    #[inline(always)]
    pub fn drop(&self, reason: DropReason, n: u64) {
        self.dropped[reason as usize].add(n);
    }
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason as usize].get()
    }
}
