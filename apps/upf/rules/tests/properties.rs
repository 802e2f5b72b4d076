//! Property tests (random cases from a fixed seed, so a failure replays): SDF matching and the
//! reader's choice of PDR against a plain model, exact counters and the MBR's rate with several
//! threads, threshold and quota events raised once.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use common::*;
use fastlane_upf_rules::*;

/// xorshift64*: the cases' randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Addresses from a small space, so that prefixes and packets often meet.
fn address(rng: &mut Rng, ipv6: bool) -> [u8; 16] {
    let mut a = [0u8; 16];
    let width = if ipv6 { 16 } else { 4 };
    a[0] = 10;
    for b in a.iter_mut().take(width).skip(1) {
        *b = rng.below(3) as u8;
    }
    a
}

fn random_sdf(rng: &mut Rng, ipv6: bool) -> SdfRecord {
    let mut sdf = SdfRecord::default();
    let width = if ipv6 { 128 } else { 32 };
    if rng.chance(50) {
        sdf.flags |= SDF_PROTOCOL;
        sdf.protocol = [6, 17, 1][rng.below(3) as usize];
    }
    if rng.chance(50) {
        sdf.flags |= SDF_UE_PREFIX;
        sdf.ue_addr = address(rng, ipv6);
        sdf.ue_prefix_len = rng.below(width + 1) as u8;
    }
    if rng.chance(50) {
        sdf.flags |= SDF_REMOTE_PREFIX;
        sdf.remote_addr = address(rng, ipv6);
        sdf.remote_prefix_len = rng.below(width + 1) as u8;
    }
    for (bit, ports) in [
        (SDF_UE_PORTS, &mut sdf.ue_ports),
        (SDF_REMOTE_PORTS, &mut sdf.remote_ports),
    ] {
        if rng.chance(40) {
            let a = rng.below(8) as u16 * 100;
            let b = a + rng.below(300) as u16;
            *ports = [a, b];
            sdf.flags |= bit;
        }
    }
    if ipv6 && sdf.flags & (SDF_UE_PREFIX | SDF_REMOTE_PREFIX) != 0 {
        sdf.flags |= SDF_IPV6;
    }
    sdf
}

fn random_flow(rng: &mut Rng, ipv6: bool) -> Flow {
    let protocol = [6, 17, 1][rng.below(3) as usize];
    let ports = (protocol != 1).then(|| (rng.below(1000) as u16, rng.below(1000) as u16));
    Flow {
        ipv6,
        src: address(rng, ipv6),
        dst: address(rng, ipv6),
        protocol,
        ports,
    }
}

/// The model: bit by bit, as the definition says.
fn model_in_prefix(addr: &[u8], prefix: &[u8], len: usize) -> bool {
    (0..len).all(|i| (addr[i / 8] >> (7 - i % 8)) & 1 == (prefix[i / 8] >> (7 - i % 8)) & 1)
}

fn model_sdf(sdf: &SdfRecord, flow: &Flow, direction: Direction) -> bool {
    let width = if flow.ipv6 { 16 } else { 4 };
    let (ue, remote, ue_port, remote_port) = match direction {
        Direction::Uplink => (
            flow.src,
            flow.dst,
            flow.ports.map(|p| p.0),
            flow.ports.map(|p| p.1),
        ),
        Direction::Downlink => (
            flow.dst,
            flow.src,
            flow.ports.map(|p| p.1),
            flow.ports.map(|p| p.0),
        ),
    };
    let has_prefix = sdf.flags & (SDF_UE_PREFIX | SDF_REMOTE_PREFIX) != 0;
    if has_prefix && (sdf.flags & SDF_IPV6 != 0) != flow.ipv6 {
        return false;
    }
    let range = |p: Option<u16>, r: [u16; 2]| p.is_some_and(|p| (r[0]..=r[1]).contains(&p));
    (sdf.flags & SDF_PROTOCOL == 0 || sdf.protocol == flow.protocol)
        && (sdf.flags & SDF_UE_PREFIX == 0
            || model_in_prefix(&ue[..width], &sdf.ue_addr, usize::from(sdf.ue_prefix_len)))
        && (sdf.flags & SDF_REMOTE_PREFIX == 0
            || model_in_prefix(
                &remote[..width],
                &sdf.remote_addr,
                usize::from(sdf.remote_prefix_len),
            ))
        && (sdf.flags & SDF_UE_PORTS == 0 || range(ue_port, sdf.ue_ports))
        && (sdf.flags & SDF_REMOTE_PORTS == 0 || range(remote_port, sdf.remote_ports))
}

