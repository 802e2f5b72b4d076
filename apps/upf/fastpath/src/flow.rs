//! The inner packet's flow: what SDF filters match on (TS 29.244 §5.2.1: protocol, addresses,
//! ports), read from an IPv4 or IPv6 packet without extension headers.

use core::net::IpAddr;

use fastlane_wire::{IpProtocol, Ipv4Packet, Ipv6Packet, TcpPacket, UdpPacket};

/// An inner packet's 5-tuple, with its length (the IP packet's, not the frame's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: u8,
    /// 0 for protocols without ports (and for non-first fragments).
    pub src_port: u16,
    pub dst_port: u16,
    pub len: usize,
}

impl Flow {
    /// The flow of the IP packet at the start of `packet`; `None` when it is not a well-formed
    /// IPv4 or IPv6 packet.
    pub fn parse(packet: &[u8]) -> Option<Flow> {
        match packet.first()? >> 4 {
            4 => {
                let ip = Ipv4Packet::new_checked(packet).ok()?;
                let len = usize::from(ip.total_len());
                let (src, dst, protocol) = (ip.src_addr(), ip.dst_addr(), ip.protocol());
                let ports = if ip.frag_offset() == 0 {
                    ports(protocol, ip.into_payload())
                } else {
                    (0, 0)
                };
                Some(Flow::new(src.into(), dst.into(), protocol, ports, len))
            }
            6 => {
                let ip = Ipv6Packet::new_checked(packet).ok()?;
                let len = fastlane_wire::ipv6::HEADER_LEN + usize::from(ip.payload_len());
                let (src, dst, protocol) = (ip.src_addr(), ip.dst_addr(), ip.next_header());
                let ports = ports(protocol, ip.into_payload());
                Some(Flow::new(src.into(), dst.into(), protocol, ports, len))
            }
            _ => None,
        }
    }

    fn new(src: IpAddr, dst: IpAddr, protocol: IpProtocol, ports: (u16, u16), len: usize) -> Self {
        Flow {
            src,
            dst,
            protocol: protocol.into(),
            src_port: ports.0,
            dst_port: ports.1,
            len,
        }
    }

    pub fn is_ipv6(&self) -> bool {
        self.src.is_ipv6()
    }
}

/// Source and destination port of a UDP or TCP (or SCTP) header; (0, 0) for anything else or a
/// header cut short.
fn ports(protocol: IpProtocol, l4: &[u8]) -> (u16, u16) {
    match protocol {
        IpProtocol::Udp => UdpPacket::new_checked(l4)
            .map(|u| (u.src_port(), u.dst_port()))
            .unwrap_or_default(),
        IpProtocol::Tcp => TcpPacket::new_checked(l4)
            .map(|t| (t.src_port(), t.dst_port()))
            .unwrap_or_default(),
        IpProtocol::Unknown(132) => match l4.get(..4) {
            Some(p) => (
                u16::from_be_bytes([p[0], p[1]]),
                u16::from_be_bytes([p[2], p[3]]),
            ),
            None => (0, 0),
        },
        _ => (0, 0),
    }
}
