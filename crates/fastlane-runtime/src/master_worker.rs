//! The master-worker model: I/O threads receive and transmit, worker threads run the processors.
//!
//! An I/O thread splits each received batch by flow hash into one sub-batch per worker — moving
//! packet descriptors, never packet bytes — and hands them over lock-free rings. Workers process
//! and return them; the I/O thread merges the verdicts back and completes whole batches in the
//! order it received them, which keeps every flow in order and lets backends that release ring
//! memory in order (AF_PACKET) work unchanged. A worker with no room drops and counts
//! (`worker_busy`); the I/O thread never waits for a worker.

use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_queue::ArrayQueue;
use fastlane_core::wire::flow_hash;
use fastlane_core::{Batch, DropReason, Emit, Pipeline, PortId, Split, Verdict};

use crate::worker::{mark_slow, QueueIo, KERNEL_POLL_ROUNDS};

/// A sub-batch on its way to a worker and back.
pub(crate) struct Item {
    batch: Batch,
    /// Where each packet sits in the batch it came from.
    origin: Vec<u16>,
    /// Which batch it came from, counted in receive order.
    seq: u64,
}

type Ring = ArrayQueue<Item>;

/// A frame a worker's processors originated ([`Processor::poll`](fastlane_core::Processor::poll)),
/// copied into one of its link's buffers for the I/O thread to send.
pub(crate) struct Emitted {
    port: PortId,
    len: usize,
    bytes: Box<[u8]>,
}

/// The longest frame a worker can hand its I/O thread.
const EMIT_FRAME: usize = 2048;
/// Frames a worker can have on their way to one I/O thread.
const EMIT_FRAMES: usize = 64;

/// The rings between one I/O thread and one worker: sub-batches there and back, and the frames
/// the worker's processors originate, in buffers that go back to the worker once sent.
#[derive(Clone)]
pub(crate) struct Link {
    to_worker: Arc<Ring>,
    from_worker: Arc<Ring>,
    emitted: Arc<ArrayQueue<Emitted>>,
    spare: Arc<ArrayQueue<Emitted>>,
    /// Frames the worker could not hand over (no spare buffer, or too long): the I/O thread
    /// counts them as `no_buffer`.
    lost: Arc<AtomicU64>,
}

impl Link {
    /// `capacity` sub-batches can be in flight between the two threads.
    pub fn new(capacity: usize) -> Link {
        let spare = ArrayQueue::new(EMIT_FRAMES);
        for _ in 0..EMIT_FRAMES {
            let _ = spare.push(Emitted {
                port: 0,
                len: 0,
                bytes: vec![0u8; EMIT_FRAME].into_boxed_slice(),
            });
        }
        Link {
            to_worker: Arc::new(ArrayQueue::new(capacity)),
            from_worker: Arc::new(ArrayQueue::new(capacity)),
            emitted: Arc::new(ArrayQueue::new(EMIT_FRAMES)),
            spare: Arc::new(spare),
            lost: Arc::new(AtomicU64::new(0)),
        }
    }
}

/// A worker's [`Emit`]: copies each frame to the I/O thread that serves its port (or, when none
/// does, to the first, which counts it as `no_such_port`).
struct LinkEmitter<'a> {
    links: &'a [Link],
    /// For each port, the index of the link to the I/O thread serving it.
    link_of_port: &'a [Option<usize>],
    frames: usize,
}

impl Emit for LinkEmitter<'_> {
    fn transmit(&mut self, port: PortId, frames: &[&[u8]]) -> usize {
        self.frames += frames.len();
        let Some(link) = self
            .link_of_port
            .get(usize::from(port))
            .copied()
            .flatten()
            .or(Some(0))
            .and_then(|l| self.links.get(l))
        else {
            return 0;
        };
        let mut handed = 0;
        for frame in frames {
            let buffer = (frame.len() <= EMIT_FRAME)
                .then(|| link.spare.pop())
                .flatten();
            let Some(mut buffer) = buffer else {
                link.lost.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            buffer.bytes[..frame.len()].copy_from_slice(frame);
            buffer.len = frame.len();
            buffer.port = port;
            // As many buffers as the ring has room for: never full.
            let _ = link.emitted.push(buffer);
            handed += 1;
        }
        handed
    }
}

