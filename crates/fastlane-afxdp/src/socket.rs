//! Opening one AF_XDP socket: its UMEM (registered or shared), ring sizes, options, ring
//! mappings and bind; or mapping the rings of a socket another process opened and bound.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fastlane_core::config::AfXdpConfig;
use fastlane_sys::xsk::{self, xdp_desc, MmapOffsets, RingSizes};
use fastlane_sys::{netdev, SysError, SysResult};

use crate::error::{option_hint, AfXdpError};
use crate::ring::{Consumer, Producer, Which};

/// How the first socket of a thread binds (the others inherit it through the shared UMEM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Copying {
    Copy,
    ZeroCopy,
}

impl Copying {
    fn flag(self) -> u16 {
        match self {
            Copying::Copy => xsk::XDP_COPY,
            Copying::ZeroCopy => xsk::XDP_ZEROCOPY,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Copying::Copy => "XDP_COPY",
            Copying::ZeroCopy => "XDP_ZEROCOPY",
        }
    }
}

/// The UMEM memory a first socket registers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UmemRegion {
    pub addr: *mut u8,
    pub len: usize,
    pub chunk_size: u32,
    pub headroom: u32,
}

/// The UMEM a socket uses: registered by this socket, or that of an already bound socket.
#[derive(Debug, Clone, Copy)]
pub(crate) enum UmemUse<'a> {
    Register(UmemRegion),
    Share { first: BorrowedFd<'a> },
}

/// The ring sizes of `cfg`.
pub(crate) fn ring_sizes(cfg: &AfXdpConfig) -> RingSizes {
    RingSizes {
        rx: cfg.rx_ring_size,
        tx: cfg.tx_ring_size,
        fill: cfg.fill_ring_size,
        completion: cfg.completion_ring_size,
    }
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
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place<'a> {
    pub interface: &'a str,
    pub queue: u16,
}

