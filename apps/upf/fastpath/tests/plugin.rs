//! The UPF plugin as the data plane runs it (loaded from its library, fed batches), with rules
//! written through the rules crate's writer; input frames built and output frames decoded by
//! scapy.

mod common;

use common::*;
use fastlane_core::{DropReason, Verdict};
use serde_json::json;
use upf_rules::*;

const DROPPED: Verdict = Verdict::Drop(DropReason::Plugin);

const INNER4: &str =
    "IP(src='10.45.0.7', dst='198.51.100.1')/UDP(sport=40000, dport=5005)/Raw(b'x'*30)";
const INNER6: &str =
    "IPv6(src='2001:db8:45::7', dst='2001:db8:100::1')/TCP(sport=40000, dport=443)/Raw(b'y'*20)";

#[test]
fn uplink_g_pdus_leave_on_n6_decapsulated_to_the_gateway_over_ipv4_and_ipv6() {
    let mut rules = Bed::new("uplink", caps());
    rules
        .writer
        .put(1, session(0x100, "10.45.0.7", GNB_V4, 0x8000))
        .unwrap();
    rules
        .writer
        .put(2, session(0x200, "2001:db8:45::", GNB_V6, 0x9000))
        .unwrap();
    rules.next_hop("0.0.0.0", GW_MAC, N6_PORT);
    rules.next_hop("::", GW_MAC, N6_PORT);
    let mut upf = rules.plugin(json!({}));
    let gw = ether(N6_MAC, GW_MAC);
    let frames = build(&[
        gpdu(GNB_V4, 0x100, Some(9), INNER4),
        gpdu(GNB_V6, 0x200, Some(9), INNER6),
        // IPv4 inside IPv6, and a G-PDU without a PDU Session Container.
        gpdu(GNB_V6, 0x100, None, INNER4),
        format!("{gw}/{INNER4}"),
        format!("{gw}/{INNER6}"),
    ]);
    let out = run(&mut upf, N3_PORT, &frames[..3]);
    for (i, expected) in [&frames[3], &frames[4], &frames[3]].into_iter().enumerate() {
        assert_eq!(out[i].0, Verdict::TransmitOn(N6_PORT), "packet {i}");
        assert_eq!(&out[i].1, expected, "packet {i}");
    }
    assert_eq!(counter(&upf, "uplink_packets"), 3);
    let inner = (frames[3].len() - 14) as u64 * 2 + (frames[4].len() - 14) as u64;
    assert_eq!(counter(&upf, "uplink_bytes"), inner);
}

#[test]
fn downlink_packets_are_encapsulated_to_the_gnb_with_their_qfi_lengths_and_checksums() {
    let mut rules = Bed::new("downlink", caps());
    for (seid, ue, gnb, teid) in [
        (1, "10.45.0.7", GNB_V4, 0x8000),
        (2, "2001:db8:45::", GNB_V6, 0x9000),
        (3, "10.45.0.8", GNB_V6, 0xa000),
    ] {
        rules
            .writer
            .put(seid, session(0x100 + seid as u32, ue, gnb, teid))
            .unwrap();
    }
    rules.next_hop(GNB_V4, GNB_MAC, N3_PORT);
    rules.next_hop(GNB_V6, GNB_MAC, N3_PORT);
    let mut upf = rules.plugin(json!({}));
    let from_dn = ether(GW_MAC, N6_MAC);
    let inputs = build(&[
        format!("{from_dn}/IP(src='198.51.100.1', dst='10.45.0.7')/UDP(sport=5005, dport=40000)/Raw(b'z'*40)"),
        format!("{from_dn}/IPv6(src='2001:db8:100::1', dst='2001:db8:45::7')/UDP(sport=53, dport=40000)/Raw(b'w'*25)"),
        // A short packet with Ethernet padding behind it, which must not be carried along.
        format!("{from_dn}/IP(src='198.51.100.1', dst='10.45.0.8')/ICMP()/Padding(b'\\x00'*18)"),
    ]);
    let out = run(&mut upf, N6_PORT, &inputs);
    let decoded = decode(&out.iter().map(|(_, f)| f.clone()).collect::<Vec<_>>());
    let cases = [
        ("IP", N3_V4, GNB_V4, 0x8000, 20 + 8 + 40),
        ("IPv6", N3_V6, GNB_V6, 0x9000, 40 + 8 + 25),
        ("IPv6", N3_V6, GNB_V6, 0xa000, 20 + 8),
    ];
    for (i, (ip, src, dst, teid, inner_len)) in cases.into_iter().enumerate() {
        let d = &decoded[i];
        assert_eq!(out[i].0, Verdict::TransmitOn(N3_PORT), "packet {i}");
        assert_eq!(d["mismatches"], json!([]), "packet {i}: {d}");
        assert_eq!(
            d["udp_none"],
            json!(ip == "IP"),
            "packet {i}: checksum 0 only over IPv4"
        );
        let eth = layer(d, "Ether", 0);
        assert_eq!(
            (&eth["dst"], &eth["src"]),
            (&json!(GNB_MAC), &json!(N3_MAC))
        );
        let outer = layer(d, ip, 0);
        assert_eq!((&outer["src"], &outer["dst"]), (&json!(src), &json!(dst)));
        let udp = layer(d, "UDP", 0);
        assert_eq!((&udp["sport"], &udp["dport"]), (&json!(2152), &json!(2152)));
        let gtp = layer(d, "GTP_U_Header", 0);
        assert_eq!(gtp["teid"], json!(teid));
        assert_eq!(gtp["gtp_type"], json!(255));
        assert_eq!(gtp["E"], json!(1));
        let psc = layer(d, "GTPPDUSessionContainer", 0);
        assert_eq!(
            (&psc["type"], &psc["QFI"]),
            (&json!(0), &json!(9)),
            "DL, QFI 9"
        );
        let outer_len = 14 + if ip == "IP" { 20 } else { 40 } + 8 + 16;
        assert_eq!(out[i].1.len(), outer_len + inner_len, "packet {i}");
        assert_eq!(
            &out[i].1[outer_len..],
            &inputs[i][14..14 + inner_len],
            "packet {i}"
        );
    }
    assert_eq!(counter(&upf, "downlink_packets"), 3);
}

