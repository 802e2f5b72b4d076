//! rtnetlink sockets: one request to the kernel, and its answers.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType};

use crate::error::{SysError, SysResult};
use crate::sockopt::set_int;

/// A NETLINK_ROUTE socket in the calling thread's namespace that asks for extended
/// acknowledgements (the kernel's error text) without the echoed request, and gives up waiting
/// for an answer after `timeout`.
pub fn route_socket(timeout: Duration) -> SysResult<OwnedFd> {
    let socket = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        rustix::net::SocketFlags::CLOEXEC,
        // NETLINK_ROUTE is protocol 0.
        None,
    )
    .map_err(SysError::from_rustix("socket(AF_NETLINK, NETLINK_ROUTE)"))?;
    set_int(
        socket.as_fd(),
        libc::SOL_NETLINK,
        "setsockopt(NETLINK_EXT_ACK)",
        libc::NETLINK_EXT_ACK,
        1,
    )?;
    set_int(
        socket.as_fd(),
        libc::SOL_NETLINK,
        "setsockopt(NETLINK_CAP_ACK)",
        libc::NETLINK_CAP_ACK,
        1,
    )?;
    rustix::net::sockopt::set_socket_timeout(
        &socket,
        rustix::net::sockopt::Timeout::Recv,
        Some(timeout),
    )
    .map_err(SysError::from_rustix("setsockopt(SO_RCVTIMEO)"))?;
    Ok(socket)
}

/// Sends one netlink request to the kernel (port 0).
pub fn send_to_kernel(socket: BorrowedFd<'_>, message: &[u8]) -> SysResult<()> {
    const CALL: &str = "sendto(NETLINK_ROUTE)";
    let kernel = rustix::net::netlink::SocketAddrNetlink::new(0, 0);
    let sent = rustix::net::sendto(socket, message, SendFlags::empty(), &kernel)
        .map_err(SysError::from_rustix(CALL))?;
    if sent != message.len() {
        return Err(SysError::new(CALL, libc::EMSGSIZE).with_context("request sent in part"));
    }
    Ok(())
}

/// Receives one netlink datagram into `buffer` (waiting at most the socket's timeout) and returns
/// its length.
pub fn receive(socket: BorrowedFd<'_>, buffer: &mut [u8]) -> SysResult<usize> {
    loop {
        match rustix::net::recv(socket, &mut *buffer, RecvFlags::empty()) {
            Ok((received, _)) => return Ok(received),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(SysError::new("recv(NETLINK_ROUTE)", e.raw_os_error())),
        }
    }
}
