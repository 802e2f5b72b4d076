//! Every raw system call of the crate: AF_XDP sockets, their socket options, ring and UMEM
//! mappings, wake-ups and polling. Everything above this module is safe code plus ring accesses.

use std::ffi::CString;
use std::io;
use std::mem::{size_of, MaybeUninit};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;

pub use libc::{
    sockaddr_xdp, xdp_desc, xdp_mmap_offsets, xdp_statistics, xdp_umem_reg, AF_XDP, SOL_XDP,
    XDP_COPY, XDP_MMAP_OFFSETS, XDP_OPTIONS, XDP_OPTIONS_ZEROCOPY, XDP_PGOFF_RX_RING,
    XDP_PGOFF_TX_RING, XDP_RING_NEED_WAKEUP, XDP_RX_RING, XDP_SHARED_UMEM, XDP_STATISTICS,
    XDP_TX_RING, XDP_UMEM_COMPLETION_RING, XDP_UMEM_FILL_RING, XDP_UMEM_PGOFF_COMPLETION_RING,
    XDP_UMEM_PGOFF_FILL_RING, XDP_UMEM_REG, XDP_USE_NEED_WAKEUP, XDP_ZEROCOPY,
};

// Socket options that the `libc` crate defines only for some architectures (asm-generic values,
// which x86, arm and riscv use).
pub const SO_BUSY_POLL: libc::c_int = 46;
pub const SO_PREFER_BUSY_POLL: libc::c_int = 69;
pub const SO_BUSY_POLL_BUDGET: libc::c_int = 70;

/// Frames one copy-mode TX wake-up may send (Linux >= 6.17; 32 before, and by default).
pub const XDP_MAX_TX_SKB_BUDGET: libc::c_int = 9;

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// `socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0)`.
pub fn xsk_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with constant arguments.
    let fd = check(unsafe { libc::socket(AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` was just returned by socket() and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `setsockopt(fd, level, name, &value, sizeof value)`.
pub fn setsockopt<T: Copy>(
    fd: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` points to a live `T` whose size is passed along; the kernel only reads it.
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

/// `getsockopt(fd, level, name)` into a zeroed `T`; also returns the length the kernel wrote
/// (older kernels write shorter versions of some structures).
pub fn getsockopt<T: Copy>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<(T, usize)> {
    let mut value = MaybeUninit::<T>::zeroed();
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `value`, which has room for them.
    check(unsafe { libc::getsockopt(fd, level, name, value.as_mut_ptr().cast(), &mut len) })?;
    // SAFETY: zeroed is a valid value of the plain-old-data kernel structures used with this, and
    // the kernel may have overwritten a prefix of it.
    Ok((unsafe { value.assume_init() }, len as usize))
}

/// `bind` of an AF_XDP socket.
pub fn bind_xsk(fd: &OwnedFd, addr: &sockaddr_xdp) -> io::Result<()> {
    // SAFETY: `addr` is a complete sockaddr_xdp and its size is passed along.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (addr as *const sockaddr_xdp).cast(),
            size_of::<sockaddr_xdp>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// The index of interface `name` in the calling thread's network namespace.
pub fn if_index(name: &str) -> io::Result<u32> {
    let cname = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `cname` is a valid NUL-terminated string.
    match unsafe { libc::if_nametoindex(cname.as_ptr()) } {
        0 => Err(io::Error::last_os_error()),
        index => Ok(index),
    }
}

/// A memory mapping, unmapped on drop.
#[derive(Debug)]
pub struct Mmap {
    addr: NonNull<u8>,
    len: usize,
}

impl Mmap {
    /// Private anonymous memory, populated up front so that the data plane never faults (UMEM).
    pub fn anonymous(len: usize) -> io::Result<Mmap> {
        Self::map(
            len,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
            -1,
            0,
        )
    }

    /// A ring of an AF_XDP socket, at page offset `pgoff`.
    pub fn ring(fd: &OwnedFd, len: usize, pgoff: u64) -> io::Result<Mmap> {
        Self::map(
            len,
            libc::MAP_SHARED | libc::MAP_POPULATE,
            fd.as_raw_fd(),
            pgoff as libc::off_t,
        )
    }

    fn map(len: usize, flags: libc::c_int, fd: RawFd, offset: libc::off_t) -> io::Result<Mmap> {
        // SAFETY: a fresh mapping chosen by the kernel; it aliases no Rust object.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                offset,
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
    pub fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: the mapping was created by `map` with this length and nothing refers to it any
        // more (its owner is being dropped).
        unsafe { libc::munmap(self.addr.as_ptr().cast(), self.len) };
    }
}

/// `sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0)`: asks the kernel to process the TX ring.
pub fn kick_tx(fd: RawFd) -> io::Result<()> {
    // SAFETY: a zero-length send with no buffer and no address.
    check(unsafe {
        libc::sendto(
            fd,
            std::ptr::null(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null(),
            0,
        ) as libc::c_int
    })
    .map(drop)
}

/// `recvfrom(fd, NULL, 0, MSG_DONTWAIT, NULL, NULL)`: wakes the kernel's RX processing (fill ring
/// wake-up, busy polling).
pub fn kick_rx(fd: RawFd) -> io::Result<()> {
    // SAFETY: a zero-length receive with no buffer and no address.
    check(unsafe {
        libc::recvfrom(
            fd,
            std::ptr::null_mut(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        ) as libc::c_int
    })
    .map(drop)
}
