//! Fastlane's one system-call layer. Every crate of the workspace enters the kernel through this
//! one, on rustix wherever rustix covers the call and on raw libc where it does not (bpf(2), the
//! tun and interface ioctls, packet-socket options, `sendmmsg` of the AF_PACKET data path), with
//! one error type, [`SysError`], naming the call and the errno.
//!
//! One module per concern: [`bpf`] (the one bpf(2) entry point), [`xsk`] (AF_XDP sockets),
//! [`tpacket`] (AF_PACKET and TPACKET_V3), [`mmap`], [`memfd`], [`unix`] (socket pairs and
//! SCM_RIGHTS), [`netdev`] (interface look-ups and ioctls), [`tun`], [`netlink`], [`cpu`],
//! [`ns`], [`poll`], [`process`], [`sockopt`] (options rustix does not name).

pub mod bpf;
pub mod cpu;
mod error;
pub mod memfd;
pub mod mmap;
pub mod netdev;
pub mod netlink;
pub mod ns;
pub mod poll;
pub mod process;
pub mod sockopt;
pub mod tpacket;
pub mod tun;
pub mod unix;
pub mod xsk;

pub use error::{SysError, SysResult};
pub use mmap::Mmap;
