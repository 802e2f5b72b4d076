//! The packet I/O of one data-plane thread: one AF_PACKET socket per port queue it serves, each
//! with a TPACKET_V3 RX ring, batched sends, and the `ThreadIo` receive/complete/idle cycle.

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use fastlane_core::config::{AfPacketConfig, FanoutMode};
use fastlane_core::{
    Batch, DropReason, PollSet, PortId, QueueCounters, QueueRef, Split, ThreadIo, Verdict,
};

use crate::error::AfPacketError;
use crate::port::AfPacketPort;
use crate::ring::RxRing;
use crate::stats::PacketStatsReader;
use crate::sys;

/// A port queue for a thread to serve: queue `queue` of `interface`, which is port `port`. The
/// queue is a member of the port's fanout group, not a hardware queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketQueue {
    pub port: PortId,
    pub interface: String,
    pub queue: u16,
}

/// Headroom a frame has in the ring without any PACKET_RESERVE: the TPACKET_V3 header and the
/// alignment in front of the frame, on an Ethernet device.
const RING_HEADROOM: u32 = 82;

/// PACKET_RESERVE for `headroom` bytes in front of each received frame.
fn rx_reserve(cfg: &AfPacketConfig) -> u32 {
    cfg.headroom.saturating_sub(RING_HEADROOM)
}

/// The smallest frame the kernel sends on an Ethernet device.
const ETH_HLEN: usize = 14;

/// No socket of the thread serves this port.
const NO_SOCKET: u16 = u16::MAX;

#[derive(Debug)]
struct QueueSocket {
    rx: RxRing,
    raw_fd: RawFd,
    stats: PacketStatsReader,
    /// Declared after the ring, which points into it.
    _ring: sys::Mmap,
    /// Declared last: the mapping goes before the socket.
    _fd: Arc<OwnedFd>,
}

/// The AF_PACKET packet I/O of one data-plane thread.
#[derive(Debug)]
pub struct AfPacketThread {
    sockets: Vec<QueueSocket>,
    queues: Vec<QueueRef>,
    /// For each port id, the index of the first socket on that port, or `NO_SOCKET`.
    port_socket: Vec<u16>,
    split: Split,
    /// For each socket, the frames to send at the end of `complete`.
    tx_pending: Vec<Vec<sys::iovec>>,
    /// Sockets with frames in `tx_pending`, in first-touched order.
    tx_touched: Vec<usize>,
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
    queues: &[PacketQueue],
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

fn fanout_mode(mode: FanoutMode) -> u32 {
    match mode {
        FanoutMode::Hash => sys::PACKET_FANOUT_HASH,
        FanoutMode::Cpu => sys::PACKET_FANOUT_CPU,
        FanoutMode::LoadBalance => sys::PACKET_FANOUT_LB,
        FanoutMode::QueueMapping => sys::PACKET_FANOUT_QM,
    }
}

/// Opens one socket per queue in `queues`, for one data-plane thread, and joins each to its
/// port's fanout group. `ports` are the ports the queues belong to (matched by interface).
/// Runs in the calling thread's network namespace. Frames are received from the moment a socket
/// is bound.
pub fn open_thread(
    cfg: &AfPacketConfig,
    ports: &[&AfPacketPort],
    queues: &[PacketQueue],
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
        sockets.push(open_socket(cfg, port, q)?);
    }
    let max_port = queues.iter().map(|q| q.port as usize).max().unwrap_or(0);
    let mut port_socket = vec![NO_SOCKET; max_port + 1];
    for (i, q) in queues.iter().enumerate().rev() {
        port_socket[q.port as usize] = i as u16;
    }
    let poll = PollSet::new(sockets.iter().map(|s| s.raw_fd));
    Ok(AfPacketThread {
        queues: queues
            .iter()
            .map(|q| QueueRef {
                port: q.port,
                queue: q.queue,
            })
            .collect(),
        tx_pending: (0..sockets.len())
            .map(|_| Vec::with_capacity(batch_size))
            .collect(),
        tx_touched: Vec::with_capacity(sockets.len()),
        tx_messages: Vec::with_capacity(batch_size),
        sockets,
        port_socket,
        split,
        poll,
    })
}

