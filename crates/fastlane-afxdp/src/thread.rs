//! The packet I/O of one data-plane thread: one UMEM shared by every socket the thread serves, a
//! stack of free frames feeding the fill rings, and the `ThreadIo` primitives over them.

use std::os::fd::{AsFd, RawFd};

use fastlane_core::config::{AfXdpConfig, BindMode};
use fastlane_core::{
    Batch, DropReason, PollSet, PortId, QueueCounters, QueueMap, QueueRef, QueueSpec, Slot, Split,
    ThreadIo, Unsent,
};

use fastlane_sys::xsk::{self, xdp_desc};

use crate::error::AfXdpError;
use crate::export::XskLayout;
use crate::socket::{Copying, Place, UmemUse, XskSocket};
use crate::stats::XskStatsReader;
use crate::umem::Umem;

/// What the runtime needs to know about each socket `open_thread` opened, in the order of the
/// queues it was given.
#[derive(Debug)]
pub struct XskSocketInfo {
    pub port: PortId,
    pub queue: u16,
    /// The socket, for the XSKMAP of the port's XDP program. Valid while the thread object or
    /// `stats` lives.
    pub fd: RawFd,
    /// Whether the kernel bound the socket in zero-copy mode.
    pub zero_copy: bool,
    pub stats: XskStatsReader,
}

/// Where the thread's UMEM frames are, for checking that none is lost; see
/// [`AfXdpThread::frame_census`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameCensus {
    pub umem_frames: u32,
    /// On the thread's free stack.
    pub free: u32,
    /// Given to the kernel to receive into and not yet taken back from an RX ring (in fill
    /// rings, being received, or waiting in RX rings).
    pub receiving: u32,
    /// Submitted for transmission and not yet reaped from a completion ring.
    pub transmitting: u32,
}

impl FrameCensus {
    /// Frames the census found; equals `umem_frames` unless a frame leaked or was duplicated.
    pub fn accounted(&self) -> u32 {
        self.free + self.receiving + self.transmitting
    }
}

/// More queues than a [`QueueMap`] indexes.
const MAX_QUEUES: usize = u16::MAX as usize;

/// Sendto calls per TX kick at most: a copy-mode kick sends a bounded number of frames (a TX
/// ring's worth from Linux 6.17, see `XDP_MAX_TX_SKB_BUDGET`; 32 before) and answers EAGAIN
/// while more wait.
const MAX_KICKS: usize = 8;

/// Frames staged for transmission on one socket and not yet flushed.
#[derive(Debug, Default, Clone, Copy)]
struct TxPending {
    packets: u32,
    bytes: u64,
}

/// The AF_XDP packet I/O of one data-plane thread.
pub struct AfXdpThread {
    sockets: Vec<XskSocket>,
    queues: QueueMap,
    /// UMEM addresses (frame bases) of the frames the thread owns and has not given out.
    free: Vec<u64>,
    tx_pending: Vec<TxPending>,
    poll: PollSet,
    umem_base: *mut u8,
    frame_size: u32,
    frame_mask: u64,
    umem_frames: u32,
    need_wakeup: bool,
    busy_poll: bool,
    /// Declared last: the sockets' rings go before the memory they point into.
    _umem: Umem,
}

// SAFETY: the raw pointers (UMEM base, ring mappings) refer to mappings this object owns; the
// object is used by one thread at a time (ThreadIo takes `&mut self`), and the kernel is the only
// other party to the shared memory, synchronised through the rings' atomics.
unsafe impl Send for AfXdpThread {}

impl std::fmt::Debug for AfXdpThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AfXdpThread")
            .field("queues", &self.queues)
            .field("free_frames", &self.free.len())
            .field("umem_frames", &self.umem_frames)
            .field("frame_size", &self.frame_size)
            .finish_non_exhaustive()
    }
}

/// Opens one AF_XDP socket per queue in `queues` around one UMEM, for one data-plane thread.
/// Runs in the calling thread's network namespace. The sockets' fill rings are primed, so frames
/// are received as soon as an XDP program redirects them to the sockets.
pub fn open_thread(
    cfg: &AfXdpConfig,
    queues: &[QueueSpec],
    batch_size: usize,
) -> Result<(AfXdpThread, Vec<XskSocketInfo>), AfXdpError> {
    by_bind_mode(cfg, |copying| open_with(cfg, queues, batch_size, copying))
}

