//! What arrives on N3: Ethernet, IPv4 or IPv6, UDP to 2152, GTP-U (TS 29.281). Parsing never
//! panics and never allocates; a frame that is not GTP-U at all is not ours (the kernel's), and
//! a GTP-U message this node cannot take is refused with the reason it is counted under.

use core::net::IpAddr;

use fastlane_wire::gtpu::{self, ExtensionType, GtpuPacket, MessageType};
use fastlane_wire::{
    ethernet, EtherType, EthernetFrame, IpProtocol, Ipv4Packet, Ipv6Packet, UdpPacket,
};

/// Where the outer headers of an N3 frame are, and who sent it to whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outer {
    /// The sender (a gNB) and the address it sent to (ours).
    pub peer: IpAddr,
    pub local: IpAddr,
    pub peer_port: u16,
    /// Offset of the GTP-U header in the frame, and the end of the UDP datagram (Ethernet
    /// padding may follow it).
    pub gtpu: usize,
    pub end: usize,
}

/// A GTP-U message this node handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    /// A user packet: the inner IP packet is `frame[inner.0..inner.1]`.
    GPdu {
        teid: u32,
        qfi: Option<u8>,
        inner: (usize, usize),
    },
    EchoRequest {
        seq: u16,
    },
    EchoResponse,
    /// A peer's Error Indication: the TEID and address it named (TEID Data I, Peer Address).
    ErrorIndication {
        teid: u32,
        address: Option<IpAddr>,
    },
    EndMarker {
        teid: u32,
    },
}

/// Why a GTP-U message was refused (each a drop reason of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Fewer than the 8 bytes of the mandatory header.
    ShortHeader,
    /// The length field claims more than the datagram holds, or less than the optional fields.
    BadLength,
    /// Version other than 1, or GTP' (PT 0).
    Version,
    /// An extension header of zero length or running past the message.
    BadExtensionHeader,
    /// An extension header whose type says the receiver must comprehend it, of a type this node
    /// does not (TS 29.281 §5.2.1: anything but the PDU Session Container).
    UnknownMandatoryExtension,
    /// A message type this node does not take (Supported Extension Headers Notification,
    /// anything unassigned), or a message without the IE it must carry.
    UnhandledType,
}

/// The outer headers of a UDP/2152 frame, or `None` when the frame is not GTP-U over UDP
/// (such a frame is not the fast path's: the kernel has it).
pub fn outer(frame: &[u8]) -> Option<Outer> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let (peer, local, l4_at, l4) = match eth.ethertype() {
        EtherType::Ipv4 => {
            let ip = Ipv4Packet::new_checked(eth.into_payload()).ok()?;
            if ip.protocol() != IpProtocol::Udp || ip.is_fragment() {
                return None;
            }
            let at = ethernet::HEADER_LEN + ip.header_len();
            let (src, dst) = (ip.src_addr(), ip.dst_addr());
            (IpAddr::V4(src), IpAddr::V4(dst), at, ip.into_payload())
        }
        EtherType::Ipv6 => {
            let ip = Ipv6Packet::new_checked(eth.into_payload()).ok()?;
            if ip.next_header() != IpProtocol::Udp {
                return None;
            }
            let at = ethernet::HEADER_LEN + fastlane_wire::ipv6::HEADER_LEN;
            let (src, dst) = (ip.src_addr(), ip.dst_addr());
            (IpAddr::V6(src), IpAddr::V6(dst), at, ip.into_payload())
        }
        _ => return None,
    };
    let udp = UdpPacket::new_checked(l4).ok()?;
    if udp.dst_port() != gtpu::PORT {
        return None;
    }
    Some(Outer {
        peer,
        local,
        peer_port: udp.src_port(),
        gtpu: l4_at + fastlane_wire::udp::HEADER_LEN,
        end: l4_at + usize::from(udp.len()),
    })
}

