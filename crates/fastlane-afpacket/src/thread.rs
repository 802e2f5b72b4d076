//! The packet I/O of one data-plane thread: one AF_PACKET socket per port queue it serves, each
//! with a TPACKET_V3 RX ring, batched sends, and the `ThreadIo` primitives over them.

use std::os::fd::{OwnedFd, RawFd};

use fastlane_core::config::AfPacketConfig;
use fastlane_core::{
    Batch, DropReason, PollSet, QueueCounters, QueueMap, QueueRef, QueueSpec, Slot, Split,
    ThreadIo, Unsent, Verdict,
};

use crate::error::AfPacketError;
use fastlane_sys::tpacket as sys;

use crate::port::AfPacketPort;
use crate::socket::{self, rx_reserve, QueueSocket};
use crate::stats::PacketStatsReader;

/// The smallest frame the kernel sends on an Ethernet device.
const ETH_HLEN: usize = 14;

/// The AF_PACKET packet I/O of one data-plane thread.
#[derive(Debug)]
pub struct AfPacketThread {
    sockets: Vec<QueueSocket>,
    queues: QueueMap,
    split: Split,
    /// For each socket, the frames staged to go at its next flush.
    tx_pending: Vec<Vec<sys::iovec>>,
    /// The messages of one `sendmmsg`, kept for their allocation.
    tx_messages: Vec<sys::mmsghdr>,
    poll: PollSet,
}

/// What one batched send did.
#[derive(Debug, Default, Clone, Copy)]
struct Sent {
    packets: u64,
    bytes: u64,
    /// Refused for want of room (the socket's send buffer is full, the device busy).
    no_room: u64,
    /// Refused as malformed (too long for the device, say).
    refused: u64,
}

// SAFETY: the raw pointers (ring mappings) refer to mappings this object owns; the object is used
// by one thread at a time (ThreadIo takes `&mut self`), and the kernel is the only other party
// to the shared memory, synchronised through the rings' status words. The iovecs and messages
// point into those mappings or the caller's frames only during one `complete` or
// `transmit_copies` call.
unsafe impl Send for AfPacketThread {}

fn check_config(
    cfg: &AfPacketConfig,
    queues: &[QueueSpec],
    batch_size: usize,
) -> Result<(), AfPacketError> {
    let page = 4096;
    let min_frame = libc::TPACKET3_HDRLEN as u32 + rx_reserve(cfg);
    let problem = if queues.is_empty() {
        "a thread needs at least one queue".to_string()
    } else if batch_size == 0 {
        "batch_size must be at least 1".to_string()
    } else if !cfg.block_size.is_power_of_two() || cfg.block_size < page {
        format!(
            "block_size {} must be a power of two of at least {page}",
            cfg.block_size
        )
    } else if cfg.block_count == 0 {
        "block_count must be at least 1".to_string()
    } else if !cfg.frame_size.is_multiple_of(sys::TPACKET_ALIGNMENT as u32)
        || cfg.frame_size < min_frame
        || cfg.frame_size > cfg.block_size
    {
        format!(
            "frame_size {} must be a multiple of {} between {min_frame} and block_size",
            cfg.frame_size,
            sys::TPACKET_ALIGNMENT
        )
    } else if (cfg.block_size as u64 * cfg.block_count as u64) > u32::MAX as u64 {
        "block_size * block_count must stay under 4 GiB".to_string()
    } else {
        return Ok(());
    };
    Err(AfPacketError::Config(problem))
}

/// Opens one socket per queue in `queues`, for one data-plane thread, and joins each to its
/// port's fanout group. `ports` are the ports the queues belong to (matched by interface).
/// Runs in the calling thread's network namespace. Frames are received from the moment a socket
/// is bound.
pub fn open_thread(
    cfg: &AfPacketConfig,
    ports: &[&AfPacketPort],
    queues: &[QueueSpec],
    batch_size: usize,
) -> Result<AfPacketThread, AfPacketError> {
    check_config(cfg, queues, batch_size)?;
    let mut sockets = Vec::with_capacity(queues.len());
    let mut split = Split::InKernel;
    for q in queues {
        let port = ports
            .iter()
            .find(|p| p.interface() == q.interface)
            .ok_or_else(|| {
                AfPacketError::Config(format!(
                    "queue {} of {}: no port was opened for that interface",
                    q.queue, q.interface
                ))
            })?;
        if port.split() == Split::Shared {
            split = Split::Shared;
        }
        sockets.push(socket::map(cfg, q, socket::create(cfg, port, q)?)?);
    }
    Ok(assemble(queues, sockets, split, batch_size))
}