fn open_socket(
    cfg: &AfPacketConfig,
    port: &AfPacketPort,
    q: &PacketQueue,
) -> Result<QueueSocket, AfPacketError> {
    let failed = |operation: &'static str| {
        move |source| AfPacketError::Socket {
            interface: q.interface.clone(),
            queue: q.queue,
            operation,
            source,
        }
    };
    let fd = sys::packet_socket().map_err(failed("socket(AF_PACKET, SOCK_RAW)"))?;
    let sock = fd.as_fd();
    let set = |name, value: &libc::c_int, operation| {
        sys::setsockopt(sock, sys::SOL_PACKET, name, value).map_err(failed(operation))
    };
    set(
        sys::PACKET_VERSION,
        &sys::TPACKET_V3,
        "setsockopt(PACKET_VERSION, TPACKET_V3)",
    )?;
    set(
        sys::PACKET_RESERVE,
        &(rx_reserve(cfg) as libc::c_int),
        "setsockopt(PACKET_RESERVE)",
    )?;

    let frames_per_block = cfg.block_size / cfg.frame_size;
    let rx = sys::tpacket_req3 {
        tp_block_size: cfg.block_size,
        tp_block_nr: cfg.block_count,
        tp_frame_size: cfg.frame_size,
        tp_frame_nr: frames_per_block * cfg.block_count,
        tp_retire_blk_tov: cfg.block_timeout_ms,
        tp_sizeof_priv: 0,
        tp_feature_req_word: 0,
    };
    sys::setsockopt(sock, sys::SOL_PACKET, sys::PACKET_RX_RING, &rx)
        .map_err(failed("setsockopt(PACKET_RX_RING)"))?;
    let rx_len = cfg.block_size as usize * cfg.block_count as usize;
    let ring = sys::Mmap::rings(sock, rx_len).map_err(failed("mmap of the RX ring"))?;
    // SAFETY: the mapping is the RX ring of these sizes, and lives as long as the ring object
    // (same QueueSocket, declared after it).
    let rx_ring = unsafe { RxRing::new(ring.as_ptr(), cfg.block_size as usize, cfg.block_count) };

    if let Some(filter) = port.socket_filter() {
        let program = filter.fd().map_err(|source| AfPacketError::Program {
            interface: q.interface.clone(),
            source,
        })?;
        sys::setsockopt(
            sock,
            sys::SOL_SOCKET,
            sys::SO_ATTACH_BPF,
            &program.as_raw_fd(),
        )
        .map_err(failed("setsockopt(SO_ATTACH_BPF)"))?;
    }
    set(
        sys::PACKET_IGNORE_OUTGOING,
        &1,
        "setsockopt(PACKET_IGNORE_OUTGOING)",
    )?;
    sys::bind_all_protocols(sock, port.ifindex()).map_err(failed("bind(ETH_P_ALL)"))?;
    if !port.single_queue {
        join_fanout(cfg, port, sock).map_err(failed("setsockopt(PACKET_FANOUT)"))?;
    }

    let raw_fd = fd.as_raw_fd();
    let fd = Arc::new(fd);
    Ok(QueueSocket {
        rx: rx_ring,
        raw_fd,
        stats: PacketStatsReader::new(fd.clone()),
        _ring: ring,
        _fd: fd,
    })
}

