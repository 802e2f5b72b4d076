//! A packet is a view into a buffer owned by the backend (a UMEM frame, an mbuf). The slot and
//! the packet view are the plugin ABI's (`fastlane-abi`): one layout for backends, built-in
//! processors and plugins, passed to plugins without a copy.

pub use fastlane_abi::{Packet, PacketError, Slot};

#[cfg(test)]
mod tests {
    use crate::processor::{Chain, Processor};
    use crate::{Batch, DropReason, Verdict};

    /// Stage one: marks each packet's metadata with its first byte.
    struct Mark;
    impl Processor for Mark {
        fn process(&mut self, batch: &mut Batch) {
            for mut packet in batch.iter_mut() {
                let mark = u64::from(packet.data()[0]) << 32 | 0xabcd;
                packet.set_meta(mark);
            }
        }
    }

    /// Stage two: acts on the metadata alone, never on the bytes.
    struct ActOnMark;
    impl Processor for ActOnMark {
        fn process(&mut self, batch: &mut Batch) {
            for mut packet in batch.iter_mut() {
                let verdict = match packet.meta() {
                    m if m & 0xffff != 0xabcd => Verdict::Drop(DropReason::NoVerdict),
                    m if m >> 32 == 2 => Verdict::Drop(DropReason::Processor),
                    m => Verdict::TransmitOn((m >> 32) as u16),
                };
                packet.set_verdict(verdict);
            }
        }
    }

    #[test]
    fn metadata_one_stage_writes_reaches_the_next_and_survives_a_move_between_batches() {
        let mut frames = [[1u8; 16], [2u8; 16], [3u8; 16]];
        let mut received = Batch::with_capacity(3);
        let slots = received.begin_fill(0, 0);
        for (slot, frame) in slots.iter_mut().zip(frames.iter_mut()) {
            slot.set_meta(0x5555); // left over from the buffer's last packet
                                   // SAFETY: the frames outlive the batches and nothing else touches them.
            unsafe { slot.set(frame.as_mut_ptr(), 16, 0, 16, 0) };
        }
        received.set_len(3);
        assert!(received.slots().iter().all(|s| s.meta() == 0));

        Mark.process(&mut received);
        // As master_worker hands packets to a worker: the slots move into another batch.
        let mut at_worker = Batch::with_capacity(3);
        for slot in received.slots_mut() {
            assert!(at_worker.swap_in(slot));
        }
        Chain::new(vec![Box::new(ActOnMark)]).process(&mut at_worker);
        let verdicts: Vec<_> = at_worker.slots().iter().map(|s| s.verdict()).collect();
        assert_eq!(
            verdicts,
            [
                Verdict::TransmitOn(1),
                Verdict::Drop(DropReason::Processor),
                Verdict::TransmitOn(3)
            ]
        );
    }
}
