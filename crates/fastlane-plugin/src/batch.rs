//! The plugin's view of a batch: the host's slots, seen through their C layout.

use fastlane_core::{PacketError, PortId, Verdict};

use crate::abi::RawSlot;
use crate::counters::Counters;

/// The packets one receive burst brought in on one port and queue.
#[derive(Debug)]
pub struct Batch<'a> {
    slots: &'a mut [RawSlot],
    port: PortId,
    queue: u16,
    counters: &'a Counters<'a>,
}

impl<'a> Batch<'a> {
    pub(crate) fn new(
        slots: &'a mut [RawSlot],
        port: PortId,
        queue: u16,
        counters: &'a Counters<'a>,
    ) -> Self {
        Batch {
            slots,
            port,
            queue,
            counters,
        }
    }

    /// How many packets the burst brought, including those an earlier stage already settled.
    pub fn len(&self) -> usize {
        self.slots.len()
    }
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
    /// The port the packets arrived on (an index into the config's `ports`).
    pub fn port(&self) -> PortId {
        self.port
    }
    pub fn queue(&self) -> u16 {
        self.queue
    }
    /// This instance's counters, named by [`Plugin::COUNTERS`](crate::Plugin::COUNTERS).
    pub fn counters(&self) -> &Counters<'a> {
        self.counters
    }

    /// The packets still to act on: those neither dropped nor given to the kernel.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = Packet<'_>> {
        self.slots
            .iter_mut()
            .filter(|s| !s.verdict.is_final())
            .map(|slot| Packet { slot })
    }
}

/// One packet: a view into the host's buffer, editable within its headroom and tailroom.
#[derive(Debug)]
pub struct Packet<'a> {
    slot: &'a mut RawSlot,
}

impl Packet<'_> {
    pub fn data(&self) -> &[u8] {
        if self.slot.buf.is_null() {
            return &[];
        }
        // SAFETY: the host's slot describes `len` valid bytes at `buf + offset` that this batch
        // owns exclusively for the call, and every edit below keeps offset + len <= buf_len.
        unsafe {
            std::slice::from_raw_parts(
                self.slot.buf.add(self.slot.offset as usize),
                self.slot.len as usize,
            )
        }
    }
    pub fn data_mut(&mut self) -> &mut [u8] {
        if self.slot.buf.is_null() {
            return &mut [];
        }
        // SAFETY: as in `data`, and `&mut self` makes this the only live view.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.slot.buf.add(self.slot.offset as usize),
                self.slot.len as usize,
            )
        }
    }
    pub fn len(&self) -> usize {
        self.slot.len as usize
    }
    pub fn is_empty(&self) -> bool {
        self.slot.len == 0
    }
    /// Bytes free in front of the packet.
    pub fn headroom(&self) -> usize {
        self.slot.offset as usize
    }
    /// Bytes free behind the packet.
    pub fn tailroom(&self) -> usize {
        self.slot
            .buf_len
            .saturating_sub(self.slot.offset + self.slot.len) as usize
    }

    /// Grows the packet at the front by `n` bytes (for a new header) and returns them.
    pub fn prepend(&mut self, n: usize) -> Result<&mut [u8], PacketError> {
        let available = self.headroom();
        if n > available {
            return Err(PacketError::NoHeadroom {
                wanted: n,
                available,
            });
        }
        self.slot.offset -= n as u32;
        self.slot.len += n as u32;
        Ok(&mut self.data_mut()[..n])
    }
    /// Grows the packet at the back by `n` bytes and returns them.
    pub fn append(&mut self, n: usize) -> Result<&mut [u8], PacketError> {
        let available = self.tailroom();
        if n > available {
            return Err(PacketError::NoTailroom {
                wanted: n,
                available,
            });
        }
        let old = self.len();
        self.slot.len += n as u32;
        Ok(&mut self.data_mut()[old..])
    }
    /// Removes `n` bytes from the front (to strip a header).
    pub fn pull(&mut self, n: usize) -> Result<(), PacketError> {
        if n > self.len() {
            return Err(PacketError::TooShort {
                wanted: n,
                len: self.len(),
            });
        }
        self.slot.offset += n as u32;
        self.slot.len -= n as u32;
        Ok(())
    }
    /// Removes `n` bytes from the back.
    pub fn trim(&mut self, n: usize) -> Result<(), PacketError> {
        if n > self.len() {
            return Err(PacketError::TooShort {
                wanted: n,
                len: self.len(),
            });
        }
        self.slot.len -= n as u32;
        Ok(())
    }

    pub fn verdict(&self) -> Verdict {
        self.slot.verdict
    }
    pub fn set_verdict(&mut self, verdict: Verdict) {
        self.slot.verdict = verdict;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fastlane_core::{DropReason, Slot};
    use std::sync::atomic::AtomicU64;

    /// A host slot over `buf`, seen through the plugin's layout.
    fn slot_over(buf: &mut [u8], offset: u32, len: u32) -> Slot {
        let mut slot = Slot::EMPTY;
        // SAFETY: `buf` outlives the slot in every test and nothing else touches it.
        unsafe { slot.set(buf.as_mut_ptr(), buf.len() as u32, offset, len, 7) };
        slot
    }

    fn as_raw(slots: &mut [Slot]) -> &mut [RawSlot] {
        // SAFETY: `RawSlot` has `Slot`'s layout (asserted in `abi`).
        unsafe { std::slice::from_raw_parts_mut(slots.as_mut_ptr().cast(), slots.len()) }
    }

    #[test]
    fn edits_and_verdicts_made_through_the_c_layout_reach_the_host_slot() {
        let mut bufs = [[0u8; 64]; 2];
        let [a, b] = &mut bufs;
        a[16..20].copy_from_slice(&[1, 2, 3, 4]);
        let mut slots = [slot_over(a, 16, 20), slot_over(b, 0, 10)];
        slots[1].set_verdict(Verdict::Drop(DropReason::Malformed));
        let values = [AtomicU64::new(0)];
        let counters = Counters::new(&values);
        let mut batch = Batch::new(as_raw(&mut slots), 3, 1, &counters);
        assert_eq!((batch.len(), batch.port(), batch.queue()), (2, 3, 1));
        let mut seen = 0;
        for mut p in batch.iter_mut() {
            seen += 1;
            assert_eq!((p.headroom(), p.len(), p.tailroom()), (16, 20, 28));
            assert_eq!(&p.data()[..4], &[1, 2, 3, 4]);
            p.prepend(2).unwrap().copy_from_slice(&[8, 9]);
            assert!(matches!(p.prepend(15), Err(PacketError::NoHeadroom { .. })));
            p.append(28).unwrap().fill(5);
            assert!(matches!(p.append(1), Err(PacketError::NoTailroom { .. })));
            p.trim(30).unwrap();
            p.pull(1).unwrap();
            assert!(matches!(p.pull(99), Err(PacketError::TooShort { .. })));
            p.set_verdict(Verdict::TransmitOn(2));
        }
        batch.counters().add(0, seen);
        assert_eq!(
            (seen, values[0].load(std::sync::atomic::Ordering::Relaxed)),
            (1, 1)
        );
        assert_eq!((slots[0].offset(), slots[0].len()), (15, 19));
        assert_eq!(&slots[0].data()[..4], &[9, 1, 2, 3]);
        assert_eq!(slots[0].verdict(), Verdict::TransmitOn(2));
        assert_eq!(slots[0].handle(), 7);
        assert_eq!(slots[1].verdict(), Verdict::Drop(DropReason::Malformed));
    }
}
