//! Every raw system call of this crate: the bpf(2) commands aya does not wrap the way the
//! generator needs them, CPU pinning, interface look-ups and AF_PACKET sockets.

use std::ffi::CString;
use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_F_TEST_XDP_LIVE_FRAMES: u32 = 1 << 1;

/// The `test` member of `union bpf_attr` (BPF_PROG_TEST_RUN).
#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    /// Explicit so that the bytes the kernel checks for zero past the last member are zero.
    _pad: u32,
}

/// `struct xdp_md`, the context a test run starts from.
#[repr(C)]
#[derive(Default)]
struct XdpMd {
    data: u32,
    data_end: u32,
    data_meta: u32,
    ingress_ifindex: u32,
    rx_queue_index: u32,
    egress_ifindex: u32,
}

/// The element members of `union bpf_attr` (BPF_MAP_LOOKUP_ELEM).
#[repr(C)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<()> {
    // SAFETY: `attr` is a repr(C) prefix of `union bpf_attr` for `cmd`, valid for its whole size;
    // every pointer inside it refers to memory the caller keeps alive for the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            size_of::<T>() as libc::c_uint,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Runs XDP program `prog` `repeat` times over `frame` in live-frames mode, as if the frame had
/// arrived on queue 0 of interface `ifindex` (resolved in the calling thread's namespace).
pub fn xdp_run_live(prog: BorrowedFd, frame: &[u8], ifindex: u32, repeat: u32) -> io::Result<()> {
    let mut ctx = XdpMd {
        data_end: frame.len() as u32,
        ingress_ifindex: ifindex,
        ..XdpMd::default()
    };
    let mut attr = TestRunAttr {
        prog_fd: prog.as_raw_fd() as u32,
        data_size_in: frame.len() as u32,
        data_in: frame.as_ptr() as u64,
        repeat,
        ctx_size_in: size_of::<XdpMd>() as u32,
        ctx_in: &mut ctx as *mut XdpMd as u64,
        flags: BPF_F_TEST_XDP_LIVE_FRAMES,
        ..TestRunAttr::default()
    };
    bpf(BPF_PROG_TEST_RUN, &mut attr)
}

/// The sum over all CPUs of entry 0 of a per-CPU array whose values are `N` u64 counters.
pub fn percpu_sums<const N: usize>(map: BorrowedFd, possible_cpus: usize) -> io::Result<[u64; N]> {
    let key = 0u32;
    // Per-CPU values are laid out one after another, each rounded up to 8 bytes.
    let mut values = vec![0u64; N * possible_cpus];
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        _pad: 0,
        key: &key as *const u32 as u64,
        value: values.as_mut_ptr() as u64,
        flags: 0,
    };
    bpf(BPF_MAP_LOOKUP_ELEM, &mut attr)?;
    let mut sums = [0u64; N];
    for cpu in values.chunks_exact(N) {
        for (sum, v) in sums.iter_mut().zip(cpu) {
            *sum += v;
        }
    }
    Ok(sums)
}

