//! What becomes of a packet once the processors are done with it.

/// Index of a port in the config's `ports` array.
pub type PortId = u16;

/// A packet's fate. Every packet starts [`Verdict::Pending`]; a packet still pending when the
/// processor chain ends is dropped and counted as [`DropReason::NoVerdict`].
/// `repr(C, u8)`: plugins set verdicts across a C ABI (`fastlane-plugin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, u8)]
pub enum Verdict {
    Pending,
    /// Send it back out of the port and queue it arrived on.
    Transmit,
    /// Send it out of another port (on the queue the same thread serves there).
    TransmitOn(PortId),
    /// Hand it to the kernel's network stack (the slow path).
    Kernel,
    /// A stage kept a copy and sends it later on its own (the TypeScript stage): release the
    /// buffer and count nothing.
    Taken,
    Drop(DropReason),
}

impl Verdict {
    /// Later processors in a chain no longer see a packet that is dropped or given to the kernel.
    pub fn is_final(self) -> bool {
        matches!(self, Verdict::Kernel | Verdict::Drop(_) | Verdict::Taken)
    }
}

/// Why a packet was dropped; each reason has its own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DropReason {
    /// A processor decided to drop it (the `drop` processor, an ACL).
    Processor = 0,
    /// No processor gave it a verdict.
    NoVerdict = 1,
    /// A processor found it malformed.
    Malformed = 2,
    /// The transmit ring was full.
    TxRingFull = 3,
    /// `TransmitOn` named a port this thread does not serve.
    NoSuchPort = 4,
    /// The verdict was `Kernel` but this backend has no way back into the kernel.
    NoSlowPath = 5,
    /// No free buffer to copy it into (cross-port transmit without a shared buffer pool).
    NoBuffer = 6,
    /// The slow path's TAP device did not take it (its queue was full).
    SlowPathFull = 7,
    /// master_worker: the worker of its flow had no room for another batch.
    WorkerBusy = 8,
    /// The TypeScript stage had no free slot: JavaScript fell behind.
    JsBacklog = 9,
}

impl DropReason {
    pub const ALL: [DropReason; 10] = [
        DropReason::Processor,
        DropReason::NoVerdict,
        DropReason::Malformed,
        DropReason::TxRingFull,
        DropReason::NoSuchPort,
        DropReason::NoSlowPath,
        DropReason::NoBuffer,
        DropReason::SlowPathFull,
        DropReason::WorkerBusy,
        DropReason::JsBacklog,
    ];
    pub const COUNT: usize = Self::ALL.len();

    /// The `reason` label of `fastlane_dropped_packets_total`.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Processor => "processor",
            DropReason::NoVerdict => "no_verdict",
            DropReason::Malformed => "malformed",
            DropReason::TxRingFull => "tx_ring_full",
            DropReason::NoSuchPort => "no_such_port",
            DropReason::NoSlowPath => "no_slow_path",
            DropReason::NoBuffer => "no_buffer",
            DropReason::SlowPathFull => "slow_path_full",
            DropReason::WorkerBusy => "worker_busy",
            DropReason::JsBacklog => "js_backlog",
        }
    }
}
