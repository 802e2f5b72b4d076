//! A UPF under test: a rules region written through the rules crate's writer, the plugin loaded
//! from its built library as the data plane loads it, frames built and decoded by scapy.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use fastlane_core::{Batch, Emit, Processor, Verdict};
use fastlane_plugin::host::{PluginLibrary, PluginProcessor};
use fastlane_shm::{Region, Table};
use serde_json::{json, Value};
use upf_rules::*;

pub const N3_MAC: &str = "02:00:00:00:03:03";
pub const N6_MAC: &str = "02:00:00:00:06:06";
pub const GNB_MAC: &str = "02:00:00:00:0b:0b";
pub const GW_MAC: &str = "02:00:00:00:0c:0c";
pub const N3_V4: &str = "192.0.2.1";
pub const N3_V6: &str = "2001:db8:3::1";
pub const GNB_V4: &str = "192.0.2.9";
pub const GNB_V6: &str = "2001:db8:3::9";
pub const N3_PORT: u16 = 0;
pub const N6_PORT: u16 = 1;

pub fn mac(text: &str) -> [u8; 6] {
    let mut m = [0u8; 6];
    for (b, part) in m.iter_mut().zip(text.split(':')) {
        *b = u8::from_str_radix(part, 16).unwrap();
    }
    m
}

pub fn caps() -> Capacities {
    Capacities {
        sessions: 64,
        pdrs: 256,
        fars: 256,
        qers: 64,
        urrs: 128,
        next_hops: 16,
        event_channels: 4,
        event_capacity: 256,
    }
}

/// The plugin's library, as `cargo test` built it for this package.
pub fn library() -> PluginLibrary {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let path = [
        deps.join("libupf_fastpath.so"),
        deps.join("../libupf_fastpath.so"),
    ]
    .into_iter()
    .find(|p| p.exists())
    .unwrap_or_else(|| panic!("libupf_fastpath.so next to {}", exe.display()));
    PluginLibrary::load(&path, None).unwrap()
}

/// A region of the UPF's layout, removed when dropped, with its writer.
pub struct Bed {
    pub name: String,
    pub caps: Capacities,
    pub region: Region,
    pub writer: Writer,
    pub next_hops: Table,
}

impl Bed {
    pub fn new(tag: &str, caps: Capacities) -> Bed {
        let name = format!("upf-fastpath-{tag}-{}", std::process::id());
        let _ = Region::unlink(&name);
        let region = Region::create(&name, &layout(&caps)).expect("create the region");
        let writer = Writer::attach(&region, &caps).expect("attach the writer");
        let next_hops = region.table(NEXT_HOPS).unwrap();
        Bed {
            name,
            caps,
            region,
            writer,
            next_hops,
        }
    }

    /// The plugin's config for this region, with `extra` keys merged in.
    pub fn config(&self, extra: Value) -> Value {
        let mut config = json!({
            "region": self.name,
            "capacities": {
                "sessions": self.caps.sessions, "pdrs": self.caps.pdrs, "fars": self.caps.fars,
                "qers": self.caps.qers, "urrs": self.caps.urrs, "next_hops": self.caps.next_hops,
                "event_channels": self.caps.event_channels,
                "event_capacity": self.caps.event_capacity
            },
            "n3": { "ipv4": N3_V4, "ipv6": N3_V6 },
            "n3_port": N3_PORT, "n6_port": N6_PORT,
            "n3_mac": N3_MAC, "n6_mac": N6_MAC,
        });
        if let (Value::Object(c), Value::Object(extra)) = (&mut config, extra) {
            c.extend(extra);
        }
        config
    }

    pub fn plugin(&self, extra: Value) -> PluginProcessor {
        library().instantiate(&self.config(extra)).unwrap()
    }

    /// A reachable neighbour at `addr` (the unspecified address: the default route's gateway).
    pub fn next_hop(&mut self, addr: &str, mac_text: &str, port: u16) {
        let record = NextHopRecord {
            mac: mac(mac_text),
            port,
            state: NEXT_HOP_REACHABLE,
            _pad: [0; 3],
            ifindex: 0,
        };
        let key = next_hop_key(addr.parse().unwrap());
        self.next_hops
            .insert(key.as_bytes(), record.as_bytes())
            .unwrap();
    }

    pub fn remove_next_hop(&mut self, addr: &str) {
        let key = next_hop_key(addr.parse().unwrap());
        self.next_hops.remove(key.as_bytes()).unwrap();
    }

    /// Every event waiting on `events.N`.
    pub fn events(&self, n: u32) -> Vec<EventRecord> {
        let mut channel = self.region.channel(&events_channel(n)).unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 64];
        while let Ok(Some(len)) = channel.recv(&mut buf) {
            out.push(EventRecord::from_bytes(&buf[..len]));
        }
        out
    }

    pub fn usage(&self, seid: u64, urr_id: u32) -> [u64; 4] {
        self.writer.usage(seid, urr_id).unwrap()
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        let _ = Region::unlink(&self.name);
    }
}

