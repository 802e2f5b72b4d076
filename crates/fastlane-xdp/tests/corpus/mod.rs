//! Frames for the equivalence test: well-formed ones, each malformation the classifier names,
//! every truncation of those, and pseudo-random mutations.

use fastlane_core::classify::{
    ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN, ETH_HLEN, IPPROTO_TCP,
};
use fastlane_core::config::{FilterConfig, PortMatch};
use fastlane_core::wire::testing::{ipv4_udp, ipv6_udp};
use fastlane_core::FilterTables;

const IPV4_PROTO: usize = ETH_HLEN + 9;
const IPV6_NEXT: usize = ETH_HLEN + 6;
const IPV4_DST: usize = ETH_HLEN + 16;
const IPV6_DST: usize = ETH_HLEN + 24;

/// Destinations at the edges of the test filters' prefixes: the first and last address inside
/// each, and the addresses just outside.
pub const DESTINATIONS_V4: [[u8; 4]; 13] = [
    [10, 45, 0, 0],
    [10, 45, 255, 255],
    [10, 44, 255, 255],
    [10, 46, 0, 0],
    [192, 0, 2, 6],
    [192, 0, 2, 7],
    [192, 0, 2, 8],
    [127, 255, 255, 255],
    [128, 0, 0, 0],
    [191, 255, 255, 255],
    [255, 255, 255, 255],
    [0, 0, 0, 0],
    [10, 0, 0, 2],
];

pub const DESTINATIONS_V6: [&str; 10] = [
    "2001:db8:1::",
    "2001:db8:1:ffff:ffff:ffff:ffff:ffff",
    "2001:db8:0:ffff:ffff:ffff:ffff:ffff",
    "2001:db8:2::",
    "2001:db8::",
    "2001:db8::1",
    "2001:db8::2",
    "a2d::",
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "::",
];

fn v6_octets(text: &str) -> [u8; 16] {
    text.parse::<std::net::Ipv6Addr>()
        .expect("a test address")
        .octets()
}

/// `frame` (IPv4 or IPv6 by its EtherType) sent to the `n`th test destination of its family.
fn to_destination(mut f: Vec<u8>, n: usize) -> Vec<u8> {
    if u16::from_be_bytes([f[12], f[13]]) == ETHERTYPE_IPV6 {
        let dst = v6_octets(DESTINATIONS_V6[n % DESTINATIONS_V6.len()]);
        f[IPV6_DST..IPV6_DST + 16].copy_from_slice(&dst);
    } else {
        let dst = DESTINATIONS_V4[n % DESTINATIONS_V4.len()];
        f[IPV4_DST..IPV4_DST + 4].copy_from_slice(&dst);
    }
    f
}

/// The smallest frame `BPF_PROG_TEST_RUN` accepts: the kernel refuses test input shorter than an
/// Ethernet header, so shorter frames are left to the classifier's own tests.
pub const MIN_RUNNABLE: usize = ETH_HLEN;
/// The largest test input the kernel takes comfortably (a page less XDP head- and tailroom).
const MAX_RUNNABLE: usize = 2048;

/// Ports around the ranges of the test filters.
pub const PORTS: [u16; 14] = [
    0, 1, 53, 179, 2152, 4999, 5000, 5001, 5002, 5003, 7999, 8000, 8080, 65535,
];