/// Runs `open` in the copying mode `cfg.bind_mode` asks for; for `auto`, in copy mode once
/// zero-copy was refused.
pub(crate) fn by_bind_mode<T>(
    cfg: &AfXdpConfig,
    open: impl Fn(Copying) -> Result<T, AfXdpError>,
) -> Result<T, AfXdpError> {
    match cfg.bind_mode {
        BindMode::Copy => open(Copying::Copy),
        BindMode::ZeroCopy => open(Copying::ZeroCopy),
        BindMode::Auto => match open(Copying::ZeroCopy) {
            Err(e) if e.is_zero_copy_refused() => {
                log::info!("AF_XDP zero-copy unavailable ({e}); using copy mode");
                open(Copying::Copy)
            }
            other => other,
        },
    }
}

fn open_with(
    cfg: &AfXdpConfig,
    queues: &[QueueSpec],
    batch_size: usize,
    copying: Copying,
) -> Result<(AfXdpThread, Vec<XskSocketInfo>), AfXdpError> {
    let layout = XskLayout::of(cfg);
    check_layout(&layout, queues, batch_size)?;
    let umem = Umem::anonymous(layout.umem_len())?;
    let region = layout.umem_region(umem.as_ptr(), umem.len());
    let fill_capacity = layout.fill_capacity(queues.len(), batch_size);
    let mut sockets: Vec<XskSocket> = Vec::with_capacity(queues.len());
    for q in queues {
        let first = sockets.first().map(|s| s.fd.clone());
        let umem_use = match &first {
            None => UmemUse::Register(region),
            Some(first) => UmemUse::Share {
                first: first.as_fd(),
            },
        };
        let place = Place {
            interface: &q.interface,
            queue: q.queue,
        };
        sockets.push(XskSocket::open(
            cfg,
            place,
            copying,
            umem_use,
            fill_capacity,
        )?);
    }
    Ok(assemble(&layout, queues, sockets, umem))
}

/// The thread over `sockets` (one per queue of `queues`, bound, rings mapped) and `umem`, with
/// the fill rings primed.
pub(crate) fn assemble(
    layout: &XskLayout,
    queues: &[QueueSpec],
    sockets: Vec<XskSocket>,
    umem: Umem,
) -> (AfXdpThread, Vec<XskSocketInfo>) {
    let infos = queues
        .iter()
        .zip(&sockets)
        .map(|(q, s)| XskSocketInfo {
            port: q.port,
            queue: q.queue,
            fd: s.raw_fd,
            zero_copy: s.zero_copy,
            stats: XskStatsReader::new(s.fd.clone()),
        })
        .collect();
    let poll = PollSet::new(sockets.iter().map(|s| s.raw_fd));
    let frame_size = layout.frame_size;
    let mut thread = AfXdpThread {
        queues: QueueMap::new(queues),
        free: (0..layout.umem_frames as u64)
            .rev()
            .map(|i| i * frame_size as u64)
            .collect(),
        tx_pending: vec![TxPending::default(); sockets.len()],
        poll,
        umem_base: umem.as_ptr(),
        frame_size,
        frame_mask: !(frame_size as u64 - 1),
        umem_frames: layout.umem_frames,
        need_wakeup: layout.need_wakeup,
        busy_poll: layout.busy_poll,
        sockets,
        _umem: umem,
    };
    for i in 0..thread.sockets.len() {
        thread.refill(i);
    }
    (thread, infos)
}

pub(crate) fn check_layout(
    layout: &XskLayout,
    queues: &[QueueSpec],
    batch_size: usize,
) -> Result<(), AfXdpError> {
    let problem = if queues.is_empty() {
        "a thread needs at least one queue".to_string()
    } else if queues.len() > MAX_QUEUES {
        format!("{} queues on one thread", queues.len())
    } else if !layout.frame_size.is_power_of_two() || layout.frame_size < 2048 {
        format!(
            "frame_size {} is not a power of two >= 2048",
            layout.frame_size
        )
    } else if layout.umem_frames < queues.len() as u32 {
        format!(
            "umem_frames {} is fewer than the thread's {} queues",
            layout.umem_frames,
            queues.len()
        )
    } else if layout.frame_headroom > layout.frame_size / 2 {
        format!(
            "frame_headroom {} leaves too little of a {}-byte frame",
            layout.frame_headroom, layout.frame_size
        )
    } else if batch_size == 0 || batch_size > layout.rings.rx as usize {
        format!(
            "batch size {batch_size} is not within 1..=rx_ring_size ({})",
            layout.rings.rx
        )
    } else if (layout.umem_frames as usize)
        .checked_mul(layout.frame_size as usize)
        .is_none()
    {
        "umem_frames * frame_size overflows".to_string()
    } else {
        return Ok(());
    };
    Err(AfXdpError::Config(problem))
}

