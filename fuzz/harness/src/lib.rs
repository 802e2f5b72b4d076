//! What each fuzz target does with one input. The AFL targets in `fuzz/targets` call these, and
//! `tests/corpus.rs` replays every kept corpus file through them on each `cargo test`, so the
//! corpus is exercised without the fuzzer. Each function panics only when an invariant breaks.

use std::sync::OnceLock;

use fastlane_core::classify::splits_as_ipv6_extension;
use fastlane_core::config::{FilterConfig, SystemFacts};
use fastlane_core::wire::flow_hash;
use fastlane_core::{Class, Config, FilterTables};
use fastlane_wire::gtpu::{self, GtpuPacket, GtpuRepr};
use fastlane_wire::{
    arp, checksum, icmpv4, icmpv6, vlan, EtherType, EthernetFrame, IpProtocol, Ipv4Packet,
    Ipv4Repr, Ipv6Packet, Ipv6Repr, PseudoHeader, TcpPacket, UdpPacket,
};

/// What a fuzz target does with one input.
pub type Target = fn(&[u8]);

/// The fuzz targets, by the name of their corpus folder and binary.
pub const TARGETS: [(&str, Target); 4] = [
    ("wire", wire),
    ("classify", classify),
    ("config", config),
    ("upf", upf),
];

/// Every view over `data` taken as each protocol's header, then `data` as an Ethernet frame
/// walked down to GTP-U and its inner packet; and the incremental checksum against a recompute.
pub fn wire(data: &[u8]) {
    views(data);
    frame(data);
    incremental_checksum(data);
}

fn views(data: &[u8]) {
    if let Ok(p) = EthernetFrame::new_checked(data) {
        let _ = (p.dst_addr(), p.src_addr(), p.ethertype(), p.payload().len());
    }
    if let Ok(t) = vlan::VlanTag::new_checked(data) {
        let _ = (t.pcp(), t.dei(), t.vid(), t.ethertype(), t.payload().len());
    }
    if let Ok(a) = arp::ArpPacket::new_checked(data) {
        let _ = (
            a.operation(),
            a.sender_hardware_addr(),
            a.sender_protocol_addr(),
        );
        let _ = (a.target_hardware_addr(), a.target_protocol_addr());
    }
    ipv4(data);
    ipv6(data);
    transport(data, None);
    gtp(data);
}

fn ipv4(data: &[u8]) -> Option<()> {
    let p = Ipv4Packet::new_checked(data).ok()?;
    let _ = (
        p.dscp(),
        p.ecn(),
        p.ident(),
        p.frag_offset(),
        p.more_frags(),
        p.options(),
    );
    let _ = p.verify_checksum();
    // A parsed header written out again parses to itself.
    let repr = Ipv4Repr::parse(&p);
    let mut out = vec![0u8; Ipv4Repr::HEADER_LEN + usize::from(repr.payload_len)];
    let mut q = Ipv4Packet::new_unchecked(&mut out[..]);
    repr.emit(&mut q);
    assert!(q.verify_checksum());
    assert_eq!(
        Ipv4Repr::parse(&Ipv4Packet::new_checked(&out[..]).unwrap()),
        repr
    );
    if !p.is_fragment() {
        transport(p.payload(), Some((p.protocol(), p.pseudo_header())));
    }
    Some(())
}

fn ipv6(data: &[u8]) -> Option<()> {
    let p = Ipv6Packet::new_checked(data).ok()?;
    let repr = Ipv6Repr::parse(&p);
    let mut out = vec![0u8; Ipv6Repr::HEADER_LEN + usize::from(repr.payload_len)];
    repr.emit(&mut Ipv6Packet::new_unchecked(&mut out[..]));
    assert_eq!(
        Ipv6Repr::parse(&Ipv6Packet::new_checked(&out[..]).unwrap()),
        repr
    );
    let mut end = 40;
    for header in p.extension_headers() {
        let Ok(header) = header else { break };
        assert_eq!(header.offset, end);
        end += header.bytes.len();
    }
    if let Ok((protocol, offset)) = p.upper_layer() {
        assert!(offset <= 40 + p.payload().len());
        let rest = &data[offset..40 + p.payload().len()];
        transport(rest, Some((protocol, p.pseudo_header())));
    }
    Some(())
}