/// Joins the port's fanout group, creating it with a kernel-chosen unique id on first use. The
/// group, not the socket, decides whether outgoing frames are seen, hence its own flag.
fn join_fanout(
    cfg: &AfPacketConfig,
    port: &AfPacketPort,
    sock: std::os::fd::BorrowedFd<'_>,
) -> std::io::Result<()> {
    let mode = fanout_mode(cfg.fanout) | sys::PACKET_FANOUT_FLAG_IGNORE_OUTGOING;
    let mut group = port.fanout_group.lock().unwrap_or_else(|e| e.into_inner());
    match *group {
        Some(id) => {
            let arg = id as u32 | mode << 16;
            sys::setsockopt(sock, sys::SOL_PACKET, sys::PACKET_FANOUT, &arg)
        }
        None => {
            let arg = (mode | sys::PACKET_FANOUT_FLAG_UNIQUEID) << 16;
            sys::setsockopt(sock, sys::SOL_PACKET, sys::PACKET_FANOUT, &arg)?;
            *group = Some(sys::fanout(sock)? as u16);
            Ok(())
        }
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
                Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::ENOBUFS)) => {
                    sent.no_room += (self.tx_messages.len() - start) as u64;
                    break;
                }
                // The first message was refused on its own merits: skip it.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMSGSIZE | libc::EINVAL)) => {
                    sent.refused += 1;
                    start += 1;
                }
                Err(e) => {
                    log::warn!(
                        "AF_PACKET send (sendmmsg) on {:?}: {e}",
                        self.queues[target]
                    );
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
    fn queues(&self) -> &[QueueRef] {
        &self.queues
    }

    fn receive(&mut self, source: usize, batch: &mut Batch, counters: &QueueCounters) -> usize {
        let QueueRef { port, queue } = self.queues[source];
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

    fn complete(&mut self, source: usize, batch: &mut Batch, counters: &[QueueCounters]) {
        let mut dropped = [0u64; DropReason::COUNT];
        for slot in batch.slots() {
            let target = match slot.verdict() {
                Verdict::Transmit => source,
                Verdict::TransmitOn(port) => match self.port_socket.get(port as usize) {
                    Some(&i) if i != NO_SOCKET => i as usize,
                    _ => {
                        dropped[DropReason::NoSuchPort as usize] += 1;
                        continue;
                    }
                },
                // The kernel has its own copy of the frame (or the runtime gave it one).
                Verdict::Kernel | Verdict::Taken => continue,
                Verdict::Drop(reason) => {
                    dropped[reason as usize] += 1;
                    continue;
                }
                Verdict::Pending => {
                    dropped[DropReason::NoVerdict as usize] += 1;
                    continue;
                }
            };
            let data = slot.data();
            if data.len() < ETH_HLEN {
                dropped[DropReason::Malformed as usize] += 1;
                continue;
            }
            let pending = &mut self.tx_pending[target];
            if pending.is_empty() {
                self.tx_touched.push(target);
            }
            pending.push(sys::iovec {
                iov_base: data.as_ptr().cast_mut().cast(),
                iov_len: data.len(),
            });
        }
        batch.set_len(0);

        for k in 0..self.tx_touched.len() {
            let target = self.tx_touched[k];
            let sent = self.send_pending(target);
            counters[target].tx_packets.add(sent.packets);
            counters[target].tx_bytes.add(sent.bytes);
            dropped[DropReason::TxRingFull as usize] += sent.no_room;
            dropped[DropReason::Malformed as usize] += sent.refused;
        }
        self.tx_touched.clear();
        // Every frame of the batch is sent (copied by the kernel) or dropped: its blocks can go
        // back.
        self.sockets[source].rx.release_held();
        for (reason, &n) in DropReason::ALL.iter().zip(&dropped) {
            if n > 0 {
                counters[source].drop(*reason, n);
            }
        }
    }

    fn split(&self) -> Split {
        self.split
    }

    fn transmit_copies(
        &mut self,
        source: usize,
        frames: &[&[u8]],
        counters: &QueueCounters,
    ) -> usize {
        let pending = &mut self.tx_pending[source];
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
        let sent = self.send_pending(source);
        counters.tx_packets.add(sent.packets);
        counters.tx_bytes.add(sent.bytes);
        sent.packets as usize
    }

    fn idle(&mut self, also_wake_on: &[RawFd]) {
        if let Err(e) = self.poll.wait(also_wake_on, 100) {
            log::warn!("poll on AF_PACKET sockets: {e}");
        }
    }
}
