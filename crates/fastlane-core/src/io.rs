//! The seam between the runtime and a packet I/O backend.
//!
//! A backend implements only what differs between mechanisms — receive a burst, stage a packet
//! for transmission on a queue, transmit what is staged, hand a buffer back, and send copies of
//! the kernel's frames — and the verdict dispatch of [`ThreadIo::complete`] is written once,
//! here, on top of those primitives.

use crate::batch::Batch;
use crate::counters::QueueCounters;
use crate::packet::Slot;
use crate::verdict::{DropReason, PortId, Verdict};

/// One port queue a data-plane thread serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueRef {
    pub port: PortId,
    pub queue: u16,
}

/// A port queue for a backend to open for a thread: queue `queue` of `interface`, which is the
/// config's port `port`. What `queue` numbers is the backend's: a hardware queue (AF_XDP), a
/// member of the port's fanout group (AF_PACKET), a DPDK queue (below the number of queues the
/// config lists for the port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    pub port: PortId,
    pub interface: String,
    pub queue: u16,
}

/// The queues a thread serves, in the order its backend indexes them, and which of them a
/// `TransmitOn(port)` verdict leaves by: the first the thread serves on that port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMap {
    queues: Vec<QueueRef>,
    /// For each port id up to the highest the thread serves, the index of its first queue.
    first_on_port: Vec<Option<u16>>,
}

impl QueueMap {
    /// The map of `specs`, which must be fewer than 65,536.
    pub fn new(specs: &[QueueSpec]) -> QueueMap {
        let max_port = specs.iter().map(|q| q.port as usize).max().unwrap_or(0);
        let mut first_on_port = vec![None; max_port + 1];
        for (i, q) in specs.iter().enumerate().rev() {
            first_on_port[q.port as usize] = Some(i as u16);
        }
        QueueMap {
            queues: specs
                .iter()
                .map(|q| QueueRef {
                    port: q.port,
                    queue: q.queue,
                })
                .collect(),
            first_on_port,
        }
    }

    pub fn queues(&self) -> &[QueueRef] {
        &self.queues
    }

    /// The queue a packet sent on `port` leaves by, if the thread serves that port.
    #[inline]
    pub fn on_port(&self, port: PortId) -> Option<usize> {
        self.first_on_port
            .get(port as usize)
            .copied()
            .flatten()
            .map(usize::from)
    }
}

/// What [`ThreadIo::flush`] could not send of the packets staged on a queue. They are the
/// backend's to hand back (it keeps or frees their buffers itself); the caller counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unsent {
    /// No room: the TX ring, the send buffer or the device was full (`tx_ring_full`).
    pub no_room: u64,
    /// Refused on its own merits, too long for the device say (`malformed`).
    pub refused: u64,
}

/// Where the fast/slow split happens for a backend, and so what the runtime does about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The backend receives only fast-path packets; the kernel keeps the rest (AF_XDP's XDP
    /// program, AF_PACKET's socket filter).
    InKernel,
    /// The backend receives every packet and the kernel none (DPDK): the runtime classifies and
    /// writes the slow ones into a TAP device, and sends what the kernel writes there.
    ViaTap,
    /// The backend receives a copy of every packet and the kernel gets the packet too (AF_PACKET
    /// without a socket filter): the runtime classifies and leaves the slow ones to the kernel.
    Shared,
}

/// The packet I/O of one data-plane thread: every port queue pinned to its core. Built on a setup
/// thread, then moved to the data-plane thread, which alone calls it from then on.
///
/// The runtime holds it as `dyn ThreadIo` and makes one dynamic call per burst; the per-packet
/// primitives (`stage`, `release`) are called from the provided [`ThreadIo::complete`], which is
/// compiled for each backend, so they are static calls that inline.
pub trait ThreadIo: Send {
    /// The port queues this thread serves, in the order `receive` and `complete` index them.
    fn queue_map(&self) -> &QueueMap;

    /// [`QueueMap::queues`] of [`ThreadIo::queue_map`].
    fn queues(&self) -> &[QueueRef] {
        self.queue_map().queues()
    }

    /// Receives one burst from queue `source` into `batch` (through [`Batch::begin_fill`] and
    /// [`Batch::set_len`]) and returns how many packets arrived; counts them in `counters`.
    fn receive(&mut self, source: usize, batch: &mut Batch, counters: &QueueCounters) -> usize;

    /// Queues the packet behind `slot` (its buffer, bounds as the processors left them) for
    /// transmission on queue `target`, to go out at the next [`ThreadIo::flush`] of that queue;
    /// from then on the buffer is the backend's. `Err` names why it cannot be queued; the
    /// buffer then stays the caller's, to [`ThreadIo::release`].
    fn stage(&mut self, target: usize, slot: &Slot) -> Result<(), DropReason>;