/// The transport views over `data`; with a protocol, only that one (and its checksum).
fn transport(data: &[u8], ip: Option<(IpProtocol, PseudoHeader)>) {
    let wants = |p: IpProtocol| ip.is_none_or(|(q, _)| q == p);
    if wants(IpProtocol::Udp) {
        if let Ok(u) = UdpPacket::new_checked(data) {
            let _ = (u.src_port(), u.checksum(), u.payload().len());
            if let Some((_, pseudo)) = ip {
                let _ = u.verify_checksum(&pseudo);
            }
            if u.dst_port() == gtpu::PORT || u.src_port() == gtpu::PORT {
                gtp(u.payload());
            }
        }
    }
    if wants(IpProtocol::Tcp) {
        if let Ok(t) = TcpPacket::new_checked(data) {
            let _ = (
                t.seq_number(),
                t.ack_number(),
                t.flags(),
                t.window(),
                t.options(),
            );
            let _ = (t.urgent_pointer(), t.payload().len());
            if let Some((_, pseudo)) = ip {
                let _ = t.verify_checksum(&pseudo);
            }
        }
    }
    if wants(IpProtocol::Icmp) {
        if let Ok(i) = icmpv4::Icmpv4Packet::new_checked(data) {
            let _ = (
                i.msg_type(),
                i.msg_code(),
                i.echo_ident(),
                i.echo_seq_no(),
                i.data(),
            );
            let _ = (i.rest_of_header(), i.verify_checksum());
        }
    }
    if wants(IpProtocol::Icmpv6) {
        if let Ok(i) = icmpv6::Icmpv6Packet::new_checked(data) {
            let _ = (
                i.msg_type().is_error(),
                i.msg_code(),
                i.echo_seq_no(),
                i.data(),
            );
            if let Some((_, pseudo)) = ip {
                let _ = i.verify_checksum(&pseudo);
            }
        }
    }
}

fn gtp(data: &[u8]) -> Option<()> {
    let p = GtpuPacket::new_checked(data).ok()?;
    assert!(p.header_len() <= p.message_len());
    let mut content = 0;
    for header in p.extension_headers() {
        let header = header.expect("a checked message's extension headers are whole");
        let _ = (
            header.kind.comprehension(),
            header.comprehension_required(),
            header.next,
        );
        if let Some(s) = header.pdu_session() {
            let _ = (
                s.pdu_type(),
                s.qfi(),
                s.qmp(),
                s.ppp(),
                s.rqi(),
                s.ppi(),
                s.content(),
            );
        }
        content += header.content.len() + 2;
    }
    let optional = if p.has_optional_fields() {
        gtpu::OPTIONAL_LEN
    } else {
        0
    };
    assert_eq!(p.header_len(), gtpu::HEADER_LEN + optional + content);
    // The header this crate can write (TEID, optional fields, PDU Session Container) round-trips.
    let repr = GtpuRepr::parse(&p);
    let mut out = vec![0u8; repr.header_len() + p.payload().len()];
    let payload_len = p.payload().len() as u16;
    repr.emit(&mut GtpuPacket::new_unchecked(&mut out[..]), payload_len);
    let q = GtpuPacket::new_checked(&out[..]).expect("an emitted header parses");
    assert_eq!(GtpuRepr::parse(&q), repr);
    assert_eq!(q.payload().len(), p.payload().len());
    Some(())
}

/// `data` as a frame: Ethernet, up to two VLAN tags, IP, transport, GTP-U.
fn frame(data: &[u8]) -> Option<()> {
    let layer = vlan::network_layer(data).ok()?;
    let l3 = &data[layer.offset..];
    match layer.ethertype {
        EtherType::Ipv4 => ipv4(l3),
        EtherType::Ipv6 => ipv6(l3),
        _ => None,
    }
}

