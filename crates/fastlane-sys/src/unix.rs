//! Unix domain sockets that carry descriptors: socket pairs, listening and connecting
//! SOCK_SEQPACKET sockets, the peer's credentials (SO_PEERCRED) and SCM_RIGHTS, the way a
//! privileged helper hands AF_XDP sockets, memfds, map and TAP descriptors to an unprivileged
//! process.

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags,
    SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};

use crate::error::{SysError, SysResult};

/// The most descriptors one SCM_RIGHTS message carries (the kernel's `SCM_MAX_FD`).
pub const MAX_FDS_PER_MESSAGE: usize = 253;

/// `socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC)`: two connected ends that keep message
/// boundaries, so each payload arrives with exactly its descriptors.
pub fn seqpacket_pair() -> SysResult<(OwnedFd, OwnedFd)> {
    rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(SysError::from_rustix("socketpair(AF_UNIX)"))
}

/// Clears close-on-exec on `fd`, so that a process this one starts inherits it (as the child end
/// of a [`seqpacket_pair`] must, to receive descriptors from its parent).
pub fn inherit_on_exec(fd: impl AsFd) -> SysResult<()> {
    rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())
        .map_err(SysError::from_rustix("fcntl(F_SETFD)"))
}

/// A SOCK_SEQPACKET socket listening at `path` (which must not exist yet), with a backlog of
/// `backlog` connections; `mode` becomes the socket file's permission bits (connecting needs
/// write permission on it).
pub fn seqpacket_listen(path: &std::path::Path, backlog: i32, mode: u32) -> SysResult<OwnedFd> {
    let context = || path.display().to_string();
    let socket = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(SysError::from_rustix("socket(AF_UNIX, SOCK_SEQPACKET)"))?;
    let address = rustix::net::SocketAddrUnix::new(path)
        .map_err(|e| SysError::new("bind(AF_UNIX)", e.raw_os_error()).with_context(context()))?;
    rustix::net::bind(&socket, &address)
        .map_err(|e| SysError::new("bind(AF_UNIX)", e.raw_os_error()).with_context(context()))?;
    rustix::fs::chmod(path, rustix::fs::Mode::from_raw_mode(mode))
        .map_err(|e| SysError::new("chmod", e.raw_os_error()).with_context(context()))?;
    rustix::net::listen(&socket, backlog)
        .map_err(|e| SysError::new("listen(AF_UNIX)", e.raw_os_error()).with_context(context()))?;
    Ok(socket)
}

/// Accepts one connection on a listening socket (close-on-exec).
pub fn accept(listener: impl AsFd) -> SysResult<OwnedFd> {
    rustix::net::accept_with(listener, SocketFlags::CLOEXEC)
        .map_err(SysError::from_rustix("accept(AF_UNIX)"))
}

/// Connects a SOCK_SEQPACKET socket to the one listening at `path`.
pub fn seqpacket_connect(path: &std::path::Path) -> SysResult<OwnedFd> {
    let context = || path.display().to_string();
    let socket = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(SysError::from_rustix("socket(AF_UNIX, SOCK_SEQPACKET)"))?;
    let address = rustix::net::SocketAddrUnix::new(path)
        .map_err(|e| SysError::new("connect(AF_UNIX)", e.raw_os_error()).with_context(context()))?;
    rustix::net::connect(&socket, &address)
        .map_err(|e| SysError::new("connect(AF_UNIX)", e.raw_os_error()).with_context(context()))?;
    Ok(socket)
}

/// Who is at the other end of a connected Unix socket, as the kernel recorded it when the
/// connection was made (`SO_PEERCRED`): process, user and group ids, as this process's
/// namespaces see them. `pid` is 0 when the peer's process is not visible in this process's pid
/// namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCredentials {
    pub pid: u32,
    pub uid: u32,
    pub gid: u32,
}

/// `getsockopt(SO_PEERCRED)` of a connected Unix socket. (On libc, not rustix: rustix's `UCred`
/// holds the pid as a non-zero type, which the kernel's 0 for an invisible peer would break.)
pub fn peer_credentials(socket: impl AsFd) -> SysResult<PeerCredentials> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: SO_PEERCRED writes at most `len` bytes into `cred`, which lives across the call.
    crate::error::check("getsockopt(SO_PEERCRED)", unsafe {
        libc::getsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&socket.as_fd()),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    })?;
    Ok(PeerCredentials {
        pid: cred.pid as u32,
        uid: cred.uid,
        gid: cred.gid,
    })
}

