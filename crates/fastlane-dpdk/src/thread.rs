//! One data-plane thread's packet I/O over DPDK queues.

use std::sync::Arc;
use std::thread::ThreadId;

use fastlane_core::io::Split;
use fastlane_core::{
    Batch, DropReason, QueueCounters, QueueMap, QueueRef, QueueSpec, Slot, ThreadIo, Unsent,
};

use crate::dpdk::Shared;
use crate::sys::rte_mbuf;

/// The DPDK queues one data-plane thread serves. Built on a setup thread, then moved to the
/// data-plane thread; its first call there registers that thread with DPDK, so that it has an
/// lcore id (and so a mempool cache).
#[derive(Debug)]
pub struct DpdkThread {
    shared: Arc<Shared>,
    queues: QueueMap,
    /// The ethdev port id and queue of each entry of `queues`.
    ethdev: Vec<(u16, u16)>,
    /// Receive scratch, `batch_size` long.
    rx: Vec<*mut rte_mbuf>,
    /// Mbufs staged for transmission, per entry of `queues`.
    tx: Vec<Vec<*mut rte_mbuf>>,
    /// Mbufs to hand back to the pool.
    free: Vec<*mut rte_mbuf>,
    registered: Option<ThreadId>,
}

// SAFETY: the mbuf pointers are buffers this thread alone owns until it hands them to DPDK, and
// its queues are used by no other thread; moving it moves that ownership along.
unsafe impl Send for DpdkThread {}

impl DpdkThread {
    pub(crate) fn new(shared: Arc<Shared>, queues: &[QueueSpec], batch_size: usize) -> DpdkThread {
        let ethdev = queues
            .iter()
            .map(|q| (shared.ports[q.port as usize].ethdev, q.queue))
            .collect();
        DpdkThread {
            queues: QueueMap::new(queues),
            ethdev,
            rx: vec![std::ptr::null_mut(); batch_size],
            tx: queues
                .iter()
                .map(|_| Vec::with_capacity(batch_size))
                .collect(),
            free: Vec::with_capacity(batch_size),
            registered: None,
            shared,
        }
    }

    /// Registers the calling thread with DPDK the first time it uses this queue set.
    #[inline]
    fn register(&mut self) {
        if self.registered.is_some() {
            return;
        }
        self.registered = Some(std::thread::current().id());
        // SAFETY: registers the calling thread; undone in Drop on the same thread.
        if unsafe { (self.shared.shim.thread_register)() } != 0 {
            let (_, text) = self.shared.shim.last_error();
            log::warn!("rte_thread_register: {text}; the mbuf pool is used without a cache");
        }
    }

    /// Hands every mbuf in `free` back to its pool.
    fn release(&mut self) {
        if !self.free.is_empty() {
            // SAFETY: every pointer in `free` is an mbuf this thread owns and no longer uses.
            unsafe { (self.shared.shim.free_bulk)(self.free.as_mut_ptr(), self.free.len() as u32) };
            self.free.clear();
        }
    }
}

impl ThreadIo for DpdkThread {
    fn queue_map(&self) -> &QueueMap {
        &self.queues
    }

    fn receive(&mut self, source: usize, batch: &mut Batch, counters: &QueueCounters) -> usize {
        self.register();
        let QueueRef { port, queue } = self.queues.queues()[source];
        let (ethdev, ethdev_queue) = self.ethdev[source];
        let slots = batch.begin_fill(port, queue);
        let want = slots.len().min(self.rx.len()) as u16;
        // SAFETY: `rx` has room for `want` pointers; this thread alone serves the queue.
        let n = unsafe {
            (self.shared.shim.rx_burst)(ethdev, ethdev_queue, self.rx.as_mut_ptr(), want)
        } as usize;
        let mut filled = 0;
        let mut bytes = 0u64;
        for &m in &self.rx[..n] {
            // SAFETY: the driver handed us `m`, a valid mbuf we now own.
            let mbuf = unsafe { &*m };
            bytes += mbuf.pkt_len as u64;
            if mbuf.nb_segs != 1 {
                // Processors see one contiguous buffer; a chained frame cannot be one.
                self.free.push(m);
                continue;
            }
            // SAFETY: the mbuf's data buffer is `buf_len` bytes at `buf_addr`, ours until
            // `complete` hands it on, and the driver keeps data_off + data_len within it.
            unsafe {
                slots[filled].set(
                    mbuf.buf_addr.cast(),
                    mbuf.buf_len as u32,
                    mbuf.data_off as u32,
                    mbuf.data_len as u32,
                    m as u64,
                )
            };
            filled += 1;
        }
        batch.set_len(filled);
        if n > 0 {
            counters.rx_packets.add(n as u64);
            counters.rx_bytes.add(bytes);
            counters.rx_batches.add(1);
        }
        if !self.free.is_empty() {
            counters.drop(DropReason::Malformed, self.free.len() as u64);
            self.release();
        }
        filled
    }

    #[inline]
    fn stage(&mut self, target: usize, slot: &Slot) -> Result<(), DropReason> {
        let m = slot.handle() as *mut rte_mbuf;
        // SAFETY: `m` is the single-segment mbuf behind the slot, still ours; processors
        // kept offset + len within its buffer (buf_len < 64 KiB, so both fit in u16).
        unsafe {
            (*m).data_off = slot.offset() as u16;
            (*m).data_len = slot.len() as u16;
            (*m).pkt_len = slot.len();
        }
        self.tx[target].push(m);
        Ok(())
    }