/// Splits `data` into covered bytes and a replacement run, and holds RFC 1624's update to the
/// recomputed checksum.
fn incremental_checksum(data: &[u8]) {
    let (Some(&at), Some(rest)) = (data.first(), data.get(1..)) else {
        return;
    };
    let (covered, new) = rest.split_at(rest.len() / 2);
    let at = usize::from(at) * 2;
    let run = new.len() & !1;
    if at + run > covered.len() {
        return;
    }
    let mut changed = covered.to_vec();
    changed[at..at + run].copy_from_slice(&new[..run]);
    let updated = checksum::update_bytes(
        checksum::checksum(covered),
        &covered[at..at + run],
        &new[..run],
    );
    let recomputed = checksum::checksum(&changed);
    // The one difference: data that became all zero gets the other zero (see update16).
    if changed.iter().any(|&b| b != 0) {
        assert_eq!(updated, recomputed);
    } else {
        assert!(updated == 0 || updated == 0xffff);
    }
}

/// The classifier over the filter of the equivalence tests, and the flow hash; a fast frame's
/// headers must be what the classifier promises the fast path.
pub fn classify(data: &[u8]) {
    static TABLES: OnceLock<Box<FilterTables>> = OnceLock::new();
    let tables = TABLES.get_or_init(|| {
        FilterTables::new(&FilterConfig {
            dst_prefixes: ["10.45.0.0/16", "192.0.2.7/32", "2001:db8:1::/48"]
                .map(|p| p.parse().expect("a valid prefix"))
                .to_vec(),
            ..fastlane_core::wire::testing::sample_filter()
        })
    });
    let class = tables.classify(data);
    assert_eq!(flow_hash(data), flow_hash(data));
    if class == Class::Fast {
        let eth = EthernetFrame::new_checked(data).expect("a fast frame has an Ethernet header");
        match eth.ethertype() {
            EtherType::Ipv4 => {
                let ip =
                    Ipv4Packet::new_checked(eth.payload()).expect("a fast IPv4 header is sane");
                assert!(!ip.is_fragment());
            }
            EtherType::Ipv6 => {
                let ip =
                    Ipv6Packet::new_checked(eth.payload()).expect("a fast IPv6 header is sane");
                let next = ip.next_header_raw();
                assert!(next != 44 && !splits_as_ipv6_extension(next));
            }
            other => assert_eq!(u16::from(other), 0x88b5, "only listed EtherTypes are fast"),
        }
    }
}

/// A config document: parsed and checked as `fastlane validate` does, and checked again against
/// a fixed machine so that the device and hugepage checks run too.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::from_json(text) {
        Ok(config) => {
            let facts = SystemFacts {
                cpus: (0..8).collect(),
                free_hugepage_mb: 1024,
                pci_devices: vec!["0000:3b:00.0".into()],
            };
            let _ = config.check(&facts);
        }
        Err(errors) => {
            assert!(
                !errors.0.is_empty(),
                "a refused config names at least one error"
            );
            for e in &errors.0 {
                assert!(
                    e.path.is_empty() || e.path.starts_with('/'),
                    "{:?} is a JSON pointer",
                    e.path
                );
            }
        }
    }
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        let _ = Config::from_json(&value.to_string());
    }
}

