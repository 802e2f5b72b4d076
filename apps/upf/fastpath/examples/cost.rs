//! Lookup and processing cost per packet through the UPF plugin (loaded from its library, as
//! the data plane loads it), uplink and downlink, with N sessions (10,000 by default) each of an
//! uplink and a downlink PDR, a QER and a URR; batches of 64 cycle over every session's TEID and
//! UE address. Not a throughput figure: no packet I/O, one thread.
//!
//! `cargo run --release -p upf-fastpath --example cost [sessions]`

use std::net::IpAddr;
use std::time::Instant;

use fastlane_core::{Batch, Processor, Verdict};
use fastlane_plugin::host::PluginLibrary;
use fastlane_shm::Region;
use serde_json::json;
use upf_fastpath::encap::{self, Path, Tunnel};
use upf_rules::*;

const BATCH: usize = 64;
const HEADROOM: usize = 256;
const ROOM: usize = 2048;

fn outer(addr: [u8; 4], teid: u32) -> OuterHeader {
    OuterHeader {
        flags: OUTER_IPV4,
        _pad: 0,
        port: 2152,
        teid,
        ipv4: addr,
        ipv6: [0; 16],
    }
}

fn far(far_id: u32, tunnel: Option<OuterHeader>) -> FarRecord {
    FarRecord {
        far_id,
        flags: 0,
        bar_id: 0,
        network_instance_len: 0,
        _pad: 0,
        action: FarAction {
            action: ACTION_FORWARD,
            destination_interface: if tunnel.is_some() {
                INTERFACE_ACCESS
            } else {
                INTERFACE_CORE
            },
            flags: FAR_HAS_FORWARDING
                | if tunnel.is_some() {
                    FAR_HAS_OUTER_HEADER
                } else {
                    0
                },
            _pad: 0,
            outer: tunnel.unwrap_or_default(),
        },
        network_instance: [0; MAX_NETWORK_INSTANCE],
    }
}

fn ue(i: u32) -> [u8; 4] {
    [10, 45 + (i >> 16) as u8, (i >> 8) as u8, i as u8]
}

fn session(i: u32) -> Rules {
    let mut up = PdrRecord::zeroed();
    up.hot.pdr_id = 1;
    up.hot.precedence = 100;
    up.hot.far_id = 1;
    up.hot.flags = PDR_HAS_LOCAL_FTEID;
    up.hot.outer_header_removal = OHR_GTPU_UDP_IPV4;
    up.local_fteid = outer([192, 0, 2, 1], 0x1000 + i);
    let mut down = PdrRecord::zeroed();
    down.hot.pdr_id = 2;
    down.hot.precedence = 100;
    down.hot.far_id = 2;
    down.hot.flags = PDR_UE_IPV4;
    down.ue_ipv4 = ue(i);
    for pdr in [&mut up, &mut down] {
        pdr.hot.qers[0].qer_id = 1;
        pdr.hot.qer_count = 1;
        pdr.hot.urrs[0].urr_id = 1;
        pdr.hot.urr_count = 1;
    }
    let mut urr = UrrRecord {
        methods: METHOD_VOLUME,
        ..UrrRecord::default()
    };
    urr.limits.urr_id = 1;
    Rules {
        bar: None,
        pdrs: vec![up, down],
        fars: vec![
            far(1, None),
            far(2, Some(outer([192, 0, 2, 9], 0x8000_0000 | i))),
        ],
        qers: vec![QerRecord {
            qer_id: 1,
            flags: QER_HAS_GATE | QER_HAS_QFI,
            qfi: 9,
            ..QerRecord::default()
        }],
        urrs: vec![urr],
    }
}

/// Ethernet + IPv4 + UDP with 18 bytes of payload (a 64-byte frame), to `dst` from `src`.
fn ipv4_udp(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[..6].copy_from_slice(&[2, 0, 0, 0, 6, 6]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0xc, 0xc]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip = fastlane_wire::Ipv4Repr {
        src_addr: src.into(),
        dst_addr: dst.into(),
        protocol: fastlane_wire::IpProtocol::Udp,
        payload_len: 8 + 18,
        ttl: 64,
        dscp: 0,
        ecn: 0,
    };
    ip.emit(&mut fastlane_wire::Ipv4Packet::new_unchecked(&mut f[14..]));
    f[34..36].copy_from_slice(&40000u16.to_be_bytes());
    f[36..38].copy_from_slice(&9u16.to_be_bytes());
    f[38..40].copy_from_slice(&26u16.to_be_bytes());
    f
}

/// A G-PDU from the gNB for TEID `teid` carrying `inner` (an Ethernet frame: its IP packet).
fn gpdu(inner: &[u8], teid: u32) -> Vec<u8> {
    let mut buf = vec![0u8; HEADROOM + inner.len()];
    buf[HEADROOM..].copy_from_slice(inner);
    let mut slot = fastlane_abi::Slot::EMPTY;
    // SAFETY: `buf` outlives the slot and nothing else touches it.
    unsafe {
        slot.set(
            buf.as_mut_ptr(),
            buf.len() as u32,
            HEADROOM as u32,
            inner.len() as u32,
            0,
        )
    };
    let path = Path {
        dst_mac: [2, 0, 0, 0, 3, 3],
        src_mac: [2, 0, 0, 0, 0xb, 0xb],
        src: IpAddr::from([192, 0, 2, 9]),
        dst: IpAddr::from([192, 0, 2, 1]),
        src_port: 2152,
        dst_port: 2152,
    };
    let mut packet = fastlane_abi::Packet::new(&mut slot);
    encap::encapsulate(
        &mut packet,
        inner.len() - 14,
        &path,
        Tunnel { teid, qfi: 9 },
    )
    .unwrap();
    slot.data().to_vec()
}