pub fn next_hop_key(addr: IpAddr) -> NextHopKey {
    match addr {
        IpAddr::V4(a) => NextHopKey::ipv4(a.octets()),
        IpAddr::V6(a) => NextHopKey::ipv6(a.octets()),
    }
}

pub fn outer(addr: &str, teid: u32) -> OuterHeader {
    let mut o = OuterHeader {
        teid,
        ..OuterHeader::default()
    };
    match addr.parse::<IpAddr>().unwrap() {
        IpAddr::V4(a) => {
            o.flags = OUTER_IPV4;
            o.ipv4 = a.octets();
        }
        IpAddr::V6(a) => {
            o.flags = OUTER_IPV6;
            o.ipv6 = a.octets();
        }
    }
    o
}

/// A FAR: `action` bits; with `tunnel`, outer header creation to that gNB address and TEID.
pub fn far(far_id: u32, action: u8, tunnel: Option<(&str, u32)>) -> FarRecord {
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
    if let Some((peer, teid)) = tunnel {
        far.action.destination_interface = INTERFACE_ACCESS;
        far.action.flags |= FAR_HAS_OUTER_HEADER;
        far.action.outer = outer(peer, teid);
    }
    far
}

/// An uplink PDR on the UPF's F-TEID `teid`, removing the outer header.
pub fn uplink_pdr(pdr_id: u16, precedence: u32, teid: u32, far_id: u32) -> PdrRecord {
    let mut pdr = PdrRecord::zeroed();
    pdr.hot.pdr_id = pdr_id;
    pdr.hot.precedence = precedence;
    pdr.hot.far_id = far_id;
    pdr.hot.flags = PDR_HAS_LOCAL_FTEID;
    pdr.hot.source_interface = INTERFACE_ACCESS;
    pdr.hot.outer_header_removal = OHR_GTPU_UDP_IP;
    pdr.local_fteid = outer(N3_V4, teid);
    pdr
}

/// A downlink PDR for the UE at `ue` (an IPv4 address or an IPv6 /64's address).
pub fn downlink_pdr(pdr_id: u16, precedence: u32, ue: &str, far_id: u32) -> PdrRecord {
    let mut pdr = PdrRecord::zeroed();
    pdr.hot.pdr_id = pdr_id;
    pdr.hot.precedence = precedence;
    pdr.hot.far_id = far_id;
    pdr.hot.source_interface = INTERFACE_CORE;
    match ue.parse::<IpAddr>().unwrap() {
        IpAddr::V4(a) => {
            pdr.hot.flags = PDR_UE_IPV4;
            pdr.ue_ipv4 = a.octets();
        }
        IpAddr::V6(a) => {
            pdr.hot.flags = PDR_UE_IPV6;
            pdr.hot.ue_ipv6_prefix_len = 64;
            pdr.ue_ipv6 = a.octets();
        }
    }
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

/// A QER: `gate` bits (GATE_*_CLOSED), an MBR both ways (0: none), and a QFI.
pub fn qer(qer_id: u32, gate: u8, mbr_kbps: u64, qfi: u8) -> QerRecord {
    QerRecord {
        qer_id,
        cell: 0,
        flags: QER_HAS_GATE | QER_HAS_QFI | if mbr_kbps != 0 { QER_HAS_MBR } else { 0 },
        gate,
        qfi,
        _pad: [0; 5],
        mbr_uplink_kbps: mbr_kbps,
        mbr_downlink_kbps: mbr_kbps,
    }
}

pub fn urr(urr_id: u32) -> UrrRecord {
    let mut urr = UrrRecord {
        methods: METHOD_VOLUME,
        ..UrrRecord::default()
    };
    urr.limits.urr_id = urr_id;
    urr
}

/// A UE's session: uplink TEID `teid` forwarded to N6, downlink to `ue` tunnelled to the gNB at
/// `gnb` with TEID `gnb_teid`; QER 1 (QFI 9, gate open, no MBR) and URR 1 on both.
pub fn session(teid: u32, ue: &str, gnb: &str, gnb_teid: u32) -> upf_rules::Rules {
    upf_rules::Rules {
        bar: None,
        pdrs: vec![
            with_urr(with_qer(uplink_pdr(1, 100, teid, 1), 1), 1),
            with_urr(with_qer(downlink_pdr(2, 100, ue, 2), 1), 1),
        ],
        fars: vec![
            far(1, ACTION_FORWARD, None),
            far(2, ACTION_FORWARD, Some((gnb, gnb_teid))),
        ],
        qers: vec![qer(1, 0, 0, 9)],
        urrs: vec![urr(1)],
    }
}

/// Frames in buffers with headroom, and batches over them.
pub struct Frames(Vec<Vec<u8>>);

pub const HEADROOM: usize = 256;
const TAILROOM: usize = 256;

impl Frames {
    pub fn new(frames: &[Vec<u8>]) -> Frames {
        Frames(
            frames
                .iter()
                .map(|f| [vec![0u8; HEADROOM], f.clone(), vec![0u8; TAILROOM]].concat())
                .collect(),
        )
    }

    pub fn batch(&mut self, port: u16) -> Batch {
        let mut batch = Batch::with_capacity(self.0.len().max(1));
        let slots = batch.begin_fill(port, 0);
        for (slot, f) in slots.iter_mut().zip(self.0.iter_mut()) {
            let len = (f.len() - HEADROOM - TAILROOM) as u32;
            // SAFETY: the frames outlive the batch in each test, and nothing else touches them.
            unsafe { slot.set(f.as_mut_ptr(), f.len() as u32, HEADROOM as u32, len, 0) };
        }
        batch.set_len(self.0.len());
        batch
    }
}

/// Runs `frames` received on `port` through `processor`: each packet's verdict and bytes.
pub fn run(
    processor: &mut PluginProcessor,
    port: u16,
    frames: &[Vec<u8>],
) -> Vec<(Verdict, Vec<u8>)> {
    let mut buffers = Frames::new(frames);
    let mut batch = buffers.batch(port);
    processor.process(&mut batch);
    batch
        .slots()
        .iter()
        .map(|s| (s.verdict(), s.data().to_vec()))
        .collect()
}

/// What a processor's `poll` sent, by port.
#[derive(Debug, Default)]
pub struct Sent(pub Vec<(u16, Vec<u8>)>);

impl Emit for Sent {
    fn transmit(&mut self, port: u16, frames: &[&[u8]]) -> usize {
        self.0.extend(frames.iter().map(|f| (port, f.to_vec())));
        frames.len()
    }
}

pub fn poll(processor: &mut PluginProcessor) -> Vec<(u16, Vec<u8>)> {
    let mut sent = Sent::default();
    processor.poll(&mut sent);
    sent.0
}

pub fn counter(processor: &PluginProcessor, name: &str) -> u64 {
    processor.counters().get(name).unwrap()
}

pub fn drops(processor: &PluginProcessor, reason: &str) -> u64 {
    let counters = processor.counters();
    let drops = counters.drops();
    drops
        .iter()
        .find(|(r, _)| *r == reason)
        .map(|(_, n)| *n)
        .unwrap_or_else(|| panic!("no drop reason {reason}"))
}

fn python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../target/pyenv/bin/python")
}