#[test]
fn sdf_filters_and_precedence_pick_the_pdr_and_its_far() {
    let mut rules = Bed::new("sdf", caps());
    let tcp_443 = SdfRecord {
        flags: SDF_PROTOCOL | SDF_REMOTE_PORTS,
        protocol: 6,
        remote_ports: [443, 443],
        ..SdfRecord::default()
    };
    let mut udp_to_dn = SdfRecord {
        flags: SDF_PROTOCOL | SDF_REMOTE_PREFIX,
        protocol: 17,
        remote_prefix_len: 24,
        ..SdfRecord::default()
    };
    udp_to_dn.remote_addr[..4].copy_from_slice(&[198, 51, 100, 0]);
    let mut tcp_443_blocked = tcp_443;
    tcp_443_blocked.flags |= SDF_REMOTE_PREFIX;
    tcp_443_blocked.remote_prefix_len = 24;
    tcp_443_blocked.remote_addr[..4].copy_from_slice(&[203, 0, 113, 0]);
    let session = upf_rules::Rules {
        bar: None,
        pdrs: vec![
            with_sdf(uplink_pdr(1, 10, 0x100, 1), tcp_443),
            with_sdf(uplink_pdr(2, 50, 0x100, 1), udp_to_dn),
            uplink_pdr(3, 100, 0x100, 2),
            // The highest precedence: TCP 443 to 203.0.113.0/24 is dropped.
            with_sdf(uplink_pdr(4, 5, 0x100, 2), tcp_443_blocked),
        ],
        fars: vec![far(1, ACTION_FORWARD, None), far(2, ACTION_DROP, None)],
        qers: vec![],
        urrs: vec![],
    };
    rules.writer.put(1, session).unwrap();
    rules.next_hop("0.0.0.0", GW_MAC, N6_PORT);
    let mut upf = rules.plugin(json!({}));
    let packet = |dst: &str, l4: &str| {
        gpdu(
            GNB_V4,
            0x100,
            Some(9),
            &format!("IP(src='10.45.0.7', dst='{dst}')/{l4}"),
        )
    };
    let frames = build(&[
        packet("192.0.2.200", "TCP(dport=443)"), // PDR 1: forward
        packet("192.0.2.200", "TCP(dport=80)"),  // PDR 3: drop
        packet("198.51.100.5", "UDP(dport=9)"),  // PDR 2: forward
        packet("203.0.113.5", "UDP(dport=9)"),   // PDR 3: drop
        packet("203.0.113.9", "TCP(dport=443)"), // PDR 4 before PDR 1: drop
    ]);
    let verdicts: Vec<Verdict> = run(&mut upf, N3_PORT, &frames)
        .into_iter()
        .map(|(v, _)| v)
        .collect();
    let forward = Verdict::TransmitOn(N6_PORT);
    assert_eq!(verdicts, [forward, DROPPED, forward, DROPPED, DROPPED]);
    assert_eq!(drops(&upf, "far_drop"), 3);
}

