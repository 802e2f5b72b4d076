//! The two halves of handing AF_XDP to an unprivileged process. [`export_thread`] does every
//! privileged step (socket creation, UMEM registration from a memfd, ring sizes, busy-poll
//! options, bind) and returns an [`AfXdpExport`]: descriptors plus plain data. The other process
//! receives them (SCM_RIGHTS), and [`adopt_thread`] maps the memfd and the rings and runs the same
//! data path as [`crate::open_thread`], with no capability at all.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use fastlane_core::config::AfXdpConfig;
use fastlane_core::QueueSpec;
use fastlane_sys::xsk::RingSizes;

use crate::error::AfXdpError;
use crate::socket::{ring_sizes, Place, UmemRegion, UmemUse, XskSocket};
use crate::thread::{assemble, by_bind_mode, check_layout, AfXdpThread, XskSocketInfo};
use crate::umem::Umem;

/// What both sides must agree on about a thread's UMEM and rings: plain data, to be sent beside
/// the descriptors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XskLayout {
    pub umem_frames: u32,
    pub frame_size: u32,
    pub frame_headroom: u32,
    pub rings: RingSizes,
    /// The sockets were bound with `XDP_USE_NEED_WAKEUP`.
    pub need_wakeup: bool,
    /// Busy-poll options were set on the sockets: the thread drives NAPI instead of sleeping.
    pub busy_poll: bool,
}

impl XskLayout {
    pub fn of(cfg: &AfXdpConfig) -> XskLayout {
        XskLayout {
            umem_frames: cfg.umem_frames,
            frame_size: cfg.frame_size,
            frame_headroom: cfg.frame_headroom,
            rings: ring_sizes(cfg),
            need_wakeup: cfg.need_wakeup,
            busy_poll: cfg.busy_poll.is_some(),
        }
    }

    /// The UMEM's size in bytes (checked not to overflow by `check_layout`).
    pub fn umem_len(&self) -> usize {
        self.umem_frames as usize * self.frame_size as usize
    }

    pub(crate) fn umem_region(&self, addr: *mut u8, len: usize) -> UmemRegion {
        UmemRegion {
            addr,
            len,
            chunk_size: self.frame_size,
            headroom: self.frame_headroom,
        }
    }

    /// How many frames each socket's fill ring holds at most: its share of the UMEM, so that no
    /// socket starves the others, less up to a batch kept back for slow-path copies.
    pub(crate) fn fill_capacity(&self, queues: usize, batch_size: usize) -> u32 {
        let share = self.umem_frames / queues as u32;
        let kept_back = (batch_size as u32).min(share / 2);
        (share - kept_back).min(self.rings.fill)
    }
}

/// One exported socket: bound to `queue` of `interface`, which is port `port`.
#[derive(Debug)]
pub struct XskExport {
    pub queue: QueueSpec,
    pub socket: OwnedFd,
}

/// A thread's AF_XDP sockets and UMEM, ready to hand to another process: the memfd holding the
/// UMEM (registered with the first socket), the bound sockets in queue order, and the layout.
#[derive(Debug)]
pub struct AfXdpExport {
    pub layout: XskLayout,
    pub umem_memfd: OwnedFd,
    pub sockets: Vec<XskExport>,
}

impl AfXdpExport {
    /// The descriptors in the order [`AfXdpExport::from_fds`] takes them back: the memfd, then the
    /// sockets in queue order.
    pub fn fds(&self) -> Vec<BorrowedFd<'_>> {
        std::iter::once(self.umem_memfd.as_fd())
            .chain(self.sockets.iter().map(|s| s.socket.as_fd()))
            .collect()
    }

    /// Reassembles an export from the plain data and the descriptors received in
    /// [`AfXdpExport::fds`] order.
    pub fn from_fds(
        layout: XskLayout,
        queues: Vec<QueueSpec>,
        fds: Vec<OwnedFd>,
    ) -> Result<AfXdpExport, AfXdpError> {
        if fds.len() != queues.len() + 1 {
            return Err(AfXdpError::Config(format!(
                "{} descriptors for a UMEM and {} sockets",
                fds.len(),
                queues.len()
            )));
        }
        let mut fds = fds.into_iter();
        let umem_memfd = fds
            .next()
            .expect("checked: one descriptor more than queues");
        let sockets = queues
            .into_iter()
            .zip(fds)
            .map(|(queue, socket)| XskExport { queue, socket })
            .collect();
        Ok(AfXdpExport {
            layout,
            umem_memfd,
            sockets,
        })
    }
}

/// Does every privileged step of [`crate::open_thread`] for another process: a memfd UMEM
/// registered with the first socket (charged to this process), one socket per queue with its
/// rings sized and its options set, bound in `cfg.bind_mode` (with the `auto` fallback). Runs in
/// the calling thread's network namespace. The rings are not mapped here and this process keeps
/// no mapping of the UMEM; the caller still has to put each socket in its port's XSKMAP.
pub fn export_thread(
    cfg: &AfXdpConfig,
    queues: &[QueueSpec],
    batch_size: usize,
) -> Result<AfXdpExport, AfXdpError> {
    let layout = XskLayout::of(cfg);
    check_layout(&layout, queues, batch_size)?;
    by_bind_mode(cfg, |copying| {
        let umem = Umem::memfd(layout.umem_len())?;
        let region = layout.umem_region(umem.as_ptr(), umem.len());
        let mut sockets: Vec<XskExport> = Vec::with_capacity(queues.len());
        for q in queues {
            let umem_use = match sockets.first() {
                None => UmemUse::Register(region),
                Some(first) => UmemUse::Share {
                    first: first.socket.as_fd(),
                },
            };
            let place = Place {
                interface: &q.interface,
                queue: q.queue,
            };
            let socket = XskSocket::open_unmapped(cfg, place, copying, umem_use)?;
            sockets.push(XskExport {
                queue: q.clone(),
                socket,
            });
        }
        let umem_memfd = umem.into_memfd().expect("a memfd UMEM has its memfd");
        Ok(AfXdpExport {
            layout,
            umem_memfd,
            sockets,
        })
    })
}

/// Runs the data path on an export another process made: maps the UMEM memfd and each socket's
/// rings, and primes the fill rings. Needs no capability and charges nothing to this process's
/// RLIMIT_MEMLOCK. The sockets must already be in their ports' XSKMAPs (or be put there with the
/// descriptors [`XskSocketInfo::fd`] names) for frames to arrive.
pub fn adopt_thread(
    export: AfXdpExport,
    batch_size: usize,
) -> Result<(AfXdpThread, Vec<XskSocketInfo>), AfXdpError> {
    let layout = export.layout;
    let queues: Vec<QueueSpec> = export.sockets.iter().map(|s| s.queue.clone()).collect();
    check_layout(&layout, &queues, batch_size)?;
    let umem = Umem::adopt(export.umem_memfd, layout.umem_len())?;
    let fill_capacity = layout.fill_capacity(queues.len(), batch_size);
    let sockets = export
        .sockets
        .into_iter()
        .map(|s| {
            let place = Place {
                interface: &s.queue.interface,
                queue: s.queue.queue,
            };
            XskSocket::map(s.socket, layout.rings, fill_capacity, place)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(assemble(&layout, &queues, sockets, umem))
}