/// The option a `setsockopt(NAME)` or `getsockopt(NAME)` call names.
fn option_name(call: &'static str) -> &'static str {
    call.strip_prefix("setsockopt(")
        .or_else(|| call.strip_prefix("getsockopt("))
        .and_then(|name| name.strip_suffix(')'))
        .unwrap_or(call)
}

impl Place<'_> {
    fn option(&self, source: SysError) -> AfXdpError {
        let option = option_name(source.call);
        let source: std::io::Error = source.into();
        AfXdpError::SetOption {
            option,
            interface: self.interface.to_string(),
            queue: self.queue,
            hint: option_hint(option, &source),
            source,
        }
    }

    fn get_option(&self, source: SysError) -> AfXdpError {
        AfXdpError::GetOption {
            option: option_name(source.call),
            interface: self.interface.to_string(),
            queue: self.queue,
            source: source.into(),
        }
    }

    fn map_err(&self, ring: &'static str) -> impl FnOnce(SysError) -> AfXdpError + '_ {
        move |source| AfXdpError::MapRing {
            ring,
            interface: self.interface.to_string(),
            queue: self.queue,
            source: source.into(),
        }
    }
}

/// The index of `place`'s interface in the calling thread's namespace.
fn if_index(place: Place<'_>) -> Result<u32, AfXdpError> {
    netdev::if_index(place.interface).map_err(|source| AfXdpError::NoSuchInterface {
        interface: place.interface.to_string(),
        source: source.into(),
    })
}

/// A new, unbound socket for `place` with its UMEM registered (or not, when shared), its rings
/// sized and its options set.
fn configure(
    cfg: &AfXdpConfig,
    place: Place<'_>,
    umem: UmemUse<'_>,
) -> Result<OwnedFd, AfXdpError> {
    let fd = xsk::socket().map_err(|source| AfXdpError::Socket {
        interface: place.interface.to_string(),
        queue: place.queue,
        source: source.into(),
    })?;
    if let UmemUse::Register(region) = umem {
        xsk::register_umem(
            fd.as_fd(),
            region.addr,
            region.len,
            region.chunk_size,
            region.headroom,
        )
        .map_err(|e| place.option(e))?;
    }
    xsk::set_ring_sizes(fd.as_fd(), ring_sizes(cfg)).map_err(|e| place.option(e))?;
    // Let one copy-mode wake-up drain a whole TX ring rather than 32 frames.
    if let Err(e) = xsk::set_tx_skb_budget(fd.as_fd(), cfg.tx_ring_size) {
        log::debug!("{} queue {}: {e}", place.interface, place.queue);
    }
    if let Some(busy) = &cfg.busy_poll {
        xsk::set_busy_poll(&fd, busy.prefer, busy.timeout_us, busy.budget)
            .map_err(|e| place.option(e))?;
    }
    Ok(fd)
}

/// Binds `fd` to `place` in `copying` mode, or to the UMEM of the thread's first socket.
fn bind(
    cfg: &AfXdpConfig,
    place: Place<'_>,
    fd: &OwnedFd,
    copying: Copying,
    umem: UmemUse<'_>,
) -> Result<(), AfXdpError> {
    let interface = place.interface;
    let queue = place.queue;
    let ifindex = if_index(place)?;
    let (flags, shared, mode) = match umem {
        UmemUse::Register(_) => {
            let wakeup = if cfg.need_wakeup {
                xsk::XDP_USE_NEED_WAKEUP
            } else {
                0
            };
            (copying.flag() | wakeup, None, copying.name())
        }
        // A socket sharing the UMEM may not pass mode flags: it inherits copy/zero-copy and
        // need_wakeup from the socket that registered the UMEM.
        UmemUse::Share { first } => (0, Some(first), "XDP_SHARED_UMEM"),
    };
    bind_retrying(fd.as_fd(), ifindex, queue, flags, shared).map_err(|source| {
        let zero_copy_refused = copying == Copying::ZeroCopy && source.is(libc::EOPNOTSUPP);
        let source = source.into();
        if zero_copy_refused {
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
    })
}

impl XskSocket {
    /// Opens a socket on `interface` queue `queue` in the thread's `copying` mode, rings mapped
    /// before the bind (which kernels before 6.4 need for the fill and completion rings);
    /// `fill_capacity` bounds how many frames its fill ring holds at once, so that sockets
    /// sharing the UMEM leave frames to each other.
    pub fn open(
        cfg: &AfXdpConfig,
        place: Place<'_>,
        copying: Copying,
        umem: UmemUse<'_>,
        fill_capacity: u32,
    ) -> Result<XskSocket, AfXdpError> {
        if_index(place)?;
        let fd = configure(cfg, place, umem)?;
        let socket = XskSocket::map(fd, ring_sizes(cfg), fill_capacity, place)?;
        bind(cfg, place, &socket.fd, copying, umem)?;
        Ok(XskSocket {
            zero_copy: xsk::is_zero_copy(socket.fd.as_fd()).map_err(|e| place.get_option(e))?,
            ..socket
        })
    }

    /// A socket for another process: configured and bound, its rings not mapped here.
    pub fn open_unmapped(
        cfg: &AfXdpConfig,
        place: Place<'_>,
        copying: Copying,
        umem: UmemUse<'_>,
    ) -> Result<OwnedFd, AfXdpError> {
        if_index(place)?;
        let fd = configure(cfg, place, umem)?;
        bind(cfg, place, &fd, copying, umem)?;
        Ok(fd)
    }

    /// Maps the four rings of `fd`, sized `sizes`: a socket this process just configured, or one
    /// another process configured and bound (mapping needs no capability, and since Linux 6.4
    /// the fill and completion rings can be mapped after the bind).
    pub fn map(
        fd: OwnedFd,
        sizes: RingSizes,
        fill_capacity: u32,
        place: Place<'_>,
    ) -> Result<XskSocket, AfXdpError> {
        let offsets: MmapOffsets =
            xsk::mmap_offsets(fd.as_fd()).map_err(|e| place.get_option(e))?;
        let rx = Consumer::map(&fd, Which::Rx, &offsets, sizes.rx).map_err(place.map_err("RX"))?;
        let tx = Producer::map(&fd, Which::Tx, &offsets, sizes.tx, sizes.tx)
            .map_err(place.map_err("TX"))?;
        let fill = Producer::map(&fd, Which::Fill, &offsets, sizes.fill, fill_capacity)
            .map_err(place.map_err("fill"))?;
        let completion = Consumer::map(&fd, Which::Completion, &offsets, sizes.completion)
            .map_err(place.map_err("completion"))?;
        let zero_copy = xsk::is_zero_copy(fd.as_fd()).map_err(|e| place.get_option(e))?;
        let raw_fd = fd.as_raw_fd();
        Ok(XskSocket {
            fd: Arc::new(fd),
            raw_fd,
            rx,
            tx,
            fill,
            completion,
            zero_copy,
        })
    }
}

/// How long a queue may stay busy after its previous socket closed.
const BIND_BUSY_WAIT: Duration = Duration::from_secs(2);
const BIND_RETRY_STEP: Duration = Duration::from_millis(10);

/// Binds, retrying while the queue is busy: the kernel releases a closed socket's hold on its
/// queue from a work item, so a socket reopened at once can find the queue still taken.
fn bind_retrying(
    fd: BorrowedFd<'_>,
    ifindex: u32,
    queue: u16,
    flags: u16,
    shared: Option<BorrowedFd<'_>>,
) -> SysResult<()> {
    let deadline = Instant::now() + BIND_BUSY_WAIT;
    loop {
        match xsk::bind(fd, ifindex, u32::from(queue), flags, shared) {
            Err(e) if e.is(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(BIND_RETRY_STEP)
            }
            other => return other,
        }
    }
}
