//! One port: how its traffic is split between the fast path and the kernel, and the fanout group
//! its queue sockets join.

use std::sync::Mutex;

use fastlane_core::config::AfPacketConfig;
use fastlane_core::{FilterTables, Split};
use fastlane_xdp::{SkbProgramError, SocketFilter, TcSuppressor};

use crate::error::AfPacketError;

/// How a port splits its traffic, chosen by [`open_port`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitMechanism {
    /// A socket filter on every queue socket lets only fast-path frames in
    /// ([`Split::InKernel`]); with `suppressed`, a tc ingress program also keeps them from the
    /// kernel stack.
    SocketFilter { suppressed: bool },
    /// No BPF (the process may not load programs): the sockets get every frame and the runtime
    /// classifies ([`Split::Shared`]); the kernel stack also gets every frame.
    UserSpace,
}

impl SplitMechanism {
    pub fn split(self) -> Split {
        match self {
            SplitMechanism::SocketFilter { .. } => Split::InKernel,
            SplitMechanism::UserSpace => Split::Shared,
        }
    }
}

/// A port of the AF_PACKET backend: its socket filter and tc suppressor, if any. Dropping it
/// detaches the tc program (queue sockets keep their own reference to the socket filter).
#[derive(Debug)]
pub struct AfPacketPort {
    interface: String,
    ifindex: u32,
    socket_filter: Option<SocketFilter>,
    suppressor: Option<TcSuppressor>,
    /// The PACKET_FANOUT group of the port's queue sockets, once the first one created it.
    pub(crate) fanout_group: Mutex<Option<u16>>,
    /// Whether the port has one queue socket only: it then joins no fanout group, which would
    /// only cost a flow hash per packet in the kernel.
    pub(crate) single_queue: bool,
}

/// Chooses the split from the outcome of loading the socket filter: the filter if it loaded; no
/// filter if the kernel refused for lack of privilege and the config accepts a shared split;
/// otherwise an error.
fn choose_split<F>(
    loaded: Result<F, SkbProgramError>,
    suppress_kernel: bool,
    interface: &str,
) -> Result<Option<F>, AfPacketError> {
    match loaded {
        Ok(filter) => Ok(Some(filter)),
        Err(source) if source.is_permission_denied() && suppress_kernel => {
            Err(AfPacketError::SuppressNeedsPrivilege {
                interface: interface.to_string(),
                source,
            })
        }
        Err(source) if source.is_permission_denied() => {
            log::warn!(
                "{interface}: cannot load the AF_PACKET socket filter ({source}); classifying in \
                 user space, and the kernel stack also receives fast-path packets"
            );
            Ok(None)
        }
        Err(source) => Err(AfPacketError::Program {
            interface: interface.to_string(),
            source,
        }),
    }
}

/// Prepares port `interface` (in the calling thread's network namespace): loads the socket filter
/// for its queue sockets and, with `suppress_kernel`, attaches the tc ingress program. Without
/// the privilege to load BPF programs, falls back to a shared split, or fails if
/// `suppress_kernel` asks for what cannot be had.
pub fn open_port(
    cfg: &AfPacketConfig,
    interface: &str,
    filter: &FilterTables,
) -> Result<AfPacketPort, AfPacketError> {
    let ifindex = fastlane_sys::netdev::if_index(interface).map_err(|source| {
        AfPacketError::NoSuchInterface {
            interface: interface.to_string(),
            source: source.into(),
        }
    })?;
    let socket_filter = choose_split(SocketFilter::load(filter), cfg.suppress_kernel, interface)?;
    let suppressor = match (&socket_filter, cfg.suppress_kernel) {
        (Some(_), true) => Some(TcSuppressor::attach(interface, filter).map_err(|source| {
            if source.is_permission_denied() {
                AfPacketError::SuppressNeedsPrivilege {
                    interface: interface.to_string(),
                    source,
                }
            } else {
                AfPacketError::Program {
                    interface: interface.to_string(),
                    source,
                }
            }
        })?),
        _ => None,
    };
    let port = AfPacketPort {
        interface: interface.to_string(),
        ifindex,
        socket_filter,
        suppressor,
        fanout_group: Mutex::new(None),
        single_queue: false,
    };
    log::info!("{interface}: AF_PACKET split: {:?}", port.mechanism());
    Ok(port)
}

