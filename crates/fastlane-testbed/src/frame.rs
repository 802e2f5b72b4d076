//! Test frames: building UDP/IPv4 frames and finding the UDP destination port of received ones.

use std::net::Ipv4Addr;

use fastlane_wire::vlan::{self, VlanTag};
use fastlane_wire::{EtherType, EthernetFrame, IpProtocol, Ipv4Packet, Ipv6Packet, UdpPacket};

const ETH_HLEN: usize = 14;
const IPV4_HLEN: usize = 20;
const IPV6_HLEN: usize = 40;
const UDP_HLEN: usize = 8;
const ETHERTYPE_IPV4: u16 = 0x0800;
const IPPROTO_UDP: u8 = 17;

/// The smallest Ethernet frame without its FCS.
pub const MIN_FRAME_LEN: usize = 60;
/// The largest frame [`udp_frame`] can build: the IPv4 total length is 16 bits.
pub const MAX_UDP_FRAME_LEN: usize = ETH_HLEN + u16::MAX as usize;

/// What [`udp_frame`] puts in the headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpFrameSpec {
    pub dst_mac: [u8; 6],
    pub src_mac: [u8; 6],
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    /// Compute the UDP checksum; when false the field is 0 ("none", allowed for IPv4).
    pub udp_checksum: bool,
}