impl AfXdpThread {
    /// Where the UMEM frames are, from the rings' running indices: per socket, frames published
    /// to the fill ring minus RX descriptors taken, and TX descriptors published minus
    /// completions reaped.
    pub fn frame_census(&self) -> FrameCensus {
        let mut census = FrameCensus {
            umem_frames: self.umem_frames,
            free: self.free.len() as u32,
            ..FrameCensus::default()
        };
        for s in &self.sockets {
            census.receiving += s.fill.published().wrapping_sub(s.rx.consumed());
            census.transmitting += s.tx.published().wrapping_sub(s.completion.consumed());
        }
        census
    }

    /// Moves free frames into socket `i`'s fill ring, as many as it takes.
    #[inline]
    fn refill(&mut self, i: usize) {
        let fill = &mut self.sockets[i].fill;
        let n = fill.free(self.free.len() as u32);
        if n == 0 {
            return;
        }
        let start = self.free.len() - n as usize;
        for (k, &addr) in self.free[start..].iter().enumerate() {
            fill.write(k as u32, addr);
        }
        self.free.truncate(start);
        fill.publish(n);
    }

    /// Moves the frames socket `i` has finished sending back onto the free stack.
    #[inline]
    fn reap(&mut self, i: usize) {
        let completion = &mut self.sockets[i].completion;
        let n = completion.available(u32::MAX);
        if n == 0 {
            return;
        }
        for k in 0..n {
            self.free.push(completion.read(k) & self.frame_mask);
        }
        completion.release(n);
    }

    /// Asks the kernel to send what socket `i`'s TX ring holds, if it needs asking.
    fn kick_tx(&mut self, i: usize) {
        for _ in 0..MAX_KICKS {
            let socket = &self.sockets[i];
            if self.need_wakeup && !socket.tx.needs_wakeup() {
                return;
            }
            match xsk::kick_tx(socket.fd.as_fd()) {
                Ok(()) => return,
                // More frames wait, or the completion ring is full: make room and go on.
                Err(e) if e.is(libc::EAGAIN) => self.reap(i),
                Err(e) => {
                    if !matches!(e.errno, libc::EBUSY | libc::ENOBUFS | libc::ENETDOWN) {
                        let queue = self.queues.queues()[i];
                        log::warn!("AF_XDP TX wake-up (sendto) on {queue:?}: {e}");
                    }
                    return;
                }
            }
        }
    }
}

impl ThreadIo for AfXdpThread {
    fn queue_map(&self) -> &QueueMap {
        &self.queues
    }

    fn receive(&mut self, source: usize, batch: &mut Batch, counters: &QueueCounters) -> usize {
        self.refill(source);
        let QueueRef { port, queue } = self.queues.queues()[source];
        let rx = &mut self.sockets[source].rx;
        let slots = batch.begin_fill(port, queue);
        let n = rx.available(slots.len() as u32);
        let mut bytes = 0u64;
        for (k, slot) in slots[..n as usize].iter_mut().enumerate() {
            let desc: xdp_desc = rx.read(k as u32);
            let base = desc.addr & self.frame_mask;
            // The kernel places a frame within the chunk it took from the fill ring (aligned
            // mode), so offset + len stays within frame_size.
            let offset = (desc.addr - base) as u32;
            // SAFETY: `base` is the start of a UMEM frame (the kernel only returns addresses of
            // frames we gave it), the frame is ours until `complete` hands it back, and the
            // kernel keeps the packet within it.
            unsafe {
                slot.set(
                    self.umem_base.add(base as usize),
                    self.frame_size,
                    offset,
                    desc.len,
                    base,
                )
            };
            bytes += desc.len as u64;
        }
        rx.release(n);
        batch.set_len(n as usize);
        if n > 0 {
            counters.rx_packets.add(n as u64);
            counters.rx_bytes.add(bytes);
            counters.rx_batches.add(1);
        }
        n as usize
    }

    #[inline]
    fn stage(&mut self, target: usize, slot: &Slot) -> Result<(), DropReason> {
        let pending = &mut self.tx_pending[target];
        let tx = &mut self.sockets[target].tx;
        if tx.free(pending.packets + 1) <= pending.packets {
            return Err(DropReason::TxRingFull);
        }
        // The frame stays where it was received: the descriptor points into the shared UMEM.
        tx.write(
            pending.packets,
            xdp_desc {
                addr: slot.handle() + slot.offset() as u64,
                len: slot.len(),
                options: 0,
            },
        );
        pending.packets += 1;
        pending.bytes += slot.len() as u64;
        Ok(())
    }

    #[inline]
    fn release(&mut self, slot: &Slot) {
        self.free.push(slot.handle());
    }

