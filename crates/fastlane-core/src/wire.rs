//! Small helpers over Ethernet frames, for the built-in processors and for tests. The header
//! layouts themselves are `fastlane_wire`'s views.

use fastlane_wire::gtpu::{self, MessageType};
use fastlane_wire::{ethernet, ipv4, ipv6};
use fastlane_wire::{EthernetFrame, GtpuPacket, Ipv4Packet, Ipv6Packet, UdpPacket};

/// Swaps the destination and source MAC addresses of an Ethernet frame in place. Returns false
/// (and changes nothing) when the frame is shorter than an Ethernet header.
#[inline(always)]
pub fn swap_macs(frame: &mut [u8]) -> bool {
    match EthernetFrame::new_checked(frame) {
        Ok(mut eth) => {
            eth.swap_addrs();
            true
        }
        Err(_) => false,
    }
}

/// What identifies an IP packet's flow: its protocol, addresses and transport header (the ports
/// of TCP and UDP are its first four bytes). Only the fixed header's presence is checked: the
/// hash must not depend on fields a flow's packets may differ in.
struct FlowKey<'a> {
    protocol: u8,
    addresses: &'a [u8],
    /// From the transport header to the end of the frame; `None` for fragments.
    transport: Option<&'a [u8]>,
}

impl<'a> FlowKey<'a> {
    #[inline]
    fn ipv4(packet: &'a [u8]) -> Option<Self> {
        let header = packet.get(..ipv4::MIN_HEADER_LEN)?;
        let ip = Ipv4Packet::new_unchecked(header);
        let header_len = ip.header_len();
        // Fragments carry no ports: hash them by addresses so they stay together.
        let transport = (!ip.is_fragment() && header_len >= ipv4::MIN_HEADER_LEN)
            .then(|| packet.get(header_len..))
            .flatten();
        Some(FlowKey {
            protocol: ip.protocol_raw(),
            addresses: &header[ipv4::ADDRS],
            transport,
        })
    }

    #[inline]
    fn ipv6(packet: &'a [u8]) -> Option<Self> {
        let (header, transport) = packet.split_at_checked(ipv6::HEADER_LEN)?;
        Some(FlowKey {
            protocol: Ipv6Packet::new_unchecked(header).next_header_raw(),
            addresses: &header[ipv6::ADDRS],
            transport: Some(transport),
        })
    }

    #[inline]
    fn ports(&self) -> Option<&'a [u8]> {
        match self.protocol {
            6 | 17 => self.transport?.get(..4),
            _ => None,
        }
    }

    /// The TEID and inner packet's key of a GTP-U G-PDU carrying IPv4 or IPv6; `None` for
    /// anything else, malformed GTP-U included. Out of line: it keeps the common path short.
    #[inline(never)]
    fn gtpu_inner(&self) -> Option<(u32, FlowKey<'a>)> {
        let udp = UdpPacket::new_checked(self.transport?).ok()?;
        let gtp = GtpuPacket::new_checked(udp.into_payload()).ok()?;
        if gtp.message_type() != MessageType::GPdu {
            return None;
        }
        let teid = gtp.teid();
        let inner = gtp.into_payload();
        let key = match inner.first()? >> 4 {
            4 => FlowKey::ipv4(inner),
            6 => FlowKey::ipv6(inner),
            _ => None,
        };
        Some((teid, key?))
    }
}

/// FNV-1a over bytes.
struct Fnv(u64);

impl Fnv {
    #[inline]
    fn mix(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }

    #[inline]
    fn key(&mut self, key: &FlowKey<'_>, ports: Option<&[u8]>) {
        self.mix(&[key.protocol]);
        self.mix(key.addresses);
        if let Some(ports) = ports {
            self.mix(ports);
        }
    }
}

/// A hash of a frame's flow: addresses, protocol and ports for IPv4/IPv6 UDP and TCP, addresses
/// and protocol for other IP, the MAC addresses otherwise. A GTP-U G-PDU (UDP to port 2152)
/// carrying IPv4 or IPv6 hashes by its TEID and the inner packet's flow instead, so the many
/// flows of one tunnel spread over workers; malformed GTP-U hashes by its outer headers. Frames
/// of one flow always hash alike, so spreading by it keeps each flow's packets in order. Never
/// reads past the frame.
pub fn flow_hash(frame: &[u8]) -> u32 {
    let l3 = frame.get(ethernet::HEADER_LEN..).unwrap_or_default();
    let outer = match frame.get(12..14) {
        Some([0x08, 0x00]) => FlowKey::ipv4(l3),
        Some([0x86, 0xdd]) => FlowKey::ipv6(l3),
        _ => None,
    };
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    match outer {
        Some(outer) => {
            let ports = outer.ports();
            // UDP to the GTP-U port: the one test every other packet pays.
            let gtpu =
                outer.protocol == 17 && ports.is_some_and(|p| p[2..] == gtpu::PORT.to_be_bytes());
            match gtpu.then(|| outer.gtpu_inner()).flatten() {
                Some((teid, inner)) => {
                    h.mix(&teid.to_be_bytes());
                    h.key(&inner, inner.ports());
                }
                None => h.key(&outer, ports),
            }
        }
        None => h.mix(frame.get(..12).unwrap_or(frame)),
    }
    (h.0 ^ (h.0 >> 32)) as u32
}

