//! The end-to-end suite on DPDK (net_af_packet, --no-huge) under the master-worker thread model
//! (needs root). A binary of its own: DPDK's EAL initialises once per process.

mod common;

use common::suite::{self, DpdkMemory};
use common::TestBed;

#[test]
fn master_worker_on_dpdk() {
    let bed = TestBed::up("wd");
    let config = suite::config(&bed, "dpdk", "net_af_packet", DpdkMemory::NoHuge, "");
    suite::run_dpdk_on(&bed, &suite::master_worker(&config));
}