    /// Hands back the buffer of a received packet that is not transmitted (dropped, or copied
    /// to the kernel or to another thread).
    fn release(&mut self, slot: &Slot);

    /// Transmits what [`ThreadIo::stage`] queued on `target` (nothing to do when nothing is
    /// staged), counts what went as transmitted in `counters`, and returns what did not.
    fn flush(&mut self, target: usize, counters: &QueueCounters) -> Unsent;

    /// Called once every packet of a batch received from `source` has been flushed or
    /// released: the backend may reuse the memory the batch lived in.
    fn finish_batch(&mut self, source: usize);

    /// Carries out the verdicts of a batch that `receive` filled from `source`: transmits,
    /// hands buffers back, and counts what it did in `counters[i]` (indexed like `queues`),
    /// drops on `counters[source]`. Leaves no buffer of the batch behind. A `Kernel` verdict
    /// means the runtime has already copied the packet to the slow path (and counted it), and a
    /// `Taken` one that a stage took a copy: both release the buffer without counting. Written
    /// once, here; backends implement the primitives it calls.
    fn complete(&mut self, source: usize, batch: &mut Batch, counters: &[QueueCounters]) {
        let mut dropped = [0u64; DropReason::COUNT];
        for slot in batch.slots() {
            let target = match slot.verdict() {
                Verdict::Transmit => Ok(source),
                Verdict::TransmitOn(port) => {
                    self.queue_map().on_port(port).ok_or(DropReason::NoSuchPort)
                }
                Verdict::Kernel | Verdict::Taken => {
                    self.release(slot);
                    continue;
                }
                Verdict::Drop(reason) => Err(reason),
                Verdict::Pending => Err(DropReason::NoVerdict),
            };
            if let Err(reason) = target.and_then(|target| self.stage(target, slot)) {
                dropped[reason as usize] += 1;
                self.release(slot);
            }
        }
        batch.set_len(0);
        // One counter set per queue: every queue gets its flush.
        for (target, tx_counters) in counters.iter().enumerate() {
            let unsent = self.flush(target, tx_counters);
            dropped[DropReason::TxRingFull as usize] += unsent.no_room;
            dropped[DropReason::Malformed as usize] += unsent.refused;
        }
        self.finish_batch(source);
        for (reason, &n) in DropReason::ALL.iter().zip(&dropped) {
            if n > 0 {
                counters[source].drop(*reason, n);
            }
        }
    }

    /// Where this backend splits the fast path from the slow path.
    fn split(&self) -> Split;

    /// Sends copies of `frames` (the kernel's, from a TAP, or a stage's finished ones) out of
    /// queue `target`, in order, as far as buffers and ring space allow, and returns how many
    /// were queued. The one counting rule: every frame is counted exactly once on `counters` —
    /// as transmitted when queued, else as dropped with the reason it was not: `tx_ring_full`
    /// (no ring or send-buffer space), `no_buffer` (no free buffer, or longer than one),
    /// `malformed` (refused by the device, or shorter than an Ethernet header). The caller
    /// counts nothing more of them.
    fn transmit_copies(
        &mut self,
        target: usize,
        frames: &[&[u8]],
        counters: &QueueCounters,
    ) -> usize;

    /// Called after a round over every queue brought nothing: wait for work (or spin, as the
    /// config says), returning within about 100 ms so that a stop request is seen, and at once
    /// when one of `also_wake_on` (the slow path's TAP descriptors) becomes readable.
    fn idle(&mut self, also_wake_on: &[std::os::fd::RawFd]);
}

/// Where a processor's own frames go ([`Processor::poll`](crate::Processor::poll)).
pub trait Emit {
    /// Sends copies of `frames` out of port `port`, in order, and returns how many were queued.
    /// Every frame is counted once: as transmitted, or as dropped with its reason
    /// (`no_such_port` when the thread does not serve `port`, else the reasons of
    /// [`ThreadIo::transmit_copies`]).
    fn transmit(&mut self, port: PortId, frames: &[&[u8]]) -> usize;
}

/// [`Emit`] over a thread's own packet I/O: the run-to-completion model's, where the thread
/// that runs the processors also transmits.
pub struct IoEmitter<'a> {
    io: &'a mut dyn ThreadIo,
    counters: &'a [QueueCounters],
    frames: usize,
}

impl std::fmt::Debug for IoEmitter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoEmitter")
            .field("queues", &self.io.queues())
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl<'a> IoEmitter<'a> {
    /// Sends through `io`, counting on `counters` (indexed like its queues). A frame for a port
    /// the thread does not serve is counted on the thread's first queue.
    pub fn new(io: &'a mut dyn ThreadIo, counters: &'a [QueueCounters]) -> Self {
        IoEmitter {
            io,
            counters,
            frames: 0,
        }
    }

    /// How many frames the processors handed over, sent or not: the round's work.
    pub fn frames(&self) -> usize {
        self.frames
    }
}

