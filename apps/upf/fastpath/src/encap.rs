//! Writing outer headers: GTP-U/UDP/IPv4 or IPv6 in front of a downlink packet (outer header
//! creation), removing them from an uplink one (outer header removal), and the UDP frames of the
//! GTP-U node's own messages. Everything is written in place or into a caller's stack buffer.

use core::net::IpAddr;

use fastlane_plugin::Packet;
use fastlane_wire::gtpu::{self, GtpuPacket, GtpuRepr, MessageType, PduSessionRepr, PduType};
use fastlane_wire::{
    ethernet, ipv6, udp, EtherType, EthernetFrame, IpProtocol, Ipv4Packet, Ipv4Repr, Ipv6Packet,
    Ipv6Repr, PseudoHeader, UdpPacket, UdpRepr,
};

/// The TTL / hop limit of the packets this node writes.
const HOP_LIMIT: u8 = 64;

/// The addresses of a frame to write: Ethernet and IP, both ends, and the UDP ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Path {
    pub dst_mac: [u8; 6],
    pub src_mac: [u8; 6],
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
}

impl Path {
    /// Ethernet, IP and UDP header bytes (no IPv4 options); `None` when the two addresses are of
    /// different families.
    pub fn headers_len(&self) -> Option<usize> {
        let ip = match (self.src, self.dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) => Ipv4Repr::HEADER_LEN,
            (IpAddr::V6(_), IpAddr::V6(_)) => ipv6::HEADER_LEN,
            _ => return None,
        };
        Some(ethernet::HEADER_LEN + ip + udp::HEADER_LEN)
    }

    /// Writes the Ethernet, IP and UDP headers for `payload_len` bytes of UDP payload at the
    /// front of `frame` (which must hold `headers_len()` bytes). The UDP checksum is left 0;
    /// [`Path::fill_udp_checksum`] computes it once the payload is in place.
    fn write_headers(&self, frame: &mut [u8], payload_len: usize) {
        let mut eth = EthernetFrame::new_unchecked(&mut *frame);
        eth.set_dst_addr(self.dst_mac);
        eth.set_src_addr(self.src_mac);
        let udp_len = (udp::HEADER_LEN + payload_len) as u16;
        let at = match (self.src, self.dst) {
            (IpAddr::V4(src_addr), IpAddr::V4(dst_addr)) => {
                EthernetFrame::new_unchecked(&mut *frame).set_ethertype(EtherType::Ipv4);
                let l3 = &mut frame[ethernet::HEADER_LEN..];
                Ipv4Repr {
                    src_addr,
                    dst_addr,
                    protocol: IpProtocol::Udp,
                    payload_len: udp_len,
                    ttl: HOP_LIMIT,
                    dscp: 0,
                    ecn: 0,
                }
                .emit(&mut Ipv4Packet::new_unchecked(l3));
                ethernet::HEADER_LEN + Ipv4Repr::HEADER_LEN
            }
            (IpAddr::V6(src_addr), IpAddr::V6(dst_addr)) => {
                EthernetFrame::new_unchecked(&mut *frame).set_ethertype(EtherType::Ipv6);
                let l3 = &mut frame[ethernet::HEADER_LEN..];
                Ipv6Repr {
                    src_addr,
                    dst_addr,
                    next_header: IpProtocol::Udp,
                    payload_len: udp_len,
                    hop_limit: HOP_LIMIT,
                    traffic_class: 0,
                    flow_label: 0,
                }
                .emit(&mut Ipv6Packet::new_unchecked(l3));
                ethernet::HEADER_LEN + ipv6::HEADER_LEN
            }
            _ => return,
        };
        UdpRepr {
            src_port: self.src_port,
            dst_port: self.dst_port,
        }
        .emit(
            &mut UdpPacket::new_unchecked(&mut frame[at..]),
            payload_len as u16,
        );
    }

    /// Fills the UDP checksum of a frame [`Path::write_headers`] wrote, payload in place.
    fn fill_udp_checksum(&self, frame: &mut [u8]) {
        let (pseudo, at) = match (self.src, self.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => (
                PseudoHeader::v4(s, d),
                ethernet::HEADER_LEN + Ipv4Repr::HEADER_LEN,
            ),
            (IpAddr::V6(s), IpAddr::V6(d)) => (
                PseudoHeader::v6(&s, &d),
                ethernet::HEADER_LEN + ipv6::HEADER_LEN,
            ),
            _ => return,
        };
        UdpPacket::new_unchecked(&mut frame[at..]).fill_checksum(&pseudo);
    }
}

/// A downlink tunnel: the gNB's F-TEID and the QFI of the PDU Session Container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tunnel {
    pub teid: u32,
    pub qfi: u8,
}

/// The GTP-U header of a downlink G-PDU: E set, a DL PDU Session Container.
fn downlink_header(tunnel: Tunnel) -> GtpuRepr {
    GtpuRepr {
        message_type: MessageType::GPdu,
        teid: tunnel.teid,
        seq_number: None,
        npdu_number: None,
        pdu_session: Some(PduSessionRepr {
            pdu_type: PduType::Downlink,
            qfi: tunnel.qfi,
            rqi: false,
            ppi: None,
        }),
    }
}

