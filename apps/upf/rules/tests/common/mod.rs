//! Builders of sessions for the tests and benchmarks, and a region name removed on drop.
#![allow(dead_code)]

use fastlane_shm::Region;
use fastlane_upf_rules::*;

pub struct Name(pub String);

impl Name {
    pub fn new(tag: &str) -> Self {
        let name = format!("upf-rules-test-{tag}-{}", std::process::id());
        let _ = Region::unlink(&name);
        Name(name)
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        let _ = Region::unlink(&self.0);
    }
}

pub fn small_caps() -> Capacities {
    Capacities {
        sessions: 64,
        pdrs: 256,
        fars: 256,
        qers: 64,
        urrs: 128,
        next_hops: 16,
        event_channels: 4,
        event_capacity: 64,
    }
}

pub fn open(name: &Name, caps: &Capacities) -> (Region, UpfTables, Writer) {
    let region = Region::create(&name.0, &layout(caps)).expect("create region");
    let tables = UpfTables::open(&name.0, caps).expect("open tables");
    let writer = Writer::attach(&region, caps).expect("attach writer");
    (region, tables, writer)
}

pub fn far(far_id: u32, action: u8, teid: u32, peer: [u8; 4]) -> FarRecord {
    let mut far = FarRecord {
        far_id,
        flags: 0,
        bar_id: 0,
        network_instance_len: 0,
        _pad: 0,
        action: FarAction {
            action,
            destination_interface: INTERFACE_CORE,
            flags: FAR_HAS_FORWARDING,
            _pad: 0,
            outer: OuterHeader::default(),
        },
        network_instance: [0; MAX_NETWORK_INSTANCE],
    };
    if teid != 0 {
        far.action.destination_interface = INTERFACE_ACCESS;
        far.action.flags |= FAR_HAS_OUTER_HEADER;
        far.action.outer = OuterHeader {
            flags: OUTER_IPV4,
            _pad: 0,
            port: 2152,
            teid,
            ipv4: peer,
            ipv6: [0; 16],
        };
    }
    far
}

pub fn uplink_pdr(pdr_id: u16, precedence: u32, teid: u32, far_id: u32) -> PdrRecord {
    let mut pdr = PdrRecord::zeroed();
    pdr.hot.pdr_id = pdr_id;
    pdr.hot.precedence = precedence;
    pdr.hot.far_id = far_id;
    pdr.hot.flags = PDR_HAS_LOCAL_FTEID;
    pdr.hot.source_interface = INTERFACE_ACCESS;
    pdr.hot.outer_header_removal = OHR_GTPU_UDP_IPV4;
    pdr.local_fteid = OuterHeader {
        flags: OUTER_IPV4,
        _pad: 0,
        port: 0,
        teid,
        ipv4: [10, 0, 0, 1],
        ipv6: [0; 16],
    };
    pdr
}

pub fn downlink_pdr(pdr_id: u16, precedence: u32, ue: [u8; 4], far_id: u32) -> PdrRecord {
    let mut pdr = PdrRecord::zeroed();
    pdr.hot.pdr_id = pdr_id;
    pdr.hot.precedence = precedence;
    pdr.hot.far_id = far_id;
    pdr.hot.flags = PDR_UE_IPV4;
    pdr.hot.source_interface = INTERFACE_CORE;
    pdr.ue_ipv4 = ue;
    pdr
}

pub fn with_qer(mut pdr: PdrRecord, qer_id: u32) -> PdrRecord {
    let n = usize::from(pdr.hot.qer_count);
    pdr.hot.qers[n].qer_id = qer_id;
    pdr.hot.qer_count += 1;
    pdr
}

pub fn with_urr(mut pdr: PdrRecord, urr_id: u32) -> PdrRecord {
    let n = usize::from(pdr.hot.urr_count);
    pdr.hot.urrs[n].urr_id = urr_id;
    pdr.hot.urr_count += 1;
    pdr
}

pub fn with_sdf(mut pdr: PdrRecord, sdf: SdfRecord) -> PdrRecord {
    let n = usize::from(pdr.hot.sdf_count);
    pdr.sdf[n] = sdf;
    pdr.hot.sdf_count += 1;
    pdr
}

pub fn qer(qer_id: u32, gate: u8, mbr_kbps: u64) -> QerRecord {
    QerRecord {
        qer_id,
        cell: 0,
        flags: QER_HAS_GATE | if mbr_kbps != 0 { QER_HAS_MBR } else { 0 },
        gate,
        qfi: 0,
        _pad: [0; 5],
        mbr_uplink_kbps: mbr_kbps,
        mbr_downlink_kbps: mbr_kbps,
    }
}

pub fn urr(urr_id: u32, threshold_total: u64, quota_total: u64) -> UrrRecord {
    let mut urr = UrrRecord {
        methods: METHOD_VOLUME,
        ..UrrRecord::default()
    };
    urr.limits.urr_id = urr_id;
    if threshold_total != 0 {
        urr.limits.flags |= LIMIT_THRESHOLD_TOTAL;
        urr.threshold[TOTAL] = threshold_total;
        urr.triggers |= TRIGGER_VOLUME_THRESHOLD;
    }
    if quota_total != 0 {
        urr.limits.flags |= LIMIT_QUOTA_TOTAL;
        urr.quota[TOTAL] = quota_total;
        urr.triggers |= TRIGGER_VOLUME_QUOTA;
    }
    urr
}

/// Session `i`: uplink TEID 0x1000 + i, UE 10.45.(i/256).(i%256), one QER, one URR.
pub fn basic_session(i: u32) -> Rules {
    let ue = ue_addr(i);
    Rules {
        bar: None,
        pdrs: vec![
            with_urr(with_qer(uplink_pdr(1, 100, teid_of(i), 1), 1), 1),
            with_urr(with_qer(downlink_pdr(2, 100, ue, 2), 1), 1),
        ],
        fars: vec![
            far(1, ACTION_FORWARD, 0, [0; 4]),
            far(2, ACTION_FORWARD, 0x8000_0000 | i, [192, 168, 1, 2]),
        ],
        qers: vec![qer(1, 0, 0)],
        urrs: vec![urr(1, 0, 0)],
    }
}

pub fn teid_of(i: u32) -> u32 {
    0x1000 + i
}

pub fn ue_addr(i: u32) -> [u8; 4] {
    [10, 45 + (i >> 16) as u8, (i >> 8) as u8, i as u8]
}

pub fn udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Flow {
    Flow::ipv4(src, dst, 17, Some((sport, dport)))
}

/// The storm's session `i` with `tag` (see `check_storm_session`).
pub fn storm_session(i: u32, tag: u32) -> Rules {
    let teid = storm_teid(i);
    let ue = storm_ue(i);
    let tcp_only = SdfRecord {
        flags: SDF_PROTOCOL,
        protocol: 6,
        ..SdfRecord::default()
    };
    let pdrs = if tag.is_multiple_of(2) {
        vec![
            with_sdf(uplink_pdr(1, 10, teid, 1), tcp_only),
            with_qer(uplink_pdr(2, 20, teid, 1), 1),
            downlink_pdr(4, 10, ue, 2),
        ]
    } else {
        vec![
            with_qer(uplink_pdr(3, 5, teid, 1), 1),
            downlink_pdr(5, 10, ue, 2),
        ]
    };
    Rules {
        bar: None,
        pdrs,
        fars: vec![
            far(1, ACTION_FORWARD, 0, [0; 4]),
            far(2, ACTION_FORWARD, tag, [192, 168, 1, 2]),
        ],
        qers: vec![qer(1, 0, u64::from(tag))],
        urrs: vec![],
    }
}
