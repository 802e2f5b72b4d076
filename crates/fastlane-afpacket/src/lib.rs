//! Fastlane's AF_PACKET backend: the fallback that works on any interface with only CAP_NET_RAW.
//!
//! Each port queue is an AF_PACKET socket bound to the interface, with a TPACKET_V3 RX ring (the
//! kernel hands over whole blocks of frames; the runtime's slots point into them, so receiving
//! copies nothing) and a TX ring. A port's queue sockets form one PACKET_FANOUT group, which
//! spreads its packets over them.
//!
//! Transmission copies each frame into a TPACKET_V3 TX ring frame and sends a whole batch with a
//! single `send()`. That beats `sendmmsg`, which also costs one system call per batch: the
//! kernel builds each socket buffer around the ring's pages instead of copying every frame a
//! second time out of user memory, and it reads no per-frame `msghdr` and iovec.
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
mod stats;
mod sys;
mod thread;

pub use error::AfPacketError;
pub use port::{open_port, AfPacketPort, SplitMechanism};
pub use stats::{PacketStatistics, PacketStatsReader};
pub use thread::{open_thread, AfPacketThread, PacketQueue};
