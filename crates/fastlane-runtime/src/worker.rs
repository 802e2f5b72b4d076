//! A data-plane thread: run to completion over the port queues pinned to one core.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use fastlane_core::{
    Batch, Class, DropReason, FilterTables, IoEmitter, Pipeline, QueueCounters, QueueRef, Split,
    ThreadIo, Verdict,
};
use fastlane_tap::{TapQueue, MAX_READ_BURST};

/// The packet I/O of one data-plane thread, prepared on the setup thread: its queues, their
/// counters and their way into the kernel. A run-to-completion [`Worker`] adds the processors;
/// a master-worker I/O thread leaves them to the worker threads.
pub(crate) struct QueueIo {
    pub core: u16,
    pub io: Box<dyn ThreadIo>,
    pub counters: Arc<[QueueCounters]>,
    pub batch_size: usize,
    pub slow_path: SlowPath,
}

/// A run-to-completion data-plane thread: its packet I/O and its own processor chain.
pub(crate) struct Worker {
    pub queues: QueueIo,
    pub pipeline: Pipeline,
    /// The outboxes of this thread's pipeline stages.
    pub outboxes: Vec<Box<dyn Outbox>>,
}

/// Frames that a pipeline stage finishes after their batch has gone: a stage that hands copies
/// to another thread (the TypeScript stage) marks the originals with [`Verdict::Taken`] and returns
/// the finished frames here. The worker flushes every outbox each round and does not sleep while
/// one still awaits frames, so the data-plane thread never waits for that other thread.
pub trait Outbox: Send {
    /// Sends or drops, through `sink`, every frame finished since the last call; returns how
    /// many frames that was.
    fn flush(&mut self, sink: &mut Sink<'_>) -> usize;
    /// Whether frames taken from batches are still being processed elsewhere.
    fn awaiting(&self) -> bool;
}

/// Gives the runtime the outboxes its processor factory made while building one thread's
/// pipeline; the runtime asks right after building each thread's pipeline.
pub trait TakeOutboxes: Send + Sync + std::fmt::Debug {
    fn take(&self) -> Vec<Box<dyn Outbox>>;
}

/// An [`Outbox`]'s way out of the data-plane thread.
pub struct Sink<'a> {
    io: &'a mut dyn ThreadIo,
    counters: &'a [QueueCounters],
}

impl std::fmt::Debug for Sink<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink")
            .field("queues", &self.io.queues())
            .finish_non_exhaustive()
    }
}

impl Sink<'_> {
    /// The index of the queue `queue` among this thread's queues.
    pub fn source_of(&self, queue: QueueRef) -> Option<usize> {
        self.io.queues().iter().position(|&q| q == queue)
    }

    /// Sends copies of `frames`, which came from queue `source`, as `verdict` says (`Transmit`
    /// or `TransmitOn`); a port the thread does not serve counts them dropped on `source`, and
    /// what then finds no buffer or ring space is counted on the queue they were to leave by
    /// (the rule of [`ThreadIo::transmit_copies`]).
    pub fn transmit(&mut self, source: usize, verdict: Verdict, frames: &[&[u8]]) {
        let target = match verdict {
            Verdict::Transmit => Some(source),
            Verdict::TransmitOn(port) => self.io.queue_map().on_port(port),
            _ => None,
        };
        let Some(target) = target else {
            self.drop(source, DropReason::NoSuchPort, frames.len() as u64);
            return;
        };
        self.io
            .transmit_copies(target, frames, &self.counters[target]);
    }

    pub fn drop(&mut self, source: usize, reason: DropReason, n: u64) {
        if n > 0 {
            self.counters[source].drop(reason, n);
        }
    }
}

/// How a thread's packets reach the kernel and come back from it.
pub(crate) struct SlowPath {
    /// Per source, the filter of its port, for backends that do not split in the kernel.
    pub filters: Vec<Arc<FilterTables>>,
    /// Per source, the TAP queue of its port's TAP twin: DPDK's slow path, or the punt path
    /// a port of another backend asked for (`None` without one).
    pub taps: Vec<Option<TapQueue>>,
}

/// While packets keep arriving, the TAP devices are read every this many rounds (and on every
/// idle round): a read is a system call, too dear to make for every burst.
pub(crate) const KERNEL_POLL_ROUNDS: u32 = 32;

/// Pins the calling thread to `core`, reports on `ready` whether that worked, then runs `body`;
/// a panic in `body` (a processor's) ends the thread and is recorded in `failure`.
pub(crate) fn run_pinned(
    core: u16,
    ready: mpsc::Sender<(u16, Result<(), String>)>,
    failure: Arc<Mutex<Option<String>>>,
    body: impl FnOnce(),
) {
    if let Err(e) = fastlane_sys::cpu::pin_current_thread(usize::from(core)) {
        let _ = ready.send((core, Err(e.to_string())));
        return;
    }
    let _ = ready.send((core, Ok(())));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
    if let Err(panic) = result {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let mut failure = failure.lock().unwrap_or_else(|e| e.into_inner());
        failure.get_or_insert(format!("data-plane thread on core {core} panicked: {what}"));
    }
}

