//! Fastlane's core: the packet API every backend feeds and every processor sees, independent of
//! the packet I/O mechanism.
//!
//! A backend receives a burst into a [`Batch`] of [`Slot`]s that point into its own buffers; the
//! thread runs the [`Processor`] chain over it; the backend then carries out each packet's
//! [`Verdict`]. [`FilterTables`] decides which frames reach the fast path at all.

pub mod batch;
pub mod classify;
pub mod config;
pub mod counters;
pub mod io;
pub mod netns;
pub mod packet;
pub mod processor;
pub mod verdict;
pub mod wire;

pub use batch::Batch;
pub use classify::{Class, FilterTables, SlowReason};
pub use config::Config;
pub use counters::{Counter, QueueCounters};
pub use io::{Emit, IoEmitter, PollSet, QueueMap, QueueRef, QueueSpec, Split, ThreadIo, Unsent};
pub use packet::{Packet, PacketError, Slot};
pub use processor::{Pipeline, Processor};
pub use verdict::{DropReason, PortId, Verdict};