/// The GTP-U message of the datagram `outer` found.
pub fn message(frame: &[u8], outer: &Outer) -> Result<Message, Malformed> {
    let bytes = frame.get(outer.gtpu..outer.end).unwrap_or_default();
    let gtp = match GtpuPacket::new_checked(bytes) {
        Ok(gtp) => gtp,
        Err(fastlane_wire::Error::Version) => return Err(Malformed::Version),
        Err(fastlane_wire::Error::Truncated) if bytes.len() < gtpu::HEADER_LEN => {
            return Err(Malformed::ShortHeader)
        }
        Err(fastlane_wire::Error::Truncated) => return Err(Malformed::BadLength),
        Err(fastlane_wire::Error::Malformed) => {
            // The optional fields themselves past the length, or a broken chain.
            let length = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
            return Err(if length < gtpu::OPTIONAL_LEN {
                Malformed::BadLength
            } else {
                Malformed::BadExtensionHeader
            });
        }
    };
    let mut qfi = None;
    for header in gtp.extension_headers() {
        let Ok(header) = header else {
            return Err(Malformed::BadExtensionHeader);
        };
        match header.kind {
            ExtensionType::PduSessionContainer => qfi = header.pdu_session().map(|s| s.qfi()),
            kind if kind.comprehension_required() => {
                return Err(Malformed::UnknownMandatoryExtension)
            }
            _ => {}
        }
    }
    let header_len = gtp.header_len();
    let end = outer.gtpu + gtp.message_len();
    match gtp.message_type() {
        MessageType::GPdu => Ok(Message::GPdu {
            teid: gtp.teid(),
            qfi,
            inner: (outer.gtpu + header_len, end),
        }),
        MessageType::EchoRequest => Ok(Message::EchoRequest {
            seq: gtp.seq_number().unwrap_or(0),
        }),
        MessageType::EchoResponse => Ok(Message::EchoResponse),
        MessageType::EndMarker => Ok(Message::EndMarker { teid: gtp.teid() }),
        MessageType::ErrorIndication => error_indication(gtp.payload()),
        _ => Err(Malformed::UnhandledType),
    }
}

/// IE types of TS 29.281 §8.
pub mod ie {
    pub const RECOVERY: u8 = 14;
    pub const TEID_DATA_I: u8 = 16;
    pub const PEER_ADDRESS: u8 = 133;
}

/// The TEID Data I (mandatory) and GTP-U Peer Address of an Error Indication's IEs: TV types
/// below 128 (Recovery 1 byte of value, TEID Data I 4), TLV types from 128 on.
fn error_indication(mut ies: &[u8]) -> Result<Message, Malformed> {
    let (mut teid, mut address) = (None, None);
    while let Some(&kind) = ies.first() {
        let (value, len) = match kind {
            ie::RECOVERY => (ies.get(1..2), 2),
            ie::TEID_DATA_I => (ies.get(1..5), 5),
            k if k >= 128 => match ies.get(1..3) {
                Some(l) => {
                    let l = usize::from(u16::from_be_bytes([l[0], l[1]]));
                    (ies.get(3..3 + l), 3 + l)
                }
                None => (None, 0),
            },
            // A TV IE of a type whose length this node does not know: the rest is unreadable.
            _ => break,
        };
        let Some(value) = value else {
            return Err(Malformed::BadLength);
        };
        match kind {
            ie::TEID_DATA_I => {
                teid = Some(u32::from_be_bytes([value[0], value[1], value[2], value[3]]))
            }
            ie::PEER_ADDRESS => {
                address = match value.len() {
                    4 => Some(IpAddr::from(<[u8; 4]>::try_from(value).unwrap_or_default())),
                    16 => Some(IpAddr::from(
                        <[u8; 16]>::try_from(value).unwrap_or_default(),
                    )),
                    _ => None,
                }
            }
            _ => {}
        }
        ies = &ies[len..];
    }
    match teid {
        Some(teid) => Ok(Message::ErrorIndication { teid, address }),
        None => Err(Malformed::UnhandledType),
    }
}
