//! A batch: the packets one receive burst brought in on one port and queue, each with its verdict.

use crate::packet::{Packet, Slot};
use crate::verdict::PortId;

/// A fixed-capacity batch, allocated once per thread and refilled by every receive burst.
#[derive(Debug)]
pub struct Batch {
    slots: Box<[Slot]>,
    len: usize,
    port: PortId,
    queue: u16,
}

impl Batch {
    pub fn with_capacity(capacity: usize) -> Self {
        let slots = (0..capacity).map(|_| Slot::EMPTY).collect();
        Batch {
            slots,
            len: 0,
            port: 0,
            queue: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The port the packets arrived on.
    pub fn port(&self) -> PortId {
        self.port
    }
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// For backends: starts a burst on `port`/`queue` and returns every slot to fill; the backend
    /// then calls [`Batch::set_len`] with how many it filled.
    pub fn begin_fill(&mut self, port: PortId, queue: u16) -> &mut [Slot] {
        self.port = port;
        self.queue = queue;
        self.len = 0;
        &mut self.slots
    }
    pub fn set_len(&mut self, len: usize) {
        assert!(len <= self.slots.len(), "batch length beyond capacity");
        self.len = len;
    }

    /// Moves `slot` into this batch (behind its packets) by swapping it with an empty slot, so
    /// that batches can be split and merged without copying packets. False when full.
    pub fn swap_in(&mut self, slot: &mut Slot) -> bool {
        let Some(place) = self.slots.get_mut(self.len) else {
            return false;
        };
        std::mem::swap(place, slot);
        self.len += 1;
        true
    }

    /// For backends: every slot of the burst, with its verdict.
    pub fn slots(&self) -> &[Slot] {
        &self.slots[..self.len]
    }
    pub fn slots_mut(&mut self) -> &mut [Slot] {
        &mut self.slots[..self.len]
    }

    /// The packets a processor still acts on: those neither dropped nor given to the kernel.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = Packet<'_>> {
        self.slots[..self.len]
            .iter_mut()
            .filter(|s| !s.verdict().is_final())
            .map(Packet::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::{DropReason, Verdict};

    #[test]
    fn iteration_skips_packets_with_a_final_verdict() {
        let mut bufs = [[0u8; 32]; 3];
        let mut batch = Batch::with_capacity(4);
        let slots = batch.begin_fill(2, 1);
        for (i, (slot, buf)) in slots.iter_mut().zip(bufs.iter_mut()).enumerate() {
            // SAFETY: the buffers outlive the batch's use below.
            unsafe { slot.set(buf.as_mut_ptr(), 32, 0, 10 + i as u32, i as u64) };
        }
        batch.set_len(3);
        assert_eq!((batch.port(), batch.queue(), batch.len()), (2, 1, 3));
        batch.slots_mut()[1].set_verdict(Verdict::Drop(DropReason::Processor));
        let lens: Vec<usize> = batch.iter_mut().map(|p| p.len()).collect();
        assert_eq!(lens, vec![10, 12]);
    }
}