impl Emit for IoEmitter<'_> {
    fn transmit(&mut self, port: PortId, frames: &[&[u8]]) -> usize {
        self.frames += frames.len();
        match self.io.queue_map().on_port(port) {
            Some(target) => self
                .io
                .transmit_copies(target, frames, &self.counters[target]),
            None => {
                if let Some(first) = self.counters.first() {
                    first.drop(DropReason::NoSuchPort, frames.len() as u64);
                }
                0
            }
        }
    }
}

/// What a socket backend's `idle` waits on: its own sockets, then the descriptors the runtime
/// adds (the slow path's TAP queues). Allocated once; `wait` does not allocate once the extra
/// descriptors have been seen.
#[derive(Debug)]
pub struct PollSet {
    fds: Vec<libc::pollfd>,
    own: usize,
}

impl PollSet {
    pub fn new(own: impl IntoIterator<Item = std::os::fd::RawFd>) -> PollSet {
        let fds: Vec<libc::pollfd> = own
            .into_iter()
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let own = fds.len();
        PollSet { fds, own }
    }

    /// Waits until one of the sockets or `also_wake_on` is readable, or `timeout_ms` passes.
    /// An interrupted wait (EINTR) is not an error.
    pub fn wait(
        &mut self,
        also_wake_on: &[std::os::fd::RawFd],
        timeout_ms: i32,
    ) -> std::io::Result<()> {
        self.fds.truncate(self.own);
        self.fds.extend(also_wake_on.iter().map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        }));
        for p in &mut self.fds {
            p.revents = 0;
        }
        fastlane_sys::poll::poll(&mut self.fds, timeout_ms)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;

    /// A backend that records what the dispatch asks of it: queue `target` has room for
    /// `room[target]` staged packets, and its flush leaves `unsent[target]` of them unsent.
    struct Recorder {
        queues: QueueMap,
        room: Vec<usize>,
        unsent: Vec<Unsent>,
        staged: Vec<Vec<u64>>,
        released: Vec<u64>,
        flushed: Vec<usize>,
        finished: Vec<usize>,
        /// What `transmit_copies` was given: queue and frame.
        copies: Vec<(usize, Vec<u8>)>,
    }

    impl ThreadIo for Recorder {
        fn queue_map(&self) -> &QueueMap {
            &self.queues
        }
        fn receive(&mut self, _: usize, _: &mut Batch, _: &QueueCounters) -> usize {
            0
        }
        fn stage(&mut self, target: usize, slot: &Slot) -> Result<(), DropReason> {
            if self.staged[target].len() == self.room[target] {
                return Err(DropReason::TxRingFull);
            }
            self.staged[target].push(slot.handle());
            Ok(())
        }
        fn release(&mut self, slot: &Slot) {
            self.released.push(slot.handle());
        }
        fn flush(&mut self, target: usize, counters: &QueueCounters) -> Unsent {
            self.flushed.push(target);
            counters.tx_packets.add(self.staged[target].len() as u64);
            self.unsent[target]
        }
        fn finish_batch(&mut self, source: usize) {
            self.finished.push(source);
        }
        fn split(&self) -> Split {
            Split::InKernel
        }
        fn transmit_copies(&mut self, target: usize, frames: &[&[u8]], c: &QueueCounters) -> usize {
            // Room for two copies per call, the rest counted as the rule says.
            let sent = frames.len().min(2);
            for frame in &frames[..sent] {
                self.copies.push((target, frame.to_vec()));
            }
            c.tx_packets.add(sent as u64);
            c.drop(DropReason::TxRingFull, (frames.len() - sent) as u64);
            sent
        }
        fn idle(&mut self, _: &[std::os::fd::RawFd]) {}
    }

    fn recorder(queues: QueueMap, room: Vec<usize>, unsent: Vec<Unsent>) -> Recorder {
        let n = queues.queues().len();
        Recorder {
            queues,
            room,
            unsent,
            staged: vec![Vec::new(); n],
            released: Vec::new(),
            flushed: Vec::new(),
            finished: Vec::new(),
            copies: Vec::new(),
        }
    }

    #[test]
    fn the_dispatch_stages_releases_flushes_and_counts_every_verdict_once() {
        let spec = |port, queue| QueueSpec {
            port,
            interface: format!("p{port}"),
            queue,
        };
        // Port 2 has two queues on this thread: TransmitOn(2) leaves by the first.
        let queues = QueueMap::new(&[spec(0, 0), spec(2, 0), spec(2, 1)]);
        assert_eq!(
            (queues.on_port(0), queues.on_port(1), queues.on_port(2)),
            (Some(0), None, Some(1))
        );
        assert_eq!(queues.on_port(9), None);
        let mut io = recorder(
            queues,
            vec![2, 8, 8],
            vec![
                Unsent::default(),
                Unsent {
                    no_room: 1,
                    refused: 0,
                },
                Unsent::default(),
            ],
        );
        let verdicts = [
            Verdict::Transmit,
            Verdict::Transmit,
            Verdict::Transmit, // no room left on queue 0
            Verdict::TransmitOn(2),
            Verdict::TransmitOn(1), // a port the thread does not serve
            Verdict::Kernel,
            Verdict::Taken,
            Verdict::Drop(DropReason::Processor),
            Verdict::Pending,
        ];
        let mut bufs = [[0u8; 64]; 9];
        let mut batch = Batch::with_capacity(16);
        let slots = batch.begin_fill(0, 0);
        for (i, (slot, buf)) in slots.iter_mut().zip(bufs.iter_mut()).enumerate() {
            // SAFETY: the buffers outlive the batch's use below.
            unsafe { slot.set(buf.as_mut_ptr(), 64, 0, 60, i as u64) };
            slot.set_verdict(verdicts[i]);
        }
        batch.set_len(verdicts.len());
        let counters: Vec<QueueCounters> = (0..3).map(|_| QueueCounters::default()).collect();

        io.complete(0, &mut batch, &counters);

        assert_eq!(io.staged, [vec![0, 1], vec![3], vec![]]);
        assert_eq!(io.released, [2, 4, 5, 6, 7, 8]);
        assert_eq!(io.flushed, [0, 1, 2]);
        assert_eq!(io.finished, [0]);
        assert!(batch.is_empty());
        let c = &counters[0];
        assert_eq!(c.tx_packets.get(), 2);
        assert_eq!(counters[1].tx_packets.get(), 1);
        // The ring that was full at staging and the packet its flush left unsent.
        assert_eq!(c.dropped(DropReason::TxRingFull), 2);
        assert_eq!(c.dropped(DropReason::NoSuchPort), 1);
        assert_eq!(c.dropped(DropReason::Processor), 1);
        assert_eq!(c.dropped(DropReason::NoVerdict), 1);
        let total: u64 = DropReason::ALL.iter().map(|&r| c.dropped(r)).sum();
        assert_eq!(total, 5, "Kernel and Taken are not counted here");
        for other in &counters[1..] {
            assert!(DropReason::ALL.iter().all(|&r| other.dropped(r) == 0));
        }
    }

    #[test]
    fn a_processors_own_frames_leave_by_the_ports_first_queue_and_count_once() {
        let spec = |port, queue| QueueSpec {
            port,
            interface: format!("p{port}"),
            queue,
        };
        let queues = QueueMap::new(&[spec(0, 0), spec(2, 0), spec(2, 1)]);
        let mut io = recorder(queues, vec![8; 3], vec![Unsent::default(); 3]);
        let counters: Vec<QueueCounters> = (0..3).map(|_| QueueCounters::default()).collect();
        let mut out = IoEmitter::new(&mut io, &counters);
        assert_eq!(out.transmit(2, &[b"ab", b"cd", b"ef"]), 2);
        assert_eq!(out.transmit(0, &[b"gh"]), 1);
        assert_eq!(
            out.transmit(1, &[b"ij", b"kl"]),
            0,
            "port 1 is not this thread's"
        );
        assert_eq!(out.frames(), 6);
        assert_eq!(
            io.copies,
            [
                (1, b"ab".to_vec()),
                (1, b"cd".to_vec()),
                (0, b"gh".to_vec())
            ]
        );
        assert_eq!(counters[1].tx_packets.get(), 2);
        assert_eq!(counters[1].dropped(DropReason::TxRingFull), 1);
        assert_eq!(counters[0].tx_packets.get(), 1);
        assert_eq!(counters[0].dropped(DropReason::NoSuchPort), 2);
        assert_eq!(counters[2].tx_packets.get(), 0);
    }

    #[test]
    fn a_poll_set_wakes_on_an_extra_descriptor_and_times_out_otherwise() {
        let (mut tx, rx) = std::os::unix::net::UnixStream::pair().unwrap();
        let (_idle, quiet) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut set = PollSet::new([quiet.as_raw_fd()]);
        let started = std::time::Instant::now();
        set.wait(&[rx.as_raw_fd()], 50).unwrap();
        assert!(
            started.elapsed() >= std::time::Duration::from_millis(40),
            "nothing was readable"
        );
        tx.write_all(b"x").unwrap();
        let started = std::time::Instant::now();
        set.wait(&[rx.as_raw_fd()], 5000).unwrap();
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "woke on the extra fd"
        );
    }
}
