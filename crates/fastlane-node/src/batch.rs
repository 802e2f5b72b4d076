//! The `js` pipeline stage: batches of packets handed to a TypeScript handler through memory
//! shared once.
//!
//! Each data-plane thread owns an [`Arena`]: one block of memory, given to JavaScript as an
//! external ArrayBuffer when the handler registers, holding a header of ring counters, two
//! single-producer single-consumer rings of slot numbers, a descriptor table per slot and the
//! packet bytes of every slot. The stage copies a batch into a free slot and publishes the slot on
//! the "filled" ring (Rust → JavaScript); JavaScript rewrites packets and verdicts in place and
//! publishes the slot on the "done" ring (JavaScript → Rust); the thread's [`Outbox`] sends what
//! is done and frees the slot. When no slot is free the batch is dropped and counted: the
//! data-plane thread never waits for JavaScript. Per batch, only ring counters cross over, and a
//! wake-up call, at most one pending per arena.
//!
//! Layout, in 32-bit words from the start (all little-endian, as the host):
//! `[0..HEADER_WORDS)` header (see the `H_*` indices), then the filled ring and the done ring
//! (`slots` words each), then per slot `SLOT_WORDS` words (packet count, port, queue, unused)
//! followed by `batch_size` descriptors of `DESC_WORDS` words (byte offset, length, verdict,
//! capacity), then the packet bytes: `frame_size` bytes per packet, slot after slot.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use fastlane_core::config::ProcessorObject;
use fastlane_core::processor::{Processor, ProcessorFactory};
use fastlane_core::{Batch, DropReason, PortId, QueueRef, Verdict};
use fastlane_runtime::{Outbox, Sink, TakeOutboxes};
use napi_derive::napi;

/// Header word indices; JavaScript reads the same ones (`src-ts/batch.ts`).
pub const H_FILLED_HEAD: usize = 0;
pub const H_FILLED_TAIL: usize = 1;
pub const H_DONE_HEAD: usize = 2;
pub const H_DONE_TAIL: usize = 3;
/// Set by Rust when it asks JavaScript to drain, cleared by JavaScript before it drains.
pub const H_NOTIFY: usize = 4;
pub const H_SLOTS: usize = 5;
pub const H_BATCH_SIZE: usize = 6;
pub const H_FRAME_SIZE: usize = 7;
pub const H_FILLED_RING: usize = 8;
pub const H_DONE_RING: usize = 9;
pub const H_SLOT_TABLE: usize = 10;
pub const H_SLOT_STRIDE: usize = 11;
pub const H_DATA: usize = 12;
pub const HEADER_WORDS: usize = 16;
pub const SLOT_WORDS: usize = 4;
/// Word indices in a slot's header.
pub const S_COUNT: usize = 0;
pub const S_PORT: usize = 1;
pub const S_QUEUE: usize = 2;
pub const DESC_WORDS: usize = 4;
/// Word indices in a packet's descriptor.
pub const D_OFFSET: usize = 0;
pub const D_LEN: usize = 1;
pub const D_VERDICT: usize = 2;
pub const D_CAPACITY: usize = 3;

/// Verdict codes in a descriptor.
pub const V_PENDING: u32 = 0;
pub const V_TRANSMIT: u32 = 1;
pub const V_DROP: u32 = 2;
pub const V_KERNEL: u32 = 3;
/// `V_TRANSMIT_ON | port`.
pub const V_TRANSMIT_ON: u32 = 0x1_0000;

/// The arena's word indices and verdict codes, which `src-ts/batch.ts` reads the arena by.
#[napi(object)]
#[derive(Debug)]
pub struct ArenaLayout {
    pub filled_head: u32,
    pub filled_tail: u32,
    pub done_head: u32,
    pub notify: u32,
    pub slots: u32,
    pub filled_ring: u32,
    pub done_ring: u32,
    pub slot_table: u32,
    pub slot_stride: u32,
    pub slot_words: u32,
    pub slot_count: u32,
    pub slot_port: u32,
    pub slot_queue: u32,
    pub desc_words: u32,
    pub desc_offset: u32,
    pub desc_len: u32,
    pub desc_verdict: u32,
    pub desc_capacity: u32,
    pub verdict_pending: u32,
    pub verdict_transmit: u32,
    pub verdict_drop: u32,
    pub verdict_kernel: u32,
    pub verdict_transmit_on: u32,
}

