//! The end-to-end suite on DPDK with the net_af_packet vdev and --no-huge (needs root). DPDK's EAL
//! initialises once per process, so each DPDK variant is a test binary of its own.

mod common;

use common::suite::{self, DpdkMemory};

#[test]
fn the_application_runs_unchanged_on_dpdk() {
    suite::run_dpdk("net_af_packet", DpdkMemory::NoHuge);
}
