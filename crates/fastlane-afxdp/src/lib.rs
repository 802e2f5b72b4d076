//! Fastlane's AF_XDP packet I/O backend, written directly on the kernel's AF_XDP socket API (no
//! libxdp or libbpf at run time).
//!
//! Each data-plane thread owns one UMEM, shared by every socket it serves: the first socket
//! registers it, the others bind with `XDP_SHARED_UMEM` and their own fill and completion rings.
//! A frame received on one port can therefore be transmitted on another port of the same thread
//! without a copy. The thread's free frames sit on a stack that feeds the fill rings; every frame
//! is at any time either on that stack, in a batch being processed, or in a kernel ring.
//!
//! A process without capabilities can run the same data path on sockets another process made:
//! [`export_thread`] does the privileged half (sockets, a memfd UMEM registered and charged to the
//! caller, ring sizes, options, bind) and returns an [`AfXdpExport`] of descriptors and plain data
//! to send over SCM_RIGHTS; [`adopt_thread`] maps the memfd and the rings on the other side.
//!
//! This crate does not attach XDP programs: the XDP program redirecting frames to the sockets
//! (through an XSKMAP filled with [`XskSocketInfo::fd`]) is another crate's business.

mod error;
mod export;
mod ring;
mod socket;
mod stats;
mod thread;
mod umem;

pub use error::AfXdpError;
pub use export::{adopt_thread, export_thread, AfXdpExport, XskExport, XskLayout};
pub use fastlane_sys::xsk::RingSizes;
pub use stats::{XdpStatistics, XskStatsReader};
pub use thread::{open_thread, AfXdpThread, FrameCensus, XskSocketInfo};
