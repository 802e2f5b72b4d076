//! The fast/slow split. One definition, used by every backend that classifies in user space; the
//! XDP program (`crates/fastlane-xdp/src/fastlane.bpf.c`) implements the same rules in the kernel
//! and a test holds the two to the same answers.
//!
//! The rules, in order:
//! 1. A frame shorter than an Ethernet header goes to the kernel (`truncated`).
//! 2. An outer EtherType listed in `ether_types` goes to the fast path (list 0x8100 to take all
//!    VLAN-tagged traffic); any other VLAN-tagged frame goes to the kernel (`vlan`).
//! 3. IPv4 must have version 4, IHL ≥ 5 and a total length that covers the header (else
//!    `bad_header`) and fits the frame (else `truncated`). Fragments go to the kernel
//!    (`fragment`): only the kernel can reassemble them.
//! 4. IPv6 must have version 6 and a payload that fits the frame. A next header that is an
//!    extension header goes to the kernel (`ipv6_extension`, or `fragment` for 44); AH (51) and
//!    ESP (50) count as protocols here, as they do for IPv4, so that `ip_protocols` can take
//!    IPsec ([`splits_as_ipv6_extension`]).
//! 5. A protocol listed in `ip_protocols` goes to the fast path. UDP and TCP go to the fast path
//!    when their destination port is listed, provided their header is whole (else `truncated`,
//!    whatever the destination address).
//! 6. An IPv4 or IPv6 packet whose destination address is inside one of `dst_prefixes` goes to
//!    the fast path, whatever its protocol.
//! 7. Everything else goes to the kernel (`no_match`).
//!
//! So the fast path only ever sees frames whose Ethernet, IP and L4 headers are present and sane.
//! The prefixes are looked at only where the answer would otherwise be `no_match`, and only when
//! the filter has some: a filter without prefixes costs per frame what it cost before them.

use fastlane_wire::{self as wire, ipv6, tcp, udp};
use fastlane_wire::{EtherType, EthernetFrame, Ipv4Packet, Ipv6Packet, TcpPacket, UdpPacket};

pub use crate::config::PREFIXES_MAX;
use crate::config::{prefix_mask_v4, prefix_mask_v6, DstPrefix, FilterConfig, PortMatch};

pub const ETH_HLEN: usize = 14;
pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
pub const ETHERTYPE_VLAN: u16 = 0x8100;
pub const ETHERTYPE_QINQ: u16 = 0x88a8;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;

/// Why a frame went to the kernel. The XDP program counts each reason separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum SlowReason {
    NoMatch = 0,
    Truncated = 1,
    BadHeader = 2,
    Fragment = 3,
    Vlan = 4,
    Ipv6Extension = 5,
}

impl SlowReason {
    pub const ALL: [SlowReason; 6] = [
        SlowReason::NoMatch,
        SlowReason::Truncated,
        SlowReason::BadHeader,
        SlowReason::Fragment,
        SlowReason::Vlan,
        SlowReason::Ipv6Extension,
    ];
    pub fn name(self) -> &'static str {
        match self {
            SlowReason::NoMatch => "no_match",
            SlowReason::Truncated => "truncated",
            SlowReason::BadHeader => "bad_header",
            SlowReason::Fragment => "fragment",
            SlowReason::Vlan => "vlan",
            SlowReason::Ipv6Extension => "ipv6_extension",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Fast,
    Slow(SlowReason),
}

/// The filter as bitmaps, one bit per port, protocol and EtherType, and the destination prefixes
/// as bounded arrays scanned in order (at most [`PREFIXES_MAX`] per family: a scan that the BPF
/// verifier bounds and that stays within a few cache lines). Its layout is `struct fl_filter` of
/// the BPF programs, which receive it as the single value of an array map (one map per port).
#[derive(Clone)]
#[repr(C)]
pub struct FilterTables {
    pub udp_ports: [u64; 1024],
    pub tcp_ports: [u64; 1024],
    pub ether_types: [u64; 1024],
    pub ip_protocols: [u64; 4],
    /// How many entries of `prefixes_v4` are in use.
    pub prefixes_v4_len: u32,
    /// How many entries of `prefixes_v6` are in use.
    pub prefixes_v6_len: u32,
    pub prefixes_v4: [Prefix4; PREFIXES_MAX],
    pub prefixes_v6: [Prefix6; PREFIXES_MAX],
}

/// An IPv4 destination prefix: a destination `d` (read big-endian) is inside when
/// `d & mask == addr`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Prefix4 {
    pub addr: u32,
    pub mask: u32,
}

