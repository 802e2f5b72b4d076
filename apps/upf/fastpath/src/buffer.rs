//! Downlink buffering for FARs with BUFF: bounded per-FAR FIFO queues of packet copies in one
//! pool allocated when the instance is made, so that buffering allocates nothing per packet.
//! Each pool slot keeps headroom in front of the frame, so a released packet is encapsulated in
//! place before it is sent.

use fastlane_abi::{Packet, Slot};

/// Bytes of one pool slot: headroom for the outer headers, then the frame.
const SLOT_BYTES: usize = 2048;
/// Room in front of a buffered frame: Ethernet + IPv6 + UDP + GTP-U with a PDU Session
/// Container, less the Ethernet header the frame brings.
pub const HEADROOM: usize = 128;
/// The longest frame a slot holds.
pub const MAX_FRAME: usize = SLOT_BYTES - HEADROOM;

const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Queue {
    key: u64,
    head: u32,
    tail: u32,
    len: u32,
}

const FREE_QUEUE: Queue = Queue {
    key: 0,
    head: NONE,
    tail: NONE,
    len: 0,
};

/// Why a packet was not buffered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// Its FAR's queue holds the per-FAR bound, or the pool (or the table of queues) is used up,
    /// or the frame is longer than a slot.
    Bound,
}

/// One thread's buffered packets.
#[derive(Debug)]
pub struct Buffers {
    pool: Box<[u8]>,
    lens: Box<[u16]>,
    next: Box<[u32]>,
    free: u32,
    queues: Box<[Queue]>,
    per_queue: u32,
    /// Packets held, over every queue.
    held: usize,
}

impl Buffers {
    /// A pool of `packets` slots, at most `per_queue` of them for one FAR and at most `queues`
    /// FARs buffering at once.
    pub fn new(packets: usize, per_queue: usize, queues: usize) -> Buffers {
        let packets = packets.min(NONE as usize - 1);
        let next = (0..packets)
            .map(|i| if i + 1 < packets { i as u32 + 1 } else { NONE })
            .collect();
        Buffers {
            pool: vec![0u8; packets * SLOT_BYTES].into_boxed_slice(),
            lens: vec![0u16; packets].into_boxed_slice(),
            next,
            free: if packets > 0 { 0 } else { NONE },
            queues: vec![FREE_QUEUE; queues].into_boxed_slice(),
            per_queue: per_queue.min(u32::MAX as usize) as u32,
            held: 0,
        }
    }

