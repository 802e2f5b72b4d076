//! The end-to-end suite on AF_PACKET (needs root).

mod common;

use common::suite::{self, DpdkMemory};
use common::TestBed;

#[test]
fn the_application_runs_unchanged_on_af_packet() {
    let bed = TestBed::up("p");
    suite::run(
        &bed,
        &suite::config(&bed, "af_packet", "", DpdkMemory::NoHuge, ""),
    );
}