/// An IPv6 destination prefix as four big-endian 32-bit words of address and mask.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Prefix6 {
    pub addr: [u32; 4],
    pub mask: [u32; 4],
}

impl Prefix6 {
    fn words(v: u128) -> [u32; 4] {
        [
            (v >> 96) as u32,
            (v >> 64) as u32,
            (v >> 32) as u32,
            v as u32,
        ]
    }
}

impl std::fmt::Debug for FilterTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ones = |words: &[u64]| words.iter().map(|w| w.count_ones()).sum::<u32>();
        f.debug_struct("FilterTables")
            .field("udp_ports", &ones(&self.udp_ports))
            .field("tcp_ports", &ones(&self.tcp_ports))
            .field("ether_types", &ones(&self.ether_types))
            .field("ip_protocols", &ones(&self.ip_protocols))
            .field(
                "prefixes_v4",
                &&self.prefixes_v4[..self.prefixes_v4_len as usize],
            )
            .field(
                "prefixes_v6",
                &&self.prefixes_v6[..self.prefixes_v6_len as usize],
            )
            .finish()
    }
}

#[inline(always)]
fn bit(words: &[u64], i: usize) -> bool {
    words[i >> 6] & (1 << (i & 63)) != 0
}

fn set_bit(words: &mut [u64], i: usize) {
    words[i >> 6] |= 1 << (i & 63);
}

impl FilterTables {
    /// The tables of `filter`. Prefixes past [`PREFIXES_MAX`] of a family (which
    /// [`crate::Config::check`] refuses) are left out.
    pub fn new(filter: &FilterConfig) -> Box<FilterTables> {
        let mut t = Box::new(FilterTables {
            udp_ports: [0; 1024],
            tcp_ports: [0; 1024],
            ether_types: [0; 1024],
            ip_protocols: [0; 4],
            prefixes_v4_len: 0,
            prefixes_v6_len: 0,
            prefixes_v4: [Prefix4::default(); PREFIXES_MAX],
            prefixes_v6: [Prefix6::default(); PREFIXES_MAX],
        });
        for (matches, words) in [
            (&filter.udp_ports, &mut t.udp_ports),
            (&filter.tcp_ports, &mut t.tcp_ports),
        ] {
            for m in matches {
                let (from, to) = match *m {
                    PortMatch::One(p) => (p, p),
                    PortMatch::Range { from, to } => (from, to),
                };
                for p in from..=to {
                    set_bit(words, p as usize);
                }
            }
        }
        for &e in &filter.ether_types {
            set_bit(&mut t.ether_types, e as usize);
        }
        for &p in &filter.ip_protocols {
            set_bit(&mut t.ip_protocols, p as usize);
        }
        for prefix in &filter.dst_prefixes {
            match *prefix {
                DstPrefix::V4 { addr, len } => {
                    if let Some(slot) = t.prefixes_v4.get_mut(t.prefixes_v4_len as usize) {
                        let mask = prefix_mask_v4(len);
                        *slot = Prefix4 {
                            addr: u32::from(addr) & mask,
                            mask,
                        };
                        t.prefixes_v4_len += 1;
                    }
                }
                DstPrefix::V6 { addr, len } => {
                    if let Some(slot) = t.prefixes_v6.get_mut(t.prefixes_v6_len as usize) {
                        let mask = prefix_mask_v6(len);
                        *slot = Prefix6 {
                            addr: Prefix6::words(u128::from(addr) & mask),
                            mask: Prefix6::words(mask),
                        };
                        t.prefixes_v6_len += 1;
                    }
                }
            }
        }
        t
    }