fn control_space(fds: usize) -> usize {
    SendAncillaryMessage::ScmRights(&[]).size() + fds * std::mem::size_of::<libc::c_int>() + 8
}

/// Sends `payload` (at least one byte: a message of none carries no descriptors on a stream
/// socket) with `fds` attached as SCM_RIGHTS, in one message.
pub fn send_fds(socket: impl AsFd, payload: &[u8], fds: &[BorrowedFd<'_>]) -> SysResult<()> {
    const CALL: &str = "sendmsg(SCM_RIGHTS)";
    if payload.is_empty() || fds.len() > MAX_FDS_PER_MESSAGE {
        return Err(SysError::new(CALL, libc::EINVAL).with_context(format!(
            "{} payload bytes, {} descriptors (1.. bytes and at most {MAX_FDS_PER_MESSAGE} \
             descriptors)",
            payload.len(),
            fds.len()
        )));
    }
    let mut space = vec![MaybeUninit::<u8>::uninit(); control_space(fds.len())];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(SysError::new(CALL, libc::ENOBUFS));
    }
    let sent = rustix::net::sendmsg(
        socket,
        &[IoSlice::new(payload)],
        &mut control,
        SendFlags::NOSIGNAL,
    )
    .map_err(SysError::from_rustix(CALL))?;
    if sent != payload.len() {
        return Err(SysError::new(CALL, libc::EMSGSIZE)
            .with_context(format!("sent {sent} of {} bytes", payload.len())));
    }
    Ok(())
}

