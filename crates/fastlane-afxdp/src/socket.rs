//! Opening one AF_XDP socket: its rings, its UMEM (registered or shared), its bind and options.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fastlane_core::config::{AfXdpConfig, BusyPollConfig};

use crate::error::{option_hint, AfXdpError};
use crate::ring::{Consumer, Producer, Which};
use crate::sys::{self, xdp_desc};

/// How the first socket of a thread binds (the others inherit it through the shared UMEM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Copying {
    Copy,
    ZeroCopy,
}

impl Copying {
    fn flag(self) -> u16 {
        match self {
            Copying::Copy => sys::XDP_COPY,
            Copying::ZeroCopy => sys::XDP_ZEROCOPY,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Copying::Copy => "XDP_COPY",
            Copying::ZeroCopy => "XDP_ZEROCOPY",
        }
    }
}

/// The UMEM a socket uses: registered by this socket, or that of an already bound socket.
#[derive(Debug, Clone, Copy)]
pub(crate) enum UmemUse<'a> {
    Register(&'a sys::xdp_umem_reg),
    Share { first: RawFd },
}

/// One bound AF_XDP socket with its four rings mapped.
#[derive(Debug)]
pub(crate) struct XskSocket {
    pub fd: Arc<OwnedFd>,
    pub raw_fd: RawFd,
    pub rx: Consumer<xdp_desc>,
    pub tx: Producer<xdp_desc>,
    pub fill: Producer<u64>,
    pub completion: Consumer<u64>,
    pub zero_copy: bool,
}

/// Where a socket is being opened, for error messages.
struct Place<'a> {
    interface: &'a str,
    queue: u16,
}

impl Place<'_> {
    fn set<T: Copy>(
        &self,
        fd: &OwnedFd,
        level: libc::c_int,
        option: &'static str,
        name: libc::c_int,
        value: &T,
    ) -> Result<(), AfXdpError> {
        sys::setsockopt(fd, level, name, value).map_err(|source| AfXdpError::SetOption {
            option,
            interface: self.interface.to_string(),
            queue: self.queue,
            hint: option_hint(option, &source),
            source,
        })
    }

    fn map_err(&self, ring: &'static str) -> impl FnOnce(io::Error) -> AfXdpError + '_ {
        move |source| AfXdpError::MapRing {
            ring,
            interface: self.interface.to_string(),
            queue: self.queue,
            source,
        }
    }
}