/// Why a packet could not be rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rewrite {
    /// Not enough headroom (or tailroom) in the buffer for the new headers.
    NoRoom,
    /// The path's addresses are of two families (no N3 address of the gNB's family).
    NoAddress,
}

/// Outer header creation: the packet is Ethernet + the inner IP packet of `inner_len` bytes
/// (Ethernet padding behind it is cut); it becomes Ethernet + IP + UDP + GTP-U + inner packet,
/// with the IPv4 header checksum, and the UDP checksum over IPv6 (over IPv4 it is 0, "none",
/// as GTP-U allows: the inner packet carries its own).
pub fn encapsulate(
    packet: &mut Packet<'_>,
    inner_len: usize,
    path: &Path,
    tunnel: Tunnel,
) -> Result<(), Rewrite> {
    let headers = path.headers_len().ok_or(Rewrite::NoAddress)?;
    let gtp = downlink_header(tunnel);
    let gtp_len = gtp.header_len();
    let outer = headers + gtp_len;
    let excess = packet
        .len()
        .saturating_sub(ethernet::HEADER_LEN + inner_len);
    if inner_len + outer > usize::from(u16::MAX) {
        return Err(Rewrite::NoRoom);
    }
    packet.trim(excess).map_err(|_| Rewrite::NoRoom)?;
    packet
        .prepend(outer - ethernet::HEADER_LEN)
        .map_err(|_| Rewrite::NoRoom)?;
    let frame = packet.data_mut();
    path.write_headers(frame, gtp_len + inner_len);
    gtp.emit(
        &mut GtpuPacket::new_unchecked(&mut frame[headers..]),
        inner_len as u16,
    );
    if path.dst.is_ipv6() {
        path.fill_udp_checksum(frame);
    }
    Ok(())
}

/// Outer header removal: keeps the inner packet at `frame[inner.0..inner.1]` behind a new
/// Ethernet header to `dst_mac` from `src_mac`, of the inner packet's IP version.
pub fn decapsulate(
    packet: &mut Packet<'_>,
    inner: (usize, usize),
    ipv6: bool,
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
) -> Result<(), Rewrite> {
    let tail = packet.len().saturating_sub(inner.1);
    packet.trim(tail).map_err(|_| Rewrite::NoRoom)?;
    packet
        .pull(inner.0.saturating_sub(ethernet::HEADER_LEN))
        .map_err(|_| Rewrite::NoRoom)?;
    let mut eth = EthernetFrame::new_unchecked(packet.data_mut());
    eth.set_dst_addr(dst_mac);
    eth.set_src_addr(src_mac);
    eth.set_ethertype(if ipv6 {
        EtherType::Ipv6
    } else {
        EtherType::Ipv4
    });
    Ok(())
}

/// The largest frame of the node's own messages: Ethernet, IPv6, UDP and an Error Indication
/// with an IPv6 peer address.
pub const MAX_MESSAGE_FRAME: usize = 128;

/// Writes a GTP-U message (`header`, then one 4-byte extension header of the given type if
/// any, then `ies`) as a whole frame along `path` into `out` and returns its length.
pub fn message_frame(
    out: &mut [u8; MAX_MESSAGE_FRAME],
    path: &Path,
    header: &GtpuRepr,
    extension: Option<(u8, [u8; 4])>,
    ies: &[u8],
) -> Option<usize> {
    let headers = path.headers_len()?;
    let gtp_len = gtpu::HEADER_LEN
        + if header.seq_number.is_some() {
            gtpu::OPTIONAL_LEN
        } else {
            0
        };
    let ext_len = extension.map_or(0, |(_, e)| e.len());
    let payload = gtp_len + ext_len + ies.len();
    let len = headers + payload;
    if len > out.len() {
        return None;
    }
    let frame = &mut out[..len];
    path.write_headers(frame, payload);
    let mut gtp = GtpuPacket::new_unchecked(&mut frame[headers..]);
    header.emit(&mut gtp, (ext_len + ies.len()) as u16);
    if let Some((kind, ext)) = extension {
        // The one extension header: E set, and its type in the optional fields' last byte.
        gtp.set_flags(true, header.seq_number.is_some(), false);
        frame[headers + gtpu::HEADER_LEN + 3] = kind;
        frame[headers + gtp_len..headers + gtp_len + ext_len].copy_from_slice(&ext);
    }
    frame[headers + gtp_len + ext_len..].copy_from_slice(ies);
    path.fill_udp_checksum(frame);
    Some(len)
}

/// Replaces the packet's bytes with `frame`, growing or shrinking it in its buffer.
pub fn replace(packet: &mut Packet<'_>, frame: &[u8]) -> Result<(), Rewrite> {
    let len = packet.len();
    if frame.len() <= len {
        packet
            .trim(len - frame.len())
            .map_err(|_| Rewrite::NoRoom)?;
    } else if packet.append(frame.len() - len).is_err() {
        packet
            .prepend(frame.len() - len)
            .map_err(|_| Rewrite::NoRoom)?;
    }
    packet.data_mut().copy_from_slice(frame);
    Ok(())
}
