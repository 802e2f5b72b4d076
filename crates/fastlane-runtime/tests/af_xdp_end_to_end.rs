//! End to end on a veth test bed (needs root): the fast path reflects UDP to the configured port
//! through AF_XDP while ARP, ping and TCP keep working through the kernel on the same interface.

mod common;

use std::time::Duration;

use common::TestBed;
use fastlane_core::classify::SlowReason;
use fastlane_core::{Class, FilterTables};
use fastlane_runtime::{Dataplane, Stats};
use fastlane_testbed::{exchange, interface_mac, udp_frame, UdpFrameSpec};

const FAST_PORT: u16 = 9000;

fn config(bed: &TestBed, extra_ports: &str) -> String {
    let core = fastlane_core::config::online_cpus()
        .last()
        .copied()
        .unwrap_or(0);
    format!(
        r#"{{
        "backend": "af_xdp",
        "netns": "{ns}",
        "ports": [{{ "interface": "{iface}", "queues": [{{ "id": 0, "core": {core} }}] }}{extra_ports}],
        "filter": {{ "udp_ports": [{FAST_PORT}] }},
        "af_xdp": {{ "attach_mode": "native", "bind_mode": "auto", "umem_frames": 4096 }},
        "pipeline": ["count", "macswap"]
    }}"#,
        ns = bed.fwd_ns,
        iface = bed.fwd_if
    )
}

fn spec(bed: &TestBed, dst_port: u16) -> UdpFrameSpec {
    UdpFrameSpec {
        src_mac: interface_mac(Some(&bed.gen_ns), &bed.gen_if).unwrap(),
        dst_mac: interface_mac(Some(&bed.fwd_ns), &bed.fwd_if).unwrap(),
        src_ip: bed.gen_ip.parse().unwrap(),
        dst_ip: bed.fwd_ip.parse().unwrap(),
        src_port: 40000,
        dst_port,
        udp_checksum: true,
    }
}

fn passed(stats: &Stats, reason: SlowReason) -> u64 {
    let xdp = stats.ports[0]
        .xdp
        .as_ref()
        .expect("AF_XDP ports have XDP counters");
    xdp.passed
        .iter()
        .find(|(name, _)| *name == reason.name())
        .unwrap()
        .1
}

#[test]
fn the_application_runs_unchanged_on_af_xdp_and_only_fast_path_frames_reach_the_socket() {
    let bed = TestBed::up("s");
    let config = common::suite::config(&bed, "af_xdp", "", common::suite::DpdkMemory::NoHuge, "");
    let stats = common::suite::run(&bed, &config);
    // The suite sent 101 well-formed frames to the fast port and PUNTED to the punt port:
    // exactly those were redirected to the socket, while ARP, ICMP and TCP (and the malformed
    // frames) went to the kernel.
    let xdp = stats.ports[0]
        .xdp
        .as_ref()
        .expect("AF_XDP ports have XDP counters");
    let fast = 101 + common::suite::PUNTED;
    assert_eq!((xdp.redirected, xdp.no_socket), (fast, 0), "{xdp:?}");
    assert_eq!(stats.queues[0].rx_packets, fast);
    // The punted ones reached the kernel through the port's TAP twin, counted as such.
    assert_eq!(stats.queues[0].kernel_packets, common::suite::PUNTED);
    assert_eq!(
        stats.ports[0].tap.as_deref(),
        Some(&*format!("fl-{}", bed.fwd_if))
    );
    assert!(
        passed(&stats, SlowReason::NoMatch) > 0,
        "ARP, ICMP and TCP went to the kernel"
    );
    // The suite's malformed frames, each on its documented side with its reason.
    assert_eq!(
        passed(&stats, SlowReason::BadHeader),
        2,
        "IHL < 5; IPv6 EtherType over IPv4"
    );
    assert_eq!(
        passed(&stats, SlowReason::Truncated),
        3,
        "IHL, total length, UDP header cut"
    );
    assert_eq!(passed(&stats, SlowReason::Fragment), 1);
}

#[test]
fn without_a_punt_path_a_kernel_verdict_is_a_drop_that_says_so() {
    let bed = TestBed::up("k");
    let config = common::suite::config(&bed, "af_xdp", "", common::suite::DpdkMemory::NoHuge, "");
    let without_punt = config.replace(",\n    \"punt\": \"tap\"", "");
    assert_ne!(
        without_punt, config,
        "the suite's config has a punt path to remove"
    );
    let config = fastlane_core::Config::from_json(&without_punt).unwrap();
    let stages = std::sync::Arc::new(common::suite::TestStages::default());
    let mut dataplane = Dataplane::with_factory(config, stages);
    dataplane.start().unwrap();
    let frames: Vec<Vec<u8>> = (0..common::suite::PUNTED)
        .map(|i| udp_frame(&spec(&bed, common::suite::PUNT_PORT), 60 + i as usize))
        .collect();
    let back = exchange(
        Some(&bed.gen_ns),
        &bed.gen_if,
        &frames,
        40000,
        1,
        Duration::from_millis(800),
    )
    .unwrap();
    assert!(back.is_empty(), "nothing answered: {back:?}");
    let stats = dataplane.stats().unwrap();
    dataplane.stop();
    let q = &stats.queues[0];
    let no_slow_path = q.dropped.iter().find(|(name, _)| *name == "no_slow_path");
    assert_eq!(
        no_slow_path.map(|(_, n)| *n),
        Some(common::suite::PUNTED),
        "{q:?}"
    );
    assert_eq!((q.kernel_packets, q.tx_packets), (0, 0), "{q:?}");
    assert_eq!(stats.ports[0].tap, None, "no TAP without a punt path");
}