#[test]
fn sdf_matching_agrees_with_the_model() {
    let mut rng = Rng(0x5eed_0001);
    let mut matched = 0;
    for case in 0..200_000 {
        let ipv6 = rng.chance(50);
        let other_family = rng.chance(10);
        let sdf = random_sdf(&mut rng, ipv6 ^ other_family);
        let flow = random_flow(&mut rng, ipv6);
        let direction = if rng.chance(50) {
            Direction::Uplink
        } else {
            Direction::Downlink
        };
        let expected = model_sdf(&sdf, &flow, direction);
        assert_eq!(
            sdf_matches(&sdf, &flow, direction),
            expected,
            "case {case}: {sdf:?} {flow:?} {direction:?}"
        );
        matched += usize::from(expected);
    }
    // Both outcomes are well represented, or the test proves little.
    assert!(
        (20_000..180_000).contains(&matched),
        "{matched} of 200000 matched"
    );
}

#[test]
fn the_reader_picks_the_first_matching_pdr_by_precedence() {
    let name = Name::new("pick");
    let caps = Capacities {
        sessions: 4,
        pdrs: 64,
        ..small_caps()
    };
    let (_region, tables, mut writer) = open(&name, &caps);
    let mut rng = Rng(0x5eed_0002);
    let teid = 0x77;
    let ue = [10, 1, 1, 1];
    for round in 0..300u32 {
        let ipv6 = rng.chance(30);
        let n = 1 + rng.below(MAX_PDR_PER_SESSION as u64 / 2) as usize;
        let mut pdrs = Vec::new();
        for i in 0..n {
            // Equal precedences happen: the lower id wins them.
            let mut up = uplink_pdr(i as u16 + 1, rng.below(8) as u32, teid, 1);
            let mut down = downlink_pdr(i as u16 + 100, rng.below(8) as u32, ue, 1);
            for pdr in [&mut up, &mut down] {
                for _ in 0..rng.below(MAX_SDF_PER_PDR as u64 + 1) {
                    *pdr = with_sdf(*pdr, random_sdf(&mut rng, ipv6));
                }
                if rng.chance(20) {
                    pdr.hot.flags |= PDR_HAS_QFI;
                    pdr.hot.qfi = rng.below(3) as u8;
                }
            }
            pdrs.push(up);
            pdrs.push(down);
        }
        let rules = Rules {
            bar: None,
            pdrs: pdrs.clone(),
            fars: vec![far(1, ACTION_FORWARD, 0, [0; 4])],
            qers: vec![],
            urrs: vec![],
        };
        writer.put(1, rules).unwrap();
        for _ in 0..50 {
            let direction = if rng.chance(50) {
                Direction::Uplink
            } else {
                Direction::Downlink
            };
            let mut flow = random_flow(&mut rng, ipv6 && direction == Direction::Uplink);
            let qfi = rng.chance(50).then(|| rng.below(3) as u8);
            if direction == Direction::Downlink {
                // The index finds the UE's IPv4 address; IPv6 filters never match such a packet.
                flow.dst = [0; 16];
                flow.dst[..4].copy_from_slice(&ue);
            }
            let uplink = direction == Direction::Uplink;
            let mut candidates: Vec<&PdrRecord> = pdrs
                .iter()
                .filter(|p| (p.hot.flags & PDR_HAS_LOCAL_FTEID != 0) == uplink)
                .filter(|p| !uplink || p.hot.flags & PDR_HAS_QFI == 0 || Some(p.hot.qfi) == qfi)
                .filter(|p| {
                    p.hot.sdf_count == 0
                        || p.sdf[..usize::from(p.hot.sdf_count)]
                            .iter()
                            .any(|s| model_sdf(s, &flow, direction))
                })
                .collect();
            candidates.sort_by_key(|p| (p.hot.precedence, p.hot.pdr_id));
            let expected = candidates.first().map(|p| p.hot.pdr_id);
            let got = if uplink {
                tables.uplink(teid, qfi, &flow)
            } else {
                tables.downlink(&flow)
            };
            match (got, expected) {
                (Lookup::Pdr(m), Some(id)) => {
                    assert_eq!(
                        m.pdr.pdr_id, id,
                        "round {round}: {direction:?} {flow:?} {qfi:?}"
                    )
                }
                (Lookup::NoPdr { seid: 1 }, None) => {}
                other => panic!("round {round}: {direction:?} {other:?}, {flow:?} {qfi:?}"),
            }
        }
    }
}