impl XskSocket {
    /// Opens a socket on `interface` queue `queue` in the thread's `copying` mode;
    /// `fill_capacity` bounds how many frames its
    /// fill ring holds at once, so that sockets sharing the UMEM leave frames to each other.
    pub fn open(
        cfg: &AfXdpConfig,
        interface: &str,
        queue: u16,
        copying: Copying,
        umem: UmemUse<'_>,
        fill_capacity: u32,
    ) -> Result<XskSocket, AfXdpError> {
        let place = Place { interface, queue };
        let ifindex = sys::if_index(interface).map_err(|source| AfXdpError::NoSuchInterface {
            interface: interface.to_string(),
            source,
        })?;
        let fd = sys::xsk_socket().map_err(|source| AfXdpError::Socket {
            interface: interface.to_string(),
            queue,
            source,
        })?;

        if let UmemUse::Register(reg) = umem {
            place.set(&fd, sys::SOL_XDP, "XDP_UMEM_REG", sys::XDP_UMEM_REG, reg)?;
        }
        // Since 5.10 each socket sharing a UMEM on another device or queue has its own fill and
        // completion rings.
        let sizes = [
            (
                "XDP_UMEM_FILL_RING",
                sys::XDP_UMEM_FILL_RING,
                cfg.fill_ring_size,
            ),
            (
                "XDP_UMEM_COMPLETION_RING",
                sys::XDP_UMEM_COMPLETION_RING,
                cfg.completion_ring_size,
            ),
            ("XDP_RX_RING", sys::XDP_RX_RING, cfg.rx_ring_size),
            ("XDP_TX_RING", sys::XDP_TX_RING, cfg.tx_ring_size),
        ];
        for (option, name, size) in sizes {
            place.set(&fd, sys::SOL_XDP, option, name, &size)?;
        }
        // Let one copy-mode wake-up drain a whole TX ring rather than 32 frames. Kernels before
        // 6.17 lack the option (ENOPROTOOPT): they keep sending 32 per wake-up.
        if let Err(e) = sys::setsockopt(
            &fd,
            sys::SOL_XDP,
            sys::XDP_MAX_TX_SKB_BUDGET,
            &cfg.tx_ring_size,
        ) {
            log::debug!("XDP_MAX_TX_SKB_BUDGET on {interface} queue {queue}: {e}");
        }
        if let Some(busy) = &cfg.busy_poll {
            set_busy_poll(&place, &fd, busy)?;
        }

        let (offsets, len) = sys::getsockopt::<sys::xdp_mmap_offsets>(
            fd.as_raw_fd(),
            sys::SOL_XDP,
            sys::XDP_MMAP_OFFSETS,
        )
        .map_err(|source| AfXdpError::GetOption {
            option: "XDP_MMAP_OFFSETS",
            interface: interface.to_string(),
            queue,
            source,
        })?;
        if len != std::mem::size_of::<sys::xdp_mmap_offsets>() {
            return Err(AfXdpError::Config(format!(
                "the kernel's ring layout lacks the flags field (kernel older than 5.4); \
                 {interface} queue {queue}"
            )));
        }
        let rx = Consumer::map(&fd, Which::Rx, &offsets, cfg.rx_ring_size)
            .map_err(place.map_err("RX"))?;
        let tx = Producer::map(&fd, Which::Tx, &offsets, cfg.tx_ring_size, cfg.tx_ring_size)
            .map_err(place.map_err("TX"))?;
        let fill = Producer::map(
            &fd,
            Which::Fill,
            &offsets,
            cfg.fill_ring_size,
            fill_capacity,
        )
        .map_err(place.map_err("fill"))?;
        let completion = Consumer::map(&fd, Which::Completion, &offsets, cfg.completion_ring_size)
            .map_err(place.map_err("completion"))?;

        let (flags, shared_fd, mode) = match umem {
            UmemUse::Register(_) => {
                let wakeup = if cfg.need_wakeup {
                    sys::XDP_USE_NEED_WAKEUP
                } else {
                    0
                };
                (copying.flag() | wakeup, 0, copying.name())
            }
            // A socket sharing the UMEM may not pass mode flags: it inherits copy/zero-copy and
            // need_wakeup from the socket that registered the UMEM.
            UmemUse::Share { first } => (sys::XDP_SHARED_UMEM, first as u32, "XDP_SHARED_UMEM"),
        };
        let addr = sys::sockaddr_xdp {
            sxdp_family: sys::AF_XDP as u16,
            sxdp_flags: flags,
            sxdp_ifindex: ifindex,
            sxdp_queue_id: queue as u32,
            sxdp_shared_umem_fd: shared_fd,
        };
        bind_retrying(&fd, &addr).map_err(|source| {
            if copying == Copying::ZeroCopy && source.raw_os_error() == Some(libc::EOPNOTSUPP) {
                AfXdpError::ZeroCopyRefused {
                    interface: interface.to_string(),
                    queue,
                    source,
                }
            } else {
                AfXdpError::Bind {
                    interface: interface.to_string(),
                    queue,
                    mode,
                    source,
                }
            }
        })?;

        let (options, _) = sys::getsockopt::<u32>(fd.as_raw_fd(), sys::SOL_XDP, sys::XDP_OPTIONS)
            .map_err(|source| AfXdpError::GetOption {
            option: "XDP_OPTIONS",
            interface: interface.to_string(),
            queue,
            source,
        })?;
        let raw_fd = fd.as_raw_fd();
        Ok(XskSocket {
            fd: Arc::new(fd),
            raw_fd,
            rx,
            tx,
            fill,
            completion,
            zero_copy: options & sys::XDP_OPTIONS_ZEROCOPY != 0,
        })
    }
}

/// How long a queue may stay busy after its previous socket closed.
const BIND_BUSY_WAIT: Duration = Duration::from_secs(2);
const BIND_RETRY_STEP: Duration = Duration::from_millis(10);

/// Binds, retrying while the queue is busy: the kernel releases a closed socket's hold on its
/// queue from a work item, so a socket reopened at once can find the queue still taken.
fn bind_retrying(fd: &OwnedFd, addr: &sys::sockaddr_xdp) -> io::Result<()> {
    let deadline = Instant::now() + BIND_BUSY_WAIT;
    loop {
        match sys::bind_xsk(fd, addr) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(BIND_RETRY_STEP)
            }
            other => return other,
        }
    }
}

fn set_busy_poll(place: &Place<'_>, fd: &OwnedFd, busy: &BusyPollConfig) -> Result<(), AfXdpError> {
    let sol = libc::SOL_SOCKET;
    if busy.prefer {
        place.set(
            fd,
            sol,
            "SO_PREFER_BUSY_POLL",
            sys::SO_PREFER_BUSY_POLL,
            &1i32,
        )?;
    }
    let timeout = i32::try_from(busy.timeout_us).unwrap_or(i32::MAX);
    place.set(fd, sol, "SO_BUSY_POLL", sys::SO_BUSY_POLL, &timeout)?;
    let budget = i32::from(busy.budget);
    place.set(
        fd,
        sol,
        "SO_BUSY_POLL_BUDGET",
        sys::SO_BUSY_POLL_BUDGET,
        &budget,
    )
}
