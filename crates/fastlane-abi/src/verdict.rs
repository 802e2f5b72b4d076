//! What becomes of a packet: the Rust view ([`Verdict`], [`DropReason`]) and the encoding that
//! crosses the plugin boundary ([`RawVerdict`]).

use core::mem::{align_of, size_of};

/// Index of a port in the config's `ports` array.
pub type PortId = u16;

/// A packet's fate. Every packet starts [`Verdict::Pending`]; a packet still pending when the
/// processor chain ends is dropped and counted as [`DropReason::NoVerdict`]. In a slot it is
/// stored as its [`RawVerdict`]; this enum's own layout never crosses the plugin boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

    /// The verdict's encoding in a slot.
    #[inline(always)]
    pub const fn to_raw(self) -> RawVerdict {
        match self {
            Verdict::Pending => RawVerdict::PENDING,
            Verdict::Transmit => RawVerdict::TRANSMIT,
            Verdict::TransmitOn(port) => {
                RawVerdict::with_argument(RawVerdict::KIND_TRANSMIT_ON, port)
            }
            Verdict::Kernel => RawVerdict::KERNEL,
            Verdict::Taken => RawVerdict::TAKEN,
            Verdict::Drop(reason) => {
                RawVerdict::with_argument(RawVerdict::KIND_DROP, reason.code())
            }
        }
    }
}

/// Why a packet was dropped; each reason has its own counter. The discriminant is the reason's
/// code in [`RawVerdict`] and is fixed forever: a new reason takes the next free code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
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
    /// A plugin dropped it for a reason of its own ([`PluginReason`]), which the host counts by
    /// the name the plugin gives it.
    Plugin = 10,
}

impl DropReason {
    pub const ALL: [DropReason; 11] = [
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
        DropReason::Plugin,
    ];
    pub const COUNT: usize = Self::ALL.len();

    /// The reason's code in a [`RawVerdict`].
    #[inline(always)]
    pub const fn code(self) -> u16 {
        self as u16
    }

    /// The reason with `code`, if this build knows it.
    #[inline(always)]
    pub const fn from_code(code: u16) -> Option<DropReason> {
        // A match rather than an index into ALL: the compiler reduces it to one compare.
        Some(match code {
            0 => DropReason::Processor,
            1 => DropReason::NoVerdict,
            2 => DropReason::Malformed,
            3 => DropReason::TxRingFull,
            4 => DropReason::NoSuchPort,
            5 => DropReason::NoSlowPath,
            6 => DropReason::NoBuffer,
            7 => DropReason::SlowPathFull,
            8 => DropReason::WorkerBusy,
            9 => DropReason::JsBacklog,
            10 => DropReason::Plugin,
            _ => return None,
        })
    }

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
            DropReason::Plugin => "plugin",
        }
    }
}

/// One of the drop reasons a plugin declares by name: the index into its list of reason names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PluginReason(pub u16);

/// A verdict as a slot stores it and as it crosses the plugin boundary: the kind in the low byte,
/// the argument (a port, a drop reason's code, a plugin's reason index) in the high 16 bits.
/// Reading and writing it is a plain integer load, store and compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct RawVerdict(pub u32);

const _: () = assert!(size_of::<RawVerdict>() == 4 && align_of::<RawVerdict>() == 4);

impl RawVerdict {
    pub const KIND_PENDING: u8 = 0;
    pub const KIND_TRANSMIT: u8 = 1;
    /// Argument: the port.
    pub const KIND_TRANSMIT_ON: u8 = 2;
    pub const KIND_KERNEL: u8 = 3;
    pub const KIND_TAKEN: u8 = 4;
    /// Argument: the [`DropReason`]'s code.
    pub const KIND_DROP: u8 = 5;
    /// Argument: the [`PluginReason`]; only between a plugin's `process` and the host, which
    /// counts it under the plugin's name for it and rewrites it to `Drop(Plugin)`.
    pub const KIND_PLUGIN_DROP: u8 = 6;
    /// Kinds from this one on are final: later stages do not see the packet.
    const FIRST_FINAL_KIND: u8 = Self::KIND_KERNEL;

    pub const PENDING: RawVerdict = RawVerdict(Self::KIND_PENDING as u32);
    pub const TRANSMIT: RawVerdict = RawVerdict(Self::KIND_TRANSMIT as u32);
    pub const KERNEL: RawVerdict = RawVerdict(Self::KIND_KERNEL as u32);
    pub const TAKEN: RawVerdict = RawVerdict(Self::KIND_TAKEN as u32);

    #[inline(always)]
    pub const fn with_argument(kind: u8, argument: u16) -> RawVerdict {
        RawVerdict(kind as u32 | (argument as u32) << 16)
    }
    /// Dropped for a plugin's own reason `reason`.
    #[inline(always)]
    pub const fn plugin_drop(reason: PluginReason) -> RawVerdict {
        Self::with_argument(Self::KIND_PLUGIN_DROP, reason.0)
    }

    #[inline(always)]
    pub const fn kind(self) -> u8 {
        self.0 as u8
    }
    #[inline(always)]
    pub const fn argument(self) -> u16 {
        (self.0 >> 16) as u16
    }
    /// Dropped, or given to the kernel or to a stage that took it.
    #[inline(always)]
    pub const fn is_final(self) -> bool {
        self.kind() >= Self::FIRST_FINAL_KIND
    }
    /// The plugin reason, when this is a drop for one.
    #[inline(always)]
    pub const fn plugin_reason(self) -> Option<PluginReason> {
        if self.kind() == Self::KIND_PLUGIN_DROP {
            Some(PluginReason(self.argument()))
        } else {
            None
        }
    }

    /// The Rust view. A plugin's reason reads as `Drop(Plugin)`; a drop code this build does not
    /// know (a newer host's) reads as `Drop(Processor)`, and an unknown kind as `Pending`.
    #[inline(always)]
    pub const fn verdict(self) -> Verdict {
        match self.kind() {
            Self::KIND_TRANSMIT => Verdict::Transmit,
            Self::KIND_TRANSMIT_ON => Verdict::TransmitOn(self.argument()),
            Self::KIND_KERNEL => Verdict::Kernel,
            Self::KIND_TAKEN => Verdict::Taken,
            Self::KIND_DROP => Verdict::Drop(match DropReason::from_code(self.argument()) {
                Some(reason) => reason,
                None => DropReason::Processor,
            }),
            Self::KIND_PLUGIN_DROP => Verdict::Drop(DropReason::Plugin),
            _ => Verdict::Pending,
        }
    }
}

impl From<Verdict> for RawVerdict {
    #[inline(always)]
    fn from(verdict: Verdict) -> RawVerdict {
        verdict.to_raw()
    }
}

impl From<RawVerdict> for Verdict {
    #[inline(always)]
    fn from(raw: RawVerdict) -> Verdict {
        raw.verdict()
    }
}