fn counted_session(mbr_kbps: u64, threshold: u64, quota: u64) -> Rules {
    Rules {
        bar: None,
        pdrs: vec![with_urr(with_qer(uplink_pdr(1, 1, 0x99, 1), 1), 1)],
        fars: vec![far(1, ACTION_FORWARD, 0, [0; 4])],
        qers: vec![qer(1, 0, mbr_kbps)],
        urrs: vec![urr(1, threshold, quota)],
    }
}

fn matched(tables: &UpfTables) -> Matched {
    match tables.uplink(0x99, None, &udp([10, 0, 0, 1], [8, 8, 8, 8], 1, 2)) {
        Lookup::Pdr(m) => m,
        other => panic!("{other:?}"),
    }
}

#[test]
fn counters_are_exact_with_several_threads() {
    let name = Name::new("counters");
    let caps = small_caps();
    let (_region, tables, mut writer) = open(&name, &caps);
    writer.put(5, counted_session(0, 0, 0)).unwrap();
    let m = matched(&tables);
    let threads = 4u32;
    let per_thread = 200_000u64;
    std::thread::scope(|s| {
        for t in 0..threads {
            let tables = &tables;
            s.spawn(move || {
                let mut events = tables.events(t).unwrap();
                for i in 0..per_thread {
                    let direction = if i % 3 == 0 {
                        Direction::Downlink
                    } else {
                        Direction::Uplink
                    };
                    let bytes = 100 + (i % 7) as u32;
                    assert_eq!(
                        tables.admit(&m, direction, bytes, i, &mut events),
                        Admission::Pass
                    );
                }
            });
        }
    });
    let n = u64::from(threads);
    let bytes = |downlink: bool| -> u64 {
        n * (0..per_thread)
            .filter(|i| (i % 3 == 0) == downlink)
            .map(|i| 100 + i % 7)
            .sum::<u64>()
    };
    let [ul_p, ul_b, dl_p, dl_b] = writer.usage(5, 1).unwrap();
    assert_eq!(ul_p + dl_p, n * per_thread);
    assert_eq!(
        dl_p,
        n * (0..per_thread).filter(|i| i % 3 == 0).count() as u64
    );
    assert_eq!(ul_b, bytes(false));
    assert_eq!(dl_b, bytes(true));
}
#[test]
fn threshold_and_quota_raise_one_event_each_and_the_quota_stops_forwarding() {
    let name = Name::new("quota");
    let caps = small_caps();
    let (region, tables, mut writer) = open(&name, &caps);
    writer.put(5, counted_session(0, 10_000, 20_000)).unwrap();
    let m = matched(&tables);
    let mut events = tables.events(0).unwrap();
    let mut passed = 0u64;
    for i in 0..1000 {
        match tables.admit(&m, Direction::Uplink, 1000, i, &mut events) {
            Admission::Pass => passed += 1,
            Admission::QuotaExhausted { urr_id: 1 } => {}
            other => panic!("{other:?}"),
        }
    }
    // 20 packets of 1000 bytes reach the quota; none passes after.
    assert_eq!(passed, 20);
    let mut receiver = region.channel(&events_channel(0)).unwrap();
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while let Ok(Some(n)) = receiver.recv(&mut buf) {
        got.push(EventRecord::from_bytes(&buf[..n]));
    }
    let kinds: Vec<u8> = got.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![EVENT_VOLUME_THRESHOLD, EVENT_VOLUME_QUOTA]);
    assert!(got.iter().all(|e| e.seid == 5 && e.id == 1));

    // A new quota counts from what was measured: forwarding resumes, and its event comes once more.
    let mut rules = writer.get(5).unwrap().clone();
    rules.urrs[0].quota[TOTAL] = 5_000;
    writer.put(5, rules).unwrap();
    let m = matched(&tables);
    let passed = (0..100)
        .filter(|i| tables.admit(&m, Direction::Uplink, 1000, *i, &mut events) == Admission::Pass)
        .count();
    assert_eq!(passed, 5);
    let mut after = Vec::new();
    while let Ok(Some(n)) = receiver.recv(&mut buf) {
        after.push(EventRecord::from_bytes(&buf[..n]).kind);
    }
    assert_eq!(after, vec![EVENT_VOLUME_QUOTA]);
}

