//! Sessions written by the Rust writer and found by the reader: keys, precedence, SDF filters,
//! modification and deletion, a restarted writer.

mod common;

use common::*;
use fastlane_upf_rules::*;

fn pdr_of(lookup: Lookup) -> Option<u16> {
    match lookup {
        Lookup::Pdr(m) => Some(m.pdr.pdr_id),
        _ => None,
    }
}

#[test]
fn uplink_and_downlink_find_the_session_with_its_far() {
    let name = Name::new("basic");
    let caps = small_caps();
    let (_region, tables, mut writer) = open(&name, &caps);
    writer.put(7, basic_session(3)).unwrap();

    let flow = udp(ue_addr(3), [8, 8, 8, 8], 1000, 53);
    let Lookup::Pdr(up) = tables.uplink(teid_of(3), None, &flow) else {
        panic!("uplink not found")
    };
    assert_eq!(up.pdr.seid, 7);
    assert_eq!(up.pdr.pdr_id, 1);
    assert_eq!(up.pdr.outer_header_removal, OHR_GTPU_UDP_IPV4);
    assert!(up.pdr.far.forwards());
    assert_eq!(up.pdr.far.outer_header(), None);

    let back = udp([8, 8, 8, 8], ue_addr(3), 53, 1000);
    let Lookup::Pdr(down) = tables.downlink(&back) else {
        panic!("downlink not found")
    };
    assert_eq!(down.pdr.pdr_id, 2);
    let outer = down.pdr.far.outer_header().expect("outer header creation");
    assert_eq!(outer.teid, 0x8000_0003);
    assert_eq!(outer.ipv4, [192, 168, 1, 2]);
    assert_eq!(down.pdr.qers().len(), 1);
    assert_eq!(down.pdr.urrs().len(), 1);

    assert_eq!(tables.uplink(teid_of(4), None, &flow), Lookup::Unknown);
    assert_eq!(
        tables.downlink(&udp([8, 8, 8, 8], ue_addr(4), 53, 1)),
        Lookup::Unknown
    );
}

#[test]
fn precedence_and_sdf_filters_pick_the_pdr() {
    let name = Name::new("precedence");
    let caps = small_caps();
    let (_region, tables, mut writer) = open(&name, &caps);
    let tcp_443 = SdfRecord {
        flags: SDF_PROTOCOL | SDF_REMOTE_PORTS | SDF_REMOTE_PREFIX,
        protocol: 6,
        remote_prefix_len: 8,
        remote_ports: [443, 443],
        remote_addr: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ..SdfRecord::default()
    };
    let udp_range = SdfRecord {
        flags: SDF_PROTOCOL | SDF_UE_PORTS,
        protocol: 17,
        ue_ports: [5000, 5999],
        ..SdfRecord::default()
    };
    let rules = Rules {
        bar: None,
        pdrs: vec![
            // The catch-all has the worst precedence; ids are not in precedence order.
            uplink_pdr(1, 1000, 0x55, 1),
            with_sdf(uplink_pdr(2, 10, 0x55, 2), tcp_443),
            with_sdf(uplink_pdr(3, 20, 0x55, 2), udp_range),
            {
                let mut p = uplink_pdr(4, 5, 0x55, 2);
                p.hot.flags |= PDR_HAS_QFI;
                p.hot.qfi = 9;
                p
            },
        ],
        fars: vec![
            far(1, ACTION_FORWARD, 0, [0; 4]),
            far(2, ACTION_DROP, 0, [0; 4]),
        ],
        qers: vec![],
        urrs: vec![],
    };
    writer.put(1, rules).unwrap();
    let ue = [10, 1, 1, 1];
    let tcp = |dst: [u8; 4], port| Flow::ipv4(ue, dst, 6, Some((40000, port)));
    assert_eq!(
        pdr_of(tables.uplink(0x55, None, &tcp([1, 2, 3, 4], 443))),
        Some(2)
    );
    assert_eq!(
        pdr_of(tables.uplink(0x55, None, &tcp([2, 2, 3, 4], 443))),
        Some(1)
    );
    assert_eq!(
        pdr_of(tables.uplink(0x55, None, &tcp([1, 2, 3, 4], 444))),
        Some(1)
    );
    assert_eq!(
        pdr_of(tables.uplink(0x55, None, &udp(ue, [9, 9, 9, 9], 5999, 1))),
        Some(3)
    );
    assert_eq!(
        pdr_of(tables.uplink(0x55, None, &udp(ue, [9, 9, 9, 9], 6000, 1))),
        Some(1)
    );
    // ICMP has no ports: a port filter never matches it.
    let icmp = Flow::ipv4(ue, [1, 2, 3, 4], 1, None);
    assert_eq!(pdr_of(tables.uplink(0x55, None, &icmp)), Some(1));
    // The QFI PDR wins by precedence, but only for QFI 9.
    assert_eq!(pdr_of(tables.uplink(0x55, Some(9), &icmp)), Some(4));
    assert_eq!(pdr_of(tables.uplink(0x55, Some(8), &icmp)), Some(1));
}

