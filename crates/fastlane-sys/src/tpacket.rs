//! AF_PACKET sockets: the TPACKET_V3 options (version, reserve, RX ring, fanout, statistics,
//! socket filter), bind, batched sends, and a plain frame socket for test beds.

use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::error::{check, SysError, SysResult};
use crate::sockopt::{self, set_int};

pub use libc::{
    iovec, mmsghdr, tpacket3_hdr, tpacket_req3, PACKET_FANOUT_CPU,
    PACKET_FANOUT_FLAG_IGNORE_OUTGOING, PACKET_FANOUT_FLAG_UNIQUEID, PACKET_FANOUT_HASH,
    PACKET_FANOUT_LB, PACKET_FANOUT_QM, TPACKET3_HDRLEN, TPACKET_ALIGNMENT, TP_STATUS_KERNEL,
    TP_STATUS_USER, TP_STATUS_VLAN_TPID_VALID, TP_STATUS_VLAN_VALID,
};

/// `TPACKET_V3` of `enum tpacket_versions`.
const TPACKET_V3: libc::c_int = 2;

fn owned_socket(call: &'static str, protocol: libc::c_int) -> SysResult<OwnedFd> {
    // SAFETY: plain syscall; the result is checked before it is owned.
    let fd = check(call, unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            protocol,
        )
    })?;
    // SAFETY: `fd` was just returned by socket() and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `socket(AF_PACKET, SOCK_RAW, 0)`: protocol 0 receives nothing until `bind` names one, so the
/// ring and the filter are in place before the first frame. Needs CAP_NET_RAW.
pub fn packet_socket() -> SysResult<OwnedFd> {
    owned_socket("socket(AF_PACKET, SOCK_RAW)", 0)
}

/// PACKET_VERSION = TPACKET_V3.
pub fn set_version_v3(fd: BorrowedFd<'_>) -> SysResult<()> {
    set_int(
        fd,
        libc::SOL_PACKET,
        "setsockopt(PACKET_VERSION, TPACKET_V3)",
        libc::PACKET_VERSION,
        TPACKET_V3,
    )
}

/// PACKET_RESERVE: bytes kept free in front of each received frame.
pub fn set_reserve(fd: BorrowedFd<'_>, bytes: u32) -> SysResult<()> {
    set_int(
        fd,
        libc::SOL_PACKET,
        "setsockopt(PACKET_RESERVE)",
        libc::PACKET_RESERVE,
        bytes as libc::c_int,
    )
}

/// PACKET_RX_RING with a TPACKET_V3 request.
pub fn set_rx_ring(fd: BorrowedFd<'_>, req: &tpacket_req3) -> SysResult<()> {
    // SAFETY: PACKET_RX_RING of a TPACKET_V3 socket reads one tpacket_req3.
    unsafe {
        sockopt::set(
            fd,
            libc::SOL_PACKET,
            "setsockopt(PACKET_RX_RING)",
            libc::PACKET_RX_RING,
            req,
        )
    }
}

/// PACKET_IGNORE_OUTGOING: the socket does not see the frames it (or others) send.
pub fn set_ignore_outgoing(fd: BorrowedFd<'_>) -> SysResult<()> {
    set_int(
        fd,
        libc::SOL_PACKET,
        "setsockopt(PACKET_IGNORE_OUTGOING)",
        libc::PACKET_IGNORE_OUTGOING,
        1,
    )
}

/// SO_ATTACH_BPF: runs socket filter `program` on every frame before it reaches the socket.
pub fn attach_filter(fd: BorrowedFd<'_>, program: BorrowedFd<'_>) -> SysResult<()> {
    set_int(
        fd,
        libc::SOL_SOCKET,
        "setsockopt(SO_ATTACH_BPF)",
        libc::SO_ATTACH_BPF,
        program.as_raw_fd(),
    )
}

/// PACKET_FANOUT with `arg` (group id in the low 16 bits, mode and flags in the high 16).
pub fn set_fanout(fd: BorrowedFd<'_>, arg: u32) -> SysResult<()> {
    // SAFETY: PACKET_FANOUT reads one u32.
    unsafe {
        sockopt::set(
            fd,
            libc::SOL_PACKET,
            "setsockopt(PACKET_FANOUT)",
            libc::PACKET_FANOUT,
            &arg,
        )
    }
}

/// PACKET_FANOUT: the socket's fanout group id (low 16 bits), mode and flags.
pub fn fanout(fd: BorrowedFd<'_>) -> SysResult<u32> {
    // SAFETY: PACKET_FANOUT writes one u32.
    unsafe {
        sockopt::get_full(
            fd,
            libc::SOL_PACKET,
            "getsockopt(PACKET_FANOUT)",
            libc::PACKET_FANOUT,
        )
    }
}

