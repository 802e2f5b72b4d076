//! DPDK over a kernel interface (net_af_packet, --no-huge) whose start fails after the
//! interface's address was moved off it (needs root): the interface gets its address back and
//! the kernel answers on it again. A binary of its own: DPDK's EAL initialises once per process.

mod common;

use common::suite::{self, DpdkMemory};
use common::TestBed;
use fastlane_runtime::Dataplane;

#[test]
fn a_failed_start_gives_the_interface_its_address_back() {
    let bed = TestBed::up("da");
    let config = suite::config(&bed, "dpdk", "net_af_packet", DpdkMemory::NoHuge, "");
    // A device already holds the TAP's name, so the start fails once the address has moved.
    let tap = fastlane_tap::default_tap_name(&bed.fwd_if);
    let out = bed.exec(
        &bed.fwd_ns,
        &["ip", "tuntap", "add", "dev", &tap, "mode", "tap"],
    );
    assert!(out.status.success(), "ip tuntap add dev {tap} mode tap");
    let address = format!("{}/24", bed.fwd_ip);
    assert_eq!(
        suite::addresses(&bed, &bed.fwd_ns, &bed.fwd_if),
        std::slice::from_ref(&address)
    );

    let mut dataplane = Dataplane::from_json(&config).unwrap();
    let error = dataplane.start().unwrap_err().to_string();
    assert!(
        error.contains(&tap) && error.contains("already exists"),
        "{error}"
    );
    assert!(!dataplane.is_running());

    assert_eq!(
        suite::addresses(&bed, &bed.fwd_ns, &bed.fwd_if),
        [address],
        "the interface has its address back"
    );
    // And the kernel answers on the interface again: no program keeps its frames away.
    let ping = bed.exec(
        &bed.gen_ns,
        &["ping", "-c", "2", "-i", "0.2", "-W", "2", &bed.fwd_ip],
    );
    assert!(
        ping.status.success(),
        "ping after the failed start: {}",
        String::from_utf8_lossy(&ping.stdout)
    );
}