    /// The bytes of `struct fl_filter`.
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: FilterTables is repr(C) of u64 arrays followed by u32 fields and arrays of
        // repr(C) u32 structs, at offsets that are multiples of 8 with a size that is too: no
        // padding, every byte initialised.
        unsafe {
            std::slice::from_raw_parts(
                (self as *const FilterTables).cast::<u8>(),
                std::mem::size_of::<FilterTables>(),
            )
        }
    }

    /// Which side of the split a frame belongs on.
    #[inline]
    pub fn classify(&self, frame: &[u8]) -> Class {
        use SlowReason::*;
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            return Class::Slow(Truncated);
        };
        let ether_type = eth.ethertype_raw();
        if bit(&self.ether_types, ether_type as usize) {
            return Class::Fast;
        }
        let l3 = eth.payload();
        let slow = |e: wire::Error| match e {
            wire::Error::Truncated => Class::Slow(Truncated),
            wire::Error::Malformed | wire::Error::Version => Class::Slow(BadHeader),
        };
        // The transport header is looked for up to the end of the frame, as in the C program.
        let (proto, l4) = match EtherType::from(ether_type) {
            EtherType::Vlan | EtherType::QinQ => return Class::Slow(Vlan),
            EtherType::Ipv4 => {
                let ip = match Ipv4Packet::new_checked(l3) {
                    Ok(ip) => ip,
                    Err(e) => return slow(e),
                };
                if ip.is_fragment() {
                    return Class::Slow(Fragment);
                }
                (ip.protocol_raw(), &l3[ip.header_len()..])
            }
            EtherType::Ipv6 => {
                let ip = match Ipv6Packet::new_checked(l3) {
                    Ok(ip) => ip,
                    Err(e) => return slow(e),
                };
                match ip.next_header_raw() {
                    44 => return Class::Slow(Fragment),
                    next if splits_as_ipv6_extension(next) => return Class::Slow(Ipv6Extension),
                    next => (next, &l3[ipv6::HEADER_LEN..]),
                }
            }
            _ => return Class::Slow(NoMatch),
        };
        if bit(&self.ip_protocols, proto as usize) {
            return Class::Fast;
        }
        let (ports, dst_port) = match proto {
            IPPROTO_UDP if l4.len() < udp::HEADER_LEN => return Class::Slow(Truncated),
            IPPROTO_TCP if l4.len() < tcp::MIN_HEADER_LEN => return Class::Slow(Truncated),
            IPPROTO_UDP => (&self.udp_ports, UdpPacket::new_unchecked(l4).dst_port()),
            IPPROTO_TCP => (&self.tcp_ports, TcpPacket::new_unchecked(l4).dst_port()),
            _ => return self.by_destination(ether_type, l3),
        };
        if bit(ports, dst_port as usize) {
            Class::Fast
        } else {
            self.by_destination(ether_type, l3)
        }
    }

    /// Rule 6, for an IP packet `l3` whose header `classify` has checked.
    #[inline(always)]
    fn by_destination(&self, ether_type: u16, l3: &[u8]) -> Class {
        let inside = if ether_type == ETHERTYPE_IPV4 {
            self.prefixes_v4_len != 0 && {
                let dst = u32::from(Ipv4Packet::new_unchecked(l3).dst_addr());
                self.prefixes_v4[..self.prefixes_v4_len as usize]
                    .iter()
                    .any(|p| dst & p.mask == p.addr)
            }
        } else {
            self.prefixes_v6_len != 0 && {
                let dst = Prefix6::words(u128::from(Ipv6Packet::new_unchecked(l3).dst_addr()));
                self.prefixes_v6[..self.prefixes_v6_len as usize]
                    .iter()
                    .any(|p| (0..4).all(|i| dst[i] & p.mask[i] == p.addr[i]))
            }
        };
        if inside {
            Class::Fast
        } else {
            Class::Slow(SlowReason::NoMatch)
        }
    }
}

