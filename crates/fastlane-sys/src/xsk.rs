//! AF_XDP sockets: creation, UMEM registration, ring sizes and layout, bind, options, statistics
//! and the wake-ups of the data path. Ring and UMEM mappings are [`crate::mmap::Mmap`]s.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::net::xdp::{SocketAddrXdp, SocketAddrXdpFlags, SocketAddrXdpWithSharedUmem};
use rustix::net::{sockopt, AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

use crate::error::{SysError, SysResult};
use crate::sockopt::set_int;

pub use libc::{
    xdp_desc, XDP_COPY, XDP_PGOFF_RX_RING, XDP_PGOFF_TX_RING, XDP_RING_NEED_WAKEUP,
    XDP_SHARED_UMEM, XDP_UMEM_PGOFF_COMPLETION_RING, XDP_UMEM_PGOFF_FILL_RING, XDP_USE_NEED_WAKEUP,
    XDP_ZEROCOPY,
};

/// Frames one copy-mode TX wake-up may send (Linux >= 6.17; 32 before, and by default).
const XDP_MAX_TX_SKB_BUDGET: libc::c_int = 9;

/// `socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0)`: needs CAP_NET_RAW.
pub fn socket() -> SysResult<OwnedFd> {
    rustix::net::socket_with(
        AddressFamily::XDP,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(SysError::from_rustix("socket(AF_XDP)"))
}

/// Registers `len` bytes at `addr` of the calling process as the socket's UMEM, in chunks of
/// `chunk_size` with `headroom` bytes reserved in front of each frame. Pins the pages and charges
/// them to this process's RLIMIT_MEMLOCK unless it has CAP_IPC_LOCK.
pub fn register_umem(
    fd: BorrowedFd<'_>,
    addr: *mut u8,
    len: usize,
    chunk_size: u32,
    headroom: u32,
) -> SysResult<()> {
    let reg = rustix::net::xdp::XdpUmemReg {
        addr: addr as u64,
        len: len as u64,
        chunk_size,
        headroom,
        flags: rustix::net::xdp::XdpUmemRegFlags::empty(),
        tx_metadata_len: 0,
    };
    sockopt::set_xdp_umem_reg(fd, reg).map_err(SysError::from_rustix("setsockopt(XDP_UMEM_REG)"))
}

/// The entries of a socket's four rings (each a power of two).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingSizes {
    pub rx: u32,
    pub tx: u32,
    pub fill: u32,
    pub completion: u32,
}

/// Sizes the four rings. Since 5.10 each socket sharing a UMEM on another device or queue has
/// its own fill and completion rings.
pub fn set_ring_sizes(fd: BorrowedFd<'_>, sizes: RingSizes) -> SysResult<()> {
    sockopt::set_xdp_umem_fill_ring_size(fd, sizes.fill)
        .map_err(SysError::from_rustix("setsockopt(XDP_UMEM_FILL_RING)"))?;
    sockopt::set_xdp_umem_completion_ring_size(fd, sizes.completion).map_err(
        SysError::from_rustix("setsockopt(XDP_UMEM_COMPLETION_RING)"),
    )?;
    sockopt::set_xdp_rx_ring_size(fd, sizes.rx)
        .map_err(SysError::from_rustix("setsockopt(XDP_RX_RING)"))?;
    sockopt::set_xdp_tx_ring_size(fd, sizes.tx)
        .map_err(SysError::from_rustix("setsockopt(XDP_TX_RING)"))
}

/// Lets one copy-mode wake-up send `frames` rather than 32. Kernels before 6.17 lack the option
/// (ENOPROTOOPT) and keep sending 32 per wake-up.
pub fn set_tx_skb_budget(fd: BorrowedFd<'_>, frames: u32) -> SysResult<()> {
    set_int(
        fd,
        libc::SOL_XDP,
        "setsockopt(XDP_MAX_TX_SKB_BUDGET)",
        XDP_MAX_TX_SKB_BUDGET,
        frames.min(i32::MAX as u32) as libc::c_int,
    )
}

/// Where one ring's parts lie in its mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingOffsets {
    pub producer: u64,
    pub consumer: u64,
    pub desc: u64,
    pub flags: u64,
}

/// The layout of the four rings (`XDP_MMAP_OFFSETS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmapOffsets {
    pub rx: RingOffsets,
    pub tx: RingOffsets,
    pub fill: RingOffsets,
    pub completion: RingOffsets,
}

/// The rings' layout; kernels older than 5.4 (whose layout lacks the flags word) are refused.
pub fn mmap_offsets(fd: BorrowedFd<'_>) -> SysResult<MmapOffsets> {
    const CALL: &str = "getsockopt(XDP_MMAP_OFFSETS)";
    let offsets = sockopt::xdp_mmap_offsets(fd).map_err(SysError::from_rustix(CALL))?;
    let ring = |r: rustix::net::xdp::XdpRingOffset| {
        Ok(RingOffsets {
            producer: r.producer,
            consumer: r.consumer,
            desc: r.desc,
            flags: r.flags.ok_or_else(|| {
                SysError::new(CALL, libc::EOPNOTSUPP)
                    .with_context("the ring layout lacks the flags field (kernel older than 5.4)")
            })?,
        })
    };
    Ok(MmapOffsets {
        rx: ring(offsets.rx)?,
        tx: ring(offsets.tx)?,
        fill: ring(offsets.fr)?,
        completion: ring(offsets.cr)?,
    })
}

