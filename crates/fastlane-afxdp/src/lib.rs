use fastlane_core::*;
use std::os::fd::RawFd;
#[derive(Debug)]
pub struct XskQueue {
    pub port: PortId,
    pub interface: String,
    pub queue: u16,
}
#[derive(Debug)]
pub struct XskSocketInfo {
    pub port: PortId,
    pub queue: u16,
    pub fd: RawFd,
    pub zero_copy: bool,
    pub stats: XskStatsReader,
}
#[derive(Debug, Clone)]
pub struct XskStatsReader;
impl XskStatsReader {
    pub fn read(&self) -> Result<XdpStatistics, AfXdpError> {
        todo!()
    }
}
#[derive(Debug, Default, Clone)]
pub struct XdpStatistics {
    pub rx_dropped: u64,
    pub rx_invalid_descs: u64,
    pub tx_invalid_descs: u64,
    pub rx_ring_full: u64,
    pub rx_fill_ring_empty_descs: u64,
    pub tx_ring_empty_descs: u64,
}
#[derive(Debug, thiserror::Error)]
#[error("x")]
pub struct AfXdpError;
#[derive(Debug)]
pub struct AfXdpThread;
impl ThreadIo for AfXdpThread {
    fn queues(&self) -> &[QueueRef] {
        todo!()
    }
    fn receive(&mut self, _s: usize, _b: &mut Batch, _c: &QueueCounters) -> usize {
        todo!()
    }
    fn complete(&mut self, _s: usize, _b: &mut Batch, _c: &[QueueCounters]) {
        todo!()
    }
    fn idle(&mut self, _f: &[std::os::fd::RawFd]) {}
    fn split(&self) -> Split {
        Split::InKernel
    }
    fn transmit_copies(&mut self, _s: usize, _f: &[&[u8]], _c: &QueueCounters) -> usize {
        0
    }
}
pub fn open_thread(
    _c: &config::AfXdpConfig,
    _q: &[XskQueue],
    _b: usize,
) -> Result<(AfXdpThread, Vec<XskSocketInfo>), AfXdpError> {
    todo!()
}