/// Queue sockets of `port` for another process to adopt with [`adopt_thread`]: set up, bound and
/// in the port's fanout group, their rings requested but not mapped here. Needs CAP_NET_RAW; runs
/// in the calling thread's network namespace.
pub fn export_sockets(
    cfg: &AfPacketConfig,
    port: &AfPacketPort,
    queues: &[QueueSpec],
) -> Result<Vec<OwnedFd>, AfPacketError> {
    check_config(cfg, queues, 1)?;
    queues
        .iter()
        .map(|q| socket::create(cfg, port, q))
        .collect()
}

/// Runs the data path on queue sockets another process set up with [`export_sockets`] and the
/// same `cfg` (one per queue of `queues`, in order): maps their rings. `split` is the ports'
/// split, which the exporting process chose. Needs no capability.
pub fn adopt_thread(
    cfg: &AfPacketConfig,
    queues: &[QueueSpec],
    sockets: Vec<OwnedFd>,
    split: Split,
    batch_size: usize,
) -> Result<AfPacketThread, AfPacketError> {
    check_config(cfg, queues, batch_size)?;
    if sockets.len() != queues.len() {
        return Err(AfPacketError::Config(format!(
            "{} sockets for {} queues",
            sockets.len(),
            queues.len()
        )));
    }
    let sockets = queues
        .iter()
        .zip(sockets)
        .map(|(q, fd)| socket::map(cfg, q, fd))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(assemble(queues, sockets, split, batch_size))
}

/// The thread over `sockets`, one per queue of `queues`.
fn assemble(
    queues: &[QueueSpec],
    sockets: Vec<QueueSocket>,
    split: Split,
    batch_size: usize,
) -> AfPacketThread {
    let poll = PollSet::new(sockets.iter().map(|s| s.raw_fd));
    AfPacketThread {
        queues: QueueMap::new(queues),
        tx_pending: (0..sockets.len())
            .map(|_| Vec::with_capacity(batch_size))
            .collect(),
        tx_messages: Vec::with_capacity(batch_size),
        sockets,
        split,
        poll,
    }
}

impl AfPacketThread {
    /// The kernel's statistics of queue `source`'s socket, readable from any thread.
    pub fn stats_reader(&self, source: usize) -> PacketStatsReader {
        self.sockets[source].stats.clone()
    }

    /// Sends the frames pending on socket `target` with as few `sendmmsg` calls as it takes.
    /// The kernel copies each frame before the call returns, so the memory the iovecs point to
    /// may be reused right after.
    fn send_pending(&mut self, target: usize) -> Sent {
        let mut sent = Sent::default();
        let pending = &self.tx_pending[target];
        self.tx_messages.clear();
        self.tx_messages.extend(pending.iter().map(sys::message));
        let fd = self.sockets[target].raw_fd;
        let mut start = 0;
        while start < self.tx_messages.len() {
            let messages = &mut self.tx_messages[start..];
            // SAFETY: every message points to one iovec of `tx_pending[target]`, which point to
            // frames the caller keeps alive and unchanged for this call (`complete`'s RX blocks
            // are released only afterwards; `transmit_copies` borrows its frames).
            match unsafe { sys::sendmmsg(fd, messages) } {
                Ok(n) => {
                    for m in &messages[..n] {
                        sent.bytes += m.msg_len as u64;
                    }
                    sent.packets += n as u64;
                    start += n;
                }
                // No room: the rest waits for nothing, as a full TX ring would.
                Err(e) if matches!(e.errno, libc::EAGAIN | libc::ENOBUFS) => {
                    sent.no_room += (self.tx_messages.len() - start) as u64;
                    break;
                }
                // The first message was refused on its own merits: skip it.
                Err(e) if matches!(e.errno, libc::EMSGSIZE | libc::EINVAL) => {
                    sent.refused += 1;
                    start += 1;
                }
                Err(e) => {
                    let queue = self.queues.queues()[target];
                    log::warn!("AF_PACKET send (sendmmsg) on {queue:?}: {e}");
                    sent.no_room += (self.tx_messages.len() - start) as u64;
                    break;
                }
            }
        }
        self.tx_pending[target].clear();
        sent
    }
}