/// ns per packet of running `frames` through `processor` on `port`, in batches, and of only
/// refilling the batches (the copy the measurement needs, as packets are rewritten in place).
fn measure(
    processor: &mut dyn Processor,
    port: u16,
    frames: &[Vec<u8>],
    expect: Verdict,
) -> (f64, f64) {
    let mut buffers: Vec<Vec<u8>> = (0..BATCH).map(|_| vec![0u8; ROOM]).collect();
    let mut batch = Batch::with_capacity(BATCH);
    let rounds = (2_000_000 / BATCH).max(frames.len().div_ceil(BATCH));
    let mut fill = |batch: &mut Batch, round: usize| {
        let slots = batch.begin_fill(port, 0);
        for (k, (slot, buf)) in slots.iter_mut().zip(buffers.iter_mut()).enumerate() {
            let frame = &frames[(round * BATCH + k) % frames.len()];
            buf[HEADROOM..HEADROOM + frame.len()].copy_from_slice(frame);
            // SAFETY: the buffers outlive the batch and nothing else touches them.
            unsafe {
                slot.set(
                    buf.as_mut_ptr(),
                    ROOM as u32,
                    HEADROOM as u32,
                    frame.len() as u32,
                    0,
                )
            };
        }
        batch.set_len(BATCH);
    };
    // Once over everything first, checking the verdicts.
    for round in 0..frames.len().div_ceil(BATCH) {
        fill(&mut batch, round);
        processor.process(&mut batch);
        assert!(batch.slots().iter().all(|s| s.verdict() == expect));
    }
    let started = Instant::now();
    for round in 0..rounds {
        fill(&mut batch, round);
        processor.process(&mut batch);
    }
    let total = started.elapsed().as_nanos() as f64 / (rounds * BATCH) as f64;
    let started = Instant::now();
    for round in 0..rounds {
        fill(&mut batch, round);
        std::hint::black_box(&mut batch);
    }
    let refill = started.elapsed().as_nanos() as f64 / (rounds * BATCH) as f64;
    (total, refill)
}

fn main() {
    let sessions: u32 = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("a number of sessions"))
        .unwrap_or(10_000);
    let caps = Capacities {
        sessions,
        pdrs: 2 * sessions,
        fars: 2 * sessions,
        qers: sessions,
        urrs: sessions,
        next_hops: 16,
        event_channels: 1,
        event_capacity: 1024,
    };
    let name = format!("upf-fastpath-cost-{}", std::process::id());
    let region = Region::create(&name, &layout(&caps)).unwrap();
    let mut writer = Writer::attach(&region, &caps).unwrap();
    let started = Instant::now();
    for i in 0..sessions {
        writer.put(u64::from(i) + 1, session(i)).unwrap();
    }
    let install = started.elapsed();
    let mut next_hops = region.table(NEXT_HOPS).unwrap();
    for addr in [[0u8; 4], [192, 0, 2, 9]] {
        let hop = NextHopRecord {
            mac: [2, 0, 0, 0, 9, 9],
            port: if addr == [0; 4] { 1 } else { 0 },
            state: NEXT_HOP_REACHABLE,
            _pad: [0; 3],
            ifindex: 0,
        };
        next_hops
            .insert(NextHopKey::ipv4(addr).as_bytes(), hop.as_bytes())
            .unwrap();
    }
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap();
    let library = [
        dir.join("../libupf_fastpath.so"),
        dir.join("../deps/libupf_fastpath.so"),
    ]
    .into_iter()
    .find(|p| p.exists())
    .expect("libupf_fastpath.so beside the example");
    let library = PluginLibrary::load(&library, None).unwrap();
    let mut upf = library
        .instantiate(&json!({
            "region": name,
            "capacities": { "sessions": caps.sessions, "pdrs": caps.pdrs, "fars": caps.fars,
                "qers": caps.qers, "urrs": caps.urrs, "next_hops": caps.next_hops,
                "event_channels": 1, "event_capacity": caps.event_capacity },
            "n3": { "ipv4": "192.0.2.1" }, "n3_port": 0, "n6_port": 1,
            "n3_mac": "02:00:00:00:03:03", "n6_mac": "02:00:00:00:06:06"
        }))
        .unwrap();
    let uplink: Vec<Vec<u8>> = (0..sessions)
        .map(|i| gpdu(&ipv4_udp(ue(i), [198, 51, 100, 1]), 0x1000 + i))
        .collect();
    let downlink: Vec<Vec<u8>> = (0..sessions)
        .map(|i| ipv4_udp([198, 51, 100, 1], ue(i)))
        .collect();
    let (up, up_refill) = measure(&mut upf, 0, &uplink, Verdict::TransmitOn(1));
    let (down, down_refill) = measure(&mut upf, 1, &downlink, Verdict::TransmitOn(0));
    println!(
        "{sessions} sessions installed in {:.2} s ({:.0}/s)",
        install.as_secs_f64(),
        f64::from(sessions) / install.as_secs_f64()
    );
    println!(
        "uplink   (G-PDU {} B → decapsulated): {:.0} ns/packet ({:.0} with the batch refill)",
        uplink[0].len(),
        up - up_refill,
        up
    );
    println!(
        "downlink ({} B → encapsulated):       {:.0} ns/packet ({:.0} with the batch refill)",
        downlink[0].len(),
        down - down_refill,
        down
    );
    drop(upf);
    let _ = Region::unlink(&name);
}