    fn flush(&mut self, target: usize, counters: &QueueCounters) -> Unsent {
        let TxPending { packets, bytes } = std::mem::take(&mut self.tx_pending[target]);
        if packets > 0 {
            self.sockets[target].tx.publish(packets);
            counters.tx_packets.add(packets as u64);
            counters.tx_bytes.add(bytes);
            self.kick_tx(target);
            self.reap(target);
        }
        // `stage` took only what the ring had room for.
        Unsent::default()
    }

    /// Received frames are handed back one by one; the batch holds no other memory.
    fn finish_batch(&mut self, _source: usize) {}

    fn split(&self) -> Split {
        // The XDP program passes slow-path frames to the kernel before they reach a socket.
        Split::InKernel
    }

    /// Copies each frame into a free UMEM frame and queues it on socket `target`'s TX ring, in
    /// order, while ring space lasts.
    fn transmit_copies(
        &mut self,
        target: usize,
        frames: &[&[u8]],
        counters: &QueueCounters,
    ) -> usize {
        if self.free.len() < frames.len() {
            self.reap(target);
        }
        let tx = &mut self.sockets[target].tx;
        let room = tx.free(frames.len().min(u32::MAX as usize) as u32);
        let mut queued = 0u32;
        let mut bytes = 0u64;
        let (mut no_buffer, mut no_room) = (0u64, 0u64);
        for frame in frames {
            if frame.len() > self.frame_size as usize {
                no_buffer += 1;
                continue;
            }
            if queued == room {
                no_room += 1;
                continue;
            }
            let Some(base) = self.free.pop() else {
                no_buffer += 1;
                continue;
            };
            // SAFETY: `base` is a free UMEM frame, owned by nobody else until the kernel takes
            // it from the TX ring, and the frame fits in its frame_size bytes.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    frame.as_ptr(),
                    self.umem_base.add(base as usize),
                    frame.len(),
                )
            };
            tx.write(
                queued,
                xdp_desc {
                    addr: base,
                    len: frame.len() as u32,
                    options: 0,
                },
            );
            queued += 1;
            bytes += frame.len() as u64;
        }
        counters.drop(DropReason::NoBuffer, no_buffer);
        counters.drop(DropReason::TxRingFull, no_room);
        if queued > 0 {
            tx.publish(queued);
            counters.tx_packets.add(queued as u64);
            counters.tx_bytes.add(bytes);
            self.kick_tx(target);
            self.reap(target);
        }
        queued as usize
    }

    fn idle(&mut self, also_wake_on: &[RawFd]) {
        for i in 0..self.sockets.len() {
            self.reap(i);
            self.refill(i);
            if self.sockets[i].tx.outstanding() > 0 {
                self.kick_tx(i);
            }
        }
        if self.busy_poll {
            for socket in &self.sockets {
                // Drives the device's NAPI from this thread; errors only mean nothing to do.
                let _ = xsk::kick_rx(socket.fd.as_fd());
            }
            return;
        }
        for socket in &self.sockets {
            if self.need_wakeup && socket.fill.needs_wakeup() {
                let _ = xsk::kick_rx(socket.fd.as_fd());
            }
        }
        if let Err(e) = self.poll.wait(also_wake_on, 100) {
            log::warn!("poll on AF_XDP sockets: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(interface: &str) -> QueueSpec {
        QueueSpec {
            port: 0,
            interface: interface.to_string(),
            queue: 0,
        }
    }

    fn config_error(cfg: &AfXdpConfig, queues: &[QueueSpec], batch: usize) -> String {
        match open_thread(cfg, queues, batch) {
            Err(AfXdpError::Config(text)) => text,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn impossible_configs_are_refused_before_any_syscall() {
        let cfg = AfXdpConfig::default();
        assert!(config_error(&cfg, &[], 64).contains("at least one queue"));
        assert!(config_error(&cfg, &[queue("lo")], 0).contains("batch size 0"));
        assert!(config_error(&cfg, &[queue("lo")], 4096).contains("rx_ring_size"));
        let odd = AfXdpConfig {
            frame_size: 3000,
            ..AfXdpConfig::default()
        };
        assert!(config_error(&odd, &[queue("lo")], 64).contains("frame_size 3000"));
        let tiny = AfXdpConfig {
            umem_frames: 1,
            ..AfXdpConfig::default()
        };
        let two = [queue("lo"), queue("lo")];
        assert!(config_error(&tiny, &two, 64).contains("fewer than"));
    }

    #[test]
    fn a_missing_interface_is_named() {
        let cfg = AfXdpConfig {
            umem_frames: 64,
            ..AfXdpConfig::default()
        };
        let err = open_thread(&cfg, &[queue("fla-nonexistent")], 64).unwrap_err();
        assert!(matches!(err, AfXdpError::NoSuchInterface { .. }), "{err:?}");
        assert!(err.to_string().contains("fla-nonexistent"), "{err}");
    }
}
