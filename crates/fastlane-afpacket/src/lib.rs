//! Fastlane's AF_PACKET backend: the fallback that works on any interface with only CAP_NET_RAW.
//!
//! Each port queue is an AF_PACKET socket bound to the interface, with a TPACKET_V3 RX ring (the
//! kernel hands over whole blocks of frames; the runtime's slots point into them, so receiving
//! copies nothing) and a TX ring. A port's queue sockets form one PACKET_FANOUT group, which
//! spreads its packets over them.
//!
//! Transmission sends a whole batch with one `sendmmsg` whose iovecs point straight into the RX
//! ring (or at the caller's frames): the kernel copies each frame once, into its socket buffer,
//! and the RX blocks go back to the kernel right after. A TPACKET_V3 TX ring also costs one
//! `send()` per batch, but needs a copy into the ring first and a page reference per frame
//! until the device is done with it; measured on this project's test bed (veth, 1 core, batches
//! of 32, ring copy not counted) it sent 0.67-0.80 Mpps at 64 B and 0.74-0.76 at 1400 B against
//! 0.76-0.88 and 0.81-0.85 for `sendmmsg`.
//!
//! The fast/slow split ([`SplitMechanism`], chosen by [`open_port`]): with the privilege to load
//! BPF programs, a socket filter lets only fast-path frames into the sockets
//! ([`Split::InKernel`](fastlane_core::Split)) and, with `suppress_kernel`, a tc ingress program
//! (TCX) drops them before the kernel stack, which would otherwise answer them too: AF_PACKET
//! sockets get their copy before tc ingress runs. Without that privilege the sockets get every
//! frame and the runtime classifies ([`Split::Shared`](fastlane_core::Split)), which
//! `suppress_kernel` refuses.

mod error;
mod port;
mod ring;
mod socket;
mod stats;
mod thread;

pub use error::AfPacketError;
pub use port::{open_port, AfPacketPort, SplitMechanism};
pub use stats::{PacketStatistics, PacketStatsReader};
pub use thread::{adopt_thread, export_sockets, open_thread, AfPacketThread};