impl Worker {
    /// Runs to completion until `stop` is set: receive, process, deliver, transmit.
    pub fn forward(&mut self, stop: &AtomicBool) {
        let q = &mut self.queues;
        let mut batch = Batch::with_capacity(q.batch_size);
        let queues = q.io.queues().len();
        let split = q.io.split();
        let tap_fds = q.slow_path.tap_fds();
        let mut round = 0u32;
        while !stop.load(Ordering::Relaxed) {
            let mut work = 0;
            round = round.wrapping_add(1);
            for source in 0..queues {
                let counters = &q.counters[source];
                let n = q.io.receive(source, &mut batch, counters);
                if n > 0 {
                    if split != Split::InKernel {
                        mark_slow(&q.slow_path.filters[source], &mut batch);
                    }
                    self.pipeline.processor.process(&mut batch);
                    q.slow_path.deliver(split, source, &mut batch, counters);
                    q.io.complete(source, &mut batch, &q.counters);
                    work += n;
                }
            }
            if work == 0 || round.is_multiple_of(KERNEL_POLL_ROUNDS) {
                work += q.forward_from_kernel();
            }
            let mut own = IoEmitter::new(&mut *q.io, &q.counters);
            self.pipeline.processor.poll(&mut own);
            work += own.frames();
            for outbox in &mut self.outboxes {
                work += outbox.flush(&mut Sink {
                    io: &mut *q.io,
                    counters: &q.counters,
                });
            }
            if work == 0 && !self.outboxes.iter().any(|o| o.awaiting()) {
                q.io.idle(&tap_fds);
            }
        }
    }
}

impl QueueIo {
    /// Sends what the kernel wrote into each queue's TAP device out of that queue; returns how
    /// many frames it read.
    pub fn forward_from_kernel(&mut self) -> usize {
        let mut work = 0;
        for (source, tap) in self.slow_path.taps.iter_mut().enumerate() {
            let Some(tap) = tap else { continue };
            let burst = tap.read_frames(MAX_READ_BURST);
            if !burst.is_empty() {
                let counters = &self.counters[source];
                let sent = self.io.transmit_copies(source, &burst, counters);
                counters.from_kernel_packets.add(sent as u64);
                work += burst.len();
            }
        }
        work
    }
}

/// Gives the kernel every frame the filter does not send to the fast path, before any processor
/// sees the batch.
pub(crate) fn mark_slow(filter: &FilterTables, batch: &mut Batch) {
    for slot in batch.slots_mut() {
        if let Class::Slow(_) = filter.classify(slot.data()) {
            slot.set_verdict(Verdict::Kernel);
        }
    }
}

impl SlowPath {
    /// The TAP queues' descriptors, for the idle wait.
    pub fn tap_fds(&self) -> Vec<RawFd> {
        self.taps.iter().flatten().map(TapQueue::fd).collect()
    }

    /// Carries out the `Kernel` verdicts of a batch, as far as this backend has a way into the
    /// kernel; what cannot go there is dropped and counted.
    pub fn deliver(
        &mut self,
        split: Split,
        source: usize,
        batch: &mut Batch,
        counters: &QueueCounters,
    ) {
        let kernel = batch
            .slots()
            .iter()
            .filter(|s| s.verdict() == Verdict::Kernel)
            .count();
        if kernel == 0 {
            return;
        }
        match (split, self.taps.get_mut(source).and_then(Option::as_mut)) {
            // The kernel received its own copy of the frame.
            (Split::Shared, _) => counters.kernel_packets.add(kernel as u64),
            // DPDK's slow path, or the punt path of a port whose split is in the kernel.
            (Split::ViaTap | Split::InKernel, Some(tap)) => {
                let frames = batch
                    .slots()
                    .iter()
                    .filter(|s| s.verdict() == Verdict::Kernel);
                let outcome = tap.write_frames(frames.map(|s| s.data()));
                counters.kernel_packets.add(outcome.written as u64);
                counters.drop(DropReason::SlowPathFull, outcome.dropped as u64);
            }
            // The kernel never sees a frame the split took from it, unless a TAP gives it one.
            (Split::InKernel | Split::ViaTap, None) => {
                for slot in batch
                    .slots_mut()
                    .iter_mut()
                    .filter(|s| s.verdict() == Verdict::Kernel)
                {
                    slot.set_verdict(Verdict::Drop(DropReason::NoSlowPath));
                }
            }
        }
    }
}