/// The constants of the `js` stage's arena layout (see crates/fastlane-node/src/batch.rs).
#[napi]
pub fn arena_layout() -> ArenaLayout {
    let word = |w: usize| w as u32;
    ArenaLayout {
        filled_head: word(H_FILLED_HEAD),
        filled_tail: word(H_FILLED_TAIL),
        done_head: word(H_DONE_HEAD),
        notify: word(H_NOTIFY),
        slots: word(H_SLOTS),
        filled_ring: word(H_FILLED_RING),
        done_ring: word(H_DONE_RING),
        slot_table: word(H_SLOT_TABLE),
        slot_stride: word(H_SLOT_STRIDE),
        slot_words: word(SLOT_WORDS),
        slot_count: word(S_COUNT),
        slot_port: word(S_PORT),
        slot_queue: word(S_QUEUE),
        desc_words: word(DESC_WORDS),
        desc_offset: word(D_OFFSET),
        desc_len: word(D_LEN),
        desc_verdict: word(D_VERDICT),
        desc_capacity: word(D_CAPACITY),
        verdict_pending: V_PENDING,
        verdict_transmit: V_TRANSMIT,
        verdict_drop: V_DROP,
        verdict_kernel: V_KERNEL,
        verdict_transmit_on: V_TRANSMIT_ON,
    }
}

/// Why an arena cannot be made with the sizes asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArenaError {
    #[error("slots must be a power of two from 2 to 1024, not {0}")]
    Slots(u32),
    #[error("frame size must be a multiple of 64 from 128 to 65536, not {0}")]
    FrameSize(u32),
    #[error("batch size must be from 1 to 4096, not {0}")]
    BatchSize(u32),
    #[error("an arena of {slots} slots x {batch_size} packets x {frame_size} bytes is over 1 GiB")]
    TooLarge {
        slots: u32,
        batch_size: u32,
        frame_size: u32,
    },
}

/// Where things are in an arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    slots: u32,
    batch_size: u32,
    frame_size: u32,
    filled_ring: usize,
    done_ring: usize,
    slot_table: usize,
    slot_stride: usize,
    /// In bytes.
    data: usize,
    /// In bytes.
    total: usize,
}

impl Layout {
    fn new(slots: u32, batch_size: u32, frame_size: u32) -> Result<Layout, ArenaError> {
        if !slots.is_power_of_two() || !(2..=1024).contains(&slots) {
            return Err(ArenaError::Slots(slots));
        }
        if !frame_size.is_multiple_of(64) || !(128..=65536).contains(&frame_size) {
            return Err(ArenaError::FrameSize(frame_size));
        }
        if !(1..=4096).contains(&batch_size) {
            return Err(ArenaError::BatchSize(batch_size));
        }
        let filled_ring = HEADER_WORDS;
        let done_ring = filled_ring + slots as usize;
        let slot_table = done_ring + slots as usize;
        let slot_stride = SLOT_WORDS + DESC_WORDS * batch_size as usize;
        // Packet bytes start on a cache line.
        let data = ((slot_table + slot_stride * slots as usize) * 4).next_multiple_of(64);
        let bytes = slots as usize * batch_size as usize * frame_size as usize;
        if bytes > 1 << 30 {
            return Err(ArenaError::TooLarge {
                slots,
                batch_size,
                frame_size,
            });
        }
        Ok(Layout {
            slots,
            batch_size,
            frame_size,
            filled_ring,
            done_ring,
            slot_table,
            slot_stride,
            data,
            total: data + bytes,
        })
    }

    /// Word index of slot `slot`'s header.
    fn slot_words(&self, slot: u32) -> usize {
        self.slot_table + self.slot_stride * slot as usize
    }
    /// Word index of the descriptor of packet `i` of slot `slot`.
    fn desc(&self, slot: u32, i: usize) -> usize {
        self.slot_words(slot) + SLOT_WORDS + DESC_WORDS * i
    }
    /// Byte offset of packet `i`'s frame in slot `slot`.
    fn frame(&self, slot: u32, i: usize) -> usize {
        self.data + (slot as usize * self.batch_size as usize + i) * self.frame_size as usize
    }
}

