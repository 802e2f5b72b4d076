//! End to end on a veth test bed (needs root): a port with its own filter, a destination prefix,
//! splits by it rather than by the top-level filter. UDP to an address inside the prefix is
//! reflected by macswap; UDP outside it (even to a port the top-level filter lists) goes to the
//! kernel, counted as such by the XDP split; ping to the port's own address still works.

mod common;

use std::time::Duration;

use common::TestBed;
use fastlane_core::classify::SlowReason;
use fastlane_runtime::{Dataplane, Stats};
use fastlane_testbed::{exchange, interface_mac, udp_frame, UdpFrameSpec};

/// Listed by the top-level filter, which this port's own filter replaces.
const TOP_LEVEL_PORT: u16 = 9000;
const SENT: usize = 20;

/// The port's prefix: a /24 beside the test bed's own subnet (10.79.x.0/24).
fn prefix(bed: &TestBed) -> (String, String) {
    let subnet = bed.fwd_ip.split('.').nth(2).unwrap();
    (format!("10.80.{subnet}.0/24"), format!("10.80.{subnet}."))
}

fn config(bed: &TestBed, backend: &str) -> String {
    let core = fastlane_core::config::online_cpus()
        .last()
        .copied()
        .unwrap_or(0);
    format!(
        r#"{{
        "backend": "{backend}",
        "netns": "{ns}",
        "ports": [{{
            "interface": "{iface}",
            "queues": [{{ "id": 0, "core": {core} }}],
            "filter": {{ "dst_prefixes": ["{prefix}", "2001:db8:80::/48"] }}
        }}],
        "filter": {{ "udp_ports": [{TOP_LEVEL_PORT}] }},
        "af_xdp": {{ "attach_mode": "native", "umem_frames": 4096 }},
        "af_packet": {{ "block_count": 16 }},
        "pipeline": ["count", "macswap"]
    }}"#,
        ns = bed.fwd_ns,
        iface = bed.fwd_if,
        prefix = prefix(bed).0,
    )
}

fn frame_to(bed: &TestBed, dst_ip: &str, n: usize) -> Vec<u8> {
    udp_frame(
        &UdpFrameSpec {
            src_mac: interface_mac(Some(&bed.gen_ns), &bed.gen_if).unwrap(),
            dst_mac: interface_mac(Some(&bed.fwd_ns), &bed.fwd_if).unwrap(),
            src_ip: bed.gen_ip.parse().unwrap(),
            dst_ip: dst_ip.parse().unwrap(),
            src_port: 40000,
            dst_port: TOP_LEVEL_PORT,
            udp_checksum: true,
        },
        60 + n,
    )
}

fn no_match(stats: &Stats) -> u64 {
    let xdp = stats.ports[0]
        .xdp
        .as_ref()
        .expect("AF_XDP ports have XDP counters");
    xdp.passed
        .iter()
        .find(|(name, _)| *name == SlowReason::NoMatch.name())
        .unwrap()
        .1
}

fn run(bed: &TestBed, backend: &str) {
    let mut dataplane = Dataplane::from_json(&config(bed, backend)).unwrap();
    dataplane.start().unwrap();
    let (_, inside_net) = prefix(bed);
    // The prefix's first and last addresses and one between; then the addresses just outside
    // it, the port's own address and one in another /24.
    let inside: Vec<String> = ["0", "7", "255"]
        .map(|h| format!("{inside_net}{h}"))
        .to_vec();
    let (a, b, c) = {
        let mut octets = inside_net.split('.');
        (
            octets.next().unwrap().to_string(),
            octets.next().unwrap().to_string(),
            octets.next().unwrap().parse::<u8>().unwrap(),
        )
    };
    let outside = [
        format!("{a}.{b}.{}.255", c - 1),
        format!("{a}.{b}.{}.0", c + 1),
        bed.fwd_ip.clone(),
        "10.81.0.1".to_string(),
    ];
    let mut frames = Vec::new();
    let mut expected_back = 0;
    for n in 0..SENT {
        let dst = if n % 2 == 0 {
            expected_back += 1;
            &inside[n / 2 % inside.len()]
        } else {
            &outside[n / 2 % outside.len()]
        };
        frames.push(frame_to(bed, dst, n));
    }
    let before = dataplane.stats().unwrap();
    let back = exchange(
        Some(&bed.gen_ns),
        &bed.gen_if,
        &frames,
        TOP_LEVEL_PORT,
        SENT,
        Duration::from_secs(2),
    )
    .unwrap();
    let after = dataplane.stats().unwrap();
    assert_eq!(
        back.len(),
        expected_back,
        "only frames to the prefix came back"
    );
    for frame in &back {
        let dst = std::net::Ipv4Addr::new(frame[30], frame[31], frame[32], frame[33]);
        assert!(
            dst.to_string().starts_with(&inside_net),
            "{dst} is outside the prefix but was reflected"
        );
    }
    assert_eq!(
        after.queues[0].rx_packets - before.queues[0].rx_packets,
        expected_back as u64,
        "the fast path saw exactly the frames to the prefix"
    );
    if backend == "af_xdp" {
        let xdp = after.ports[0].xdp.as_ref().unwrap();
        assert_eq!(xdp.redirected, expected_back as u64, "{xdp:?}");
        // The kernel's own traffic (ARP) may add to no_match; the frames outside are there.
        let to_kernel = no_match(&after) - no_match(&before);
        assert!(
            to_kernel >= (SENT - expected_back) as u64,
            "{to_kernel} frames passed to the kernel"
        );
    }
    let ping = bed.exec(
        &bed.gen_ns,
        &["ping", "-c", "3", "-i", "0.2", "-W", "2", &bed.fwd_ip],
    );
    assert!(
        ping.status.success(),
        "ping to the port's own address: {}",
        String::from_utf8_lossy(&ping.stdout)
    );
    assert!(dataplane.failure().is_none());
    dataplane.stop();
}

#[test]
fn a_port_filter_with_a_prefix_splits_by_destination_on_af_xdp() {
    run(&TestBed::up("px"), "af_xdp");
}

#[test]
fn a_port_filter_with_a_prefix_splits_by_destination_on_af_packet() {
    run(&TestBed::up("pp"), "af_packet");
}
