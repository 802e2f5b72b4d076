//! A fixed-capacity hash table of fixed-size records in shared memory: linear probing, one writer
//! (behind a robust owner lock), any number of readers that never wait.
//!
//! Each slot starts with a word holding its state (high half) and a sequence number (low half),
//! odd while the writer changes the slot. The writer makes the word odd (Release), issues a
//! Release fence, stores the record with relaxed atomic stores, and makes the word even
//! (Release). Readers load the word with Acquire, copy the key and value with relaxed atomic
//! loads, issue an Acquire fence and load the word again: equal and even means no store of the
//! writer's was seen, so the copy is whole.
//!
//! Before touching a slot the writer copies it to a journal and publishes the slot's index
//! (Release). A reader that finds the slot odd reads the journal's copy instead, validated the
//! same way by the slot's word, so readers never wait for a writer, even a dead one. A writer that
//! takes the lock from a dead one restores the slot it left odd from that journal.

use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::ShmError;
use crate::layout::ObjectSpec;
use crate::lock;
use crate::mem::{self, Mapping};

const EMPTY: u64 = 0;
const FULL: u64 = 1;
const TOMBSTONE: u64 = 2;

// Table header fields.
const T_LOCK: usize = 0;
const T_LEN: usize = 8;
const T_TOMBSTONES: usize = 16;
const T_JOURNAL_INDEX: usize = 64;
const T_JOURNAL_LEN: usize = 72;
const T_JOURNAL_TOMBSTONES: usize = 80;
const T_JOURNAL_SLOT: usize = 128;

/// A slot still inconsistent after this many reads is corrupt (a live writer moves on long
/// before): readers treat it as absent rather than spin forever.
const RETRIES: u32 = 1 << 16;

const MAX_KEY_WORDS: usize = crate::layout::MAX_KEY / 8;

fn state(word: u64) -> u64 {
    word >> 32
}

fn with_state(word: u64, state: u64, seq_step: u64) -> u64 {
    (state << 32) | (word.wrapping_add(seq_step) & 0xffff_ffff)
}

/// Sizes and offsets of one table, derived from its spec alone.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Geometry {
    key_size: usize,
    value_size: usize,
    key_words: usize,
    value_words: usize,
    slot_size: usize,
    slots: usize,
    capacity: u64,
    slots_offset: usize,
}

impl Geometry {
    pub(crate) fn of(spec: &ObjectSpec) -> Self {
        let key_words = (spec.key_size as usize).div_ceil(8);
        let value_words = (spec.value_size as usize).div_ceil(8);
        let slot_size = 8 * (1 + key_words + value_words);
        // At most 3/4 full, so that probes stay short; always one slot more than capacity.
        let slots = (spec.capacity + spec.capacity / 3 + 1) as usize;
        Geometry {
            key_size: spec.key_size as usize,
            value_size: spec.value_size as usize,
            key_words,
            value_words,
            slot_size,
            slots,
            capacity: spec.capacity,
            slots_offset: (T_JOURNAL_SLOT + slot_size).next_multiple_of(64),
        }
    }

    pub(crate) fn bytes(&self) -> usize {
        self.slots_offset + self.slots * self.slot_size
    }
}

