//! The plugin's view of a batch: the host's slots (`repr(C)`, `fastlane-abi`), with the ABI's
//! packet view over them.

use fastlane_abi::{Packet, PortId, Slot};

use crate::counters::Counters;

/// The packets one receive burst brought in on one port and queue.
#[derive(Debug)]
pub struct Batch<'a> {
    slots: &'a mut [Slot],
    port: PortId,
    queue: u16,
    counters: &'a Counters<'a>,
}

impl<'a> Batch<'a> {
    pub(crate) fn new(
        slots: &'a mut [Slot],
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
            .filter(|s| !s.raw_verdict().is_final())
            .map(Packet::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fastlane_abi::{DropReason, PacketError, Verdict};
    use std::sync::atomic::AtomicU64;

    /// A host slot over `buf`, seen through the plugin's layout.
    fn slot_over(buf: &mut [u8], offset: u32, len: u32) -> Slot {
        let mut slot = Slot::EMPTY;
        // SAFETY: `buf` outlives the slot in every test and nothing else touches it.
        unsafe { slot.set(buf.as_mut_ptr(), buf.len() as u32, offset, len, 7) };
        slot
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
        let mut batch = Batch::new(&mut slots, 3, 1, &counters);
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
