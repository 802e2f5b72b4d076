//! Namespaces: moving the calling thread into a network namespace.

use std::os::fd::AsFd;

use rustix::thread::LinkNameSpaceType;

use crate::error::{SysError, SysResult};

/// `setns(fd, CLONE_NEWNET)`: moves the calling thread into the network namespace `fd` names (a
/// `/proc/PID/ns/net` link or a bind mount of one under /run/netns).
pub fn enter_network_namespace(fd: impl AsFd) -> SysResult<()> {
    rustix::thread::move_into_link_name_space(fd.as_fd(), Some(LinkNameSpaceType::Network))
        .map_err(SysError::from_rustix("setns(CLONE_NEWNET)"))
}
