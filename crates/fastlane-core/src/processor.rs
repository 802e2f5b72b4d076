//! Processors: the code that decides each packet's verdict, called once per batch.

use std::sync::Arc;

use crate::batch::Batch;
use crate::config::{ProcessorObject, ProcessorSpec, SimpleProcessor};
use crate::counters::Counter;
use crate::io::Emit;
use crate::verdict::{DropReason, PortId, Verdict};
use crate::wire::swap_macs;

/// Decides the verdicts of a batch. Each data-plane thread owns its own instance, so a processor
/// keeps per-thread state without locks.
pub trait Processor: Send {
    fn process(&mut self, batch: &mut Batch);

    /// Called once per round of the thread's loop, whether or not packets arrived (at the latest
    /// about every 100 ms when idle; a `master_worker` worker hands the frames to the I/O thread
    /// serving their port): sends the frames the processor originates
    /// itself (packets it held and now releases, messages it makes) through `out`. Most
    /// processors originate nothing and leave this as it is.
    fn poll(&mut self, _out: &mut dyn Emit) {}
}

/// Runs processors in order; a packet dropped or given to the kernel is not seen by later ones.
pub struct Chain(Vec<Box<dyn Processor>>);

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Chain({} processors)", self.0.len())
    }
}

impl Chain {
    pub fn new(stages: Vec<Box<dyn Processor>>) -> Self {
        Chain(stages)
    }
}

impl Processor for Chain {
    fn process(&mut self, batch: &mut Batch) {
        for stage in &mut self.0 {
            stage.process(batch);
        }
    }
    fn poll(&mut self, out: &mut dyn Emit) {
        for stage in &mut self.0 {
            stage.poll(out);
        }
    }
}

/// Swaps source and destination MAC and sends the packet back where it came from.
#[derive(Debug, Default)]
pub struct Macswap;

impl Processor for Macswap {
    fn process(&mut self, batch: &mut Batch) {
        for mut packet in batch.iter_mut() {
            let verdict = if swap_macs(packet.data_mut()) {
                Verdict::Transmit
            } else {
                Verdict::Drop(DropReason::Malformed)
            };
            packet.set_verdict(verdict);
        }
    }
}

/// Forwards each packet, unchanged, out of the peer of the port it arrived on.
#[derive(Debug)]
pub struct L2fwd {
    peer: Vec<Option<PortId>>,
}

impl L2fwd {
    pub fn new(pairs: &[[PortId; 2]]) -> Self {
        let ports = pairs
            .iter()
            .flatten()
            .map(|&p| p as usize + 1)
            .max()
            .unwrap_or(0);
        let mut peer = vec![None; ports];
        for &[a, b] in pairs {
            peer[a as usize] = Some(b);
            peer[b as usize] = Some(a);
        }
        L2fwd { peer }
    }
}

impl Processor for L2fwd {
    fn process(&mut self, batch: &mut Batch) {
        let verdict = match self.peer.get(batch.port() as usize).copied().flatten() {
            Some(peer) => Verdict::TransmitOn(peer),
            None => Verdict::Drop(DropReason::NoSuchPort),
        };
        for mut packet in batch.iter_mut() {
            packet.set_verdict(verdict);
        }
    }
}

/// Drops every packet it sees.
#[derive(Debug, Default)]
pub struct DropAll;

impl Processor for DropAll {
    fn process(&mut self, batch: &mut Batch) {
        for mut packet in batch.iter_mut() {
            packet.set_verdict(Verdict::Drop(DropReason::Processor));
        }
    }
}

/// What a `count` stage saw on one thread.
#[derive(Debug, Default)]
pub struct CountStats {
    pub packets: Counter,
    pub bytes: Counter,
}

/// Counts the packets it sees and leaves their verdicts alone.
#[derive(Debug, Default)]
pub struct Count(pub Arc<CountStats>);

impl Processor for Count {
    fn process(&mut self, batch: &mut Batch) {
        let (mut packets, mut bytes) = (0, 0);
        for packet in batch.iter_mut() {
            packets += 1;
            bytes += packet.len() as u64;
        }
        self.0.packets.add(packets);
        self.0.bytes.add(bytes);
    }
}

/// One thread's processor chain, built from the config's `pipeline`, and the counters of its
/// `count` stages (in pipeline order).
pub struct Pipeline {
    pub processor: Box<dyn Processor>,
    pub counts: Vec<(usize, Arc<CountStats>)>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("counts", &self.counts)
            .finish_non_exhaustive()
    }
}

/// Makes the processors core does not know itself: plugins and the TypeScript handler.
pub trait ProcessorFactory: std::fmt::Debug {
    /// A new instance of pipeline stage `stage`, for one thread.
    fn create(&self, stage: usize, spec: &ProcessorObject) -> Result<Box<dyn Processor>, String>;
}

/// The factory of a runtime that has neither plugins nor TypeScript handlers.
#[derive(Debug)]
pub struct BuiltinsOnly;

impl ProcessorFactory for BuiltinsOnly {
    fn create(&self, _stage: usize, spec: &ProcessorObject) -> Result<Box<dyn Processor>, String> {
        Err(format!("{spec:?} is not available here"))
    }
}