#[test]
fn urrs_count_exactly_what_passed_each_way() {
    let mut rules = Bed::new("urr", caps());
    rules
        .writer
        .put(7, session(0x100, "10.45.0.7", GNB_V4, 0x8000))
        .unwrap();
    rules.next_hop("0.0.0.0", GW_MAC, N6_PORT);
    rules.next_hop(GNB_V4, GNB_MAC, N3_PORT);
    let mut upf = rules.plugin(json!({}));
    let up: Vec<String> = (0..7)
        .map(|i| {
            let inner = format!(
                "IP(src='10.45.0.7', dst='198.51.100.1')/UDP(dport=9)/Raw(b'u'*{})",
                i * 37
            );
            gpdu(GNB_V4, 0x100, Some(9), &inner)
        })
        .collect();
    let down: Vec<String> = (0..5)
        .map(|i| {
            format!(
                "{}/IP(src='198.51.100.1', dst='10.45.0.7')/UDP(sport=9)/Raw(b'd'*{})",
                ether(GW_MAC, N6_MAC),
                i * 101
            )
        })
        .collect();
    let (up, down) = (build(&up), build(&down));
    let up_bytes: u64 = (0..7).map(|i| 28 + i * 37).sum();
    let down_bytes: u64 = (0..5).map(|i| 28 + i * 101).sum();
    // In two batches each way, as traffic comes.
    for part in [&up[..3], &up[3..]] {
        assert!(run(&mut upf, N3_PORT, part)
            .iter()
            .all(|(v, _)| *v == Verdict::TransmitOn(N6_PORT)));
    }
    for part in [&down[..2], &down[2..]] {
        assert!(run(&mut upf, N6_PORT, part)
            .iter()
            .all(|(v, _)| *v == Verdict::TransmitOn(N3_PORT)));
    }
    assert_eq!(rules.usage(7, 1), [7, up_bytes, 5, down_bytes]);
}

#[test]
fn a_closed_gate_drops_its_direction_only() {
    let mut rules = Bed::new("gate", caps());
    let mut s = session(0x100, "10.45.0.7", GNB_V4, 0x8000);
    s.qers = vec![qer(1, GATE_UPLINK_CLOSED, 0, 9)];
    rules.writer.put(1, s).unwrap();
    rules.next_hop("0.0.0.0", GW_MAC, N6_PORT);
    rules.next_hop(GNB_V4, GNB_MAC, N3_PORT);
    let mut upf = rules.plugin(json!({}));
    let frames = build(&[
        gpdu(GNB_V4, 0x100, Some(9), INNER4),
        format!(
            "{}/IP(src='198.51.100.1', dst='10.45.0.7')/UDP()",
            ether(GW_MAC, N6_MAC)
        ),
    ]);
    assert_eq!(run(&mut upf, N3_PORT, &frames[..1])[0].0, DROPPED);
    assert_eq!(drops(&upf, "gate_closed"), 1);
    assert_eq!(
        run(&mut upf, N6_PORT, &frames[1..])[0].0,
        Verdict::TransmitOn(N3_PORT)
    );
    assert_eq!(
        rules.usage(1, 1),
        [0, 0, 1, 28],
        "only what passed is counted"
    );
}