fn set_be16(f: &mut [u8], at: usize, v: u16) {
    f[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn with_ether_type(mut f: Vec<u8>, ether_type: u16) -> Vec<u8> {
    set_be16(&mut f, 12, ether_type);
    f
}

/// IPv4/TCP: the UDP frame with a 20-byte L4 header and protocol 6 (the classifier reads only
/// the destination port, at the same offset).
pub fn ipv4_tcp(port: u16, payload: usize) -> Vec<u8> {
    let mut f = ipv4_udp(port, 12 + payload);
    f[IPV4_PROTO] = IPPROTO_TCP;
    f
}

pub fn ipv6_tcp(port: u16, payload: usize) -> Vec<u8> {
    let mut f = ipv6_udp(port, 12 + payload);
    f[IPV6_NEXT] = IPPROTO_TCP;
    f
}

/// An IPv4/UDP frame whose header carries `words` 32-bit words of options.
fn ipv4_udp_with_options(port: u16, words: u8) -> Vec<u8> {
    let plain = ipv4_udp(port, 18);
    let mut f = plain[..ETH_HLEN + 20].to_vec();
    f.extend(std::iter::repeat_n(1u8, 4 * words as usize)); // NOPs
    f.extend_from_slice(&plain[ETH_HLEN + 20..]);
    f[ETH_HLEN] = 0x40 | (5 + words);
    let total = (f.len() - ETH_HLEN) as u16;
    set_be16(&mut f, ETH_HLEN + 2, total);
    f
}

fn arp_request() -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 1, 0x08, 0x06]);
    f.extend_from_slice(&[0, 1, 0x08, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 1, 10, 0, 0, 1]);
    f.extend_from_slice(&[0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
    f
}

/// `inner` behind one 802.1Q tag (`outer` = 0x8100) or an 802.1ad + 802.1Q pair.
fn tagged(inner: &[u8], outer: u16) -> Vec<u8> {
    let mut f = inner[..12].to_vec();
    f.extend_from_slice(&outer.to_be_bytes());
    if outer == ETHERTYPE_QINQ {
        f.extend_from_slice(&[0, 100]);
        f.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
    }
    f.extend_from_slice(&[0, 10]);
    f.extend_from_slice(&inner[12..]);
    f
}

/// Well-formed frames of every kind the classifier tells apart.
pub fn well_formed() -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    for port in PORTS {
        frames.push(ipv4_udp(port, 18));
        frames.push(ipv6_udp(port, 18));
        frames.push(ipv4_tcp(port, 6));
        frames.push(ipv6_tcp(port, 6));
    }
    frames.push(ipv4_udp(2152, 0));
    frames.push(ipv4_udp(2152, 1400));
    frames.push(ipv6_udp(5001, 1400));
    for words in [1, 10] {
        frames.push(ipv4_udp_with_options(2152, words));
        frames.push(ipv4_udp_with_options(9, words));
    }
    for proto in [0u8, 1, 47, 58, 132, 255] {
        let mut v4 = ipv4_udp(9, 18);
        v4[IPV4_PROTO] = proto;
        frames.push(v4);
        if !matches!(proto, 0 | 43 | 44 | 60 | 135 | 139 | 140) {
            let mut v6 = ipv6_udp(9, 18);
            v6[IPV6_NEXT] = proto;
            frames.push(v6);
        }
    }
    frames.push(arp_request());
    for ether_type in [0x88b5, 0x88cc, 0x0000, 0xffff, 0x05dc] {
        frames.push(with_ether_type(ipv4_udp(2152, 18), ether_type));
    }
    for outer in [ETHERTYPE_VLAN, ETHERTYPE_QINQ] {
        frames.push(tagged(&ipv4_udp(2152, 18), outer));
        frames.push(tagged(&ipv6_udp(5000, 18), outer));
    }
    frames
}

/// UDP (listed and unlisted port), TCP and ICMP to every test destination, and a few malformed
/// frames to prefixes, which the sanity rules keep slow.
pub fn to_prefixes() -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    for n in 0..DESTINATIONS_V4.len().max(DESTINATIONS_V6.len()) {
        for base in [ipv4_udp(9, 18), ipv4_udp(2152, 18), ipv4_tcp(9, 6)] {
            frames.push(to_destination(base, n));
        }
        for base in [ipv6_udp(9, 18), ipv6_udp(2152, 18), ipv6_tcp(9, 6)] {
            frames.push(to_destination(base, n));
        }
        let mut icmp = to_destination(ipv4_udp(9, 18), n);
        icmp[IPV4_PROTO] = 1;
        frames.push(icmp);
        let mut icmp6 = to_destination(ipv6_udp(9, 18), n);
        icmp6[IPV6_NEXT] = 58;
        frames.push(icmp6);
    }
    let inside = to_destination(ipv4_udp(9, 18), 0);
    let mut fragment = inside.clone();
    set_be16(&mut fragment, ETH_HLEN + 6, 0x2000);
    frames.push(fragment);
    let mut cut = inside[..ETH_HLEN + 24].to_vec();
    set_be16(&mut cut, ETH_HLEN + 2, 24);
    frames.push(cut);
    let mut hop = to_destination(ipv6_udp(9, 18), 0);
    hop[IPV6_NEXT] = 0;
    frames.push(hop);
    frames
}