/// Frame builders and a sample filter for tests, shared by the crates of this workspace.
pub mod testing {
    use fastlane_wire::gtpu::{self, MessageType};
    use fastlane_wire::{GtpuPacket, GtpuRepr, Ipv4Packet};

    use crate::classify::{ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETH_HLEN, IPPROTO_UDP};
    use crate::config::{FilterConfig, PortMatch};

    /// The filter the classifier's tests, its timing example and its fuzz target share: UDP 2152
    /// and 5000–5002, TCP 179, GRE, EtherType 0x88b5; no prefixes.
    pub fn sample_filter() -> FilterConfig {
        FilterConfig {
            udp_ports: vec![
                PortMatch::One(2152),
                PortMatch::Range {
                    from: 5000,
                    to: 5002,
                },
            ],
            tcp_ports: vec![PortMatch::One(179)],
            ip_protocols: vec![47],
            ether_types: vec![0x88b5],
            dst_prefixes: vec![],
        }
    }

    pub const DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
    pub const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];

    fn ethernet(ether_type: u16) -> Vec<u8> {
        let mut f = Vec::with_capacity(128);
        f.extend_from_slice(&DST_MAC);
        f.extend_from_slice(&SRC_MAC);
        f.extend_from_slice(&ether_type.to_be_bytes());
        f
    }

    /// An IPv4/UDP frame from 10.0.0.1:1234 to 10.0.0.2:`dst_port` with `payload` bytes.
    pub fn ipv4_udp(dst_port: u16, payload: usize) -> Vec<u8> {
        let mut f = ethernet(ETHERTYPE_IPV4);
        let total = (20 + 8 + payload) as u16;
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0x40, 0, 64, IPPROTO_UDP, 0, 0]);
        f.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        Ipv4Packet::new_unchecked(&mut f[ETH_HLEN..]).fill_checksum();
        udp(&mut f, dst_port, payload);
        f
    }

    /// An IPv4/UDP frame to port 2152 whose payload is a G-PDU of tunnel `teid` carrying
    /// `inner` (an IP packet), with the PDU Session Container's QFI 1 when `qfi_container`.
    pub fn gtpu_ipv4(teid: u32, inner: &[u8], qfi_container: bool) -> Vec<u8> {
        let repr = GtpuRepr {
            message_type: MessageType::GPdu,
            teid,
            seq_number: None,
            npdu_number: None,
            pdu_session: qfi_container.then_some(gtpu::PduSessionRepr {
                pdu_type: gtpu::PduType::Uplink,
                qfi: 1,
                rqi: false,
                ppi: None,
            }),
        };
        let mut gtp = vec![0u8; repr.header_len()];
        repr.emit(
            &mut GtpuPacket::new_unchecked(&mut gtp[..]),
            inner.len() as u16,
        );
        gtp.extend_from_slice(inner);
        let mut f = ipv4_udp(gtpu::PORT, gtp.len());
        let at = f.len() - gtp.len();
        f[at..].copy_from_slice(&gtp);
        f
    }

    /// An IPv6/UDP frame from fd00::1 to fd00::2 port `dst_port` with `payload` bytes.
    pub fn ipv6_udp(dst_port: u16, payload: usize) -> Vec<u8> {
        let mut f = ethernet(ETHERTYPE_IPV6);
        f.extend_from_slice(&[0x60, 0, 0, 0]);
        f.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
        f.extend_from_slice(&[IPPROTO_UDP, 64]);
        for last in [1u8, 2] {
            f.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last]);
        }
        udp(&mut f, dst_port, payload);
        f
    }

    fn udp(f: &mut Vec<u8>, dst_port: u16, payload: usize) {
        f.extend_from_slice(&1234u16.to_be_bytes());
        f.extend_from_slice(&dst_port.to_be_bytes());
        f.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0]); // no checksum (allowed for IPv4 UDP; tests only)
        f.extend((0..payload).map(|i| i as u8));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flow_hashes_alike_and_flows_spread() {
        let a = testing::ipv4_udp(9000, 10);
        let mut a_longer = testing::ipv4_udp(9000, 300);
        assert_eq!(
            flow_hash(&a),
            flow_hash(&a_longer),
            "payload does not matter"
        );
        a_longer[14 + 20] = 0x99; // another source port
        assert_ne!(flow_hash(&a), flow_hash(&a_longer));
        let spread: std::collections::HashSet<u32> = (0..64u16)
            .map(|p| flow_hash(&testing::ipv4_udp(1000 + p, 10)) % 4)
            .collect();
        assert_eq!(spread.len(), 4, "64 flows reach all of 4 workers");
        assert_ne!(
            flow_hash(&testing::ipv6_udp(9000, 10)),
            flow_hash(&testing::ipv6_udp(9001, 10))
        );
        for frame in [a, testing::ipv6_udp(9000, 10)] {
            for cut in 0..frame.len() {
                let _ = flow_hash(&frame[..cut]);
            }
        }
    }

    /// The IP packet of a test frame (without its Ethernet header), with another UDP source port.
    fn inner(frame: Vec<u8>, src_port: u16) -> Vec<u8> {
        let mut ip = frame[14..].to_vec();
        let udp = if ip[0] >> 4 == 4 { 20 } else { 40 };
        ip[udp..udp + 2].copy_from_slice(&src_port.to_be_bytes());
        ip
    }

    #[test]
    fn gtpu_hashes_by_teid_and_inner_flow() {
        let flow = inner(testing::ipv4_udp(9000, 10), 1000);
        let one = flow_hash(&testing::gtpu_ipv4(7, &flow, true));
        // One inner flow: other payload sizes, with or without the container, hash alike.
        let longer = inner(testing::ipv4_udp(9000, 400), 1000);
        assert_eq!(flow_hash(&testing::gtpu_ipv4(7, &longer, true)), one);
        assert_eq!(flow_hash(&testing::gtpu_ipv4(7, &flow, false)), one);
        // Another tunnel with the same inner flow is another flow.
        assert_ne!(flow_hash(&testing::gtpu_ipv4(8, &flow, true)), one);
        // The flows of one tunnel spread: all of 4 workers, none with more than half.
        for make in [testing::ipv4_udp, testing::ipv6_udp] {
            let mut per_worker = [0u32; 4];
            for port in 0..256u16 {
                let frame = testing::gtpu_ipv4(7, &inner(make(9000, 10), 2000 + port), true);
                per_worker[(flow_hash(&frame) % 4) as usize] += 1;
            }
            assert!(
                per_worker.iter().all(|&n| (32..=128).contains(&n)),
                "{per_worker:?}"
            );
        }
        // Outer hashing would have put them all on one worker.
        let outer: std::collections::HashSet<u32> = (0..64u16)
            .map(|p| {
                let mut f = testing::gtpu_ipv4(7, &inner(testing::ipv4_udp(9000, 10), p), true);
                f[14 + 20 + 2] ^= 0x01; // port 2153: not GTP-U
                flow_hash(&f)
            })
            .collect();
        assert_eq!(
            outer.len(),
            1,
            "UDP to another port hashes by its outer headers"
        );
    }

    #[test]
    fn malformed_gtpu_hashes_by_its_outer_headers() {
        let flow = inner(testing::ipv4_udp(9000, 10), 1000);
        let good = testing::gtpu_ipv4(7, &flow, true);
        let gtp = 14 + 20 + 8;
        let outer_only = |mut f: Vec<u8>| {
            // Another TEID must not change the hash when the outer headers are what counts.
            let a = flow_hash(&f);
            f[gtp + 4] ^= 0xff;
            (a, flow_hash(&f))
        };
        let mut version = good.clone();
        version[gtp] = 0x54;
        let mut zero_ext = good.clone();
        zero_ext[gtp + 12] = 0;
        let mut echo = good.clone();
        echo[gtp + 1] = 1;
        let mut not_ip = good.clone();
        not_ip[gtp + 16] = 0x00;
        for (name, frame) in [
            ("version 2", version),
            ("zero-length extension", zero_ext),
            ("echo", echo),
            ("non-IP T-PDU", not_ip),
        ] {
            let (a, b) = outer_only(frame);
            assert_eq!(a, b, "{name}");
        }
        let (a, b) = outer_only(good.clone());
        assert_ne!(a, b, "a valid G-PDU hashes by TEID");
        for cut in 0..good.len() {
            let _ = flow_hash(&good[..cut]);
        }
        for i in gtp..good.len() {
            for v in [0u8, 0x01, 0x34, 0x45, 0x60, 0x85, 0xff] {
                let mut f = good.clone();
                f[i] = v;
                let _ = flow_hash(&f);
            }
        }
    }

    #[test]
    fn swap_macs_swaps_and_refuses_short_frames() {
        let mut f = testing::ipv4_udp(9, 4);
        assert!(swap_macs(&mut f));
        assert_eq!(&f[..6], &testing::SRC_MAC);
        assert_eq!(&f[6..12], &testing::DST_MAC);
        let mut short = [1u8; 13];
        assert!(!swap_macs(&mut short));
        assert_eq!(short, [1u8; 13]);
    }
}
