//! Every raw system call of the crate: AF_PACKET sockets, their options, the RX ring mapping,
//! batched sends and polling. Everything above this module is safe code plus ring accesses.

use std::ffi::CString;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;

pub use libc::{
    iovec, mmsghdr, tpacket3_hdr, tpacket_req3, tpacket_stats_v3, PACKET_FANOUT, PACKET_FANOUT_CPU,
    PACKET_FANOUT_FLAG_IGNORE_OUTGOING, PACKET_FANOUT_FLAG_UNIQUEID, PACKET_FANOUT_HASH,
    PACKET_FANOUT_LB, PACKET_FANOUT_QM, PACKET_IGNORE_OUTGOING, PACKET_RESERVE, PACKET_RX_RING,
    PACKET_STATISTICS, PACKET_VERSION, SOL_PACKET, SOL_SOCKET, SO_ATTACH_BPF, TPACKET_ALIGNMENT,
    TP_STATUS_KERNEL, TP_STATUS_USER, TP_STATUS_VLAN_TPID_VALID, TP_STATUS_VLAN_VALID,
};

/// `TPACKET_V3` of `enum tpacket_versions`.
pub const TPACKET_V3: libc::c_int = 2;

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// `socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0)`: protocol 0 receives nothing until `bind`
/// names one, so the ring and the filter are in place before the first frame.
pub fn packet_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with constant arguments.
    let fd =
        check(unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` was just returned by socket() and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn setsockopt<T: Copy>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` points to a live `T` of the length passed.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Reads SOL_PACKET option `name`, a `T` of plain integers.
///
/// # Safety
///
/// `T` must be a struct of integers only (all-zero is a value) that the kernel fills for `name`.
unsafe fn get_packet_option<T: Copy>(fd: BorrowedFd<'_>, name: libc::c_int) -> io::Result<T> {
    // SAFETY: the caller vouches that all-zero is a valid `T`.
    let mut value: T = unsafe { std::mem::zeroed() };
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` and `len` are live and exclusively borrowed; the kernel writes at most
    // `len` bytes into `value`.
    check(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            SOL_PACKET,
            name,
            (&mut value as *mut T).cast(),
            &mut len,
        )
    })?;
    if (len as usize) < size_of::<T>() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    Ok(value)
}

/// PACKET_STATISTICS of a TPACKET_V3 socket (which the kernel resets on every read).
pub fn packet_statistics(fd: BorrowedFd<'_>) -> io::Result<tpacket_stats_v3> {
    // SAFETY: tpacket_stats_v3 is three u32s, what PACKET_STATISTICS writes for TPACKET_V3.
    unsafe { get_packet_option(fd, PACKET_STATISTICS) }
}

/// PACKET_FANOUT: the socket's fanout group id (low 16 bits), mode and flags.
pub fn fanout(fd: BorrowedFd<'_>) -> io::Result<u32> {
    // SAFETY: PACKET_FANOUT writes one u32.
    unsafe { get_packet_option(fd, PACKET_FANOUT) }
}

/// Binds a packet socket to interface `ifindex`, receiving every protocol.
pub fn bind_all_protocols(fd: BorrowedFd<'_>, ifindex: u32) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    addr.sll_ifindex = ifindex as i32;
    // SAFETY: `addr` is a valid sockaddr_ll of the length passed.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })
    .map(drop)
}

pub fn if_nametoindex(name: &str) -> io::Result<u32> {
    let cname = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `cname` is a valid NUL-terminated string.
    match unsafe { libc::if_nametoindex(cname.as_ptr()) } {
        0 => Err(io::Error::last_os_error()),
        index => Ok(index),
    }
}

/// The rings of a packet socket, mapped shared (RX ring first, then TX ring); unmapped on drop.
#[derive(Debug)]
pub struct Mmap {
    addr: NonNull<u8>,
    len: usize,
}

impl Mmap {
    pub fn rings(fd: BorrowedFd<'_>, len: usize) -> io::Result<Mmap> {
        // SAFETY: a fresh mapping chosen by the kernel; it aliases no Rust object.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd.as_raw_fd(),
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let addr =
            NonNull::new(addr.cast()).ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
        Ok(Mmap { addr, len })
    }

    pub fn as_ptr(&self) -> *mut u8 {
        self.addr.as_ptr()
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: the mapping was created by `rings` with this length and nothing refers to it
        // any more (its owner is being dropped).
        unsafe { libc::munmap(self.addr.as_ptr().cast(), self.len) };
    }
}

/// A message of one frame, `iov`, to the address the socket is bound to.
pub fn message(iov: &iovec) -> mmsghdr {
    // SAFETY: mmsghdr is plain data (pointers and integers); all-zero is a valid value.
    let mut message: mmsghdr = unsafe { std::mem::zeroed() };
    message.msg_hdr.msg_iov = (iov as *const iovec).cast_mut();
    message.msg_hdr.msg_iovlen = 1;
    message
}

/// `sendmmsg(fd, messages, MSG_DONTWAIT)`: returns how many messages the kernel took, each
/// copied into a socket buffer before the call returns. Fails only if it took none.
///
/// # Safety
///
/// Every message's iovecs must point to memory valid for reads of their lengths.
pub unsafe fn sendmmsg(fd: RawFd, messages: &mut [mmsghdr]) -> io::Result<usize> {
    // The kernel takes at most UIO_MAXIOV (1024) messages per call.
    let count = messages.len().min(1024) as libc::c_uint;
    // SAFETY: `messages` is valid for `count` entries; the caller vouches for their buffers.
    let rc = unsafe { libc::sendmmsg(fd, messages.as_mut_ptr(), count, libc::MSG_DONTWAIT) };
    check(rc).map(|n| n as usize)
}
