//! The backend's API when the crate was built without libdpdk-dev: nothing can be started, so
//! no value of these types ever exists.

use std::convert::Infallible;

use fastlane_core::io::Split;
use fastlane_core::{
    Batch, Config, DropReason, PortId, QueueCounters, QueueMap, QueueSpec, Slot, ThreadIo, Unsent,
};

use crate::{DpdkError, DpdkPortStats};

#[derive(Debug)]
pub struct Dpdk {
    never: Infallible,
}

impl Dpdk {
    pub fn start(_config: &Config) -> Result<Dpdk, DpdkError> {
        Err(DpdkError::NotBuilt)
    }
    pub fn port_mac(&self, _port: PortId) -> [u8; 6] {
        match self.never {}
    }
    pub fn thread(&self, _queues: &[QueueSpec], _batch: usize) -> Result<DpdkThread, DpdkError> {
        match self.never {}
    }
    pub fn port_stats(&self, _port: PortId) -> Result<DpdkPortStats, DpdkError> {
        match self.never {}
    }
}

#[derive(Debug)]
pub struct DpdkThread {
    never: Infallible,
}

impl ThreadIo for DpdkThread {
    fn queue_map(&self) -> &QueueMap {
        match self.never {}
    }
    fn receive(&mut self, _source: usize, _batch: &mut Batch, _c: &QueueCounters) -> usize {
        match self.never {}
    }
    fn stage(&mut self, _target: usize, _slot: &Slot) -> Result<(), DropReason> {
        match self.never {}
    }
    fn release(&mut self, _slot: &Slot) {
        match self.never {}
    }
    fn flush(&mut self, _target: usize, _c: &QueueCounters) -> Unsent {
        match self.never {}
    }
    fn finish_batch(&mut self, _source: usize) {
        match self.never {}
    }
    fn split(&self) -> Split {
        match self.never {}
    }
    fn transmit_copies(&mut self, _source: usize, _f: &[&[u8]], _c: &QueueCounters) -> usize {
        match self.never {}
    }
    fn idle(&mut self, _also_wake_on: &[std::os::fd::RawFd]) {
        match self.never {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starting_says_dpdk_support_is_missing() {
        let config: Config = serde_json::from_str(
            r#"{ "backend": "dpdk", "ports": [{ "interface": "a", "queues": [{ "id": 0, "core": 0 }] }],
                 "dpdk": { "devices": { "a": "net_null0" } }, "pipeline": ["macswap"] }"#,
        )
        .unwrap();
        let e = Dpdk::start(&config).unwrap_err();
        assert!(e.to_string().contains("built without DPDK support"), "{e}");
        assert!(matches!(crate::dpdk_library(), Err(DpdkError::NotBuilt)));
    }
}