impl ThreadIo for AfPacketThread {
    fn queue_map(&self) -> &QueueMap {
        &self.queues
    }

    fn receive(&mut self, source: usize, batch: &mut Batch, counters: &QueueCounters) -> usize {
        let QueueRef { port, queue } = self.queues.queues()[source];
        let rx = &mut self.sockets[source].rx;
        let slots = batch.begin_fill(port, queue);
        let mut n = 0;
        let mut bytes = 0u64;
        while n < slots.len() {
            let Some(frame) = rx.next() else { break };
            let slot = &mut slots[n];
            // SAFETY: the frame lies in an RX ring block that user space owns until `complete`
            // releases it, after every slot of the batch is done; no other slot covers it.
            unsafe { slot.set(frame.buf, frame.buf_len, frame.offset, frame.len, 0) };
            if frame.truncated {
                slot.set_verdict(Verdict::Drop(DropReason::Malformed));
            }
            bytes += frame.len as u64;
            n += 1;
        }
        batch.set_len(n);
        if n > 0 {
            counters.rx_packets.add(n as u64);
            counters.rx_bytes.add(bytes);
            counters.rx_batches.add(1);
        }
        n
    }

    #[inline]
    fn stage(&mut self, target: usize, slot: &Slot) -> Result<(), DropReason> {
        let data = slot.data();
        if data.len() < ETH_HLEN {
            return Err(DropReason::Malformed);
        }
        // The kernel copies the frame out of the RX ring when it is sent, before
        // `finish_batch` hands the ring's blocks back.
        self.tx_pending[target].push(sys::iovec {
            iov_base: data.as_ptr().cast_mut().cast(),
            iov_len: data.len(),
        });
        Ok(())
    }

    /// The frame lives in an RX ring block, which `finish_batch` hands back whole.
    #[inline]
    fn release(&mut self, _slot: &Slot) {}

    fn flush(&mut self, target: usize, counters: &QueueCounters) -> Unsent {
        if self.tx_pending[target].is_empty() {
            return Unsent::default();
        }
        let sent = self.send_pending(target);
        counters.tx_packets.add(sent.packets);
        counters.tx_bytes.add(sent.bytes);
        Unsent {
            no_room: sent.no_room,
            refused: sent.refused,
        }
    }

    /// Every frame of the batch is sent (copied by the kernel) or dropped: its blocks can go
    /// back.
    fn finish_batch(&mut self, source: usize) {
        self.sockets[source].rx.release_held();
    }

    fn split(&self) -> Split {
        self.split
    }

    fn transmit_copies(
        &mut self,
        target: usize,
        frames: &[&[u8]],
        counters: &QueueCounters,
    ) -> usize {
        let pending = &mut self.tx_pending[target];
        pending.clear();
        pending.extend(
            frames
                .iter()
                .filter(|f| f.len() >= ETH_HLEN)
                .map(|f| sys::iovec {
                    iov_base: f.as_ptr().cast_mut().cast(),
                    iov_len: f.len(),
                }),
        );
        let too_short = (frames.len() - pending.len()) as u64;
        let sent = self.send_pending(target);
        counters.tx_packets.add(sent.packets);
        counters.tx_bytes.add(sent.bytes);
        counters.drop(DropReason::Malformed, too_short + sent.refused);
        counters.drop(DropReason::TxRingFull, sent.no_room);
        sent.packets as usize
    }

    fn idle(&mut self, also_wake_on: &[RawFd]) {
        if let Err(e) = self.poll.wait(also_wake_on, 100) {
            log::warn!("poll on AF_PACKET sockets: {e}");
        }
    }
}