#[test]
fn the_mbr_holds_its_rate_within_ten_percent_with_several_threads() {
    let name = Name::new("mbr");
    let caps = small_caps();
    let (_region, tables, mut writer) = open(&name, &caps);
    let kbps = 8_000; // 1,000,000 bytes/s
    writer.put(5, counted_session(kbps, 0, 0)).unwrap();
    let m = matched(&tables);
    // Four threads offer 4 × 2 Mbyte/s for 2 s of simulated time (each its own clock, offset),
    // all through the one bucket.
    let passed = AtomicU64::new(0);
    let seconds = 2u64;
    std::thread::scope(|s| {
        for t in 0..4u32 {
            let (tables, passed, m) = (&tables, &passed, &m);
            s.spawn(move || {
                let mut events = tables.events(t).unwrap();
                let mut mine = 0u64;
                // 1500-byte packets every 750 µs per thread: 2 Mbyte/s each.
                for i in 0..(seconds * 1_000_000 / 750) {
                    let now = i * 750_000 + u64::from(t) * 100_000;
                    if tables.admit(m, Direction::Uplink, 1500, now, &mut events) == Admission::Pass
                    {
                        mine += 1500;
                    }
                }
                passed.fetch_add(mine, Ordering::Relaxed);
            });
        }
    });
    // Offered: 8 Mbyte/s.
    let rate = passed.load(Ordering::Relaxed) as f64 / seconds as f64;
    assert!(
        (900_000.0..=1_100_000.0).contains(&rate),
        "{rate} bytes/s, MBR 1,000,000"
    );
}

#[test]
fn a_closed_gate_drops_its_direction_only() {
    let name = Name::new("gate");
    let caps = small_caps();
    let (_region, tables, mut writer) = open(&name, &caps);
    let mut rules = counted_session(0, 0, 0);
    rules.qers[0].gate = GATE_UPLINK_CLOSED;
    writer.put(5, rules).unwrap();
    let m = matched(&tables);
    let mut events = tables.events(0).unwrap();
    assert_eq!(
        tables.admit(&m, Direction::Uplink, 100, 0, &mut events),
        Admission::GateClosed { qer_id: 1 }
    );
    assert_eq!(
        tables.admit(&m, Direction::Downlink, 100, 0, &mut events),
        Admission::Pass
    );
    assert_eq!(writer.usage(5, 1).unwrap(), [0, 0, 1, 100]);
}

#[test]
fn a_batch_lookup_finds_what_lookups_one_by_one_find() {
    let name = Name::new("batch");
    let caps = small_caps();
    let (_region, tables, mut writer) = open(&name, &caps);
    for i in 0..40 {
        writer.put(u64::from(i) + 1, basic_session(i)).unwrap();
    }
    let mut rng = Rng(0x5eed_0003);
    // Batches longer than BATCH, of hits and misses both ways.
    let queries: Vec<Query> = (0..3 * BATCH + 5)
        .map(|_| {
            let i = rng.below(50) as u32;
            if rng.chance(50) {
                Query::Uplink {
                    teid: teid_of(i),
                    qfi: None,
                    flow: udp(ue_addr(i), [8, 8, 8, 8], 1, 2),
                }
            } else {
                Query::Downlink {
                    flow: udp([8, 8, 8, 8], ue_addr(i), 2, 1),
                }
            }
        })
        .collect();
    let mut batch = vec![Lookup::Unknown; queries.len()];
    tables.lookup_batch(&queries, &mut batch);
    let mut hits = 0;
    for (query, got) in queries.iter().zip(&batch) {
        let one = match query {
            Query::Uplink { teid, qfi, flow } => tables.uplink(*teid, *qfi, flow),
            Query::Downlink { flow } => tables.downlink(flow),
        };
        assert_eq!(*got, one, "{query:?}");
        hits += usize::from(matches!(one, Lookup::Pdr(_)));
    }
    assert!(
        hits > 50 && hits < queries.len(),
        "{hits} hits of {}",
        queries.len()
    );
}
