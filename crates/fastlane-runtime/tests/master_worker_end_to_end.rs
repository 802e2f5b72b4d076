//! The end-to-end suite under the master-worker thread model (needs root): I/O threads hand
//! batches to worker threads by flow hash and transmit what comes back.

mod common;

use common::suite::{self, DpdkMemory};
use common::TestBed;

#[test]
fn master_worker_on_af_xdp() {
    let bed = TestBed::up("wx");
    let config = suite::config(&bed, "af_xdp", "", DpdkMemory::NoHuge, "");
    suite::run(&bed, &suite::master_worker(&config));
}

#[test]
fn master_worker_on_af_packet() {
    let bed = TestBed::up("wp");
    let config = suite::config(&bed, "af_packet", "", DpdkMemory::NoHuge, "");
    suite::run(&bed, &suite::master_worker(&config));
}