/// One data-plane thread's shared memory. JavaScript holds it through an external ArrayBuffer
/// whose finalizer keeps an `Arc` to it, so it outlives both sides' use.
#[derive(Debug)]
pub struct Arena {
    /// Atomic words, so that both sides may write through shared references; packet bytes are
    /// written only by the side that owns the slot at the time.
    words: Box<[AtomicU32]>,
    layout: Layout,
}

impl Arena {
    pub fn new(slots: u32, batch_size: u32, frame_size: u32) -> Result<Arena, ArenaError> {
        let layout = Layout::new(slots, batch_size, frame_size)?;
        let words = (0..layout.total / 4).map(|_| AtomicU32::new(0)).collect();
        let arena = Arena { words, layout };
        for (i, v) in [
            (H_SLOTS, slots),
            (H_BATCH_SIZE, batch_size),
            (H_FRAME_SIZE, frame_size),
            (H_FILLED_RING, layout.filled_ring as u32),
            (H_DONE_RING, layout.done_ring as u32),
            (H_SLOT_TABLE, layout.slot_table as u32),
            (H_SLOT_STRIDE, layout.slot_stride as u32),
            (H_DATA, layout.data as u32),
        ] {
            arena.store(i, v);
        }
        Ok(arena)
    }

    /// The memory's first byte, for JavaScript's ArrayBuffer.
    pub fn as_ptr(&self) -> *mut u8 {
        self.words.as_ptr() as *mut u8
    }
    pub fn len(&self) -> usize {
        self.layout.total
    }
    pub fn is_empty(&self) -> bool {
        self.layout.total == 0
    }

    fn load(&self, word: usize) -> u32 {
        self.words[word].load(Ordering::Acquire)
    }
    fn store(&self, word: usize, value: u32) {
        self.words[word].store(value, Ordering::Release)
    }

    /// Empties both rings, for a new run.
    fn reset(&self) {
        for w in [
            H_FILLED_HEAD,
            H_FILLED_TAIL,
            H_DONE_HEAD,
            H_DONE_TAIL,
            H_NOTIFY,
        ] {
            self.store(w, 0);
        }
    }

    /// Copies `bytes` into packet `i`'s frame in `slot`.
    ///
    /// # Safety
    /// The caller's side must own `slot` (Rust between taking it from the free list and
    /// publishing it), and `bytes` must fit a frame.
    unsafe fn write_frame(&self, slot: u32, i: usize, bytes: &[u8]) {
        let offset = self.layout.frame(slot, i);
        debug_assert!(bytes.len() <= self.layout.frame_size as usize);
        // SAFETY: the frame lies within `words` (the layout's arithmetic); the words are
        // UnsafeCell-backed atomics, so writing through a pointer derived from a shared
        // reference is allowed; the caller guarantees nobody else touches the slot meanwhile.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.as_ptr().add(offset), bytes.len())
        }
    }

    /// The first `len` bytes of packet `i`'s frame in `slot`.
    ///
    /// # Safety
    /// As for [`Arena::write_frame`] (or after reading `slot` from the done ring), with
    /// `len <= frame_size`; the slice must be gone before the slot is handed on.
    unsafe fn frame(&self, slot: u32, i: usize, len: usize) -> &[u8] {
        let offset = self.layout.frame(slot, i);
        debug_assert!(len <= self.layout.frame_size as usize);
        // SAFETY: within `words`, as above, and nobody writes the slot while the caller owns it.
        unsafe { std::slice::from_raw_parts(self.as_ptr().add(offset), len) }
    }
}

/// Asks JavaScript to drain an arena; must not block.
pub type Wake = Arc<dyn Fn(u32) + Send + Sync>;

/// What the stage and its outbox share on their data-plane thread.
struct Shared {
    arena: Arc<Arena>,
    /// The arena's index, passed to `wake`.
    index: u32,
    wake: Wake,
    state: Mutex<ProducerState>,
}