impl AfPacketPort {
    /// Declares how many queue sockets the port will have (by default, several).
    pub fn with_queue_count(mut self, queues: usize) -> Self {
        self.single_queue = queues == 1;
        self
    }

    pub fn interface(&self) -> &str {
        &self.interface
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    pub fn mechanism(&self) -> SplitMechanism {
        match &self.socket_filter {
            Some(_) => SplitMechanism::SocketFilter {
                suppressed: self.suppressor.is_some(),
            },
            None => SplitMechanism::UserSpace,
        }
    }

    pub fn split(&self) -> Split {
        self.mechanism().split()
    }

    pub(crate) fn socket_filter(&self) -> Option<&SocketFilter> {
        self.socket_filter.as_ref()
    }

    /// Replaces the filter of the socket filter and the tc program; without them (shared split)
    /// the runtime's own tables are all there is, and this does nothing.
    pub fn set_filter(&mut self, filter: &FilterTables) -> Result<(), AfPacketError> {
        let interface = &self.interface;
        let program_error = |source| AfPacketError::Program {
            interface: interface.clone(),
            source,
        };
        if let Some(socket_filter) = &mut self.socket_filter {
            socket_filter.set_filter(filter).map_err(program_error)?;
        }
        if let Some(suppressor) = &mut self.suppressor {
            suppressor.set_filter(filter).map_err(program_error)?;
        }
        Ok(())
    }

    /// A descriptor of the tc program's bpf_link, if the port has one, for a process that
    /// should keep the suppression for as long as it lives.
    pub fn export_suppressor_link(&self) -> Result<Option<std::os::fd::OwnedFd>, AfPacketError> {
        self.suppressor
            .as_ref()
            .map(|s| s.export_link())
            .transpose()
            .map_err(|source| AfPacketError::Program {
                interface: self.interface.clone(),
                source,
            })
    }

    /// Closes this process's hold on the tc program without detaching it (see
    /// [`TcSuppressor::release`]).
    pub fn release(mut self) {
        if let Some(suppressor) = self.suppressor.take() {
            suppressor.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(errno: i32) -> Result<(), SkbProgramError> {
        Err(SkbProgramError::Kernel {
            program: "socket filter".to_string(),
            operation: "create the maps",
            errno: Some(errno),
            cause: std::io::Error::from_raw_os_error(errno).to_string(),
        })
    }

    #[test]
    fn a_loaded_filter_is_used_whatever_suppress_kernel_says() {
        for suppress in [false, true] {
            assert!(matches!(
                choose_split(Ok(()), suppress, "eth0"),
                Ok(Some(()))
            ));
        }
    }

    #[test]
    fn without_privilege_the_split_is_shared_unless_suppression_is_required() {
        for errno in [libc::EPERM, libc::EACCES] {
            assert!(matches!(
                choose_split(refused(errno), false, "eth0"),
                Ok(None)
            ));
            let err = choose_split(refused(errno), true, "eth0").unwrap_err();
            assert!(
                matches!(err, AfPacketError::SuppressNeedsPrivilege { .. }),
                "{err}"
            );
            let text = err.to_string();
            for needed in [
                "eth0: ",
                "CAP_BPF",
                "CAP_NET_ADMIN",
                "suppress_kernel to false",
            ] {
                assert!(text.contains(needed), "{needed} missing from: {text}");
            }
        }
    }

    #[test]
    fn other_failures_are_errors() {
        for suppress in [false, true] {
            let err = choose_split(refused(libc::EINVAL), suppress, "eth0").unwrap_err();
            assert!(matches!(err, AfPacketError::Program { .. }), "{err}");
        }
    }
}
