//! The raw system calls of the TAP slow path: the tun driver's `TUNSETIFF`, the interface ioctls,
//! the rtnetlink socket, and frame reads and writes.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// Turns a libc return value into the call's result, reading `errno` on failure.
fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Takes ownership of a descriptor a successful call returned.
fn owned(fd: libc::c_int) -> OwnedFd {
    // SAFETY: the caller passes a descriptor that a call just returned and nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// An `ifreq` naming `name`. The caller has checked that the name is 1 to `IFNAMSIZ - 1` bytes
/// without NUL, so the zeroed tail terminates it.
fn ifreq(name: &str) -> libc::ifreq {
    // SAFETY: ifreq is a name array and a union of plain data: all zeroes is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in request.ifr_name.iter_mut().zip(name.as_bytes()) {
        *dst = *src as libc::c_char;
    }
    request
}

/// Opens the tun driver's control device, non-blocking.
pub fn open_tun() -> io::Result<OwnedFd> {
    // SAFETY: a NUL-terminated path and plain flags; the result is checked.
    let fd = unsafe {
        libc::open(
            c"/dev/net/tun".as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    check(fd).map(owned)
}

/// Attaches `tun` as one more queue of the multi-queue TAP device `name`, creating the device
/// with the first queue.
pub fn attach_tap_queue(tun: BorrowedFd<'_>, name: &str) -> io::Result<()> {
    let mut request = ifreq(name);
    request.ifr_ifru.ifru_flags =
        (libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_MULTI_QUEUE) as libc::c_short;
    // SAFETY: TUNSETIFF reads and writes one ifreq, which lives across the call.
    check(unsafe { libc::ioctl(tun.as_raw_fd(), libc::TUNSETIFF, &mut request) }).map(drop)
}

/// A datagram socket that carries interface ioctls in the calling thread's namespace.
pub fn control_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain arguments; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    check(fd).map(owned)
}

/// Issues an interface ioctl about `request`'s device.
fn interface_ioctl(
    control: BorrowedFd<'_>,
    op: libc::c_ulong,
    request: &mut libc::ifreq,
) -> io::Result<()> {
    // SAFETY: every SIOC[GS]IF* request used here reads or writes one ifreq, which lives across
    // the call.
    check(unsafe { libc::ioctl(control.as_raw_fd(), op, request as *mut libc::ifreq) }).map(drop)
}

/// The interface index of `name` (`ENODEV` when there is no such device).
pub fn interface_index(control: BorrowedFd<'_>, name: &str) -> io::Result<u32> {
    let mut request = ifreq(name);
    interface_ioctl(control, libc::SIOCGIFINDEX, &mut request)?;
    // SAFETY: SIOCGIFINDEX succeeded, so it filled the index member of the union.
    let index = unsafe { request.ifr_ifru.ifru_ifindex };
    Ok(index as u32)
}

/// Sets the Ethernet address of `name`.
pub fn set_mac(control: BorrowedFd<'_>, name: &str, mac: [u8; 6]) -> io::Result<()> {
    let mut request = ifreq(name);
    // SAFETY: sockaddr is plain data: all zeroes is a valid value.
    let mut address: libc::sockaddr = unsafe { std::mem::zeroed() };
    address.sa_family = libc::ARPHRD_ETHER;
    for (dst, src) in address.sa_data.iter_mut().zip(mac) {
        *dst = src as libc::c_char;
    }
    request.ifr_ifru.ifru_hwaddr = address;
    interface_ioctl(control, libc::SIOCSIFHWADDR, &mut request)
}

/// Sets the MTU of `name`.
pub fn set_mtu(control: BorrowedFd<'_>, name: &str, mtu: u32) -> io::Result<()> {
    let mut request = ifreq(name);
    request.ifr_ifru.ifru_mtu =
        libc::c_int::try_from(mtu).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    interface_ioctl(control, libc::SIOCSIFMTU, &mut request)
}

/// The MTU of `name`.
pub fn mtu(control: BorrowedFd<'_>, name: &str) -> io::Result<u32> {
    let mut request = ifreq(name);
    interface_ioctl(control, libc::SIOCGIFMTU, &mut request)?;
    // SAFETY: SIOCGIFMTU succeeded, so it filled the MTU member of the union.
    let mtu = unsafe { request.ifr_ifru.ifru_mtu };
    Ok(mtu.max(0) as u32)
}

/// Brings `name` up, keeping its other flags.
pub fn set_up(control: BorrowedFd<'_>, name: &str) -> io::Result<()> {
    let mut request = ifreq(name);
    interface_ioctl(control, libc::SIOCGIFFLAGS, &mut request)?;
    // SAFETY: SIOCGIFFLAGS succeeded, so it filled the flags member of the union.
    let flags = unsafe { request.ifr_ifru.ifru_flags };
    request.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    interface_ioctl(control, libc::SIOCSIFFLAGS, &mut request)
}

/// Sets an integer socket option.
fn set_option(
    socket: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the pointer and length describe `value`, which lives across the call.
    check(unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// A NETLINK_ROUTE socket in the calling thread's namespace that asks for extended
/// acknowledgements (the kernel's error text) without the echoed request, and gives up waiting
/// for an answer after `timeout`.
pub fn route_socket(timeout: Duration) -> io::Result<OwnedFd> {
    // SAFETY: plain arguments; the result is checked.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    let socket = check(fd).map(owned)?;
    set_option(socket.as_fd(), libc::SOL_NETLINK, libc::NETLINK_EXT_ACK, 1)?;
    set_option(socket.as_fd(), libc::SOL_NETLINK, libc::NETLINK_CAP_ACK, 1)?;
    let wait = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: timeout.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: the pointer and length describe `wait`, which lives across the call.
    check(unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&wait as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    })?;
    Ok(socket)
}

/// Sends one netlink request to the kernel.
pub fn send_to_kernel(socket: BorrowedFd<'_>, message: &[u8]) -> io::Result<()> {
    // SAFETY: sockaddr_nl is plain data: all zeroes (pid 0, no groups) addresses the kernel.
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: the buffer and address pointers and lengths describe live values.
    let sent = unsafe {
        libc::sendto(
            socket.as_raw_fd(),
            message.as_ptr().cast(),
            message.len(),
            0,
            (&kernel as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    if sent as usize != message.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "netlink request sent in part",
        ));
    }
    Ok(())
}

/// Receives one netlink datagram into `buffer` (waiting at most the socket's timeout) and returns
/// its length.
pub fn receive(socket: BorrowedFd<'_>, buffer: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: the pointer and length describe `buffer`, which is writable.
        let received = unsafe {
            libc::recv(
                socket.as_raw_fd(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                0,
            )
        };
        if received >= 0 {
            return Ok(received as usize);
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// Reads one frame from a TAP queue into `buffer` and returns its length. A frame longer than
/// `buffer` is cut to it without notice.
pub fn read_frame(queue: BorrowedFd<'_>, buffer: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the pointer and length describe `buffer`, which is writable.
    let n = unsafe { libc::read(queue.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Writes one frame into a TAP queue.
pub fn write_frame(queue: BorrowedFd<'_>, frame: &[u8]) -> io::Result<()> {
    // SAFETY: the pointer and length describe `frame`, which is readable.
    let n = unsafe { libc::write(queue.as_raw_fd(), frame.as_ptr().cast(), frame.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