/// Why a pipeline could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("/pipeline/{stage}: {message}")]
pub struct PipelineError {
    pub stage: usize,
    pub message: String,
}

impl Pipeline {
    /// A pipeline of built-in processors only; panics on other stages (for tests and tools).
    pub fn builtin(specs: &[ProcessorSpec]) -> Pipeline {
        Pipeline::build(specs, &BuiltinsOnly).expect("a pipeline of built-in processors")
    }

    pub fn build(
        specs: &[ProcessorSpec],
        factory: &dyn ProcessorFactory,
    ) -> Result<Pipeline, PipelineError> {
        let mut counts = Vec::new();
        let stages = specs
            .iter()
            .enumerate()
            .map(|(i, spec)| -> Result<Box<dyn Processor>, PipelineError> {
                use ProcessorObject as O;
                use SimpleProcessor as S;
                Ok(match spec {
                    ProcessorSpec::Name(S::Macswap) | ProcessorSpec::Object(O::Macswap) => {
                        Box::new(Macswap)
                    }
                    ProcessorSpec::Name(S::Drop) | ProcessorSpec::Object(O::Drop) => {
                        Box::new(DropAll)
                    }
                    ProcessorSpec::Name(S::Count) | ProcessorSpec::Object(O::Count) => {
                        let stats = Arc::new(CountStats::default());
                        counts.push((i, stats.clone()));
                        Box::new(Count(stats))
                    }
                    ProcessorSpec::Object(O::L2fwd { pairs }) => Box::new(L2fwd::new(pairs)),
                    ProcessorSpec::Object(other) => factory
                        .create(i, other)
                        .map_err(|message| PipelineError { stage: i, message })?,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let processor: Box<dyn Processor> = if stages.len() == 1 {
            stages.into_iter().next().expect("one stage")
        } else {
            Box::new(Chain::new(stages))
        };
        Ok(Pipeline { processor, counts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testing::{ipv4_udp, DST_MAC, SRC_MAC};

    struct Frames(Vec<Vec<u8>>);

    impl Frames {
        fn batch(&mut self, port: PortId) -> Batch {
            let mut batch = Batch::with_capacity(8);
            let slots = batch.begin_fill(port, 0);
            for (slot, f) in slots.iter_mut().zip(self.0.iter_mut()) {
                // SAFETY: the frames outlive the batch in each test.
                unsafe { slot.set(f.as_mut_ptr(), f.len() as u32, 0, f.len() as u32, 0) };
            }
            batch.set_len(self.0.len());
            batch
        }
    }

    fn verdicts(batch: &Batch) -> Vec<Verdict> {
        batch.slots().iter().map(|s| s.verdict()).collect()
    }

    #[test]
    fn a_chain_counts_then_macswaps_and_short_frames_are_malformed() {
        let mut frames = Frames(vec![ipv4_udp(1, 10), vec![0u8; 8], ipv4_udp(1, 20)]);
        let mut batch = frames.batch(0);
        let spec: Vec<ProcessorSpec> =
            serde_json::from_str(r#"["count", {"type": "macswap"}]"#).unwrap();
        let mut pipeline = Pipeline::builtin(&spec);
        pipeline.processor.process(&mut batch);
        assert_eq!(
            verdicts(&batch),
            [
                Verdict::Transmit,
                Verdict::Drop(DropReason::Malformed),
                Verdict::Transmit
            ]
        );
        assert_eq!(&batch.slots()[0].data()[..6], &SRC_MAC);
        assert_eq!(&batch.slots()[0].data()[6..12], &DST_MAC);
        let (stage, stats) = &pipeline.counts[0];
        assert_eq!(
            (*stage, stats.packets.get(), stats.bytes.get()),
            (0, 3, 52 + 8 + 62)
        );
    }

    #[test]
    fn dropped_packets_are_not_seen_by_later_stages() {
        let mut frames = Frames(vec![ipv4_udp(1, 10)]);
        let mut batch = frames.batch(0);
        let spec: Vec<ProcessorSpec> = serde_json::from_str(r#"["drop", "count"]"#).unwrap();
        let mut pipeline = Pipeline::builtin(&spec);
        pipeline.processor.process(&mut batch);
        assert_eq!(verdicts(&batch), [Verdict::Drop(DropReason::Processor)]);
        assert_eq!(pipeline.counts[0].1.packets.get(), 0);
    }

    #[test]
    fn l2fwd_sends_each_port_to_its_peer_and_drops_unpaired_ports() {
        let mut l2 = L2fwd::new(&[[0, 2]]);
        let mut frames = Frames(vec![ipv4_udp(1, 10)]);
        for (port, expected) in [
            (0, Verdict::TransmitOn(2)),
            (2, Verdict::TransmitOn(0)),
            (1, Verdict::Drop(DropReason::NoSuchPort)),
            (7, Verdict::Drop(DropReason::NoSuchPort)),
        ] {
            let mut batch = frames.batch(port);
            l2.process(&mut batch);
            assert_eq!(verdicts(&batch), [expected], "port {port}");
        }
    }
}