/// Pins the calling thread to one CPU.
pub fn pin_to_cpu(cpu: u16) -> io::Result<()> {
    // SAFETY: cpu_set_t is a plain bit array; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { zeroed() };
    if cpu as usize >= 8 * size_of::<libc::cpu_set_t>() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: the index was checked against the set's size just above.
    unsafe { libc::CPU_SET(cpu as usize, &mut set) };
    // SAFETY: pid 0 is the calling thread; `set` is a valid cpu_set_t of the size passed.
    let rc = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn c_name(interface: &str) -> io::Result<CString> {
    CString::new(interface).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// The index of `interface` in the calling thread's network namespace.
pub fn if_index(interface: &str) -> io::Result<u32> {
    let name = c_name(interface)?;
    // SAFETY: `name` is a NUL-terminated string that outlives the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(index)
}

fn socket(domain: libc::c_int, kind: libc::c_int, protocol: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the result is checked before it is owned.
    let fd = unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC, protocol) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a freshly created descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The Ethernet address of `interface` in the calling thread's network namespace.
pub fn hw_address(interface: &str) -> io::Result<[u8; 6]> {
    let name = c_name(interface)?;
    if name.as_bytes_with_nul().len() > libc::IFNAMSIZ {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    let sock = socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?;
    // SAFETY: ifreq is plain data; all zeroes is valid.
    let mut req: libc::ifreq = unsafe { zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.as_bytes()) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFHWADDR reads the name from and writes the address into `req`, which lives
    // across the call.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFHWADDR filled the hardware-address member of the union.
    let addr = unsafe { req.ifr_ifru.ifru_hwaddr };
    if addr.sa_family != libc::ARPHRD_ETHER {
        return Err(io::Error::from_raw_os_error(libc::EAFNOSUPPORT));
    }
    let mut mac = [0u8; 6];
    for (dst, src) in mac.iter_mut().zip(addr.sa_data) {
        *dst = src as u8;
    }
    Ok(mac)
}

/// An AF_PACKET socket bound to one interface that sees every protocol, minus its own
/// outgoing frames.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
}

impl PacketSocket {
    pub fn bind(ifindex: u32) -> io::Result<PacketSocket> {
        let all = (libc::ETH_P_ALL as u16).to_be() as libc::c_int;
        let fd = socket(libc::AF_PACKET, libc::SOCK_RAW, all)?;
        let one: libc::c_int = 1;
        // SAFETY: the option value is a c_int that lives across the call.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_IGNORE_OUTGOING,
                &one as *const libc::c_int as *const libc::c_void,
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: sockaddr_ll is plain data; all zeroes is valid.
        let mut addr: libc::sockaddr_ll = unsafe { zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = all as u16;
        addr.sll_ifindex = ifindex as i32;
        // SAFETY: `addr` is a sockaddr_ll of the size passed.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &addr as *const libc::sockaddr_ll as *const libc::sockaddr,
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(PacketSocket { fd })
    }

    /// Transmits one whole frame out of the bound interface.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: `frame` is valid for reads of its length during the call.
        let rc = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                frame.as_ptr() as *const libc::c_void,
                frame.len(),
                0,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        if rc as usize != frame.len() {
            return Err(io::Error::from(io::ErrorKind::WriteZero));
        }
        Ok(())
    }

    /// Waits up to `timeout` for a frame and receives it into `buf`; returns its length (which may
    /// exceed `buf`, then the frame was cut), or None when none arrived in time.
    pub fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // Rounded up: a wait that is due in less than a millisecond must not turn into a busy loop.
        let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
        // SAFETY: one valid pollfd, as the count says.
        let ready = unsafe { libc::poll(&mut pfd, 1, ms) };
        if ready < 0 {
            let err = io::Error::last_os_error();
            return if err.kind() == io::ErrorKind::Interrupted {
                Ok(None)
            } else {
                Err(err)
            };
        }
        if ready == 0 {
            return Ok(None);
        }
        // SAFETY: `buf` is valid for writes of its length during the call.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            return if err.kind() == io::ErrorKind::WouldBlock {
                Ok(None)
            } else {
                Err(err)
            };
        }
        Ok(Some(n as usize))
    }
}

/// Room for one control message carrying a `struct timespec`.
const TIMESTAMP_CMSG_SPACE: usize = 64;

impl PacketSocket {
    /// Sets the socket's receive buffer to `bytes`, past `net.core.rmem_max` (needs
    /// CAP_NET_ADMIN).
    pub fn force_receive_buffer(&self, bytes: usize) -> io::Result<()> {
        let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        // SAFETY: the option value is a c_int that lives across the call.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                &value as *const libc::c_int as *const libc::c_void,
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Asks the kernel to stamp every received frame with the time it arrived (software, on
    /// CLOCK_REALTIME: the clock of [`std::time::SystemTime`]).
    pub fn enable_rx_timestamps(&self) -> io::Result<()> {
        let one: libc::c_int = 1;
        // SAFETY: the option value is a c_int that lives across the call.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                &one as *const libc::c_int as *const libc::c_void,
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Like [`recv`](Self::recv), waiting with nanosecond resolution, and also returns the
    /// frame's receive timestamp (time since the Unix epoch) when the kernel attached one.
    pub fn recv_timestamped(
        &self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> io::Result<Option<(usize, Option<Duration>)>> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
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
            let err = io::Error::last_os_error();
            return if err.kind() == io::ErrorKind::Interrupted {
                Ok(None)
            } else {
                Err(err)
            };
        }
        if ready == 0 {
            return Ok(None);
        }
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr() as *mut libc::c_void,
            iov_len: buf.len(),
        };
        // u64 elements: control messages must be aligned like `struct cmsghdr`.
        let mut control = [0u64; TIMESTAMP_CMSG_SPACE / 8];
        // SAFETY: msghdr is plain data; all zeroes is valid (no name, no control yet).
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
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
            let err = io::Error::last_os_error();
            return if err.kind() == io::ErrorKind::WouldBlock {
                Ok(None)
            } else {
                Err(err)
            };
        }
        let mut stamp = None;
        // SAFETY: `msg` was filled by recvmsg; its control pointer and length describe `control`.
        let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
        while !cmsg.is_null() {
            // SAFETY: CMSG_FIRSTHDR/CMSG_NXTHDR return headers inside `control`, or null.
            let header = unsafe { &*cmsg };
            if header.cmsg_level == libc::SOL_SOCKET
                && header.cmsg_type == libc::SCM_TIMESTAMPNS
                && header.cmsg_len as usize >= cmsg_len(size_of::<libc::timespec>() as u32) as usize
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

/// `CMSG_LEN(data_len)`: the length of a control message carrying `data_len` bytes.
fn cmsg_len(data_len: u32) -> u32 {
    // SAFETY: CMSG_LEN is pure arithmetic.
    unsafe { libc::CMSG_LEN(data_len) }
}
