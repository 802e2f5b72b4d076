//! What can go wrong opening AF_XDP sockets, with the kernel's answer and where it came from.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum AfXdpError {
    #[error("AF_XDP config: {0}")]
    Config(String),

    #[error("mmap of a {bytes}-byte UMEM: {source} (over RLIMIT_MEMLOCK needs CAP_IPC_LOCK)")]
    Umem { bytes: usize, source: io::Error },

    #[error("interface {interface}: {source}")]
    NoSuchInterface {
        interface: String,
        source: io::Error,
    },

    #[error("socket(AF_XDP) for {interface} queue {queue}: {source} (needs CAP_NET_RAW)")]
    Socket {
        interface: String,
        queue: u16,
        source: io::Error,
    },

    #[error(
        "setsockopt({option}) on the AF_XDP socket for {interface} queue {queue}: {source}{hint}"
    )]
    SetOption {
        option: &'static str,
        interface: String,
        queue: u16,
        source: io::Error,
        /// Extra explanation for errnos with a known cause.
        hint: &'static str,
    },

    #[error("getsockopt({option}) on the AF_XDP socket for {interface} queue {queue}: {source}")]
    GetOption {
        option: &'static str,
        interface: String,
        queue: u16,
        source: io::Error,
    },

    #[error(
        "mmap of the {ring} ring of the AF_XDP socket for {interface} queue {queue}: {source}"
    )]
    MapRing {
        ring: &'static str,
        interface: String,
        queue: u16,
        source: io::Error,
    },

    #[error(
        "bind of the AF_XDP socket to {interface} queue {queue} ({mode}): {source}{}",
        if source.raw_os_error() == Some(libc::EBUSY) {
            " (another AF_XDP socket holds the queue)"
        } else {
            ""
        }
    )]
    Bind {
        interface: String,
        queue: u16,
        mode: &'static str,
        source: io::Error,
    },

    #[error(
        "zero-copy refused for {interface} queue {queue}: {source} (the driver lacks AF_XDP \
         zero-copy; use bind_mode \"auto\" or \"copy\")"
    )]
    ZeroCopyRefused {
        interface: String,
        queue: u16,
        source: io::Error,
    },

    #[error("getsockopt(XDP_STATISTICS): {0}")]
    Statistics(io::Error),

    /// A descriptor handed over by another process is not what its layout says.
    #[error("adopting an AF_XDP descriptor: {0}")]
    Adopt(fastlane_sys::SysError),
}

impl AfXdpError {
    /// Whether zero-copy was asked for and the driver refused it.
    pub(crate) fn is_zero_copy_refused(&self) -> bool {
        matches!(self, AfXdpError::ZeroCopyRefused { .. })
    }
}

/// The explanation of an errno from setting a socket option, where one is known.
pub(crate) fn option_hint(option: &'static str, err: &io::Error) -> &'static str {
    match (option, err.raw_os_error()) {
        ("SO_PREFER_BUSY_POLL" | "SO_BUSY_POLL_BUDGET" | "SO_BUSY_POLL", Some(libc::EPERM)) => {
            " (needs CAP_NET_ADMIN)"
        }
        ("XDP_UMEM_REG", Some(libc::ENOMEM | libc::EPERM)) => {
            " (UMEM over RLIMIT_MEMLOCK needs CAP_IPC_LOCK)"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_poll_permission_errors_say_which_capability() {
        let eperm = io::Error::from_raw_os_error(libc::EPERM);
        let err = AfXdpError::SetOption {
            option: "SO_PREFER_BUSY_POLL",
            interface: "eth0".into(),
            queue: 3,
            hint: option_hint("SO_PREFER_BUSY_POLL", &eperm),
            source: eperm,
        };
        let text = err.to_string();
        assert!(text.contains("SO_PREFER_BUSY_POLL"), "{text}");
        assert!(text.contains("eth0 queue 3"), "{text}");
        assert!(text.contains("CAP_NET_ADMIN"), "{text}");
        let einval = io::Error::from_raw_os_error(libc::EINVAL);
        assert_eq!(option_hint("SO_BUSY_POLL", &einval), "");
    }
}