    /// Whether nothing is held at all: the one test a packet pays while no FAR buffers.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.held == 0
    }

    pub fn held(&self) -> usize {
        self.held
    }

    fn queue(&self, key: u64) -> Option<usize> {
        self.queues.iter().position(|q| q.len > 0 && q.key == key)
    }

    /// Whether the FAR `key` has packets held (a packet behind them must wait its turn).
    pub fn holds(&self, key: u64) -> bool {
        !self.is_empty() && self.queue(key).is_some()
    }

    /// Holds a copy of `frame` for the FAR `key`; `Ok(true)` when it is the first of a new
    /// buffering period.
    pub fn push(&mut self, key: u64, frame: &[u8]) -> Result<bool, Full> {
        if frame.len() > MAX_FRAME || self.free == NONE {
            return Err(Full::Bound);
        }
        let (q, first) = match self.queue(key) {
            Some(q) if self.queues[q].len >= self.per_queue => return Err(Full::Bound),
            Some(q) => (q, false),
            None => {
                let q = self
                    .queues
                    .iter()
                    .position(|q| q.len == 0)
                    .ok_or(Full::Bound)?;
                self.queues[q] = Queue { key, ..FREE_QUEUE };
                (q, true)
            }
        };
        let slot = self.free;
        let s = slot as usize;
        self.free = self.next[s];
        self.next[s] = NONE;
        let at = s * SLOT_BYTES + HEADROOM;
        self.pool[at..at + frame.len()].copy_from_slice(frame);
        self.lens[s] = frame.len() as u16;
        let queue = &mut self.queues[q];
        if queue.tail == NONE {
            queue.head = slot;
        } else {
            self.next[queue.tail as usize] = slot;
        }
        queue.tail = slot;
        queue.len += 1;
        self.held += 1;
        Ok(first)
    }

    /// The oldest packet held for the FAR `key`.
    pub fn front(&self, key: u64) -> Option<&[u8]> {
        let q = &self.queues[self.queue(key)?];
        let s = q.head as usize;
        let at = s * SLOT_BYTES + HEADROOM;
        Some(&self.pool[at..at + usize::from(self.lens[s])])
    }

    /// The FARs that have packets held, in no particular order (at most `out.len()`); returns
    /// how many it wrote.
    pub fn keys(&self, out: &mut [u64]) -> usize {
        let mut n = 0;
        for q in self.queues.iter().filter(|q| q.len > 0) {
            if n == out.len() {
                break;
            }
            out[n] = q.key;
            n += 1;
        }
        n
    }

    /// Takes up to `out.len()` of the FAR `key`'s packets, oldest first, lets `rewrite` edit
    /// each in place (with the slot's headroom in front of it; `false` discards it), and writes
    /// the finished frames' (offset, length) in the pool into `out`. Returns how many it took
    /// and how many of those `rewrite` kept; the taken slots stay readable through
    /// [`Buffers::frame`] until [`Buffers::free_taken`].
    pub fn take(
        &mut self,
        key: u64,
        out: &mut [(u32, u32)],
        taken: &mut [u32],
        mut rewrite: impl FnMut(&mut Packet<'_>) -> bool,
    ) -> (usize, usize) {
        let Some(q) = self.queue(key) else {
            return (0, 0);
        };
        let (mut took, mut kept) = (0, 0);
        while took < out.len().min(taken.len()) && self.queues[q].len > 0 {
            let slot = self.queues[q].head;
            let s = slot as usize;
            self.queues[q].head = self.next[s];
            self.queues[q].len -= 1;
            if self.queues[q].len == 0 {
                self.queues[q] = FREE_QUEUE;
            }
            self.held -= 1;
            taken[took] = slot;
            took += 1;
            let base = s * SLOT_BYTES;
            let mut raw = Slot::EMPTY;
            // SAFETY: the slot's bytes are this pool's, borrowed mutably through `self` for the
            // rewrite only; the frame lies within them.
            unsafe {
                raw.set(
                    self.pool[base..base + SLOT_BYTES].as_mut_ptr(),
                    SLOT_BYTES as u32,
                    HEADROOM as u32,
                    u32::from(self.lens[s]),
                    0,
                )
            };
            if rewrite(&mut Packet::new(&mut raw)) {
                out[kept] = (base as u32 + raw.offset(), raw.len());
                kept += 1;
            }
        }
        (took, kept)
    }

    /// A frame [`Buffers::take`] finished.
    pub fn frame(&self, (offset, len): (u32, u32)) -> &[u8] {
        &self.pool[offset as usize..(offset + len) as usize]
    }

    /// Returns the slots [`Buffers::take`] took to the pool.
    pub fn free_taken(&mut self, taken: &[u32]) {
        for &slot in taken {
            self.next[slot as usize] = self.free;
            self.free = slot;
        }
    }

    /// Discards the FAR `key`'s packets; returns how many.
    pub fn discard(&mut self, key: u64) -> usize {
        let mut taken = [0u32; 32];
        let mut out = [(0u32, 0u32); 32];
        let mut total = 0;
        loop {
            let (took, _) = self.take(key, &mut out, &mut taken, |_| false);
            self.free_taken(&taken[..took]);
            total += took;
            if took == 0 {
                return total;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(tag: u8, len: usize) -> Vec<u8> {
        vec![tag; len]
    }

    #[test]
    fn packets_come_back_in_order_per_far_and_the_bounds_hold() {
        let mut b = Buffers::new(5, 3, 2);
        assert_eq!(b.push(7, &frame(1, 60)), Ok(true));
        assert_eq!(b.front(7), Some(&frame(1, 60)[..]));
        assert_eq!(b.push(7, &frame(2, 61)), Ok(false));
        assert_eq!(b.push(9, &frame(3, 62)), Ok(true));
        assert_eq!(b.push(7, &frame(4, 63)), Ok(false));
        assert_eq!(b.push(7, &frame(5, 64)), Err(Full::Bound), "3 per FAR");
        assert_eq!(
            b.push(11, &frame(6, 64)),
            Err(Full::Bound),
            "2 FARs at once"
        );
        assert_eq!(b.push(9, &frame(7, MAX_FRAME + 1)), Err(Full::Bound));
        assert!(b.holds(7) && b.holds(9) && !b.holds(11));
        assert_eq!(b.front(7), Some(&frame(1, 60)[..]), "the oldest, still");
        assert_eq!(b.front(11), None);
        let mut keys = [0u64; 4];
        let n = b.keys(&mut keys);
        keys[..n].sort_unstable();
        assert_eq!(&keys[..n], &[7, 9]);

        let (mut out, mut taken) = ([(0, 0); 2], [0u32; 2]);
        let (took, kept) = b.take(7, &mut out, &mut taken, |p| {
            p.prepend(4).unwrap().fill(0xee);
            true
        });
        assert_eq!((took, kept), (2, 2));
        assert_eq!(b.frame(out[0]), [&[0xee; 4][..], &frame(1, 60)].concat());
        assert_eq!(b.frame(out[1]), [&[0xee; 4][..], &frame(2, 61)].concat());
        b.free_taken(&taken[..took]);
        let (took, kept) = b.take(7, &mut out, &mut taken, |p| p.data()[0] != 4);
        assert_eq!((took, kept), (1, 0), "the rewrite discarded it");
        b.free_taken(&taken[..took]);
        assert!(!b.holds(7));
        assert_eq!(b.held(), 1);
        // A new period for 7 starts with a first packet again; the pool is whole again.
        assert_eq!(b.push(7, &frame(8, 60)), Ok(true));
        assert_eq!(b.discard(9), 1);
        assert_eq!(b.discard(7), 1);
        assert!(b.is_empty());
        for i in 0..5 {
            assert!(b.push(i % 2, &frame(9, 60)).is_ok(), "slot {i}");
        }
    }
}