/// Each malformation the rules name, on otherwise good frames.
pub fn malformed() -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let v4 = ipv4_udp(2152, 18);
    let v6 = ipv6_udp(2152, 18);
    let mut edit = |base: &Vec<u8>, change: &dyn Fn(&mut Vec<u8>)| {
        let mut f = base.clone();
        change(&mut f);
        frames.push(f);
    };
    // IHL below 5, IHL past the frame, version not 4.
    for ver_ihl in [0x40, 0x44, 0x46, 0x4f, 0x55, 0x65, 0x05, 0xf5] {
        edit(&v4, &|f| f[ETH_HLEN] = ver_ihl);
    }
    // Total length: under the header, exactly the header, the frame, one past it, maximal.
    let frame_ip_len = (v4.len() - ETH_HLEN) as u16;
    for total in [0, 19, 20, 21, 27, frame_ip_len, frame_ip_len + 1, 65535] {
        edit(&v4, &|f| set_be16(f, ETH_HLEN + 2, total));
    }
    // Fragments: more fragments, an offset, both; don't-fragment alone is not one.
    for flags_offset in [0x2000, 0x0001, 0x1fff, 0x2001, 0x4000, 0x6000, 0x8000] {
        edit(&v4, &|f| set_be16(f, ETH_HLEN + 6, flags_offset));
    }
    // IPv6: bad version, payload past the frame, extension headers.
    for ver in [0x40, 0x00, 0xf0, 0x6f] {
        edit(&v6, &|f| f[ETH_HLEN] = ver);
    }
    let payload = (v6.len() - ETH_HLEN - 40) as u16;
    for len in [0, 7, payload, payload + 1, 65535] {
        edit(&v6, &|f| set_be16(f, ETH_HLEN + 4, len));
    }
    for next in [0u8, 43, 44, 60, 135, 139, 140] {
        edit(&v6, &|f| f[IPV6_NEXT] = next);
    }
    // L4 headers cut short inside IP packets whose length fields agree with the cut.
    for port in [179, 2152, 8000, 9] {
        for (base, l4, length_field) in [
            (ipv4_udp(port, 18), ETH_HLEN + 20, ETH_HLEN + 2),
            (ipv4_tcp(port, 6), ETH_HLEN + 20, ETH_HLEN + 2),
            (ipv6_udp(port, 18), ETH_HLEN + 40, ETH_HLEN + 4),
            (ipv6_tcp(port, 6), ETH_HLEN + 40, ETH_HLEN + 4),
        ] {
            for cut in 0..=20 {
                let mut f = base[..l4 + cut].to_vec();
                let ip_len = if length_field == ETH_HLEN + 2 {
                    l4 + cut - ETH_HLEN
                } else {
                    cut
                };
                set_be16(&mut f, length_field, ip_len as u16);
                frames.push(f);
            }
        }
    }
    // IPv4 inside an IPv6 EtherType and the other way round.
    frames.push(with_ether_type(v4.clone(), ETHERTYPE_IPV6));
    frames.push(with_ether_type(v6.clone(), ETHERTYPE_IPV4));
    frames
}

/// Every prefix of `frame` the kernel can run, from an Ethernet header up.
pub fn truncations(frame: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    (MIN_RUNNABLE..frame.len()).map(|len| frame[..len].to_vec())
}

/// xorshift64: reproducible pseudo-random numbers without a dependency.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `count` frames made by applying one to four random edits to random base frames. The edits
/// favour the bytes and values the rules look at.
pub fn mutations(bases: &[Vec<u8>], count: usize, seed: u64) -> Vec<Vec<u8>> {
    const ETHER_TYPES: [u16; 7] = [
        ETHERTYPE_IPV4,
        ETHERTYPE_IPV6,
        ETHERTYPE_VLAN,
        ETHERTYPE_QINQ,
        0x0806,
        0x88b5,
        0x0000,
    ];
    const PROTOCOLS: [u8; 12] = [0, 1, 6, 17, 43, 44, 47, 58, 60, 132, 135, 255];
    let mut rng = XorShift::new(seed);
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let mut f = bases[rng.below(bases.len())].clone();
        for _ in 0..1 + rng.below(4) {
            let header = f.len().min(ETH_HLEN + 64);
            match rng.below(9) {
                0 if !f.is_empty() => {
                    let at = rng.below(header.max(1));
                    f[at] = rng.next() as u8;
                }
                1 if !f.is_empty() => {
                    let at = rng.below(header.max(1));
                    f[at] ^= 1 << rng.below(8);
                }
                2 => f.truncate(rng.below(f.len() + 1)),
                3 => f.extend((0..rng.below(64)).map(|_| rng.next() as u8)),
                4 if f.len() >= ETH_HLEN => {
                    set_be16(&mut f, 12, ETHER_TYPES[rng.below(ETHER_TYPES.len())]);
                }
                5 if f.len() > IPV4_PROTO => {
                    let proto = PROTOCOLS[rng.below(PROTOCOLS.len())];
                    let at = if rng.below(2) == 0 {
                        IPV4_PROTO
                    } else {
                        IPV6_NEXT
                    };
                    f[at] = proto;
                }
                6 if f.len() >= ETH_HLEN + 6 => {
                    // A length field (IPv4 total or IPv6 payload) near the frame's own length.
                    let at = ETH_HLEN + 2 * (1 + rng.below(2));
                    let near = f.len() as i64 - ETH_HLEN as i64 + rng.below(90) as i64 - 60;
                    set_be16(&mut f, at, near.clamp(0, 65535) as u16);
                }
                7 if f.len() > ETH_HLEN + 64 => {
                    // A listed or unlisted destination port where an L4 header could start.
                    let l4 = ETH_HLEN + [20, 24, 40, 60][rng.below(4)];
                    set_be16(&mut f, l4 + 2, PORTS[rng.below(PORTS.len())]);
                }
                8 if f.len() >= IPV6_DST + 16 => {
                    // A destination at a prefix's edge, where either IP version keeps it.
                    let n = rng.below(DESTINATIONS_V4.len());
                    if rng.below(2) == 0 {
                        f[IPV4_DST..IPV4_DST + 4].copy_from_slice(&DESTINATIONS_V4[n]);
                    } else {
                        let dst = v6_octets(DESTINATIONS_V6[n % DESTINATIONS_V6.len()]);
                        f[IPV6_DST..IPV6_DST + 16].copy_from_slice(&dst);
                    }
                }
                _ => {}
            }
        }
        if (MIN_RUNNABLE..=MAX_RUNNABLE).contains(&f.len()) {
            out.push(f);
        }
    }
    out
}

