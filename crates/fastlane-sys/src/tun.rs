//! The tun driver: TAP queues, and frame reads and writes on them.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use crate::error::{check, SysError, SysResult};

/// Opens the tun driver's control device, non-blocking.
pub fn open_tun() -> SysResult<OwnedFd> {
    // SAFETY: a NUL-terminated path and plain flags; the result is checked.
    let fd = check("open(/dev/net/tun)", unsafe {
        libc::open(
            c"/dev/net/tun".as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: `fd` was just returned by open() and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Attaches `tun` as one more queue of the multi-queue TAP device `name`, creating the device
/// with the first queue.
pub fn attach_tap_queue(tun: BorrowedFd<'_>, name: &str) -> SysResult<()> {
    const CALL: &str = "ioctl(TUNSETIFF)";
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return Err(SysError::new(CALL, libc::EINVAL).with_context(format!("device name {name:?}")));
    }
    // SAFETY: ifreq is plain data: all zeroes is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in request.ifr_name.iter_mut().zip(name.as_bytes()) {
        *dst = *src as libc::c_char;
    }
    request.ifr_ifru.ifru_flags =
        (libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_MULTI_QUEUE) as libc::c_short;
    // SAFETY: TUNSETIFF reads and writes one ifreq, which lives across the call.
    check(CALL, unsafe {
        libc::ioctl(tun.as_raw_fd(), libc::TUNSETIFF, &mut request)
    })
    .map(drop)
}

/// The name of the TAP device a queue descriptor is attached to (`TUNGETIFF`): what an adopted
/// descriptor serves.
pub fn tap_queue_device(tun: BorrowedFd<'_>) -> SysResult<String> {
    const CALL: &str = "ioctl(TUNGETIFF)";
    // SAFETY: ifreq is plain data: all zeroes is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    // SAFETY: TUNGETIFF writes one ifreq, which lives across the call.
    check(CALL, unsafe {
        libc::ioctl(tun.as_raw_fd(), libc::TUNGETIFF, &mut request)
    })?;
    let name: Vec<u8> = request
        .ifr_name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    // SAFETY: TUNGETIFF succeeded, so it filled the flags member of the union.
    let flags = unsafe { request.ifr_ifru.ifru_flags } as libc::c_int;
    if flags & libc::IFF_TAP == 0 || flags & libc::IFF_NO_PI == 0 {
        return Err(SysError::new(CALL, libc::EINVAL)
            .with_context("the descriptor is not an IFF_TAP | IFF_NO_PI queue"));
    }
    String::from_utf8(name).map_err(|_| SysError::new(CALL, libc::EINVAL))
}

/// Makes user `uid` and group `gid` the owners of the TAP device `tun` is a queue of
/// (`TUNSETOWNER`, `TUNSETGROUP`): they may attach queues to it without CAP_NET_ADMIN.
pub fn set_owner(tun: BorrowedFd<'_>, uid: u32, gid: u32) -> SysResult<()> {
    // SAFETY: TUNSETOWNER takes the uid as the integer argument itself.
    check("ioctl(TUNSETOWNER)", unsafe {
        libc::ioctl(tun.as_raw_fd(), libc::TUNSETOWNER, uid as libc::c_ulong)
    })?;
    // SAFETY: TUNSETGROUP takes the gid as the integer argument itself.
    check("ioctl(TUNSETGROUP)", unsafe {
        libc::ioctl(tun.as_raw_fd(), libc::TUNSETGROUP, gid as libc::c_ulong)
    })
    .map(drop)
}

/// Sets the non-blocking flag of `fd` (an adopted descriptor may come without it).
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> SysResult<()> {
    let flags = rustix::fs::fcntl_getfl(fd).map_err(SysError::from_rustix("fcntl(F_GETFL)"))?;
    rustix::fs::fcntl_setfl(fd, flags | rustix::fs::OFlags::NONBLOCK)
        .map_err(SysError::from_rustix("fcntl(F_SETFL)"))
}

/// Reads one frame from a TAP queue into `buffer` and returns its length. A frame longer than
/// `buffer` is cut to it without notice.
#[inline]
pub fn read_frame(queue: BorrowedFd<'_>, buffer: &mut [u8]) -> SysResult<usize> {
    rustix::io::read(queue, buffer).map_err(SysError::from_rustix("read(TAP)"))
}

/// Writes one frame into a TAP queue.
#[inline]
pub fn write_frame(queue: BorrowedFd<'_>, frame: &[u8]) -> SysResult<()> {
    rustix::io::write(queue, frame)
        .map(drop)
        .map_err(SysError::from_rustix("write(TAP)"))
}