#[test]
fn modify_delete_and_a_restarted_writer() {
    let name = Name::new("modify");
    let caps = small_caps();
    let (region, tables, mut writer) = open(&name, &caps);
    for i in 0..20 {
        writer.put(100 + u64::from(i), basic_session(i)).unwrap();
    }
    // Path switch: the downlink FAR gets a new tunnel.
    let mut rules = writer.get(105).unwrap().clone();
    rules.fars[1] = far(2, ACTION_FORWARD, 0xabcd, [192, 168, 9, 9]);
    writer.put(105, rules).unwrap();
    let back = udp([8, 8, 8, 8], ue_addr(5), 53, 1000);
    let Lookup::Pdr(down) = tables.downlink(&back) else {
        panic!("downlink after modify")
    };
    assert_eq!(down.pdr.far.outer.teid, 0xabcd);
    assert_eq!(down.generation, 2);

    assert!(writer.delete(106).is_ok());
    assert_eq!(tables.uplink(teid_of(6), None, &back), Lookup::Unknown);
    assert!(matches!(writer.delete(106), Err(WriteError::NotFound(106))));
    drop(writer);

    // A new writer sees every session as it was.
    let writer = Writer::attach(&region, &caps).unwrap();
    assert_eq!(writer.len(), 19);
    assert_eq!(writer.get(105).unwrap().fars[1].action.outer.teid, 0xabcd);
    assert!(writer.get(106).is_none());
    assert_eq!(pdr_of(tables.downlink(&back)), Some(2));
}

#[test]
fn rules_that_refer_to_nothing_and_full_tables_are_refused_whole() {
    let name = Name::new("refuse");
    let caps = Capacities {
        sessions: 2,
        ..small_caps()
    };
    let (_region, tables, mut writer) = open(&name, &caps);
    let mut bad = basic_session(1);
    bad.pdrs[1].hot.far_id = 99;
    assert!(matches!(
        writer.put(1, bad),
        Err(WriteError::Rule {
            kind: "pdr",
            id: 2,
            ..
        })
    ));
    assert_eq!(
        tables.uplink(teid_of(1), None, &Flow::default()),
        Lookup::Unknown
    );
    writer.put(1, basic_session(1)).unwrap();
    writer.put(2, basic_session(2)).unwrap();
    assert!(matches!(
        writer.put(3, basic_session(3)),
        Err(WriteError::NoResources(_))
    ));
    // Another session's TEID.
    assert!(matches!(
        writer.put(1, basic_session(2)),
        Err(WriteError::Rule { .. })
    ));
    assert!(matches!(
        tables.uplink(teid_of(1), None, &Flow::default()),
        Lookup::Pdr(_)
    ));
}

#[test]
fn ipv6_prefixes_longer_than_64_and_uplink_source_addresses_are_checked() {
    let name = Name::new("ipv6");
    let caps = small_caps();
    let (_region, tables, mut writer) = open(&name, &caps);
    let prefix: [u8; 16] = [
        0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0xaa, 0xbb, 0, 0, 0, 0, 0, 0,
    ];
    let mut down = downlink_pdr(2, 10, [0; 4], 2);
    down.hot.flags = PDR_UE_IPV6;
    down.ue_ipv6 = prefix;
    down.hot.ue_ipv6_prefix_len = 96;
    // An uplink PDR that takes only the UE's IPv4 address as source.
    let mut up = uplink_pdr(1, 10, 0x66, 1);
    up.hot.flags |= PDR_UE_IPV4;
    up.ue_ipv4 = [10, 9, 9, 9];
    writer
        .put(
            3,
            Rules {
                bar: None,
                pdrs: vec![up, down],
                fars: vec![
                    far(1, ACTION_FORWARD, 0, [0; 4]),
                    far(2, ACTION_FORWARD, 5, [192, 0, 2, 1]),
                ],
                qers: vec![],
                urrs: vec![],
            },
        )
        .unwrap();
    let remote = [
        0x20, 0x01, 0x0d, 0xb8, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
    ];
    let mut inside = prefix;
    inside[15] = 7;
    let mut same_64 = prefix;
    same_64[8] = 0xcc;
    let to = |dst: [u8; 16]| Flow::ipv6(remote, dst, 17, Some((53, 1000)));
    assert!(matches!(tables.downlink(&to(inside)), Lookup::Pdr(m) if m.pdr.pdr_id == 2));
    // In the /64 the index finds, outside the /96: the session has no PDR for it.
    assert_eq!(tables.downlink(&to(same_64)), Lookup::NoPdr { seid: 3 });
    let mut other_64 = prefix;
    other_64[7] = 9;
    assert_eq!(tables.downlink(&to(other_64)), Lookup::Unknown);
    let from = |src: [u8; 4]| udp(src, [8, 8, 8, 8], 1000, 53);
    assert!(matches!(
        tables.uplink(0x66, None, &from([10, 9, 9, 9])),
        Lookup::Pdr(_)
    ));
    assert_eq!(
        tables.uplink(0x66, None, &from([10, 9, 9, 8])),
        Lookup::NoPdr { seid: 3 }
    );
    // An IPv6 packet from a PDR that names only an IPv4 UE address does not match it either.
    assert_eq!(
        tables.uplink(0x66, None, &to(inside)),
        Lookup::NoPdr { seid: 3 }
    );
}