/// A worker thread: runs the processor chain over the sub-batches of every I/O thread.
pub(crate) struct ProcessingThread {
    pub pipeline: Pipeline,
    /// One per I/O thread.
    pub links: Vec<Link>,
    /// For each port, the index in `links` of the I/O thread serving it.
    pub link_of_port: Vec<Option<usize>>,
}

impl ProcessingThread {
    pub fn forward(&mut self, stop: &AtomicBool) {
        let mut idle_rounds = 0u32;
        while !stop.load(Ordering::Relaxed) {
            let mut work = false;
            for link in &self.links {
                while let Some(mut item) = link.to_worker.pop() {
                    self.pipeline.processor.process(&mut item.batch);
                    // The return ring holds as many items as exist for this link: never full.
                    let _ = link.from_worker.push(item);
                    work = true;
                }
            }
            let mut own = LinkEmitter {
                links: &self.links,
                link_of_port: &self.link_of_port,
                frames: 0,
            };
            self.pipeline.processor.poll(&mut own);
            work |= own.frames > 0;
            idle_rounds = if work { 0 } else { idle_rounds + 1 };
            if idle_rounds > 1024 {
                std::thread::sleep(Duration::from_micros(50));
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

struct InFlight {
    batch: Batch,
    source: usize,
    /// Sub-batches not yet back from their workers.
    pending: usize,
}

/// An I/O thread: a thread's packet I/O, with the processors on the worker threads.
pub(crate) struct IoThread {
    queues: QueueIo,
    /// One per worker.
    links: Vec<Link>,
    /// Sub-batches each worker may have in flight, not yet handed out.
    free_items: Vec<Vec<Item>>,
    spare_batches: Vec<Batch>,
    inflight: VecDeque<InFlight>,
    /// The `seq` of `inflight`'s front.
    front_seq: u64,
}

impl IoThread {
    pub fn new(queues: QueueIo, links: Vec<Link>, ring_size: usize) -> IoThread {
        let batch_size = queues.batch_size;
        let free_items = links
            .iter()
            .map(|_| {
                (0..ring_size)
                    .map(|_| Item {
                        batch: Batch::with_capacity(batch_size),
                        origin: Vec::with_capacity(batch_size),
                        seq: 0,
                    })
                    .collect()
            })
            .collect();
        let spare_batches = (0..ring_size)
            .map(|_| Batch::with_capacity(batch_size))
            .collect();
        IoThread {
            queues,
            links,
            free_items,
            spare_batches,
            inflight: VecDeque::with_capacity(ring_size),
            front_seq: 0,
        }
    }

    pub fn core(&self) -> u16 {
        self.queues.core
    }

    pub fn forward(&mut self, stop: &AtomicBool) {
        let queues = self.queues.io.queues().len();
        let split = self.queues.io.split();
        let tap_fds: Vec<RawFd> = self.queues.slow_path.tap_fds();
        let mut scratch: Vec<Option<Item>> = self.links.iter().map(|_| None).collect();
        let mut round = 0u32;
        while !stop.load(Ordering::Relaxed) {
            round = round.wrapping_add(1);
            let mut work = self.take_returns();
            self.complete_in_order(split);
            for source in 0..queues {
                let Some(mut batch) = self.spare_batches.pop() else {
                    break;
                };
                let n = self
                    .queues
                    .io
                    .receive(source, &mut batch, &self.queues.counters[source]);
                if n == 0 {
                    self.spare_batches.push(batch);
                    continue;
                }
                work += n;
                if split != Split::InKernel {
                    mark_slow(&self.queues.slow_path.filters[source], &mut batch);
                }
                let pending = self.hand_out(&mut batch, &mut scratch, source);
                self.inflight.push_back(InFlight {
                    batch,
                    source,
                    pending,
                });
            }
            self.complete_in_order(split);
            if work == 0 || round.is_multiple_of(KERNEL_POLL_ROUNDS) {
                work += self.queues.forward_from_kernel();
            }
            work += self.send_emitted();
            if work == 0 {
                if self.inflight.is_empty() {
                    self.queues.io.idle(&tap_fds);
                } else {
                    std::hint::spin_loop();
                }
            }
        }
    }

    /// Sends the frames the workers' processors originated, each out of its port's first queue
    /// here (the rule of `transmit_copies`), and counts what workers could not hand over;
    /// returns how many frames it sent or counted.
    fn send_emitted(&mut self) -> usize {
        let mut work = 0;
        let q = &mut self.queues;
        for link in &self.links {
            let lost = link.lost.swap(0, Ordering::Relaxed);
            if lost > 0 {
                q.counters[0].drop(DropReason::NoBuffer, lost);
                work += lost as usize;
            }
            while let Some(frame) = link.emitted.pop() {
                match q.io.queue_map().on_port(frame.port) {
                    Some(target) => {
                        q.io.transmit_copies(
                            target,
                            &[&frame.bytes[..frame.len]],
                            &q.counters[target],
                        );
                    }
                    None => q.counters[0].drop(DropReason::NoSuchPort, 1),
                }
                // The buffer came from this ring's spares: there is room for it.
                let _ = link.spare.push(frame);
                work += 1;
            }
        }
        work
    }

    /// Splits `batch` into one sub-batch per worker and sends them; returns how many went.
    fn hand_out(
        &mut self,
        batch: &mut Batch,
        scratch: &mut [Option<Item>],
        source: usize,
    ) -> usize {
        let seq = self.front_seq + self.inflight.len() as u64;
        let workers = self.links.len() as u32;
        let (port, queue) = (batch.port(), batch.queue());
        let mut busy = 0;
        for (i, slot) in batch.slots_mut().iter_mut().enumerate() {
            if slot.verdict().is_final() {
                continue;
            }
            let w = (flow_hash(slot.data()) % workers) as usize;
            if scratch[w].is_none() {
                scratch[w] = self.free_items[w].pop().map(|mut item| {
                    item.batch.begin_fill(port, queue);
                    item.origin.clear();
                    item.seq = seq;
                    item
                });
            }
            match &mut scratch[w] {
                Some(item) => {
                    item.batch.swap_in(slot);
                    item.origin.push(i as u16);
                }
                None => {
                    slot.set_verdict(Verdict::Drop(DropReason::WorkerBusy));
                    busy += 1;
                }
            }
        }
        let mut sent = 0;
        for (w, taken) in scratch.iter_mut().enumerate() {
            let Some(item) = taken.take() else { continue };
            match self.links[w].to_worker.push(item) {
                Ok(()) => sent += 1,
                Err(mut item) => {
                    busy += item.origin.len() as u64;
                    merge_back(
                        &mut item,
                        batch,
                        Some(Verdict::Drop(DropReason::WorkerBusy)),
                    );
                    self.free_items[w].push(item);
                }
            }
        }
        self.queues.counters[source].drop(DropReason::WorkerBusy, busy);
        sent
    }

    /// Takes every sub-batch the workers have finished and puts its packets back in place.
    fn take_returns(&mut self) -> usize {
        let mut returned = 0;
        for (w, link) in self.links.iter().enumerate() {
            while let Some(mut item) = link.from_worker.pop() {
                let entry = &mut self.inflight[(item.seq - self.front_seq) as usize];
                merge_back(&mut item, &mut entry.batch, None);
                entry.pending -= 1;
                self.free_items[w].push(item);
                returned += 1;
            }
        }
        returned
    }

    /// Completes, in receive order, every batch whose sub-batches have all come back.
    fn complete_in_order(&mut self, split: Split) {
        while self.inflight.front().is_some_and(|f| f.pending == 0) {
            let Some(mut done) = self.inflight.pop_front() else {
                break;
            };
            self.front_seq += 1;
            let w = &mut self.queues;
            let counters = &w.counters[done.source];
            w.slow_path
                .deliver(split, done.source, &mut done.batch, counters);
            w.io.complete(done.source, &mut done.batch, &w.counters);
            self.spare_batches.push(done.batch);
        }
    }
}

/// Swaps a sub-batch's packets back into the batch they came from, optionally with a verdict.
fn merge_back(item: &mut Item, batch: &mut Batch, verdict: Option<Verdict>) {
    let slots = batch.slots_mut();
    for (slot, &at) in item.batch.slots_mut().iter_mut().zip(&item.origin) {
        if let Some(v) = verdict {
            slot.set_verdict(v);
        }
        std::mem::swap(slot, &mut slots[at as usize]);
    }
    item.batch.set_len(0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::SlowPath;
    use fastlane_core::{QueueCounters, QueueMap, QueueSpec, Slot, ThreadIo, Unsent};

    /// Serves port 0's queue 0 and keeps what it is asked to send.
    struct Kept {
        queues: QueueMap,
        sent: Vec<(usize, Vec<u8>)>,
    }

    impl ThreadIo for Kept {
        fn queue_map(&self) -> &QueueMap {
            &self.queues
        }
        fn receive(&mut self, _: usize, _: &mut Batch, _: &fastlane_core::QueueCounters) -> usize {
            0
        }
        fn stage(&mut self, _: usize, _: &Slot) -> Result<(), DropReason> {
            Ok(())
        }
        fn release(&mut self, _: &Slot) {}
        fn flush(&mut self, _: usize, _: &QueueCounters) -> Unsent {
            Unsent::default()
        }
        fn finish_batch(&mut self, _: usize) {}
        fn split(&self) -> Split {
            Split::InKernel
        }
        fn transmit_copies(&mut self, target: usize, frames: &[&[u8]], c: &QueueCounters) -> usize {
            self.sent
                .extend(frames.iter().map(|f| (target, f.to_vec())));
            c.tx_packets.add(frames.len() as u64);
            frames.len()
        }
        fn idle(&mut self, _: &[RawFd]) {}
    }

    #[test]
    fn a_workers_own_frames_leave_by_its_io_thread_and_what_it_cannot_hand_over_is_counted() {
        let link = Link::new(4);
        let queues = QueueIo {
            core: 0,
            io: Box::new(Kept {
                queues: QueueMap::new(&[QueueSpec {
                    port: 0,
                    interface: "p0".into(),
                    queue: 0,
                }]),
                sent: Vec::new(),
            }),
            counters: vec![QueueCounters::default()].into(),
            batch_size: 8,
            slow_path: SlowPath {
                filters: Vec::new(),
                taps: vec![None],
            },
        };
        let mut io = IoThread::new(queues, vec![link.clone()], 4);
        let links = [link];
        let mut out = LinkEmitter {
            links: &links,
            link_of_port: &[Some(0)],
            frames: 0,
        };
        let long = vec![0u8; EMIT_FRAME + 1];
        assert_eq!(out.transmit(0, &[b"first", b"second", &long]), 2);
        // A port no I/O thread serves goes to the first, which counts it.
        assert_eq!(out.transmit(7, &[b"nowhere"]), 1);
        // More than the link's buffers: the rest are lost, and counted.
        let many: Vec<&[u8]> = (0..EMIT_FRAMES).map(|_| &b"more"[..]).collect();
        assert_eq!(out.transmit(0, &many), EMIT_FRAMES - 3);
        assert_eq!(out.frames, 4 + EMIT_FRAMES);

        // Every buffer handed over (64) and the four frames lost on the way.
        assert_eq!(io.send_emitted(), EMIT_FRAMES + 4);
        let c = &io.queues.counters[0];
        assert_eq!(c.tx_packets.get(), (2 + EMIT_FRAMES - 3) as u64);
        assert_eq!(c.dropped(DropReason::NoSuchPort), 1);
        assert_eq!(c.dropped(DropReason::NoBuffer), 1 + 3);
        // Every buffer went back to the worker: it can hand over as many again.
        assert_eq!(links[0].spare.len(), EMIT_FRAMES);
        assert_eq!(io.send_emitted(), 0);
    }
}