/// The UPF fast path on `data`: the whole of it, over a few sessions, with `data` received on
/// N3 and on N6 (nothing panics, and whatever it makes of the frame stays inside its buffer);
/// then its parsers, taking `data` as an N3 frame, as an inner packet and as an N6 frame: what
/// they find lies inside the frame, and what the UPF writes parses back to what it was given
/// (an encapsulated downlink packet to the same TEID, QFI and inner bytes; an Error Indication
/// to the TEID it names).
pub fn upf(data: &[u8]) {
    use core::net::IpAddr;
    use upf_fastpath::{encap, flow::Inner, n3, node};

    for port in [0, 1] {
        let mut buf = vec![0u8; 256 + data.len() + 256];
        buf[256..256 + data.len()].copy_from_slice(data);
        let mut slot = fastlane_abi::Slot::EMPTY;
        // SAFETY: `buf` outlives the slot and nothing else touches it.
        unsafe {
            slot.set(
                buf.as_mut_ptr(),
                buf.len() as u32,
                256,
                data.len() as u32,
                0,
            )
        };
        let mut upf = upf_under_test().lock().unwrap_or_else(|e| e.into_inner());
        upf.handle(
            port,
            &mut fastlane_abi::Packet::new(&mut slot),
            1_000_000_000,
        );
        assert!(slot.offset() as usize + slot.len() as usize <= buf.len());
    }

    if let Some(outer) = n3::outer(data) {
        assert!(outer.gtpu <= outer.end && outer.end <= data.len());
        if let Ok(n3::Message::GPdu { inner, .. }) = n3::message(data, &outer) {
            assert!(outer.gtpu <= inner.0 && inner.0 <= inner.1 && inner.1 <= outer.end);
        }
        // The Error Indication for this frame names its TEID and our address.
        if let Some(path) = node::back_to_sender(data, &outer, 2152) {
            let mut out = [0u8; encap::MAX_MESSAGE_FRAME];
            let teid = data.len() as u32;
            let len = node::error_indication(&mut out, &path, teid, outer.local, outer.peer_port)
                .expect("an Error Indication fits");
            let frame = &out[..len];
            let back = n3::outer(frame).expect("our Error Indication is GTP-U");
            match n3::message(frame, &back) {
                Ok(n3::Message::ErrorIndication { teid: t, address }) => {
                    assert_eq!((t, address), (teid, Some(outer.local)));
                }
                other => panic!("our Error Indication parses as {other:?}"),
            }
        }
    }
    let l3 = data.get(14..).unwrap_or_default();
    if let Some(flow) = Inner::parse(l3) {
        assert!(flow.len <= l3.len());
        // Encapsulated towards a gNB of each family, it parses back to the same packet.
        for (src, dst) in [
            (IpAddr::from([192, 0, 2, 1]), IpAddr::from([192, 0, 2, 9])),
            (
                IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]),
                IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 9]),
            ),
        ] {
            let path = encap::Path {
                dst_mac: [2, 0, 0, 0, 0, 9],
                src_mac: [2, 0, 0, 0, 0, 1],
                src,
                dst,
                src_port: 2152,
                dst_port: 2152,
            };
            let tunnel = encap::Tunnel {
                teid: 0x1234_5678,
                qfi: data.first().copied().unwrap_or(0) & 0x3f,
            };
            let mut buf = vec![0u8; 128 + data.len()];
            buf[128..].copy_from_slice(data);
            let mut slot = fastlane_abi::Slot::EMPTY;
            // SAFETY: `buf` outlives the slot and nothing else touches it.
            unsafe {
                slot.set(
                    buf.as_mut_ptr(),
                    buf.len() as u32,
                    128,
                    data.len() as u32,
                    0,
                )
            };
            let mut packet = fastlane_abi::Packet::new(&mut slot);
            encap::encapsulate(&mut packet, flow.len, &path, tunnel).expect("room for it");
            let frame = slot.data();
            let outer = n3::outer(frame).expect("our encapsulation is GTP-U");
            match n3::message(frame, &outer) {
                Ok(n3::Message::GPdu { teid, qfi, inner }) => {
                    assert_eq!((teid, qfi), (tunnel.teid, Some(tunnel.qfi)));
                    assert_eq!(&frame[inner.0..inner.1], &l3[..flow.len]);
                }
                other => panic!("our encapsulation parses as {other:?}"),
            }
        }
    }
}

