//! A bounded single-producer single-consumer ring of messages in shared memory. The producer owns
//! `tail` and the drop counter, the consumer owns `head`, each on its own cache line; each end is
//! claimed with a robust owner lock on first use so that a second producer or consumer is refused.
//! A message is written before `tail` moves past it (Release) and read after `tail` is seen there
//! (Acquire); the slot is reused only after `head` moves past it, so an end that dies mid-message
//! leaves nothing half-visible.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::ShmError;
use crate::layout::ObjectSpec;
use crate::lock;
use crate::mem::{self, Mapping};

const C_PRODUCER: usize = 0;
const C_CONSUMER: usize = 8;
const C_TAIL: usize = 64;
const C_DROPS: usize = 72;
const C_HEAD: usize = 128;
const C_SLOTS: usize = 192;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Geometry {
    message_size: usize,
    message_words: usize,
    slot_size: usize,
    capacity: u64,
}

impl Geometry {
    pub(crate) fn of(spec: &ObjectSpec) -> Self {
        let message_words = (spec.key_size as usize).div_ceil(8);
        Geometry {
            message_size: spec.key_size as usize,
            message_words,
            slot_size: 8 * (1 + message_words),
            capacity: spec.capacity,
        }
    }

    pub(crate) fn bytes(&self) -> usize {
        C_SLOTS + self.capacity as usize * self.slot_size
    }
}

/// A handle on one channel; the end it is used as (send or receive) is claimed on first use.
#[derive(Debug)]
pub struct Channel {
    map: Arc<Mapping>,
    name: String,
    geo: Geometry,
    base: usize,
    stamp: u64,
    producer: bool,
    consumer: bool,
    /// The consumer's `head` as the producer last saw it, to touch its cache line rarely.
    seen_head: u64,
    /// The producer's `tail` as the consumer last saw it.
    seen_tail: u64,
}

impl Channel {
    pub(crate) fn new(map: Arc<Mapping>, spec: &ObjectSpec, base: usize) -> Self {
        Channel {
            map,
            name: spec.name.clone(),
            geo: Geometry::of(spec),
            base,
            stamp: lock::new_stamp(),
            producer: false,
            consumer: false,
            seen_head: 0,
            seen_tail: 0,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn message_size(&self) -> usize {
        self.geo.message_size
    }

    pub fn capacity(&self) -> u64 {
        self.geo.capacity
    }

    fn at(&self, field: usize) -> &AtomicU64 {
        self.map.u64(self.base + field)
    }

    fn slot(&self, position: u64) -> (&AtomicU64, &[AtomicU64]) {
        let offset =
            self.base + C_SLOTS + (position % self.geo.capacity) as usize * self.geo.slot_size;
        (
            self.map.u64(offset),
            self.map.words(offset + 8, self.geo.message_words),
        )
    }

    /// Messages dropped because the ring was full, since the region was created.
    pub fn drops(&self) -> u64 {
        self.at(C_DROPS).load(Ordering::Relaxed)
    }

    /// Messages waiting.
    pub fn len(&self) -> u64 {
        let tail = self.at(C_TAIL).load(Ordering::Acquire);
        tail.saturating_sub(self.at(C_HEAD).load(Ordering::Acquire))
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Queues `message`; false (and one more drop counted) when the ring is full. Fails when the
    /// message is longer than the channel's, or another live process or handle is the producer.
    pub fn send(&mut self, message: &[u8]) -> Result<bool, ShmError> {
        if message.len() > self.geo.message_size {
            return Err(ShmError::WrongSize {
                what: "message",
                object: self.name.clone(),
                len: message.len(),
                expected: self.geo.message_size,
            });
        }
        if !self.producer {
            lock::acquire(self.at(C_PRODUCER), self.stamp, "producer end", &self.name)?;
            self.producer = true;
            self.seen_head = self.at(C_HEAD).load(Ordering::Acquire);
        }
        let tail = self.at(C_TAIL).load(Ordering::Relaxed);
        if tail.wrapping_sub(self.seen_head) >= self.geo.capacity {
            self.seen_head = self.at(C_HEAD).load(Ordering::Acquire);
            if tail.wrapping_sub(self.seen_head) >= self.geo.capacity {
                self.at(C_DROPS).fetch_add(1, Ordering::Relaxed);
                return Ok(false);
            }
        }
        let (len, words) = self.slot(tail);
        len.store(message.len() as u64, Ordering::Relaxed);
        mem::store_bytes(words, message);
        self.at(C_TAIL)
            .store(tail.wrapping_add(1), Ordering::Release);
        Ok(true)
    }

    fn become_consumer(&mut self) -> Result<(), ShmError> {
        if !self.consumer {
            lock::acquire(self.at(C_CONSUMER), self.stamp, "consumer end", &self.name)?;
            self.consumer = true;
            self.seen_tail = self.at(C_TAIL).load(Ordering::Acquire);
        }
        Ok(())
    }

    /// Takes the oldest message into `out` (at least `message_size` bytes); its length, or None
    /// when the ring is empty.
    pub fn recv(&mut self, out: &mut [u8]) -> Result<Option<usize>, ShmError> {
        let mut got = None;
        self.recv_batch(1, |message| {
            let n = message.len().min(out.len());
            out[..n].copy_from_slice(&message[..n]);
            got = Some(n);
        })?;
        Ok(got)
    }

    /// Hands up to `max` waiting messages to `each`, oldest first; how many it handed.
    pub fn recv_batch(
        &mut self,
        max: usize,
        mut each: impl FnMut(&[u8]),
    ) -> Result<usize, ShmError> {
        self.become_consumer()?;
        let head = self.at(C_HEAD).load(Ordering::Relaxed);
        if self.seen_tail.wrapping_sub(head) < max as u64 {
            self.seen_tail = self.at(C_TAIL).load(Ordering::Acquire);
        }
        let available = self.seen_tail.wrapping_sub(head).min(self.geo.capacity);
        let count = available.min(max as u64);
        let mut buffer = [0u8; crate::layout::MAX_MESSAGE];
        for position in head..head + count {
            let (len, words) = self.slot(position);
            // The producer could be buggy or hostile: never trust the length it wrote.
            let n = (len.load(Ordering::Relaxed) as usize).min(self.geo.message_size);
            mem::load_bytes(words, &mut buffer[..n]);
            each(&buffer[..n]);
        }
        self.at(C_HEAD).store(head + count, Ordering::Release);
        Ok(count as usize)
    }

    /// Gives up the ends this handle claimed (also done on drop).
    pub fn release(&mut self) {
        if self.producer {
            lock::release(self.at(C_PRODUCER), self.stamp);
            self.producer = false;
        }
        if self.consumer {
            lock::release(self.at(C_CONSUMER), self.stamp);
            self.consumer = false;
        }
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.release();
    }
}