#[test]
fn malformed_frames_never_reach_the_fast_path_or_crash_it() {
    let bed = TestBed::up("m");
    let mut dataplane = Dataplane::from_json(&config(&bed, "")).unwrap();
    dataplane.start().unwrap();
    let good = udp_frame(&spec(&bed, FAST_PORT), 60);
    let eth = 14;
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut edit = |name, f: &dyn Fn(&mut Vec<u8>)| {
        let mut frame = good.clone();
        f(&mut frame);
        cases.push((name, frame));
    };
    edit("truncated udp header", &|f| {
        f[eth + 2..eth + 4].copy_from_slice(&24u16.to_be_bytes());
        f.truncate(eth + 24)
    });
    edit("ihl below 5", &|f| f[eth] = 0x43);
    edit("ihl beyond the frame", &|f| f[eth] = 0x4f);
    edit("total length beyond the frame", &|f| {
        f[eth + 2..eth + 4].copy_from_slice(&1500u16.to_be_bytes())
    });
    edit("version 5", &|f| f[eth] = 0x55);
    edit("first fragment", &|f| f[eth + 6] |= 0x20);
    edit("later fragment", &|f| f[eth + 7] = 0x10);
    edit("vlan tag", &|f| {
        f.splice(12..12, [0x81, 0x00, 0x00, 0x05]).for_each(drop)
    });
    edit("ipv6 ethertype on an ipv4 packet", &|f| {
        f[12..14].copy_from_slice(&[0x86, 0xdd])
    });
    let tables = FilterTables::new(&dataplane.config().filter);
    let before = dataplane.stats().unwrap();
    let frames: Vec<Vec<u8>> = cases.iter().map(|(_, f)| f.clone()).collect();
    let back = exchange(
        Some(&bed.gen_ns),
        &bed.gen_if,
        &frames,
        FAST_PORT,
        1,
        Duration::from_millis(800),
    )
    .unwrap();
    assert!(back.is_empty(), "a malformed frame was reflected");
    let after = dataplane.stats().unwrap();
    assert_eq!(
        after.queues[0].rx_packets, before.queues[0].rx_packets,
        "fast path saw a malformed frame"
    );
    for reason in SlowReason::ALL {
        let expected = cases
            .iter()
            .filter(|(_, f)| tables.classify(f) == Class::Slow(reason))
            .count() as u64;
        let got = passed(&after, reason) - passed(&before, reason);
        // Other traffic (IPv6 neighbour discovery, for one) may add to no_match, never to the rest.
        if reason == SlowReason::NoMatch {
            assert!(got >= expected, "{}: {got} < {expected}", reason.name());
        } else {
            assert_eq!(got, expected, "frames passed for {}", reason.name());
        }
    }
    assert!(dataplane.failure().is_none());
    // The data plane still forwards after all that, IPv6 as well as IPv4.
    let mut ipv6 = fastlane_core::wire::testing::ipv6_udp(FAST_PORT, 20);
    ipv6[..12].copy_from_slice(&good[..12]);
    let back = exchange(
        Some(&bed.gen_ns),
        &bed.gen_if,
        std::slice::from_ref(&ipv6),
        FAST_PORT,
        1,
        Duration::from_secs(3),
    )
    .unwrap();
    assert_eq!(back.len(), 1, "IPv6 UDP to the fast port is reflected");
    assert_eq!(&back[0][12..], &ipv6[12..]);
    let back = exchange(
        Some(&bed.gen_ns),
        &bed.gen_if,
        &[good],
        FAST_PORT,
        1,
        Duration::from_secs(3),
    )
    .unwrap();
    assert_eq!(back.len(), 1);
    dataplane.stop();
}

#[test]
fn a_failed_start_leaves_nothing_attached() {
    let bed = TestBed::up("f");
    let core = fastlane_core::config::online_cpus()[0];
    let second =
        format!(r#", {{ "interface": "flnosuch0", "queues": [{{ "id": 0, "core": {core} }}] }}"#);
    let mut dataplane = Dataplane::from_json(&config(&bed, &second)).unwrap();
    let error = dataplane.start().unwrap_err().to_string();
    assert!(
        error.contains("flnosuch0"),
        "the error names the interface: {error}"
    );
    assert!(!dataplane.is_running());
    assert!(
        !bed.fwd_link().contains("prog/xdp"),
        "XDP left attached:\n{}",
        bed.fwd_link()
    );
    // And the same data plane starts once the config is fixed.
    let mut dataplane = Dataplane::from_json(&config(&bed, "")).unwrap();
    dataplane.start().unwrap();
    dataplane.stop();
}