/// One UPF for every input of a run: sessions with uplink TEIDs 0x100 to 0x103 (the corpus's),
/// downlink to 10.45.0.7 (forwarded), 10.45.0.8 (buffered) and 2001:db8:45::/64, in a region
/// unlinked as soon as it is mapped.
fn upf_under_test() -> &'static std::sync::Mutex<upf_fastpath::Upf> {
    use fastlane_plugin::Plugin;
    use upf_rules::*;
    static UPF: OnceLock<std::sync::Mutex<upf_fastpath::Upf>> = OnceLock::new();
    UPF.get_or_init(|| {
        let caps = Capacities {
            sessions: 8,
            pdrs: 32,
            fars: 32,
            qers: 8,
            urrs: 8,
            next_hops: 8,
            event_channels: 1,
            event_capacity: 64,
        };
        let name = format!("fastlane-fuzz-upf-{}", std::process::id());
        let region = fastlane_shm::Region::create(&name, &layout(&caps)).expect("a region");
        let mut writer = Writer::attach(&region, &caps).expect("the writer");
        let tunnel = |addr: [u8; 4], teid| OuterHeader {
            flags: OUTER_IPV4,
            teid,
            ipv4: addr,
            ..OuterHeader::default()
        };
        let far = |far_id, action, outer: Option<OuterHeader>| FarRecord {
            far_id,
            flags: 0,
            bar_id: 0,
            network_instance_len: 0,
            _pad: 0,
            action: FarAction {
                action,
                destination_interface: 0,
                flags: FAR_HAS_FORWARDING
                    | if outer.is_some() {
                        FAR_HAS_OUTER_HEADER
                    } else {
                        0
                    },
                _pad: 0,
                outer: outer.unwrap_or_default(),
            },
            network_instance: [0; MAX_NETWORK_INSTANCE],
        };
        for (i, ue, action) in [
            (0u32, [10, 45, 0, 7], ACTION_FORWARD),
            (1, [10, 45, 0, 8], ACTION_BUFFER | ACTION_NOTIFY_CP),
            (2, [10, 45, 0, 9], ACTION_DROP),
            (3, [0; 4], ACTION_FORWARD),
        ] {
            let mut up = PdrRecord::zeroed();
            up.hot.pdr_id = 1;
            up.hot.far_id = 1;
            up.hot.flags = PDR_HAS_LOCAL_FTEID;
            up.hot.outer_header_removal = OHR_GTPU_UDP_IP;
            up.local_fteid = tunnel([192, 0, 2, 1], 0x100 + i);
            let mut down = PdrRecord::zeroed();
            down.hot.pdr_id = 2;
            down.hot.far_id = 2;
            if i == 3 {
                down.hot.flags = PDR_UE_IPV6;
                down.hot.ue_ipv6_prefix_len = 64;
                down.ue_ipv6[..6].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0x45]);
            } else {
                down.hot.flags = PDR_UE_IPV4;
                down.ue_ipv4 = ue;
            }
            let rules = Rules {
                bar: None,
                pdrs: vec![up, down],
                fars: vec![
                    far(1, ACTION_FORWARD, None),
                    far(2, action, Some(tunnel([192, 0, 2, 9], 0x8000 + i))),
                ],
                qers: vec![],
                urrs: vec![],
            };
            writer.put(u64::from(i) + 1, rules).expect("a session");
        }
        let mut next_hops = region.table(NEXT_HOPS).expect("next hops");
        let hop = NextHopRecord {
            mac: [2, 0, 0, 0, 0, 9],
            port: 0,
            state: NEXT_HOP_REACHABLE,
            _pad: [0; 3],
            ifindex: 0,
        };
        next_hops
            .insert(NextHopKey::ipv4([192, 0, 2, 9]).as_bytes(), hop.as_bytes())
            .expect("a next hop");
        let config = serde_json::json!({
            "region": name,
            "capacities": { "sessions": 8, "pdrs": 32, "fars": 32, "qers": 8, "urrs": 8,
                "next_hops": 8, "event_channels": 1, "event_capacity": 64 },
            "n3": { "ipv4": "192.0.2.1", "ipv6": "2001:db8::1" },
            "n3_port": 0, "n6_port": 1,
            "buffering": { "packets": 64, "per_far": 8, "fars": 4 }
        });
        let upf = upf_fastpath::Upf::new(&config.to_string()).expect("the UPF");
        // The mappings stay; the name goes, so that no run leaves a region behind.
        let _ = fastlane_shm::Region::unlink(&name);
        std::mem::forget(writer);
        std::mem::forget(region);
        std::sync::Mutex::new(upf)
    })
}