/// Binds the socket to queue `queue` of interface `ifindex` (of the namespace the socket was
/// created in) with `flags` (`XDP_COPY`, `XDP_ZEROCOPY`, `XDP_USE_NEED_WAKEUP`), or, with
/// `shared_umem`, to the UMEM of that already bound socket (`XDP_SHARED_UMEM`, no mode flags).
pub fn bind(
    fd: BorrowedFd<'_>,
    ifindex: u32,
    queue: u32,
    flags: u16,
    shared_umem: Option<BorrowedFd<'_>>,
) -> SysResult<()> {
    let flags = SocketAddrXdpFlags::from_bits_retain(flags);
    let result = match shared_umem {
        None => rustix::net::bind(fd, &SocketAddrXdp::new(flags, ifindex, queue)),
        Some(first) => rustix::net::bind(
            fd,
            &SocketAddrXdpWithSharedUmem {
                addr: SocketAddrXdp::new(
                    flags | SocketAddrXdpFlags::XDP_SHARED_UMEM,
                    ifindex,
                    queue,
                ),
                shared_umem_fd: first,
            },
        ),
    };
    result.map_err(SysError::from_rustix("bind(AF_XDP)"))
}

/// Whether the kernel bound the socket in zero-copy mode (`XDP_OPTIONS`).
pub fn is_zero_copy(fd: BorrowedFd<'_>) -> SysResult<bool> {
    let options =
        sockopt::xdp_options(fd).map_err(SysError::from_rustix("getsockopt(XDP_OPTIONS)"))?;
    Ok(options.contains(rustix::net::xdp::XdpOptionsFlags::XDP_OPTIONS_ZEROCOPY))
}

/// What the kernel counted on the socket (`XDP_STATISTICS`); counters older kernels lack read 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XskStatistics {
    pub rx_dropped: u64,
    pub rx_invalid_descs: u64,
    pub tx_invalid_descs: u64,
    pub rx_ring_full: u64,
    pub rx_fill_ring_empty_descs: u64,
    pub tx_ring_empty_descs: u64,
}

pub fn statistics(fd: BorrowedFd<'_>) -> SysResult<XskStatistics> {
    let s =
        sockopt::xdp_statistics(fd).map_err(SysError::from_rustix("getsockopt(XDP_STATISTICS)"))?;
    Ok(XskStatistics {
        rx_dropped: s.rx_dropped,
        rx_invalid_descs: s.rx_invalid_descs,
        tx_invalid_descs: s.tx_invalid_descs,
        rx_ring_full: s.rx_ring_full.unwrap_or(0),
        rx_fill_ring_empty_descs: s.rx_fill_ring_empty_descs.unwrap_or(0),
        tx_ring_empty_descs: s.tx_ring_empty_descs.unwrap_or(0),
    })
}

/// A zero-length `sendto(MSG_DONTWAIT)`: asks the kernel to process the TX ring.
#[inline]
pub fn kick_tx(fd: BorrowedFd<'_>) -> SysResult<()> {
    match rustix::net::send(fd, &[], SendFlags::DONTWAIT) {
        Ok(_) => Ok(()),
        Err(e) => Err(SysError::new("sendto(AF_XDP)", e.raw_os_error())),
    }
}

/// A zero-length `recvfrom(MSG_DONTWAIT)`: wakes the kernel's RX processing (fill ring wake-up,
/// busy polling).
#[inline]
pub fn kick_rx(fd: BorrowedFd<'_>) -> SysResult<()> {
    match rustix::net::recv(fd, &mut [0u8; 0][..], RecvFlags::DONTWAIT) {
        Ok(_) => Ok(()),
        Err(e) => Err(SysError::new("recvfrom(AF_XDP)", e.raw_os_error())),
    }
}

/// Busy-polling options of a socket; `prefer` and `budget` need CAP_NET_ADMIN.
pub fn set_busy_poll(fd: impl AsFd, prefer: bool, timeout_us: u32, budget: u16) -> SysResult<()> {
    use crate::sockopt::{SO_BUSY_POLL, SO_BUSY_POLL_BUDGET, SO_PREFER_BUSY_POLL};
    let fd = fd.as_fd();
    let sol = libc::SOL_SOCKET;
    if prefer {
        set_int(
            fd,
            sol,
            "setsockopt(SO_PREFER_BUSY_POLL)",
            SO_PREFER_BUSY_POLL,
            1,
        )?;
    }
    let timeout = i32::try_from(timeout_us).unwrap_or(i32::MAX);
    set_int(fd, sol, "setsockopt(SO_BUSY_POLL)", SO_BUSY_POLL, timeout)?;
    set_int(
        fd,
        sol,
        "setsockopt(SO_BUSY_POLL_BUDGET)",
        SO_BUSY_POLL_BUDGET,
        i32::from(budget),
    )
}