/// PACKET_VERSION of a socket (to check an adopted one).
pub fn version(fd: BorrowedFd<'_>) -> SysResult<bool> {
    // SAFETY: PACKET_VERSION writes one c_int.
    let version: libc::c_int = unsafe {
        sockopt::get_full(
            fd,
            libc::SOL_PACKET,
            "getsockopt(PACKET_VERSION)",
            libc::PACKET_VERSION,
        )
    }?;
    Ok(version == TPACKET_V3)
}

/// What PACKET_STATISTICS counts on a TPACKET_V3 socket (reset on every read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PacketStatistics {
    pub packets: u32,
    pub drops: u32,
    pub freeze_q_cnt: u32,
}

pub fn statistics(fd: BorrowedFd<'_>) -> SysResult<PacketStatistics> {
    // SAFETY: tpacket_stats_v3 is three u32s, what PACKET_STATISTICS writes for TPACKET_V3.
    let s: libc::tpacket_stats_v3 = unsafe {
        sockopt::get_full(
            fd,
            libc::SOL_PACKET,
            "getsockopt(PACKET_STATISTICS)",
            libc::PACKET_STATISTICS,
        )
    }?;
    Ok(PacketStatistics {
        packets: s.tp_packets,
        drops: s.tp_drops,
        freeze_q_cnt: s.tp_freeze_q_cnt,
    })
}

fn bind_ll(fd: BorrowedFd<'_>, ifindex: u32, protocol_be: u16) -> SysResult<()> {
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = protocol_be;
    addr.sll_ifindex = ifindex as i32;
    // SAFETY: `addr` is a valid sockaddr_ll of the length passed.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    check("bind(AF_PACKET, ETH_P_ALL)", rc).map(drop)
}

/// Binds a packet socket to interface `ifindex`, receiving every protocol.
pub fn bind_all_protocols(fd: BorrowedFd<'_>, ifindex: u32) -> SysResult<()> {
    bind_ll(fd, ifindex, (libc::ETH_P_ALL as u16).to_be())
}

/// A message of one frame, `iov`, to the address the socket is bound to.
#[inline]
pub fn message(iov: &iovec) -> mmsghdr {
    // SAFETY: mmsghdr is plain data (pointers and integers); all-zero is a valid value.
    let mut message: mmsghdr = unsafe { std::mem::zeroed() };
    message.msg_hdr.msg_iov = (iov as *const iovec).cast_mut();
    message.msg_hdr.msg_iovlen = 1;
    message
}

/// `sendmmsg(fd, messages, MSG_DONTWAIT)`: how many messages the kernel took, each copied into a
/// socket buffer before the call returns. Fails only if it took none.
///
/// # Safety
///
/// Every message's iovecs must point to memory valid for reads of their lengths.
#[inline]
pub unsafe fn sendmmsg(fd: RawFd, messages: &mut [mmsghdr]) -> SysResult<usize> {
    // The kernel takes at most UIO_MAXIOV (1024) messages per call.
    let count = messages.len().min(1024) as libc::c_uint;
    // The flags are a c_int on glibc and a c_uint on musl.
    let flags = libc::MSG_DONTWAIT as _;
    // SAFETY: `messages` is valid for `count` entries; the caller vouches for their buffers.
    let rc = unsafe { libc::sendmmsg(fd, messages.as_mut_ptr(), count, flags) };
    check("sendmmsg(AF_PACKET)", rc).map(|n| n as usize)
}

/// A plain AF_PACKET socket bound to one interface that sees every protocol, minus its own
/// outgoing frames: the test bed's way to send and capture whole frames.
#[derive(Debug)]
pub struct FrameSocket {
    fd: OwnedFd,
}

/// Room for one control message carrying a `struct timespec`.
const TIMESTAMP_CMSG_SPACE: usize = 64;

/// Waits up to `timeout` for `fd` to be readable; false when it did not become so in time.
fn wait_readable(fd: BorrowedFd<'_>, timeout: Duration) -> SysResult<bool> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let wait = libc::timespec {
        tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: one valid pollfd, as the count says; `wait` lives across the call; no mask.
    let ready = unsafe { libc::ppoll(&mut pfd, 1, &wait, std::ptr::null()) };
    if ready < 0 {
        let error = SysError::last("ppoll");
        return if error.is(libc::EINTR) {
            Ok(false)
        } else {
            Err(error)
        };
    }
    Ok(ready > 0)
}