    #[inline]
    fn release(&mut self, slot: &Slot) {
        self.free.push(slot.handle() as *mut rte_mbuf);
    }

    fn flush(&mut self, target: usize, counters: &QueueCounters) -> Unsent {
        let mbufs = &mut self.tx[target];
        if mbufs.is_empty() {
            return Unsent::default();
        }
        let (ethdev, queue) = self.ethdev[target];
        // SAFETY: the mbufs are ours until tx_burst takes them.
        let total: u64 = mbufs.iter().map(|&m| unsafe { (*m).pkt_len } as u64).sum();
        // SAFETY: `mbufs` holds that many valid mbufs; this thread alone serves the queue.
        let sent = unsafe {
            (self.shared.shim.tx_burst)(ethdev, queue, mbufs.as_mut_ptr(), mbufs.len() as u16)
        } as usize;
        // SAFETY: the driver did not take the unsent ones; they are still ours.
        let unsent: u64 = mbufs[sent..]
            .iter()
            .map(|&m| unsafe { (*m).pkt_len } as u64)
            .sum();
        counters.tx_packets.add(sent as u64);
        counters.tx_bytes.add(total - unsent);
        let no_room = (mbufs.len() - sent) as u64;
        self.free.extend_from_slice(&mbufs[sent..]);
        mbufs.clear();
        Unsent {
            no_room,
            refused: 0,
        }
    }

    /// Hands the mbufs released or left unsent back to the pool, in one call.
    fn finish_batch(&mut self, _source: usize) {
        self.release();
    }

    /// DPDK takes the whole port: the runtime hands slow-path packets to the kernel through a TAP.
    fn split(&self) -> Split {
        Split::ViaTap
    }

    fn transmit_copies(
        &mut self,
        target: usize,
        frames: &[&[u8]],
        counters: &QueueCounters,
    ) -> usize {
        self.register();
        let (ethdev, queue) = self.ethdev[target];
        let shim = self.shared.shim;
        let mut queued = 0;
        let (mut no_buffer, mut no_room) = (0u64, 0u64);
        // The frames after an empty pool or a full ring are not tried, and count as such.
        let mut untried_reason = DropReason::TxRingFull;
        let mut chunks = frames.chunks(self.rx.len());
        for chunk in chunks.by_ref() {
            let mbufs = &mut self.rx[..chunk.len()];
            // SAFETY: `mbufs` has room for chunk.len() pointers.
            let rc = unsafe {
                (shim.alloc_bulk)(self.shared.pool, mbufs.as_mut_ptr(), chunk.len() as u32)
            };
            if rc != 0 {
                no_buffer += chunk.len() as u64;
                untried_reason = DropReason::NoBuffer;
                break;
            }
            let mut ready = 0;
            let mut bytes = 0u64;
            for (i, frame) in chunk.iter().enumerate() {
                let m = mbufs[i];
                // SAFETY: a freshly allocated, reset mbuf that we own.
                let mbuf = unsafe { &mut *m };
                let room = mbuf.buf_len as usize - mbuf.data_off as usize;
                if frame.len() > room {
                    no_buffer += 1;
                    self.free.push(m);
                    continue;
                }
                // SAFETY: the data area from data_off has `room` >= frame.len() bytes, and the
                // mbuf is not shared.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        frame.as_ptr(),
                        mbuf.buf_addr.cast::<u8>().add(mbuf.data_off as usize),
                        frame.len(),
                    )
                };
                mbuf.data_len = frame.len() as u16;
                mbuf.pkt_len = frame.len() as u32;
                bytes += frame.len() as u64;
                mbufs[ready] = m;
                ready += 1;
            }
            // SAFETY: the first `ready` entries are filled mbufs we own; this thread alone
            // serves the queue.
            let sent = unsafe { (shim.tx_burst)(ethdev, queue, mbufs.as_mut_ptr(), ready as u16) }
                as usize;
            let unsent: u64 = mbufs[sent..ready]
                .iter()
                // SAFETY: the driver did not take the unsent ones; they are still ours.
                .map(|&m| unsafe { (*m).pkt_len } as u64)
                .sum();
            counters.tx_packets.add(sent as u64);
            counters.tx_bytes.add(bytes - unsent);
            queued += sent;
            no_room += (ready - sent) as u64;
            self.free.extend_from_slice(&mbufs[sent..ready]);
            self.release();
            if sent < ready {
                break;
            }
        }
        counters.drop(DropReason::NoBuffer, no_buffer);
        counters.drop(DropReason::TxRingFull, no_room);
        counters.drop(untried_reason, chunks.map(|c| c.len() as u64).sum());
        queued
    }

    /// A DPDK poll-mode driver raises no interrupt here, so there is nothing to wait on: return
    /// at once and let the next round poll the queues (and the caller's descriptors) again.
    fn idle(&mut self, _also_wake_on: &[std::os::fd::RawFd]) {
        std::hint::spin_loop();
    }
}

impl Drop for DpdkThread {
    fn drop(&mut self) {
        // rte_thread_unregister acts on the calling thread; elsewhere the lcore id stays taken
        // until the EAL is cleaned up.
        if self.registered == Some(std::thread::current().id()) {
            // SAFETY: this thread registered itself in `register`.
            unsafe { (self.shared.shim.thread_unregister)() };
        }
    }
}