/// Receives one message sent by [`send_fds`] into `payload`, accepting at most `max_fds`
/// descriptors (close-on-exec). Returns the payload length and the descriptors; a message cut
/// short (payload or descriptors) is an error, since what was cut is lost. A peer that closed
/// its end gives `ECONNRESET`.
pub fn recv_fds(
    socket: impl AsFd,
    payload: &mut [u8],
    max_fds: usize,
) -> SysResult<(usize, Vec<OwnedFd>)> {
    const CALL: &str = "recvmsg(SCM_RIGHTS)";
    let mut space = vec![MaybeUninit::<u8>::uninit(); control_space(max_fds)];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let got = rustix::net::recvmsg(
        socket,
        &mut [IoSliceMut::new(payload)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )
    .map_err(SysError::from_rustix(CALL))?;
    let mut fds = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    if got.bytes == 0 && fds.is_empty() {
        return Err(SysError::new(CALL, libc::ECONNRESET).with_context("the peer closed"));
    }
    if got.flags.contains(ReturnFlags::CTRUNC) || fds.len() > max_fds {
        return Err(SysError::new(CALL, libc::EMSGSIZE)
            .with_context(format!("more than {max_fds} descriptors sent")));
    }
    if got.flags.contains(ReturnFlags::TRUNC) {
        return Err(SysError::new(CALL, libc::EMSGSIZE)
            .with_context(format!("payload longer than {} bytes", payload.len())));
    }
    Ok((got.bytes, fds))
}

/// [`recv_fds`], waiting at most `timeout` for the message: a peer that sends nothing in time
/// gives `ETIMEDOUT` rather than blocking the receiver for ever.
pub fn recv_fds_within(
    socket: impl AsFd,
    payload: &mut [u8],
    max_fds: usize,
    timeout: std::time::Duration,
) -> SysResult<(usize, Vec<OwnedFd>)> {
    let mut pfd = [libc::pollfd {
        fd: std::os::fd::AsRawFd::as_raw_fd(&socket.as_fd()),
        events: libc::POLLIN,
        revents: 0,
    }];
    let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    if crate::poll::poll(&mut pfd, timeout_ms)? == 0 {
        return Err(SysError::new("recvmsg(SCM_RIGHTS)", libc::ETIMEDOUT)
            .with_context(format!("no message within {timeout:?}")));
    }
    recv_fds(socket, payload, max_fds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memfd::{file_size, memfd_of_size};
    use crate::mmap::Mmap;

    #[test]
    fn descriptors_cross_a_socket_pair_and_still_name_the_same_files() {
        let (a, b) = seqpacket_pair().unwrap();
        let first = memfd_of_size("first", 4096).unwrap();
        let second = memfd_of_size("second", 3 * 4096).unwrap();
        let writer = Mmap::shared(&first, 4096, 0, false).unwrap();
        // SAFETY: byte 7 of a live 4096-byte mapping.
        unsafe { writer.as_ptr().add(7).write(42) };

        send_fds(&a, b"bundle", &[first.as_fd(), second.as_fd()]).unwrap();
        let mut payload = [0u8; 16];
        let (len, fds) = recv_fds(&b, &mut payload, 4).unwrap();
        assert_eq!(&payload[..len], b"bundle");
        assert_eq!(fds.len(), 2);
        assert_eq!(file_size(&fds[0]).unwrap(), 4096);
        assert_eq!(file_size(&fds[1]).unwrap(), 3 * 4096);
        let reader = Mmap::shared(&fds[0], 4096, 0, false).unwrap();
        // SAFETY: byte 7 of a live 4096-byte mapping of the same memfd.
        assert_eq!(unsafe { reader.as_ptr().add(7).read() }, 42);
    }

    #[test]
    fn an_inherited_end_loses_close_on_exec() {
        let (_a, b) = seqpacket_pair().unwrap();
        let cloexec = |fd| {
            rustix::io::fcntl_getfd(fd)
                .unwrap()
                .contains(rustix::io::FdFlags::CLOEXEC)
        };
        assert!(cloexec(&b));
        inherit_on_exec(&b).unwrap();
        assert!(!cloexec(&b));
    }

    #[test]
    fn a_bounded_receive_times_out_and_then_gets_the_message() {
        let (a, b) = seqpacket_pair().unwrap();
        let timeout = std::time::Duration::from_millis(50);
        let error = recv_fds_within(&b, &mut [0u8; 4], 1, timeout).unwrap_err();
        assert_eq!(error.errno, libc::ETIMEDOUT);
        let fd = memfd_of_size("late", 4096).unwrap();
        send_fds(&a, b"late", &[fd.as_fd()]).unwrap();
        let mut payload = [0u8; 8];
        let (len, fds) = recv_fds_within(&b, &mut payload, 1, timeout).unwrap();
        assert_eq!((&payload[..len], fds.len()), (&b"late"[..], 1));
    }

    #[test]
    fn too_many_descriptors_for_the_receiver_is_an_error_not_a_silent_loss() {
        let (a, b) = seqpacket_pair().unwrap();
        let fds: Vec<OwnedFd> = (0..3).map(|_| memfd_of_size("x", 0).unwrap()).collect();
        let borrowed: Vec<BorrowedFd<'_>> = fds.iter().map(AsFd::as_fd).collect();
        send_fds(&a, b"x", &borrowed).unwrap();
        let error = recv_fds(&b, &mut [0u8; 4], 1).unwrap_err();
        assert_eq!(error.errno, libc::EMSGSIZE);
        assert_eq!(error.call, "recvmsg(SCM_RIGHTS)");
    }

    #[test]
    fn a_closed_peer_is_reported() {
        let (a, b) = seqpacket_pair().unwrap();
        drop(a);
        let error = recv_fds(&b, &mut [0u8; 4], 1).unwrap_err();
        assert_eq!(error.errno, libc::ECONNRESET);
    }

    #[test]
    fn a_listening_socket_accepts_and_names_the_peer() {
        let dir = std::env::temp_dir().join(format!("fastlane-sys-unix-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("listen.sock");
        let _ = std::fs::remove_file(&path);
        let listener = seqpacket_listen(&path, 4, 0o666).unwrap();
        let mode = std::fs::metadata(&path).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o666
        );
        let client = seqpacket_connect(&path).unwrap();
        let server = accept(&listener).unwrap();
        let peer = peer_credentials(&server).unwrap();
        // SAFETY: plain getters.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        assert_eq!(
            peer,
            PeerCredentials {
                pid: std::process::id(),
                uid,
                gid
            }
        );
        send_fds(&client, b"hello", &[]).unwrap();
        let mut payload = [0u8; 8];
        let (len, fds) = recv_fds(&server, &mut payload, 0).unwrap();
        assert_eq!((&payload[..len], fds.len()), (&b"hello"[..], 0));
        let error = seqpacket_listen(&path, 4, 0o666).unwrap_err();
        assert_eq!(
            (error.call, error.errno),
            ("bind(AF_UNIX)", libc::EADDRINUSE)
        );
        std::fs::remove_dir_all(&dir).unwrap();
        let error = seqpacket_connect(&path).unwrap_err();
        assert_eq!(
            (error.call, error.errno),
            ("connect(AF_UNIX)", libc::ENOENT)
        );
    }

    #[test]
    fn an_empty_payload_is_refused() {
        let (a, _b) = seqpacket_pair().unwrap();
        let error = send_fds(&a, b"", &[]).unwrap_err();
        assert_eq!(error.errno, libc::EINVAL);
        assert!(
            error.to_string().starts_with("sendmsg(SCM_RIGHTS): "),
            "{error}"
        );
    }
}