/// The key's words and its home slot.
#[inline]
fn hash(key: &[u64], slots: usize) -> usize {
    let mut h: u64 = 0x243f_6a88_85a3_08d3 ^ key.len() as u64;
    for word in key {
        h = (h ^ word).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^= h >> 32;
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    ((u128::from(h) * slots as u128) >> 64) as usize
}

/// Asks the CPU to start loading `word`'s cache line.
#[inline(always)]
pub(crate) fn prefetch(word: &AtomicU64) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults; SSE is part of x86_64.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(word.as_ptr().cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = word;
}

enum Probe {
    Empty,
    Match,
    Other,
}

/// A handle on one table. Reads (`get_into`, `iter`, `len`) take `&self` and never wait; writes
/// take `&mut self` and the table's writer lock, held from the first write until drop.
#[derive(Debug)]
pub struct Table {
    map: Arc<Mapping>,
    name: String,
    geo: Geometry,
    base: usize,
    stamp: u64,
    writer: bool,
}

impl Table {
    pub(crate) fn new(map: Arc<Mapping>, spec: &ObjectSpec, base: usize) -> Self {
        Table {
            map,
            name: spec.name.clone(),
            geo: Geometry::of(spec),
            base,
            stamp: lock::new_stamp(),
            writer: false,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_size(&self) -> usize {
        self.geo.key_size
    }

    pub fn value_size(&self) -> usize {
        self.geo.value_size
    }

    pub fn capacity(&self) -> u64 {
        self.geo.capacity
    }

    /// Records present, as the writer last counted.
    pub fn len(&self) -> u64 {
        self.map.u64(self.base + T_LEN).load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    fn word0(&self, index: usize) -> &AtomicU64 {
        self.map
            .u64(self.base + self.geo.slots_offset + index * self.geo.slot_size)
    }

    #[inline]
    fn key_words(&self, index: usize) -> &[AtomicU64] {
        let slot = self.base + self.geo.slots_offset + index * self.geo.slot_size;
        self.map.words(slot + 8, self.geo.key_words)
    }

    #[inline]
    fn value_words(&self, index: usize) -> &[AtomicU64] {
        let slot = self.base + self.geo.slots_offset + index * self.geo.slot_size;
        self.map
            .words(slot + 8 * (1 + self.geo.key_words), self.geo.value_words)
    }

    #[inline]
    fn slot_words(&self, index: usize) -> &[AtomicU64] {
        let slot = self.base + self.geo.slots_offset + index * self.geo.slot_size;
        self.map.words(slot, self.geo.slot_size / 8)
    }

    #[inline]
    fn journal_words(&self) -> &[AtomicU64] {
        self.map
            .words(self.base + T_JOURNAL_SLOT, self.geo.slot_size / 8)
    }

    #[inline]
    fn next(&self, index: usize) -> usize {
        if index + 1 == self.geo.slots {
            0
        } else {
            index + 1
        }
    }

    #[inline]
    fn key_as_words(&self, key: &[u8]) -> Option<[u64; MAX_KEY_WORDS]> {
        if key.len() != self.geo.key_size {
            return None;
        }
        let mut words = [0u64; MAX_KEY_WORDS];
        mem::to_words(key, &mut words);
        Some(words)
    }

    /// Runs `look` on a consistent view of slot `index` (its state, key words and value words):
    /// the slot itself, or while the writer changes it, the journal's copy of what it held
    /// before. Never waits for the writer: a retry means the writer moved on in between.
    #[inline]
    fn read_slot<T>(
        &self,
        index: usize,
        mut look: impl FnMut(u64, &[AtomicU64], &[AtomicU64]) -> T,
    ) -> Option<T> {
        let word0 = self.word0(index);
        let journal_index = self.map.u64(self.base + T_JOURNAL_INDEX);
        for _ in 0..RETRIES {
            let before = word0.load(Ordering::Acquire);
            let result = if before & 1 == 0 {
                look(
                    state(before),
                    self.key_words(index),
                    self.value_words(index),
                )
            } else if journal_index.load(Ordering::Acquire) == index as u64 + 1 {
                let journal = self.journal_words();
                let (key, value) = journal[1..].split_at(self.geo.key_words);
                look(state(journal[0].load(Ordering::Relaxed)), key, value)
            } else {
                std::hint::spin_loop();
                continue;
            };
            fence(Ordering::Acquire);
            if word0.load(Ordering::Relaxed) == before {
                return Some(result);
            }
        }
        None
    }

    #[inline]
    fn probe(&self, index: usize, key: &[u64], out: &mut [u8]) -> Probe {
        let value_size = self.geo.value_size;
        self.read_slot(index, |state, key_words, value_words| match state {
            EMPTY => Probe::Empty,
            FULL if mem::words_equal(key_words, key) => {
                mem::load_bytes(value_words, &mut out[..value_size]);
                Probe::Match
            }
            _ => Probe::Other,
        })
        .unwrap_or(Probe::Other)
    }

    /// Copies the value of `key` into the first `value_size` bytes of `out`; false when absent
    /// (or when `key` or `out` has the wrong size). Never allocates, never waits on the writer.
    #[inline]
    pub fn get_into(&self, key: &[u8], out: &mut [u8]) -> bool {
        let Some(words) = self.key_as_words(key) else {
            return false;
        };
        if out.len() < self.geo.value_size {
            return false;
        }
        let words = &words[..self.geo.key_words];
        self.get_from(words, hash(words, self.geo.slots), out)
    }

    /// `get_into` of the key `words` from its home slot `index`.
    #[inline]
    fn get_from(&self, words: &[u64], mut index: usize, out: &mut [u8]) -> bool {
        for _ in 0..self.geo.slots {
            match self.probe(index, words, out) {
                Probe::Empty => return false,
                Probe::Match => return true,
                Probe::Other => index = self.next(index),
            }
        }
        false
    }

    /// Runs `read` on the value of `key` where it lies, without copying it first: for records a
    /// reader needs only part of. `read` gets the value's words (the last one zero-padded) and
    /// must only load from them (relaxed loads suffice); it may run more than once, each result
    /// but the one returned being thrown away because the writer changed the record meanwhile.
    /// None when `key` is absent or has the wrong size. Never allocates, never waits on the writer.
    #[inline]
    pub fn read_with<T>(&self, key: &[u8], mut read: impl FnMut(&[AtomicU64]) -> T) -> Option<T> {
        let words = self.key_as_words(key)?;
        let words = &words[..self.geo.key_words];
        let mut index = hash(words, self.geo.slots);
        for _ in 0..self.geo.slots {
            let probe = self.read_slot(index, |state, key_words, value_words| match state {
                EMPTY => Some(None),
                FULL if mem::words_equal(key_words, words) => Some(Some(read(value_words))),
                _ => None,
            });
            match probe {
                Some(Some(found)) => return found,
                _ => index = self.next(index),
            }
        }
        None
    }

    /// Starts fetching the home slot of `key` from memory (its state, key and the first
    /// `value_bytes` of its value), for a reader that will look the key up shortly: a fast path
    /// prefetches a batch's keys before reading the first, so that the cache misses overlap.
    /// A hint only: never faults, never waits.
    #[inline]
    pub fn prefetch(&self, key: &[u8], value_bytes: usize) {
        let Some(words) = self.key_as_words(key) else {
            return;
        };
        let index = hash(&words[..self.geo.key_words], self.geo.slots);
        let slot = self.slot_words(index);
        let end = (1 + self.geo.key_words + value_bytes.div_ceil(8)).min(slot.len());
        // One word per cache line.
        for word in slot[..end]
            .iter()
            .step_by(8)
            .chain(slot.get(end.saturating_sub(1)))
        {
            prefetch(word);
        }
    }

    /// Looks up many keys at once, as a fast path does for a batch of packets: every home slot is
    /// fetched from memory before the first is read, so the cache misses overlap. Value `i` goes
    /// to `values[i * value_size..]` and `found[i]` says whether key `i` was present; how many
    /// were. Never allocates.
    pub fn get_batch_into<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
        values: &mut [u8],
        found: &mut [bool],
    ) -> usize {
        const AHEAD: usize = 16;
        let value_size = self.geo.value_size;
        let mut homes = [None; AHEAD];
        let mut hits = 0;
        for (chunk, keys) in keys.chunks(AHEAD).enumerate() {
            for (home, key) in homes.iter_mut().zip(keys) {
                *home = self.key_as_words(key.as_ref()).map(|words| {
                    let index = hash(&words[..self.geo.key_words], self.geo.slots);
                    // The record may straddle two cache lines.
                    prefetch(self.word0(index));
                    prefetch(&self.slot_words(index)[self.geo.slot_size / 8 - 1]);
                    (words, index)
                });
            }
            for (i, home) in homes.iter().take(keys.len()).enumerate() {
                let n = chunk * AHEAD + i;
                let (Some(out), Some(hit)) = (
                    values.get_mut(n * value_size..(n + 1) * value_size),
                    found.get_mut(n),
                ) else {
                    return hits;
                };
                *hit = home.is_some_and(|(words, index)| {
                    self.get_from(&words[..self.geo.key_words], index, out)
                });
                hits += usize::from(*hit);
            }
        }
        hits
    }

    /// The value of `key`, allocated.
    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let mut value = vec![0; self.geo.value_size];
        self.get_into(key, &mut value).then_some(value)
    }

    /// Every record, each read consistently (the whole is not a snapshot).
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            table: self,
            index: 0,
        }
    }

    /// Takes the writer lock unless this handle holds it; repairs what a dead writer left.
    fn become_writer(&mut self) -> Result<(), ShmError> {
        if self.writer {
            return Ok(());
        }
        lock::acquire(
            self.map.u64(self.base + T_LOCK),
            self.stamp,
            "writer lock",
            &self.name,
        )?;
        self.writer = true;
        // A journal left behind means the previous writer died mid-write.
        self.repair();
        Ok(())
    }

    /// Whether a write is in flight, or was cut short by its writer's death and awaits repair
    /// by the next writer (readers meanwhile see the record as it was before).
    pub fn write_in_progress(&self) -> bool {
        self.map
            .u64(self.base + T_JOURNAL_INDEX)
            .load(Ordering::Acquire)
            != 0
    }

    /// Whether this handle holds the writer lock.
    pub fn is_writer(&self) -> bool {
        self.writer
    }

    /// Gives the writer lock back (it is also given back on drop).
    pub fn release_writer(&mut self) {
        if self.writer {
            lock::release(self.map.u64(self.base + T_LOCK), self.stamp);
            self.writer = false;
        }
    }

    /// Puts back the slot a dead writer left mid-write, and the counters of that moment.
    fn repair(&mut self) {
        let journal_index = self.map.u64(self.base + T_JOURNAL_INDEX);
        let entry = journal_index.load(Ordering::Acquire) as usize;
        if entry == 0 || entry > self.geo.slots {
            journal_index.store(0, Ordering::Release);
            return;
        }
        let index = entry - 1;
        let journal = self.journal_words();
        let old = journal[0].load(Ordering::Relaxed);
        let word0 = self.word0(index);
        let now = word0.load(Ordering::Relaxed);
        let len = self.map.u64(self.base + T_LEN);
        let tombstones = self.map.u64(self.base + T_TOMBSTONES);
        let restore_counters = || {
            let saved = self
                .map
                .u64(self.base + T_JOURNAL_LEN)
                .load(Ordering::Relaxed);
            len.store(saved, Ordering::Relaxed);
            let saved = self
                .map
                .u64(self.base + T_JOURNAL_TOMBSTONES)
                .load(Ordering::Relaxed);
            tombstones.store(saved, Ordering::Relaxed);
        };
        if now & 1 == 1 {
            // Readers skip the slot while it is odd; it becomes even with the old record.
            for (slot, saved) in self.slot_words(index).iter().zip(journal).skip(1) {
                slot.store(saved.load(Ordering::Relaxed), Ordering::Relaxed);
            }
            restore_counters();
            word0.store(with_state(now, state(old), 1), Ordering::Release);
        } else if now == old {
            // Died before touching the slot.
            restore_counters();
        }
        journal_index.store(0, Ordering::Release);
    }

    /// Rewrites slot `index` under its seqlock: the new state, and the key and value when given.
    fn write_slot(
        &self,
        index: usize,
        new_state: u64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        len_delta: i64,
        tombstone_delta: i64,
    ) {
        let word0 = self.word0(index);
        let before = word0.load(Ordering::Relaxed);
        let len = self.map.u64(self.base + T_LEN);
        let tombstones = self.map.u64(self.base + T_TOMBSTONES);

        // Readers that see the journal's new content must also see the previous write finished.
        fence(Ordering::Release);
        for (saved, slot) in self.journal_words().iter().zip(self.slot_words(index)) {
            saved.store(slot.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        self.map
            .u64(self.base + T_JOURNAL_LEN)
            .store(len.load(Ordering::Relaxed), Ordering::Relaxed);
        self.map
            .u64(self.base + T_JOURNAL_TOMBSTONES)
            .store(tombstones.load(Ordering::Relaxed), Ordering::Relaxed);
        self.map
            .u64(self.base + T_JOURNAL_INDEX)
            .store(index as u64 + 1, Ordering::Release);

        word0.store(with_state(before, state(before), 1), Ordering::Release);
        fence(Ordering::Release);
        if let Some(key) = key {
            mem::store_bytes(self.key_words(index), key);
        }
        if let Some(value) = value {
            mem::store_bytes(self.value_words(index), value);
        }
        len.store(
            len.load(Ordering::Relaxed).wrapping_add_signed(len_delta),
            Ordering::Relaxed,
        );
        tombstones.store(
            tombstones
                .load(Ordering::Relaxed)
                .wrapping_add_signed(tombstone_delta),
            Ordering::Relaxed,
        );
        word0.store(with_state(before, new_state, 2), Ordering::Release);

        self.map
            .u64(self.base + T_JOURNAL_INDEX)
            .store(0, Ordering::Release);
    }

    fn check_size(&self, what: &'static str, len: usize, expected: usize) -> Result<(), ShmError> {
        if len == expected {
            Ok(())
        } else {
            Err(ShmError::WrongSize {
                what,
                object: self.name.clone(),
                len,
                expected,
            })
        }
    }

    /// The slot holding `key` (writer only: no slot is odd while we hold the lock).
    fn find(&self, key: &[u64]) -> (Option<usize>, Option<usize>, Option<usize>) {
        let mut index = hash(key, self.geo.slots);
        let mut first_tombstone = None;
        for _ in 0..self.geo.slots {
            let word = self.word0(index).load(Ordering::Relaxed);
            match state(word) {
                EMPTY => return (None, first_tombstone, Some(index)),
                FULL if mem::words_equal(self.key_words(index), key) => {
                    return (Some(index), first_tombstone, None)
                }
                TOMBSTONE => {
                    first_tombstone.get_or_insert(index);
                }
                _ => {}
            }
            index = self.next(index);
        }
        (None, first_tombstone, None)
    }

    /// Inserts or replaces; true when `key` was new.
    pub fn insert(&mut self, key: &[u8], value: &[u8]) -> Result<bool, ShmError> {
        self.check_size("key", key.len(), self.geo.key_size)?;
        self.check_size("value", value.len(), self.geo.value_size)?;
        self.become_writer()?;
        let Some(words) = self.key_as_words(key) else {
            return Ok(false);
        };
        let (found, tombstone, empty) = self.find(&words[..self.geo.key_words]);
        if let Some(index) = found {
            self.write_slot(index, FULL, None, Some(value), 0, 0);
            return Ok(false);
        }
        if self.len() >= self.geo.capacity {
            return Err(ShmError::TableFull {
                table: self.name.clone(),
                capacity: self.geo.capacity,
            });
        }
        match (tombstone, empty) {
            (Some(index), _) => self.write_slot(index, FULL, Some(key), Some(value), 1, -1),
            (None, Some(index)) => self.write_slot(index, FULL, Some(key), Some(value), 1, 0),
            (None, None) => {
                return Err(ShmError::TableFull {
                    table: self.name.clone(),
                    capacity: self.geo.capacity,
                })
            }
        }
        Ok(true)
    }

    /// Removes `key`; true when it was present. A slot followed by an empty one becomes empty
    /// (with the tombstones before it) so that misses stay short under churn.
    pub fn remove(&mut self, key: &[u8]) -> Result<bool, ShmError> {
        self.check_size("key", key.len(), self.geo.key_size)?;
        self.become_writer()?;
        let Some(words) = self.key_as_words(key) else {
            return Ok(false);
        };
        let (Some(index), _, _) = self.find(&words[..self.geo.key_words]) else {
            return Ok(false);
        };
        let next = self.next(index);
        if state(self.word0(next).load(Ordering::Relaxed)) != EMPTY {
            self.write_slot(index, TOMBSTONE, None, None, -1, 1);
            return Ok(true);
        }
        self.write_slot(index, EMPTY, None, None, -1, 0);
        let mut previous = index;
        for _ in 1..self.geo.slots {
            previous = previous.checked_sub(1).unwrap_or(self.geo.slots - 1);
            if state(self.word0(previous).load(Ordering::Relaxed)) != TOMBSTONE {
                break;
            }
            self.write_slot(previous, EMPTY, None, None, 0, -1);
        }
        Ok(true)
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        self.release_writer();
    }
}

/// Records of a table, each read under its seqlock.
#[derive(Debug)]
pub struct Iter<'a> {
    table: &'a Table,
    index: usize,
}

impl Iterator for Iter<'_> {
    type Item = (Vec<u8>, Vec<u8>);

    fn next(&mut self) -> Option<Self::Item> {
        let table = self.table;
        while self.index < table.geo.slots {
            let index = self.index;
            self.index += 1;
            let record = table.read_slot(index, |state, key_words, value_words| {
                (state == FULL).then(|| {
                    let mut key = vec![0; table.geo.key_size];
                    let mut value = vec![0; table.geo.value_size];
                    mem::load_bytes(key_words, &mut key);
                    mem::load_bytes(value_words, &mut value);
                    (key, value)
                })
            });
            if let Some(Some(record)) = record {
                return Some(record);
            }
        }
        None
    }
}