/// Ports, one range per protocol, two IP protocols and a custom EtherType.
pub fn ports_filter() -> Box<FilterTables> {
    FilterTables::new(&FilterConfig {
        udp_ports: vec![
            PortMatch::One(0),
            PortMatch::One(2152),
            PortMatch::Range {
                from: 5000,
                to: 5002,
            },
            PortMatch::One(65535),
        ],
        tcp_ports: vec![
            PortMatch::One(179),
            PortMatch::Range {
                from: 8000,
                to: 8080,
            },
        ],
        ip_protocols: vec![47, 132],
        ether_types: vec![0x88b5],
        dst_prefixes: vec![],
    })
}

/// A filter of `prefixes` (and UDP port 2152, so that ports and prefixes combine).
pub fn prefixes_filter(prefixes: &[&str]) -> Box<FilterTables> {
    FilterTables::new(&FilterConfig {
        udp_ports: vec![PortMatch::One(2152)],
        dst_prefixes: prefixes
            .iter()
            .map(|p| p.parse().expect("a test prefix"))
            .collect(),
        ..FilterConfig::default()
    })
}

/// Prefixes of both families whose edges are among the test destinations: /2, /16, /32 (IPv4),
/// /48, /128 (IPv6); none inside another, so that each one's edges decide some frames.
pub const EDGE_PREFIXES: [&str; 5] = [
    "10.45.0.0/16",
    "192.0.2.7/32",
    "128.0.0.0/2",
    "2001:db8:1::/48",
    "2001:db8::1/128",
];

/// Every address of both families.
pub const EVERYTHING_PREFIXES: [&str; 2] = ["0.0.0.0/0", "::/0"];

/// Whole protocols and EtherTypes that take precedence over the later rules: UDP by protocol
/// (even with its header cut), all VLAN traffic, ARP, and the IPv6 EtherType itself.
pub fn protocols_filter() -> Box<FilterTables> {
    FilterTables::new(&FilterConfig {
        udp_ports: vec![],
        tcp_ports: vec![PortMatch::One(179)],
        ip_protocols: vec![17, 0, 255],
        ether_types: vec![0x8100, 0x0806, 0x86dd, 0xffff],
        dst_prefixes: vec![],
    })
}

pub fn hex(frame: &[u8]) -> String {
    frame.iter().map(|b| format!("{b:02x}")).collect()
}

/// The whole corpus: well-formed and malformed frames, frames to the prefixes' edges, their
/// truncations up to 200 bytes, and
/// 4000 mutations from `seed`.
pub fn frames(seed: u64) -> Vec<Vec<u8>> {
    let mut bases = well_formed();
    bases.extend(malformed());
    bases.extend(to_prefixes());
    let mut frames = bases.clone();
    for base in &bases {
        frames.extend(truncations(base).filter(|f| f.len() <= 200));
    }
    frames.extend(mutations(&bases, 4000, seed));
    frames
}