/// Asks scapy (`tests/scapy_frames.py`): each request a line, each answer a line.
fn scapy(requests: &[String]) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scapy_frames.py");
    let mut child = Command::new(python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("scapy's python (target/pyenv, from scripts/bootstrap)");
    {
        let mut stdin = child.stdin.take().unwrap();
        for r in requests {
            writeln!(stdin, "{r}").unwrap();
        }
    }
    let answers: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(Result::unwrap)
        .collect();
    assert!(
        child.wait().unwrap().success(),
        "scapy failed on {requests:?}"
    );
    assert_eq!(answers.len(), requests.len());
    answers
}

/// Frames from scapy expressions.
pub fn build(expressions: &[String]) -> Vec<Vec<u8>> {
    let requests: Vec<String> = expressions.iter().map(|e| format!("build {e}")).collect();
    scapy(&requests)
        .iter()
        .map(|hex| {
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect()
        })
        .collect()
}

/// Frames as scapy decodes them: `{layers: [{name, fields}], mismatches, udp_none, len}`.
pub fn decode(frames: &[Vec<u8>]) -> Vec<Value> {
    let requests: Vec<String> = frames
        .iter()
        .map(|f| {
            let hex: String = f.iter().map(|b| format!("{b:02x}")).collect();
            format!("decode {hex}")
        })
        .collect();
    scapy(&requests)
        .iter()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The fields of the `n`-th layer called `name` of a decoded frame.
pub fn layer<'a>(decoded: &'a Value, name: &str, n: usize) -> &'a Value {
    decoded["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["name"] == name)
        .nth(n)
        .map(|l| &l["fields"])
        .unwrap_or_else(|| panic!("no {name} #{n} in {decoded}"))
}

pub fn layer_names(decoded: &Value) -> Vec<String> {
    decoded["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_owned())
        .collect()
}

/// scapy's `Ether(...)` prefix for a frame from `src` to `dst` MAC.
pub fn ether(src: &str, dst: &str) -> String {
    format!("Ether(src='{src}', dst='{dst}')")
}

/// A G-PDU from the gNB at `gnb` to the UPF's N3 address of its family, TEID `teid`, with a UL
/// PDU Session Container of `qfi`, carrying the scapy expression `inner`.
pub fn gpdu(gnb: &str, teid: u32, qfi: Option<u8>, inner: &str) -> String {
    let ip = if gnb.contains(':') {
        format!("IPv6(src='{gnb}', dst='{N3_V6}')")
    } else {
        format!("IP(src='{gnb}', dst='{N3_V4}')")
    };
    let gtp = match qfi {
        Some(q) => format!(
            "GTP_U_Header(teid={teid}, gtp_type=255)/GTPPDUSessionContainer(type=1, QFI={q})"
        ),
        None => format!("GTP_U_Header(teid={teid}, gtp_type=255)"),
    };
    format!(
        "{}/{ip}/UDP(sport=2152, dport=2152)/{gtp}/{inner}",
        ether(GNB_MAC, N3_MAC)
    )
}