impl FrameSocket {
    pub fn bind(ifindex: u32) -> SysResult<FrameSocket> {
        let all = (libc::ETH_P_ALL as u16).to_be();
        let fd = owned_socket("socket(AF_PACKET, SOCK_RAW, ETH_P_ALL)", all as libc::c_int)?;
        set_ignore_outgoing(fd.as_fd())?;
        bind_ll(fd.as_fd(), ifindex, all)?;
        Ok(FrameSocket { fd })
    }

    /// Transmits one whole frame out of the bound interface.
    pub fn send(&self, frame: &[u8]) -> SysResult<()> {
        // SAFETY: `frame` is valid for reads of its length during the call.
        let rc = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        if rc < 0 {
            return Err(SysError::last("send(AF_PACKET)"));
        }
        if rc as usize != frame.len() {
            return Err(SysError::new("send(AF_PACKET)", libc::EMSGSIZE));
        }
        Ok(())
    }

    /// Waits up to `timeout` for a frame and receives it into `buf`; returns its length (which may
    /// exceed `buf`, then the frame was cut), or None when none arrived in time.
    pub fn recv(&self, buf: &mut [u8], timeout: Duration) -> SysResult<Option<usize>> {
        Ok(self.recv_timestamped(buf, timeout)?.map(|(n, _)| n))
    }

    /// Sets the socket's receive buffer to `bytes`, past `net.core.rmem_max` (needs
    /// CAP_NET_ADMIN).
    pub fn force_receive_buffer(&self, bytes: usize) -> SysResult<()> {
        let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        set_int(
            self.fd.as_fd(),
            libc::SOL_SOCKET,
            "setsockopt(SO_RCVBUFFORCE)",
            libc::SO_RCVBUFFORCE,
            value,
        )
    }

    /// Asks the kernel to stamp every received frame with the time it arrived (software, on
    /// CLOCK_REALTIME: the clock of [`std::time::SystemTime`]).
    pub fn enable_rx_timestamps(&self) -> SysResult<()> {
        set_int(
            self.fd.as_fd(),
            libc::SOL_SOCKET,
            "setsockopt(SO_TIMESTAMPNS)",
            libc::SO_TIMESTAMPNS,
            1,
        )
    }

    /// Like [`recv`](Self::recv), and also returns the frame's receive timestamp (time since the
    /// Unix epoch) when the kernel attached one.
    pub fn recv_timestamped(
        &self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> SysResult<Option<(usize, Option<Duration>)>> {
        if !wait_readable(self.fd.as_fd(), timeout)? {
            return Ok(None);
        }
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // u64 elements: control messages must be aligned like `struct cmsghdr`.
        let mut control = [0u64; TIMESTAMP_CMSG_SPACE / 8];
        // SAFETY: msghdr is plain data; all zeroes is valid (no name, no control yet).
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = TIMESTAMP_CMSG_SPACE as _;
        // SAFETY: `msg` points at `iov` (valid for writes of `buf`'s length) and at `control`
        // (valid for writes of msg_controllen bytes), all of which outlive the call.
        let n = unsafe {
            libc::recvmsg(
                self.fd.as_raw_fd(),
                &mut msg,
                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
            )
        };
        if n < 0 {
            let error = SysError::last("recvmsg(AF_PACKET)");
            return if error.is(libc::EAGAIN) {
                Ok(None)
            } else {
                Err(error)
            };
        }
        let mut stamp = None;
        // SAFETY: `msg` was filled by recvmsg; its control pointer and length describe `control`.
        let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
        while !cmsg.is_null() {
            // SAFETY: CMSG_FIRSTHDR/CMSG_NXTHDR return headers inside `control`, or null.
            let header = unsafe { &*cmsg };
            // SAFETY: CMSG_LEN is pure arithmetic.
            let stamp_len = unsafe { libc::CMSG_LEN(size_of::<libc::timespec>() as u32) } as usize;
            if header.cmsg_level == libc::SOL_SOCKET
                && header.cmsg_type == libc::SCM_TIMESTAMPNS
                && header.cmsg_len as usize >= stamp_len
            {
                // SAFETY: an SCM_TIMESTAMPNS message of at least this length carries a timespec;
                // the data may be unaligned.
                let ts = unsafe {
                    std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const libc::timespec)
                };
                stamp = Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32));
            }
            // SAFETY: `cmsg` is a header inside the control buffer `msg` describes.
            cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
        }
        Ok(Some((n as usize, stamp)))
    }
}