/// The Rust side's private ring state: touched only by the data-plane thread.
struct ProducerState {
    free: Vec<u32>,
    filled_head: u32,
    done_tail: u32,
    /// Per slot at JavaScript, the queue its batch came from and how many packets it holds:
    /// kept here, not read back from memory JavaScript can write.
    origin: Vec<Option<(QueueRef, usize)>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("index", &self.index)
            .field("layout", &self.arena.layout)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn new(arena: Arc<Arena>, index: u32, wake: Wake) -> Shared {
        arena.reset();
        let free = (0..arena.layout.slots).rev().collect();
        let origin = vec![None; arena.layout.slots as usize];
        Shared {
            arena,
            index,
            wake,
            state: Mutex::new(ProducerState {
                free,
                filled_head: 0,
                done_tail: 0,
                origin,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, ProducerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The `js` stage on a data-plane thread: copies each batch into a free slot for JavaScript.
#[derive(Debug)]
pub struct JsStage(Arc<Shared>);

impl Processor for JsStage {
    fn process(&mut self, batch: &mut Batch) {
        let shared = &*self.0;
        let (arena, layout) = (&*shared.arena, shared.arena.layout);
        let mut state = shared.state();
        let Some(slot) = state.free.pop() else {
            // JavaScript is behind: drop rather than wait.
            for mut packet in batch.iter_mut() {
                packet.set_verdict(Verdict::Drop(DropReason::JsBacklog));
            }
            return;
        };
        let (port, queue) = (batch.port(), batch.queue());
        let mut count = 0;
        for mut packet in batch.iter_mut() {
            let len = packet.len();
            if len > layout.frame_size as usize {
                packet.set_verdict(Verdict::Drop(DropReason::NoBuffer));
                continue;
            }
            // SAFETY: `slot` came off the free list, so JavaScript does not hold it, and `len`
            // fits a frame.
            unsafe { arena.write_frame(slot, count, packet.data()) };
            let desc = layout.desc(slot, count);
            arena.store(desc + D_OFFSET, layout.frame(slot, count) as u32);
            arena.store(desc + D_LEN, len as u32);
            arena.store(desc + D_VERDICT, V_PENDING);
            arena.store(desc + D_CAPACITY, layout.frame_size);
            packet.set_verdict(Verdict::Taken);
            count += 1;
        }
        if count == 0 {
            state.free.push(slot);
            return;
        }
        state.origin[slot as usize] = Some((QueueRef { port, queue }, count));
        let words = layout.slot_words(slot);
        arena.store(words + S_COUNT, count as u32);
        arena.store(words + S_PORT, port.into());
        arena.store(words + S_QUEUE, queue.into());
        let head = state.filled_head;
        arena.store(
            layout.filled_ring + (head & (layout.slots - 1)) as usize,
            slot,
        );
        state.filled_head = head.wrapping_add(1);
        arena.store(H_FILLED_HEAD, state.filled_head);
        if arena.words[H_NOTIFY].swap(1, Ordering::AcqRel) == 0 {
            (shared.wake)(shared.index);
        }
    }
}

/// Sends what JavaScript has finished, on the stage's data-plane thread.
#[derive(Debug)]
pub struct JsOutbox(Arc<Shared>);

/// A descriptor's verdict code as a verdict; unknown codes count as no verdict.
fn decode_verdict(code: u32) -> Verdict {
    match code {
        V_TRANSMIT => Verdict::Transmit,
        V_DROP => Verdict::Drop(DropReason::Processor),
        V_KERNEL => Verdict::Kernel,
        c if c & !0xffff == V_TRANSMIT_ON => Verdict::TransmitOn((c & 0xffff) as PortId),
        _ => Verdict::Pending,
    }
}

impl Outbox for JsOutbox {
    fn flush(&mut self, sink: &mut Sink<'_>) -> usize {
        let shared = &*self.0;
        let (arena, layout) = (&*shared.arena, shared.arena.layout);
        let mut state = shared.state();
        let done_head = arena.load(H_DONE_HEAD);
        let mut frames: Vec<&[u8]> = Vec::new();
        let mut handled = 0;
        while state.done_tail != done_head {
            let slot =
                arena.load(layout.done_ring + (state.done_tail & (layout.slots - 1)) as usize);
            state.done_tail = state.done_tail.wrapping_add(1);
            // JavaScript's memory may hold anything: take back only slots it was given.
            let Some((from, count)) = state.origin.get_mut(slot as usize).and_then(Option::take)
            else {
                continue;
            };
            if let Some(source) = sink.source_of(from) {
                let mut run = Verdict::Pending;
                for i in 0..count {
                    let desc = layout.desc(slot, i);
                    let len = arena.load(desc + D_LEN) as usize;
                    let verdict = decode_verdict(arena.load(desc + D_VERDICT));
                    if verdict != run && !frames.is_empty() {
                        sink.transmit(source, run, &frames);
                        frames.clear();
                    }
                    run = verdict;
                    match verdict {
                        Verdict::Transmit | Verdict::TransmitOn(_) if len == 0 => {
                            sink.drop(source, DropReason::Malformed, 1)
                        }
                        Verdict::Transmit | Verdict::TransmitOn(_) => {
                            let len = len.min(layout.frame_size as usize);
                            // SAFETY: the slot came off the done ring, so JavaScript has given
                            // it back, and `len` is clamped to the frame.
                            frames.push(unsafe { arena.frame(slot, i, len) });
                        }
                        Verdict::Drop(reason) => sink.drop(source, reason, 1),
                        // The original buffer is gone; this stage has no way into the kernel.
                        Verdict::Kernel => sink.drop(source, DropReason::NoSlowPath, 1),
                        // JavaScript cannot say Taken: decoding never yields it.
                        Verdict::Pending | Verdict::Taken => {
                            sink.drop(source, DropReason::NoVerdict, 1)
                        }
                    }
                }
                if !frames.is_empty() {
                    sink.transmit(source, run, &frames);
                    frames.clear();
                }
            }
            state.free.push(slot);
            handled += count;
        }
        arena.store(H_DONE_TAIL, state.done_tail);
        handled
    }

    fn awaiting(&self) -> bool {
        self.0.state().free.len() < self.0.arena.layout.slots as usize
    }
}

/// What `onBatch` registered: one arena per data-plane thread and the wake-up of JavaScript.
struct Registration {
    arenas: Vec<Arc<Arena>>,
    wake: Wake,
}

/// Makes the `js` stages of a data plane, and the other stages through `others`, and hands the
/// `js` stages' outboxes to the runtime. The runtime builds the threads' pipelines in turn and
/// takes the outboxes after each, so the n-th stage made since [`JsStages::begin_start`] belongs
/// to the n-th thread and gets the n-th arena.
pub struct JsStages {
    others: Arc<dyn ProcessorFactory + Send + Sync>,
    registration: Mutex<Option<Registration>>,
    made: Mutex<Made>,
}

#[derive(Default)]
struct Made {
    count: usize,
    outboxes: Vec<Box<dyn Outbox>>,
}

impl std::fmt::Debug for JsStages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsStages").finish_non_exhaustive()
    }
}

impl JsStages {
    pub fn new(others: Arc<dyn ProcessorFactory + Send + Sync>) -> JsStages {
        JsStages {
            others,
            registration: Mutex::new(None),
            made: Mutex::new(Made::default()),
        }
    }

    /// Registers a handler's arenas (one per data-plane thread) and its wake-up.
    pub fn register(&self, arenas: Vec<Arc<Arena>>, wake: Wake) {
        *lock(&self.registration) = Some(Registration { arenas, wake });
    }

    /// Called before the runtime builds the pipelines of a new run.
    pub fn begin_start(&self) {
        *lock(&self.made) = Made::default();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ProcessorFactory for JsStages {
    fn create(&self, stage: usize, spec: &ProcessorObject) -> Result<Box<dyn Processor>, String> {
        if *spec != ProcessorObject::Js {
            return self.others.create(stage, spec);
        }
        let registration = lock(&self.registration);
        let Some(registration) = registration.as_ref() else {
            return Err("no TypeScript handler: call dataplane.onBatch() before start()".into());
        };
        let mut made = lock(&self.made);
        let Some(arena) = registration.arenas.get(made.count) else {
            return Err(format!(
                "only one js stage per pipeline ({} data-plane threads, {} arenas)",
                made.count + 1,
                registration.arenas.len()
            ));
        };
        let shared = Arc::new(Shared::new(
            arena.clone(),
            made.count as u32,
            registration.wake.clone(),
        ));
        made.count += 1;
        made.outboxes.push(Box::new(JsOutbox(shared.clone())));
        Ok(Box::new(JsStage(shared)))
    }
}

impl TakeOutboxes for JsStages {
    fn take(&self) -> Vec<Box<dyn Outbox>> {
        std::mem::take(&mut lock(&self.made).outboxes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn stage(slots: u32, batch: u32) -> (Arc<Shared>, Arc<AtomicUsize>) {
        let arena = Arc::new(Arena::new(slots, batch, 128).unwrap());
        let wakes = Arc::new(AtomicUsize::new(0));
        let counter = wakes.clone();
        let wake: Wake = Arc::new(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        (Arc::new(Shared::new(arena, 0, wake)), wakes)
    }

    fn fill(batch: &mut Batch, frames: &mut [Vec<u8>]) {
        let slots = batch.begin_fill(0, 0);
        for (slot, f) in slots.iter_mut().zip(frames.iter_mut()) {
            // SAFETY: the frames outlive the batch in each test.
            unsafe { slot.set(f.as_mut_ptr(), f.len() as u32, 0, f.len() as u32, 0) };
        }
        batch.set_len(frames.len());
    }

    /// Plays JavaScript: takes every filled slot, applies `edit` to each packet, hands it back.
    fn js_drain(arena: &Arena, mut edit: impl FnMut(&[u8], usize) -> (usize, u32)) -> usize {
        let l = arena.layout;
        arena.store(H_NOTIFY, 0);
        let mut drained = 0;
        let (mut tail, head) = (arena.load(H_FILLED_TAIL), arena.load(H_FILLED_HEAD));
        while tail != head {
            let slot = arena.load(l.filled_ring + (tail & (l.slots - 1)) as usize);
            let count = arena.load(l.slot_words(slot) + S_COUNT) as usize;
            for i in 0..count {
                let d = l.desc(slot, i);
                let (off, len) = (
                    arena.load(d + D_OFFSET) as usize,
                    arena.load(d + D_LEN) as usize,
                );
                assert_eq!(off, l.frame(slot, i));
                // SAFETY: this test plays the side that owns the slot now.
                let bytes = unsafe { arena.frame(slot, i, len) };
                let (new_len, verdict) = edit(bytes, len);
                arena.store(d + D_LEN, new_len as u32);
                arena.store(d + D_VERDICT, verdict);
            }
            let done = arena.load(H_DONE_HEAD);
            arena.store(l.done_ring + (done & (l.slots - 1)) as usize, slot);
            arena.store(H_DONE_HEAD, done.wrapping_add(1));
            tail = tail.wrapping_add(1);
            arena.store(H_FILLED_TAIL, tail);
            drained += 1;
        }
        drained
    }

    #[test]
    fn layout_rejects_bad_sizes_and_keeps_frames_inside() {
        assert_eq!(Layout::new(3, 32, 2048), Err(ArenaError::Slots(3)));
        assert_eq!(Layout::new(4, 32, 100), Err(ArenaError::FrameSize(100)));
        assert_eq!(Layout::new(4, 0, 2048), Err(ArenaError::BatchSize(0)));
        let l = Layout::new(4, 32, 2048).unwrap();
        assert_eq!(l.data % 64, 0);
        assert!(l.desc(3, 31) + DESC_WORDS <= l.data / 4);
        assert_eq!(l.frame(3, 31) + 2048, l.total);
    }

    #[test]
    fn a_batch_goes_to_a_slot_and_the_originals_are_taken() {
        let (shared, wakes) = stage(4, 8);
        let mut js = JsStage(shared.clone());
        let mut frames = vec![vec![1u8; 60], vec![2u8; 70]];
        let mut batch = Batch::with_capacity(8);
        fill(&mut batch, &mut frames);
        js.process(&mut batch);
        for s in batch.slots() {
            assert_eq!(s.verdict(), Verdict::Taken);
        }
        // A second batch before JavaScript ran: one wake-up only.
        fill(&mut batch, &mut frames);
        js.process(&mut batch);
        assert_eq!(wakes.load(Ordering::Relaxed), 1);
        let mut lens = Vec::new();
        let drained = js_drain(&shared.arena, |bytes, len| {
            lens.push((bytes[0], len));
            (len, V_TRANSMIT)
        });
        assert_eq!(drained, 2);
        assert_eq!(lens, [(1, 60), (2, 70), (1, 60), (2, 70)]);
        assert!(JsOutbox(shared.clone()).awaiting());
    }

    #[test]
    fn with_every_slot_at_javascript_batches_are_dropped_not_waited_for() {
        let (shared, _) = stage(2, 4);
        let mut js = JsStage(shared.clone());
        let mut frames = vec![vec![0u8; 60]; 3];
        let mut batch = Batch::with_capacity(4);
        for _ in 0..2 {
            fill(&mut batch, &mut frames);
            js.process(&mut batch);
        }
        fill(&mut batch, &mut frames);
        js.process(&mut batch);
        for s in batch.slots() {
            assert_eq!(s.verdict(), Verdict::Drop(DropReason::JsBacklog));
        }
        assert_eq!(shared.state().free.len(), 0);
    }

    #[test]
    fn frames_larger_than_a_slot_frame_are_dropped() {
        let (shared, _) = stage(2, 4);
        let mut js = JsStage(shared);
        let mut frames = vec![vec![0u8; 129], vec![0u8; 64]];
        let mut batch = Batch::with_capacity(4);
        fill(&mut batch, &mut frames);
        js.process(&mut batch);
        let verdicts: Vec<_> = batch.slots().iter().map(|s| s.verdict()).collect();
        assert_eq!(
            verdicts,
            [Verdict::Drop(DropReason::NoBuffer), Verdict::Taken]
        );
    }

    #[test]
    fn verdict_codes_decode_and_garbage_is_no_verdict() {
        assert_eq!(decode_verdict(V_TRANSMIT), Verdict::Transmit);
        assert_eq!(decode_verdict(V_DROP), Verdict::Drop(DropReason::Processor));
        assert_eq!(decode_verdict(V_KERNEL), Verdict::Kernel);
        assert_eq!(decode_verdict(V_TRANSMIT_ON | 3), Verdict::TransmitOn(3));
        assert_eq!(decode_verdict(V_PENDING), Verdict::Pending);
        assert_eq!(decode_verdict(0x2_0001), Verdict::Pending);
    }

    #[test]
    fn rings_wrap_past_u32_max() {
        let (shared, _) = stage(2, 1);
        let arena = &shared.arena;
        {
            let mut state = shared.state();
            state.filled_head = u32::MAX;
            state.done_tail = u32::MAX;
        }
        for w in [H_FILLED_HEAD, H_FILLED_TAIL, H_DONE_HEAD, H_DONE_TAIL] {
            arena.store(w, u32::MAX);
        }
        let mut js = JsStage(shared.clone());
        let mut frames = vec![vec![5u8; 64]];
        let mut batch = Batch::with_capacity(1);
        for round in 0..3u8 {
            fill(&mut batch, &mut frames);
            js.process(&mut batch);
            let seen = js_drain(arena, |bytes, len| {
                assert_eq!(bytes[0], 5);
                (len, V_DROP)
            });
            assert_eq!(seen, 1, "round {round}");
            // Without a runtime Sink, hand the slot back as the outbox would.
            let mut state = shared.state();
            let l = arena.layout;
            let slot = arena.load(l.done_ring + (state.done_tail & (l.slots - 1)) as usize);
            state.done_tail = state.done_tail.wrapping_add(1);
            state.free.push(slot);
        }
        assert_eq!(arena.load(H_FILLED_HEAD), 2);
    }

    #[test]
    fn the_factory_gives_each_thread_its_arena_and_outbox() {
        let stages = JsStages::new(Arc::new(fastlane_core::processor::BuiltinsOnly));
        assert!(stages.create(0, &ProcessorObject::Js).is_err());
        let arenas = (0..2)
            .map(|_| Arc::new(Arena::new(2, 4, 128).unwrap()))
            .collect();
        stages.register(arenas, Arc::new(|_| {}));
        stages.begin_start();
        for _ in 0..2 {
            assert!(stages.create(0, &ProcessorObject::Js).is_ok());
            assert_eq!(stages.take().len(), 1);
        }
        assert!(stages.create(0, &ProcessorObject::Js).is_err());
        assert!(stages.create(0, &ProcessorObject::Drop).is_err());
        stages.begin_start();
        assert!(stages.create(0, &ProcessorObject::Js).is_ok());
    }
}
