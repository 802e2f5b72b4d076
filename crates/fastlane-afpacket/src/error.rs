use std::io;

use fastlane_xdp::SkbProgramError;

/// Why the AF_PACKET backend could not start or read its statistics.
#[derive(Debug, thiserror::Error)]
pub enum AfPacketError {
    #[error("{interface}: no such interface in this network namespace: {source}")]
    NoSuchInterface {
        interface: String,
        source: io::Error,
    },
    #[error("af_packet config: {0}")]
    Config(String),
    /// A call on a queue's socket failed: `operation` names it (syscall and option).
    #[error("{interface} queue {queue}: {operation}: {source}")]
    Socket {
        interface: String,
        queue: u16,
        operation: &'static str,
        source: io::Error,
    },
    /// Loading the socket filter or attaching the tc program failed for another reason than
    /// missing privileges.
    #[error("{interface}: {source}")]
    Program {
        interface: String,
        source: SkbProgramError,
    },
    /// `suppress_kernel` asks for the tc ingress program, which this process may not load.
    #[error(
        "{interface}: af_packet.suppress_kernel needs CAP_BPF and CAP_NET_ADMIN (to load a socket \
         filter and attach a tc ingress program), which this process lacks: {source}. Grant \
         them, or set suppress_kernel to false and accept that the kernel stack also receives \
         fast-path packets (it may answer them, e.g. with ICMP port unreachable)"
    )]
    SuppressNeedsPrivilege {
        interface: String,
        source: SkbProgramError,
    },
    #[error("getsockopt(PACKET_STATISTICS): {0}")]
    Statistics(io::Error),
}