/// The IPv6 next headers that rule 4 sends to the kernel as extension headers (hop-by-hop,
/// routing, destination options, mobility, HIP, shim6; the fragment header, 44, has its own
/// reason). Unlike RFC 8200's list it leaves out AH and ESP, which the split treats as protocols.
/// The XDP program's `classify()` has the same list.
#[inline(always)]
pub fn splits_as_ipv6_extension(next_header: u8) -> bool {
    matches!(next_header, 0 | 43 | 60 | 135 | 139 | 140)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testing::{ipv4_udp, ipv6_udp};

    fn tables() -> Box<FilterTables> {
        FilterTables::new(&crate::wire::testing::sample_filter())
    }

    fn with_prefixes(prefixes: &[&str]) -> Box<FilterTables> {
        FilterTables::new(&FilterConfig {
            udp_ports: vec![PortMatch::One(2152)],
            dst_prefixes: prefixes.iter().map(|p| p.parse().unwrap()).collect(),
            ..FilterConfig::default()
        })
    }

    fn to_v4(mut frame: Vec<u8>, dst: [u8; 4]) -> Vec<u8> {
        frame[ETH_HLEN + 16..ETH_HLEN + 20].copy_from_slice(&dst);
        frame
    }

    fn to_v6(mut frame: Vec<u8>, dst: std::net::Ipv6Addr) -> Vec<u8> {
        frame[ETH_HLEN + 24..ETH_HLEN + 40].copy_from_slice(&dst.octets());
        frame
    }

    #[test]
    fn inside_a_prefix_ipv6_extension_headers_still_go_to_the_kernel_but_ah_and_esp_are_protocols()
    {
        let t = with_prefixes(&["2001:db8:1::/48"]);
        let inside = to_v6(ipv6_udp(9, 18), "2001:db8:1::2".parse().unwrap());
        assert_eq!(t.classify(&inside), Class::Fast);
        let with_next = |next: u8| {
            let mut f = inside.clone();
            f[ETH_HLEN + 6] = next;
            t.classify(&f)
        };
        for extension in [0, 43, 60, 135, 139, 140] {
            assert_eq!(with_next(extension), Class::Slow(SlowReason::Ipv6Extension));
        }
        assert_eq!(with_next(44), Class::Slow(SlowReason::Fragment));
        // Found by the classify fuzz target: AH to a prefix is fast, like IPv4 AH, by rule 6.
        assert_eq!(with_next(51), Class::Fast);
        assert_eq!(with_next(50), Class::Fast);
    }

    #[test]
    fn a_destination_inside_a_prefix_takes_the_fast_path_whatever_its_protocol() {
        let t = with_prefixes(&["10.45.0.0/16", "192.0.2.7/32", "2001:db8:1::/48"]);
        let slow = Class::Slow(SlowReason::NoMatch);
        // ipv4_udp's destination is outside every prefix: only the port decides.
        assert_eq!(t.classify(&ipv4_udp(2152, 18)), Class::Fast);
        assert_eq!(t.classify(&ipv4_udp(9, 18)), slow);
        for (dst, class) in [
            ([10, 45, 0, 0], Class::Fast),
            ([10, 45, 255, 255], Class::Fast),
            ([10, 44, 255, 255], slow),
            ([10, 46, 0, 0], slow),
            ([192, 0, 2, 7], Class::Fast),
            ([192, 0, 2, 6], slow),
            ([192, 0, 2, 8], slow),
        ] {
            assert_eq!(t.classify(&to_v4(ipv4_udp(9, 18), dst)), class, "{dst:?}");
            let mut icmp = to_v4(ipv4_udp(9, 18), dst);
            icmp[ETH_HLEN + 9] = 1;
            assert_eq!(t.classify(&icmp), class, "ICMP to {dst:?}");
        }
        for (dst, class) in [
            ("2001:db8:1::", Class::Fast),
            ("2001:db8:1:ffff:ffff:ffff:ffff:ffff", Class::Fast),
            ("2001:db8:0:ffff:ffff:ffff:ffff:ffff", slow),
            ("2001:db8:2::", slow),
        ] {
            let frame = to_v6(ipv6_udp(9, 18), dst.parse().unwrap());
            assert_eq!(t.classify(&frame), class, "{dst}");
        }
        // An IPv6 destination whose first 32 bits equal an IPv4 prefix is not inside it.
        let frame = to_v6(ipv6_udp(9, 18), "a2d:0::".parse().unwrap());
        assert_eq!(t.classify(&frame), slow);
        // Sanity rules come first: a cut UDP header or a fragment to a prefix stays slow.
        let inside = to_v4(ipv4_udp(9, 18), [10, 45, 1, 1]);
        let mut cut = inside[..ETH_HLEN + 24].to_vec();
        cut[ETH_HLEN + 2..ETH_HLEN + 4].copy_from_slice(&24u16.to_be_bytes());
        assert_eq!(t.classify(&cut), Class::Slow(SlowReason::Truncated));
        let mut frag = inside.clone();
        frag[ETH_HLEN + 6] = 0x20;
        assert_eq!(t.classify(&frag), Class::Slow(SlowReason::Fragment));
    }

    #[test]
    fn zero_length_prefixes_take_every_packet_of_their_family() {
        let t = with_prefixes(&["0.0.0.0/0"]);
        assert_eq!(t.classify(&ipv4_udp(9, 18)), Class::Fast);
        assert_eq!(
            t.classify(&ipv6_udp(9, 18)),
            Class::Slow(SlowReason::NoMatch)
        );
        let t = with_prefixes(&["::/0"]);
        assert_eq!(t.classify(&ipv6_udp(9, 18)), Class::Fast);
        let t = with_prefixes(&["2001:db8::1/128"]);
        let one = to_v6(ipv6_udp(9, 18), "2001:db8::1".parse().unwrap());
        let two = to_v6(ipv6_udp(9, 18), "2001:db8::2".parse().unwrap());
        assert_eq!(t.classify(&one), Class::Fast);
        assert_eq!(t.classify(&two), Class::Slow(SlowReason::NoMatch));
    }

    #[test]
    fn listed_ports_protocols_and_ether_types_take_the_fast_path() {
        let t = tables();
        assert_eq!(t.classify(&ipv4_udp(2152, 18)), Class::Fast);
        assert_eq!(t.classify(&ipv4_udp(5002, 18)), Class::Fast);
        assert_eq!(
            t.classify(&ipv4_udp(5003, 18)),
            Class::Slow(SlowReason::NoMatch)
        );
        assert_eq!(t.classify(&ipv6_udp(5001, 18)), Class::Fast);
        let mut gre = ipv4_udp(1, 18);
        gre[ETH_HLEN + 9] = 47;
        assert_eq!(t.classify(&gre), Class::Fast);
        let mut custom = ipv4_udp(1, 18);
        custom[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
        assert_eq!(t.classify(&custom), Class::Fast);
    }

    #[test]
    fn malformed_frames_go_to_the_kernel_with_a_reason() {
        let t = tables();
        let good = ipv4_udp(2152, 18);
        assert_eq!(t.classify(&good[..10]), Class::Slow(SlowReason::Truncated));
        assert_eq!(
            t.classify(&good[..ETH_HLEN + 20 + 4]),
            Class::Slow(SlowReason::Truncated)
        );
        let mut bad_ihl = good.clone();
        bad_ihl[ETH_HLEN] = 0x44;
        assert_eq!(t.classify(&bad_ihl), Class::Slow(SlowReason::BadHeader));
        let mut long_ihl = good.clone();
        long_ihl[ETH_HLEN] = 0x4f;
        assert_eq!(t.classify(&long_ihl), Class::Slow(SlowReason::Truncated));
        let mut short_total = good.clone();
        short_total[ETH_HLEN + 2..ETH_HLEN + 4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(t.classify(&short_total), Class::Slow(SlowReason::BadHeader));
        let mut frag = good.clone();
        frag[ETH_HLEN + 6] = 0x20; // more fragments
        assert_eq!(t.classify(&frag), Class::Slow(SlowReason::Fragment));
        let mut vlan = good.clone();
        vlan[12..14].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
        assert_eq!(t.classify(&vlan), Class::Slow(SlowReason::Vlan));
        let mut hop = ipv6_udp(2152, 18);
        hop[ETH_HLEN + 6] = 0;
        assert_eq!(t.classify(&hop), Class::Slow(SlowReason::Ipv6Extension));
        let mut arp = good.clone();
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        assert_eq!(t.classify(&arp), Class::Slow(SlowReason::NoMatch));
    }

    #[test]
    fn no_prefix_of_any_frame_panics() {
        let t = tables();
        for frame in [ipv4_udp(2152, 100), ipv6_udp(2152, 100)] {
            for cut in 0..frame.len() {
                let _ = t.classify(&frame[..cut]);
            }
        }
    }
}