#[test]
fn the_mbr_holds_the_downlink_rate_within_ten_percent_over_a_measured_run_on_two_threads() {
    let mut rules = Bed::new("mbr", caps());
    let mut s = session(0x100, "10.45.0.7", GNB_V4, 0x8000);
    // 4 Mbit/s: 500,000 bytes/s, shared by every thread the session's packets arrive on.
    s.qers = vec![qer(1, 0, 4000, 9)];
    rules.writer.put(1, s).unwrap();
    rules.next_hop(GNB_V4, GNB_MAC, N3_PORT);
    let frame = build(&[format!(
        "{}/IP(src='198.51.100.1', dst='10.45.0.7')/UDP()/Raw(b'm'*972)",
        ether(GW_MAC, N6_MAC)
    )])
    .remove(0);
    let batch: Vec<Vec<u8>> = (0..32).map(|_| frame.clone()).collect();
    let mut threads = [rules.plugin(json!({})), rules.plugin(json!({}))];
    let run_for = std::time::Duration::from_millis(800);
    let started = std::time::Instant::now();
    // Each thread offers far above the rate (a batch takes well under the 64 ms its bytes are
    // worth at the rate).
    let passed: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = threads
            .iter_mut()
            .map(|upf| {
                let batch = &batch;
                scope.spawn(move || {
                    let mut passed = 0u64;
                    while started.elapsed() < run_for {
                        let out = run(upf, N6_PORT, batch);
                        passed += out
                            .iter()
                            .filter(|(v, _)| *v == Verdict::TransmitOn(N3_PORT))
                            .count() as u64;
                    }
                    passed
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let bytes = passed * 1000;
    let expected = 500_000.0 * elapsed;
    let error = (bytes as f64 - expected) / expected;
    assert!(
        error.abs() < 0.10,
        "{bytes} bytes in {elapsed:.3} s: {:.1}% off 500 kB/s",
        error * 100.0
    );
    let limited: u64 = threads.iter().map(|t| drops(t, "mbr_exceeded")).sum();
    assert!(limited > 0);
    assert!(
        threads.iter().all(|t| counter(t, "downlink_packets") > 0),
        "both threads passed some"
    );
}

#[test]
fn buff_holds_downlink_then_releases_it_in_order_and_counts_what_overflows() {
    let mut rules = Bed::new("buff", caps());
    let mut s = session(0x100, "10.45.0.7", GNB_V4, 0x8000);
    s.fars[1].action.action = ACTION_BUFFER | ACTION_NOTIFY_CP;
    rules.writer.put(5, s).unwrap();
    rules.next_hop(GNB_V4, GNB_MAC, N3_PORT);
    let mut upf = rules.plugin(json!({ "buffering": { "per_far": 5 } }));
    let packet = |i: usize| {
        format!(
            "{}/IP(src='198.51.100.1', dst='10.45.0.7', id={i})/UDP(sport=9, dport=40000)/Raw(b'p'*{})",
            ether(GW_MAC, N6_MAC),
            10 + i
        )
    };
    let frames = build(&(0..7).map(packet).collect::<Vec<_>>());
    let out = run(&mut upf, N6_PORT, &frames[..4]);
    assert!(out.iter().all(|(v, _)| *v == Verdict::Taken));
    assert_eq!(counter(&upf, "buffered"), 4);
    // One downlink-data event, for the first packet, on the instance's channel.
    let events = rules.events(0);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0].kind, events[0].seid, events[0].id),
        (EVENT_DOWNLINK_DATA, 5, 2)
    );
    assert_eq!((events[0].flags, events[0].qfi), (EVENT_HAS_QFI, 9));
    assert!(poll(&mut upf).is_empty(), "held while the FAR buffers");

    // The FAR forwards now; a packet that comes before the release waits behind the others,
    // and one more than the bound of 5 is dropped.
    rules
        .writer
        .put(5, session(0x100, "10.45.0.7", GNB_V4, 0x8000))
        .unwrap();
    let verdicts: Vec<Verdict> = run(&mut upf, N6_PORT, &frames[4..6])
        .into_iter()
        .map(|(v, _)| v)
        .collect();
    assert_eq!(verdicts, [Verdict::Taken, DROPPED]);
    assert_eq!(drops(&upf, "buffer_full"), 1);
    let sent = poll(&mut upf);
    assert_eq!(sent.len(), 5);
    assert!(sent.iter().all(|(port, _)| *port == N3_PORT));
    let decoded = decode(&sent.iter().map(|(_, f)| f.clone()).collect::<Vec<_>>());
    let order: Vec<u64> = decoded
        .iter()
        .map(|d| {
            assert_eq!(d["mismatches"], json!([]), "{d}");
            assert_eq!(layer(d, "GTP_U_Header", 0)["teid"], json!(0x8000));
            assert_eq!(layer(d, "GTPPDUSessionContainer", 0)["QFI"], json!(9));
            layer(d, "IP", 1)["id"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(order, [0, 1, 2, 3, 4]);
    assert_eq!(counter(&upf, "buffer_released"), 5);
    assert!(poll(&mut upf).is_empty());
    // Nothing held: straight through.
    assert_eq!(
        run(&mut upf, N6_PORT, &frames[6..])[0].0,
        Verdict::TransmitOn(N3_PORT)
    );
    assert_eq!(
        rules.usage(5, 1)[2],
        6,
        "released and later packets counted once each"
    );
}

#[test]
fn a_g_pdu_for_an_unknown_teid_is_answered_with_an_error_indication_within_the_limit() {
    let rules = Bed::new("unknown", caps());
    let mut upf = rules.plugin(json!({ "error_indications_per_second": 1 }));
    let mut exprs: Vec<String> = (0..5)
        .map(|_| gpdu(GNB_V4, 0x4242, Some(9), INNER4))
        .collect();
    exprs[0] = exprs[0].replace("UDP(sport=2152", "UDP(sport=33333");
    exprs.push(gpdu(GNB_V6, 0x4343, None, INNER6));
    let frames = build(&exprs);
    let out = run(&mut upf, N3_PORT, &frames[..5]);
    let verdicts: Vec<Verdict> = out.iter().map(|(v, _)| *v).collect();
    // One a second, with a burst of one.
    assert_eq!(verdicts[..2], [Verdict::Transmit; 2]);
    assert_eq!(verdicts[2..], [DROPPED; 3]);
    assert_eq!(counter(&upf, "unknown_teid"), 5);
    assert_eq!(counter(&upf, "error_indications_sent"), 2);
    assert_eq!(drops(&upf, "unknown_teid_rate_limited"), 3);
    let d = &decode(&[out[0].1.clone()])[0];
    assert_eq!(d["mismatches"], json!([]), "{d}");
    assert_eq!(
        layer_names(d),
        [
            "Ether",
            "IP",
            "UDP",
            "GTP_U_Header",
            "GTP_UDPPort_ExtensionHeader",
            "GTPErrorIndication"
        ]
    );
    let eth = layer(d, "Ether", 0);
    assert_eq!(
        (&eth["dst"], &eth["src"]),
        (&json!(GNB_MAC), &json!(N3_MAC))
    );
    let ip = layer(d, "IP", 0);
    assert_eq!((&ip["src"], &ip["dst"]), (&json!(N3_V4), &json!(GNB_V4)));
    assert_eq!(layer(d, "UDP", 0)["dport"], json!(2152));
    let gtp = layer(d, "GTP_U_Header", 0);
    assert_eq!(
        (&gtp["gtp_type"], &gtp["teid"], &gtp["S"], &gtp["E"]),
        (&json!(26), &json!(0), &json!(1), &json!(1))
    );
    assert_eq!(
        layer(d, "GTP_UDPPort_ExtensionHeader", 0)["udp_port"],
        json!(33333)
    );
    let ies = layer(d, "GTPErrorIndication", 0)["IE_list"]
        .as_array()
        .unwrap();
    assert_eq!(ies[0]["name"], "IE_TEIDI");
    assert_eq!(ies[0]["fields"]["TEIDI"], json!(0x4242));
    assert_eq!(ies[1]["name"], "IE_GSNAddress");
    assert_eq!(ies[1]["fields"]["ipv4_address"], json!(N3_V4));

    // Over IPv6, a second later: the budget has refilled.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = run(&mut upf, N3_PORT, &frames[5..]);
    assert_eq!(out[0].0, Verdict::Transmit);
    let d = &decode(&[out[0].1.clone()])[0];
    assert_eq!(d["mismatches"], json!([]), "{d}");
    let ip = layer(d, "IPv6", 0);
    assert_eq!((&ip["src"], &ip["dst"]), (&json!(N3_V6), &json!(GNB_V6)));
    let ies = layer(d, "GTPErrorIndication", 0)["IE_list"]
        .as_array()
        .unwrap();
    assert_eq!(ies[0]["fields"]["TEIDI"], json!(0x4343));
    assert_eq!(ies[1]["fields"]["ipv6_address"], json!(N3_V6));
}

#[test]
fn an_echo_request_is_answered_with_the_recovery_counter_over_ipv4_and_ipv6() {
    let rules = Bed::new("echo", caps());
    let mut upf = rules.plugin(json!({ "recovery": 5 }));
    let echo = |ip: &str, sport: u16, seq: u16| {
        format!(
            "{}/{ip}/UDP(sport={sport}, dport=2152)/GTP_U_Header(gtp_type=1, S=1, seq={seq})/GTPEchoRequest()",
            ether(GNB_MAC, N3_MAC)
        )
    };
    let frames = build(&[
        echo(&format!("IP(src='{GNB_V4}', dst='{N3_V4}')"), 40001, 77),
        echo(&format!("IPv6(src='{GNB_V6}', dst='{N3_V6}')"), 2152, 78),
    ]);
    let out = run(&mut upf, N3_PORT, &frames);
    let decoded = decode(&out.iter().map(|(_, f)| f.clone()).collect::<Vec<_>>());
    for (i, (ip, src, dst, dport, seq)) in [
        ("IP", N3_V4, GNB_V4, 40001, 77),
        ("IPv6", N3_V6, GNB_V6, 2152, 78),
    ]
    .into_iter()
    .enumerate()
    {
        let d = &decoded[i];
        assert_eq!(out[i].0, Verdict::Transmit);
        assert_eq!(d["mismatches"], json!([]), "{d}");
        assert_eq!(
            d["udp_none"],
            json!(false),
            "the node's own messages carry a checksum"
        );
        let outer = layer(d, ip, 0);
        assert_eq!((&outer["src"], &outer["dst"]), (&json!(src), &json!(dst)));
        let udp = layer(d, "UDP", 0);
        assert_eq!(
            (&udp["sport"], &udp["dport"]),
            (&json!(2152), &json!(dport))
        );
        let gtp = layer(d, "GTP_U_Header", 0);
        assert_eq!(
            (&gtp["gtp_type"], &gtp["seq"], &gtp["S"], &gtp["teid"]),
            (&json!(2), &json!(seq), &json!(1), &json!(0))
        );
        let ies = layer(d, "GTPEchoResponse", 0)["IE_list"]
            .as_array()
            .unwrap();
        assert_eq!(ies[0]["name"], "IE_Recovery");
        assert_eq!(ies[0]["fields"]["restart_counter"], json!(5));
    }
    assert_eq!(counter(&upf, "echo_requests_answered"), 2);
}

#[test]
fn malformed_and_unhandled_gtp_u_is_dropped_and_counted_by_reason() {
    let mut rules = Bed::new("malformed", caps());
    rules
        .writer
        .put(1, session(0x100, "10.45.0.7", GNB_V4, 0x8000))
        .unwrap();
    rules.next_hop("0.0.0.0", GW_MAC, N6_PORT);
    let mut upf = rules.plugin(json!({}));
    let udp = |payload: &str| {
        format!(
            "{}/IP(src='{GNB_V4}', dst='{N3_V4}')/UDP(sport=2152, dport=2152)/{payload}",
            ether(GNB_MAC, N3_MAC)
        )
    };
    let cases = [
        (udp("Raw(b'\\x30\\xff\\x00')"), Some("gtpu_short_header")),
        (udp("Raw(b'\\x30\\xff\\x04\\x00\\x00\\x00\\x01\\x00abcd')"), Some("gtpu_bad_length")),
        (udp("Raw(b'\\x50\\xff\\x00\\x00\\x00\\x00\\x01\\x00')"), Some("gtpu_version")),
        // GTP' (protocol type 0).
        (udp("Raw(b'\\x20\\xff\\x00\\x00\\x00\\x00\\x01\\x00')"), Some("gtpu_version")),
        (
            udp("Raw(b'\\x34\\xff\\x00\\x08\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x85\\x00\\x00\\x00\\x00')"),
            Some("gtpu_bad_extension_header"),
        ),
        (
            udp(&format!("GTP_U_Header(teid=256, gtp_type=255, E=1, next_ex=0xc0)/Raw(b'\\x01\\xaa\\xbb\\x00')/{INNER4}")),
            Some("gtpu_unknown_mandatory_extension"),
        ),
        (
            udp("GTP_U_Header(gtp_type=31, S=1)/Raw(b'\\x8d\\x00\\x01\\x85')"),
            Some("gtpu_unhandled_type"),
        ),
        (udp("GTP_U_Header(gtp_type=2, S=1)/GTPEchoResponse(IE_list=[IE_Recovery()])"), Some("gtpu_echo_response")),
        (udp("GTP_U_Header(gtp_type=254, teid=256)"), Some("gtpu_end_marker")),
        (udp("GTP_U_Header(teid=256, gtp_type=255)/Raw(b'\\x45\\x00\\x00')"), Some("inner_malformed")),
    ];
    let mut exprs: Vec<String> = cases.iter().map(|(e, _)| e.clone()).collect();
    // An unknown extension header the receiver need not comprehend (type 0x01) is skipped.
    exprs.push(udp(&format!(
        "GTP_U_Header(teid=256, gtp_type=255, E=1, next_ex=0x01)/Raw(b'\\x01\\xaa\\xbb\\x85\\x01\\x10\\x09\\x00')/{INNER4}"
    )));
    // Not this UPF's: GTP-U to another address, and UDP to another port.
    exprs.push(format!(
        "{}/IP(src='{GNB_V4}', dst='192.0.2.77')/UDP(sport=2152, dport=2152)/GTP_U_Header(teid=256, gtp_type=255)/{INNER4}",
        ether(GNB_MAC, N3_MAC)
    ));
    exprs.push(format!(
        "{}/IP(src='{GNB_V4}', dst='{N3_V4}')/UDP(sport=2152, dport=2153)/Raw(b'x'*12)",
        ether(GNB_MAC, N3_MAC)
    ));
    let frames = build(&exprs);
    let out = run(&mut upf, N3_PORT, &frames);
    for (i, (_, reason)) in cases.iter().enumerate() {
        assert_eq!(out[i].0, DROPPED, "case {i}: {reason:?}");
    }
    assert_eq!(out[cases.len()].0, Verdict::TransmitOn(N6_PORT));
    assert_eq!(out[cases.len() + 1].0, Verdict::Kernel);
    assert_eq!(out[cases.len() + 2].0, Verdict::Kernel);
    for reason in DROP_REASONS_SEEN {
        let expected = cases.iter().filter(|(_, r)| *r == Some(*reason)).count() as u64;
        assert_eq!(drops(&upf, reason), expected, "{reason}");
    }
}

/// The reasons [`malformed_and_unhandled_gtp_u_is_dropped_and_counted_by_reason`] covers.
const DROP_REASONS_SEEN: &[&str] = &[
    "gtpu_short_header",
    "gtpu_bad_length",
    "gtpu_version",
    "gtpu_bad_extension_header",
    "gtpu_unknown_mandatory_extension",
    "gtpu_unhandled_type",
    "gtpu_echo_response",
    "gtpu_end_marker",
    "inner_malformed",
];

#[test]
fn a_received_error_indication_is_raised_as_an_event() {
    let rules = Bed::new("ei-in", caps());
    let mut upf = rules.plugin(json!({}));
    let frames = build(&[format!(
        "{}/IP(src='{GNB_V4}', dst='{N3_V4}')/UDP(sport=2152, dport=2152)/GTP_U_Header(gtp_type=26, S=1)/GTPErrorIndication(IE_list=[IE_TEIDI(TEIDI=0x8000), IE_GSNAddress(length=4, ipv4_address='{GNB_V4}')])",
        ether(GNB_MAC, N3_MAC)
    )]);
    assert_eq!(run(&mut upf, N3_PORT, &frames)[0].0, DROPPED);
    assert_eq!(drops(&upf, "gtpu_error_indication"), 1);
    assert_eq!(counter(&upf, "error_indications_received"), 1);
    let events = rules.events(0);
    assert_eq!(events.len(), 1, "{events:?}");
    let e = events[0];
    assert_eq!(e.kind, EVENT_ERROR_INDICATION);
    assert_eq!(
        (e.remote.teid, e.remote.flags, e.remote.ipv4),
        (0x8000, OUTER_IPV4, [192, 0, 2, 9])
    );
}

#[test]
fn an_end_marker_goes_to_the_old_gnb_when_the_control_plane_asks() {
    let mut rules = Bed::new("end-marker", caps());
    rules.next_hop(GNB_V4, GNB_MAC, N3_PORT);
    let mut upf = rules.plugin(json!({}));
    let request = EndMarkerRecord {
        seid: 1,
        far_id: 2,
        _pad: 0,
        old_path: outer(GNB_V4, 0x8000),
        _pad2: 0,
    };
    let mut channel = rules.region.channel(END_MARKERS).unwrap();
    assert!(channel.send(request.as_bytes()).unwrap());
    let sent = poll(&mut upf);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, N3_PORT);
    let d = &decode(&[sent[0].1.clone()])[0];
    assert_eq!(d["mismatches"], json!([]), "{d}");
    assert_eq!(layer(d, "Ether", 0)["dst"], json!(GNB_MAC));
    assert_eq!(layer(d, "IP", 0)["dst"], json!(GNB_V4));
    let gtp = layer(d, "GTP_U_Header", 0);
    assert_eq!(
        (&gtp["gtp_type"], &gtp["teid"]),
        (&json!(254), &json!(0x8000))
    );
    assert_eq!(counter(&upf, "end_markers_sent"), 1);
    assert!(poll(&mut upf).is_empty(), "sent once");
}

#[test]
fn without_a_next_hop_the_kernel_gets_the_packet_addressed_to_the_port_it_came_in_on() {
    let mut rules = Bed::new("miss", caps());
    rules
        .writer
        .put(1, session(0x100, "10.45.0.7", GNB_V4, 0x8000))
        .unwrap();
    let mut upf = rules.plugin(json!({}));
    let frames = build(&[
        gpdu(GNB_V4, 0x100, Some(9), INNER4),
        format!(
            "{}/IP(src='198.51.100.1', dst='10.45.0.7')/UDP()",
            ether(GW_MAC, N6_MAC)
        ),
    ]);
    let up = run(&mut upf, N3_PORT, &frames[..1]);
    assert_eq!(up[0].0, Verdict::Kernel);
    assert_eq!(
        &up[0].1[..6],
        &mac(N3_MAC),
        "decapsulated, to the N3 port's MAC"
    );
    assert_eq!(&up[0].1[14..], &build(&[INNER4.to_owned()])[0][..]);
    let down = run(&mut upf, N6_PORT, &frames[1..]);
    assert_eq!(down[0].0, Verdict::Kernel);
    assert_eq!(
        &down[0].1[..6],
        &mac(N6_MAC),
        "encapsulated, to the N6 port's MAC"
    );
    assert_eq!(counter(&upf, "next_hop_miss"), 2);
    // Once the kernel has resolved the gateway, the fast path sends there itself.
    rules.next_hop("0.0.0.0", GW_MAC, N6_PORT);
    assert_eq!(
        run(&mut upf, N3_PORT, &frames[..1])[0].0,
        Verdict::TransmitOn(N6_PORT)
    );
}

#[test]
fn a_bad_config_is_refused_naming_the_key() {
    let rules = Bed::new(
        "config",
        Capacities {
            event_channels: 1,
            ..caps()
        },
    );
    let library = library();
    let err = library
        .instantiate(&json!({ "n3": { "ipv4": N3_V4 }, "n3_port": 0, "n6_port": 1 }))
        .unwrap_err()
        .to_string();
    assert!(err.contains("refused its config: region:"), "{err}");
    let mut bad = rules.config(json!({}));
    bad["n3"] = json!({ "ipv4": "not an address" });
    let err = library.instantiate(&bad).unwrap_err().to_string();
    assert!(
        err.contains("n3.ipv4: \"not an address\" is not an IPv4 address"),
        "{err}"
    );
    let err = library
        .instantiate(&json!({ "region": "upf-fastpath-no-such-region", "n3": { "ipv4": N3_V4 }, "n3_port": 0, "n6_port": 1 }))
        .unwrap_err()
        .to_string();
    assert!(err.contains("region upf-fastpath-no-such-region:"), "{err}");
    // One event channel: a second instance (a second data-plane thread) has none left.
    let _first = rules.plugin(json!({}));
    let err = library
        .instantiate(&rules.config(json!({})))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("capacities.event_channels: all 1 event channels are taken"),
        "{err}"
    );
}

#[test]
fn a_mixed_batch_longer_than_a_lookup_chunk_gets_each_packet_the_verdict_it_gets_alone() {
    let mut rules = Bed::new("mixed", caps());
    let sessions = 7u32;
    for k in 0..sessions {
        let ue = format!("10.45.0.{}", 10 + k);
        rules
            .writer
            .put(
                u64::from(k) + 1,
                session(0x100 + k, &ue, GNB_V4, 0x8000 + k),
            )
            .unwrap();
    }
    rules.next_hop("0.0.0.0", GW_MAC, N6_PORT);
    rules.next_hop(GNB_V4, GNB_MAC, N3_PORT);
    let inner = |k: u32| {
        format!(
            "IP(src='10.45.0.{}', dst='198.51.100.1')/UDP(sport={}, dport=5005)/Raw(b'x'*30)",
            10 + k,
            40000 + k
        )
    };
    let echo = |seq: usize| {
        format!(
            "{}/IP(src='{GNB_V4}', dst='{N3_V4}')/UDP(sport=2152, dport=2152)/GTP_U_Header(gtp_type=1, S=1, seq={seq})/GTPEchoRequest()",
            ether(GNB_MAC, N3_MAC)
        )
    };
    // Over two lookup chunks (BATCH packets each) and part of a third: G-PDUs of every session,
    // echo requests and malformed G-PDUs in between.
    let uplink: Vec<String> = (0..70usize)
        .map(|i| {
            let k = (i as u32 * 3) % sessions;
            match i % 4 {
                0 => gpdu(GNB_V4, 0x100 + k, Some(9), &inner(k)),
                1 => echo(i),
                2 => gpdu(GNB_V4, 0x100 + k, None, "Raw(b'\\x45\\x00\\x00')"),
                _ => gpdu(GNB_V4, 0x100 + k, None, &inner(k)),
            }
        })
        .collect();
    let decapsulated: Vec<String> = (0..sessions)
        .map(|k| format!("{}/{}", ether(N6_MAC, GW_MAC), inner(k)))
        .collect();
    let frames = build(&[uplink, decapsulated].concat());
    let (uplink, decapsulated) = frames.split_at(70);
    let mut batched = rules.plugin(json!({}));
    let mut alone = rules.plugin(json!({}));
    let out = run(&mut batched, N3_PORT, uplink);
    for (i, (verdict, bytes)) in out.iter().enumerate() {
        let k = (i as u32 * 3) % sessions;
        match i % 4 {
            0 | 3 => {
                assert_eq!(*verdict, Verdict::TransmitOn(N6_PORT), "packet {i}");
                assert_eq!(bytes, &decapsulated[k as usize], "packet {i}");
            }
            1 => assert_eq!(*verdict, Verdict::Transmit, "packet {i}"),
            _ => assert_eq!(*verdict, DROPPED, "packet {i}"),
        }
        assert_eq!(
            run(&mut alone, N3_PORT, std::slice::from_ref(&uplink[i]))[0],
            (*verdict, bytes.clone()),
            "packet {i} alone"
        );
    }
    assert_eq!(counter(&batched, "uplink_packets"), 35);
    assert_eq!(counter(&batched, "echo_requests_answered"), 18);
    assert_eq!(drops(&batched, "inner_malformed"), 17);

    // Downlink: packets to every UE, to an unknown UE, and ARP for the kernel.
    let gw = ether(GW_MAC, N6_MAC);
    let downlink: Vec<String> = (0..40u32)
        .map(|i| match i % 3 {
            0 => format!(
                "{gw}/IP(src='198.51.100.1', dst='10.45.0.{}')/UDP(sport=5005, dport=40000)/Raw(b'y'*20)",
                10 + i % sessions
            ),
            1 => format!("{gw}/IP(src='198.51.100.1', dst='10.45.9.9')/UDP(sport=5005, dport=40000)"),
            _ => format!("{gw}/ARP(pdst='{N3_V4}')"),
        })
        .collect();
    let frames = build(&downlink);
    let out = run(&mut batched, N6_PORT, &frames);
    for (i, (verdict, bytes)) in out.iter().enumerate() {
        match i % 3 {
            0 => {
                assert_eq!(*verdict, Verdict::TransmitOn(N3_PORT), "packet {i}");
                // Ethernet, IPv4, UDP, then the GTP-U header's TEID.
                let teid = u32::from_be_bytes(bytes[46..50].try_into().unwrap());
                assert_eq!(teid, 0x8000 + i as u32 % sessions, "packet {i}");
            }
            1 => assert_eq!(*verdict, DROPPED, "packet {i}"),
            _ => assert_eq!(*verdict, Verdict::Kernel, "packet {i}"),
        }
        assert_eq!(
            run(&mut alone, N6_PORT, std::slice::from_ref(&frames[i]))[0],
            (*verdict, bytes.clone()),
            "packet {i} alone"
        );
    }
    assert_eq!(counter(&batched, "downlink_packets"), 14);
    assert_eq!(drops(&batched, "unknown_ue"), 13);
}
