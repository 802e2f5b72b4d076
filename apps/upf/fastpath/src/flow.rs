//! The inner packet: its flow, as the rules' lookup matches SDF filters on it (TS 29.244 §5.2.1:
//! protocol, addresses, ports), and its length, read from an IPv4 or IPv6 packet without
//! extension headers.

use core::net::IpAddr;

use fastlane_wire::{IpProtocol, Ipv4Packet, Ipv6Packet, TcpPacket, UdpPacket};
use upf_rules::Flow;

/// An inner IP packet's flow and length (the IP packet's own, not the frame's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inner {
    pub flow: Flow,
    pub len: usize,
}

impl Inner {
    /// The IP packet at the start of `packet`; `None` when it is not a well-formed IPv4 or IPv6
    /// packet.
    pub fn parse(packet: &[u8]) -> Option<Inner> {
        match packet.first()? >> 4 {
            4 => {
                let ip = Ipv4Packet::new_checked(packet).ok()?;
                let len = usize::from(ip.total_len());
                let (src, dst, protocol) = (ip.src_addr(), ip.dst_addr(), ip.protocol());
                // A fragment after the first has no ports.
                let ports = (ip.frag_offset() == 0)
                    .then(|| ports(protocol, ip.into_payload()))
                    .flatten();
                let flow = Flow::ipv4(src.octets(), dst.octets(), protocol.into(), ports);
                Some(Inner { flow, len })
            }
            6 => {
                let ip = Ipv6Packet::new_checked(packet).ok()?;
                let len = fastlane_wire::ipv6::HEADER_LEN + usize::from(ip.payload_len());
                let (src, dst, protocol) = (ip.src_addr(), ip.dst_addr(), ip.next_header());
                let ports = ports(protocol, ip.into_payload());
                let flow = Flow::ipv6(src.octets(), dst.octets(), protocol.into(), ports);
                Some(Inner { flow, len })
            }
            _ => None,
        }
    }

    pub fn is_ipv6(&self) -> bool {
        self.flow.ipv6
    }

    /// The packet's destination.
    pub fn dst(&self) -> IpAddr {
        let d = self.flow.dst;
        if self.flow.ipv6 {
            IpAddr::from(d)
        } else {
            IpAddr::from([d[0], d[1], d[2], d[3]])
        }
    }
}

/// Source and destination port of a UDP, TCP or SCTP header; `None` for other protocols and
/// for a header cut short.
fn ports(protocol: IpProtocol, l4: &[u8]) -> Option<(u16, u16)> {
    match protocol {
        IpProtocol::Udp => UdpPacket::new_checked(l4)
            .ok()
            .map(|u| (u.src_port(), u.dst_port())),
        IpProtocol::Tcp => TcpPacket::new_checked(l4)
            .ok()
            .map(|t| (t.src_port(), t.dst_port())),
        IpProtocol::Unknown(SCTP) => l4.get(..4).map(|p| {
            (
                u16::from_be_bytes([p[0], p[1]]),
                u16::from_be_bytes([p[2], p[3]]),
            )
        }),
        _ => None,
    }
}

const SCTP: u8 = 132;