/// Builds a UDP/IPv4 frame of exactly `frame_len` bytes (without FCS): Ethernet, a 20-byte IPv4
/// header (TTL 64, don't fragment) with its checksum, UDP, and a payload of counting bytes.
///
/// # Panics
/// When `frame_len` is below [`MIN_FRAME_LEN`] or above [`MAX_UDP_FRAME_LEN`].
pub fn udp_frame(spec: &UdpFrameSpec, frame_len: usize) -> Vec<u8> {
    assert!(
        (MIN_FRAME_LEN..=MAX_UDP_FRAME_LEN).contains(&frame_len),
        "frame length {frame_len} outside {MIN_FRAME_LEN}..={MAX_UDP_FRAME_LEN}"
    );
    let ip_len = frame_len - ETH_HLEN;
    let udp_len = ip_len - IPV4_HLEN;
    let mut f = Vec::with_capacity(frame_len);
    f.extend_from_slice(&spec.dst_mac);
    f.extend_from_slice(&spec.src_mac);
    f.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());

    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&(ip_len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, IPPROTO_UDP, 0, 0]);
    f.extend_from_slice(&spec.src_ip.octets());
    f.extend_from_slice(&spec.dst_ip.octets());
    let mut ip = Ipv4Packet::new_unchecked(&mut f[ETH_HLEN..]);
    ip.fill_checksum();
    let pseudo = ip.pseudo_header();

    let udp = f.len();
    f.extend_from_slice(&spec.src_port.to_be_bytes());
    f.extend_from_slice(&spec.dst_port.to_be_bytes());
    f.extend_from_slice(&(udp_len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend((0..udp_len - UDP_HLEN).map(|i| i as u8));

    if spec.udp_checksum {
        UdpPacket::new_unchecked(&mut f[udp..]).fill_checksum(&pseudo);
    }
    f
}

/// The UDP destination port of an IPv4 or IPv6 UDP frame with at most one VLAN tag; None for
/// anything else, including IPv4 fragments and IPv6 extension headers. The same rules as
/// `udp_dst_port` in `testbed.bpf.c`, which decides what the sink counts.
pub fn udp_dst_port(frame: &[u8]) -> Option<u16> {
    let udp = udp_offset(frame)?;
    Some(UdpPacket::new_unchecked(&frame[udp..]).dst_port())
}

/// Where the UDP header of a frame that [`udp_dst_port`] accepts starts; the header is whole.
/// Only the header lengths are checked, as in `testbed.bpf.c`.
pub(crate) fn udp_offset(frame: &[u8]) -> Option<usize> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let (ether_type, l3) = match eth.ethertype() {
        tagged if tagged.is_vlan() => {
            let tag = VlanTag::new_checked(eth.payload()).ok()?;
            (tag.ethertype(), ETH_HLEN + vlan::TAG_LEN)
        }
        plain => (plain, ETH_HLEN),
    };
    let packet = &frame[l3..];
    let l4 = match ether_type {
        EtherType::Ipv4 if packet.len() >= IPV4_HLEN => {
            let ip = Ipv4Packet::new_unchecked(packet);
            let udp = ip.protocol() == IpProtocol::Udp && ip.header_len() >= IPV4_HLEN;
            (udp && !ip.is_fragment()).then(|| l3 + ip.header_len())?
        }
        EtherType::Ipv6 if packet.len() >= IPV6_HLEN => {
            let udp = Ipv6Packet::new_unchecked(packet).next_header() == IpProtocol::Udp;
            udp.then_some(l3 + IPV6_HLEN)?
        }
        _ => return None,
    };
    (frame.len() >= l4 + UDP_HLEN).then_some(l4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn be16(frame: &[u8], at: usize) -> Option<u16> {
        Some(u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]))
    }

    fn spec(udp_checksum: bool) -> UdpFrameSpec {
        UdpFrameSpec {
            dst_mac: [0x02, 0, 0, 0, 0, 0x02],
            src_mac: [0x02, 0, 0, 0, 0, 0x01],
            src_ip: Ipv4Addr::new(10, 1, 2, 3),
            dst_ip: Ipv4Addr::new(192, 168, 200, 9),
            src_port: 40000,
            dst_port: 9999,
            udp_checksum,
        }
    }

    #[test]
    fn frames_have_the_asked_length_and_consistent_headers() {
        for len in [60, 61, 64, 65, 128, 1400, 1514, 9000] {
            let f = udp_frame(&spec(true), len);
            assert_eq!(f.len(), len);
            assert_eq!(&f[..6], &spec(true).dst_mac);
            assert_eq!(&f[6..12], &spec(true).src_mac);
            assert_eq!(be16(&f, 12), Some(ETHERTYPE_IPV4));
            assert_eq!(be16(&f, ETH_HLEN + 2), Some((len - ETH_HLEN) as u16));
            assert_eq!(be16(&f, 34 + 4), Some((len - 34) as u16));
            assert_eq!(&f[26..30], &[10, 1, 2, 3]);
            assert_eq!(&f[30..34], &[192, 168, 200, 9]);
            assert_eq!(be16(&f, 34), Some(40000));
            assert_eq!(udp_dst_port(&f), Some(9999));
        }
    }

    #[test]
    fn checksums_verify() {
        for len in [60, 61, 99, 1514] {
            let f = udp_frame(&spec(true), len);
            let ip = Ipv4Packet::new_checked(&f[ETH_HLEN..]).unwrap();
            assert!(ip.verify_checksum());
            assert_ne!(be16(&f, 40), Some(0));
            let udp = UdpPacket::new_checked(&f[34..]).unwrap();
            assert!(
                udp.verify_checksum(&ip.pseudo_header()),
                "UDP checksum of a {len}-byte frame"
            );
            let plain = udp_frame(&spec(false), len);
            assert_eq!(be16(&plain, 40), Some(0));
            assert!(Ipv4Packet::new_checked(&plain[ETH_HLEN..])
                .unwrap()
                .verify_checksum());
            assert_eq!(plain[..40], f[..40]);
            assert_eq!(plain[42..], f[42..]);
        }
    }

    #[test]
    fn checksum_matches_a_known_value() {
        // Computed independently for the IPv4 header 45 00 00 2e 00 00 40 00 40 11 0000 0a010203 c0a8c809.
        let f = udp_frame(&spec(false), 60);
        assert_eq!(be16(&f, ETH_HLEN + 10), Some(0xa609));
    }

    #[test]
    #[should_panic(expected = "outside")]
    fn runt_frames_are_refused() {
        udp_frame(&spec(false), 59);
    }

    #[test]
    fn udp_port_parser_follows_the_sink_rules() {
        let f = udp_frame(&spec(false), 64);
        let mut vlan = f[..12].to_vec();
        vlan.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
        vlan.extend_from_slice(&f[12..]);
        assert_eq!(udp_dst_port(&vlan), Some(9999));
        let mut frag = f.clone();
        frag[ETH_HLEN + 7] = 1;
        assert_eq!(udp_dst_port(&frag), None);
        let mut tcp = f.clone();
        tcp[ETH_HLEN + 9] = 6;
        assert_eq!(udp_dst_port(&tcp), None);
        let v6 = fastlane_core::wire::testing::ipv6_udp(4242, 10);
        assert_eq!(udp_dst_port(&v6), Some(4242));
        for cut in 0..f.len() {
            let _ = udp_dst_port(&f[..cut]);
            let _ = udp_dst_port(&vlan[..cut]);
        }
        assert_eq!(udp_dst_port(&f[..ETH_HLEN + IPV4_HLEN + 4]), None);
    }
}
