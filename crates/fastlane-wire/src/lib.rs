//! Typed, zero-copy views over packet headers, for Fastlane's classifier and processors and for
//! plugins, which use this crate without linking Fastlane's core.
//!
//! Every protocol has a view `XPacket<T: AsRef<[u8]>>` over a buffer that starts at its header:
//! - `new_unchecked(buffer)` wraps bytes whose length the caller has checked already; its getters
//!   panic on a buffer too short for the field they read.
//! - `new_checked(buffer)` checks the lengths (and, where the format has them, the length and
//!   version fields) so that no getter, `payload()` included, can panic afterwards. It is the one
//!   to use on untrusted bytes.
//! - getters return host-order values; values the crate has no name for are kept as data
//!   (`Unknown(_)` variants), never refused.
//! - setters exist when `T: AsMut<[u8]>`, and `payload_mut()` gives the bytes after the header.
//!
//! `XRepr` structs (where emitting headers is useful: encapsulation) are the parsed, owned form:
//! `parse` reads a checked view, `emit` writes a header into a view over a buffer of at least
//! `header_len()` bytes. [`checksum`] has the Internet checksum, full and incremental (RFC 1624).
//!
//! No allocation, no `unsafe`, no `std`: every access is a bounds-checked slice index.
//!
//! ```
//! use fastlane_wire::{gtpu, EtherType, EthernetFrame, GtpuPacket, Ipv4Packet, UdpPacket};
//!
//! /// The tunnel and QoS flow of an uplink GTP-U frame over IPv4; `None` for anything else.
//! fn teid_and_qfi(frame: &[u8]) -> Option<(u32, Option<u8>)> {
//!     let eth = EthernetFrame::new_checked(frame).ok()?;
//!     if eth.ethertype() != EtherType::Ipv4 {
//!         return None;
//!     }
//!     let ip = Ipv4Packet::new_checked(eth.into_payload()).ok()?;
//!     let udp = UdpPacket::new_checked(ip.into_payload()).ok()?;
//!     if udp.dst_port() != gtpu::PORT {
//!         return None;
//!     }
//!     let gtp = GtpuPacket::new_checked(udp.into_payload()).ok()?;
//!     Some((gtp.teid(), gtp.pdu_session().map(|s| s.qfi())))
//! }
//!
//! assert_eq!(teid_and_qfi(&[0u8; 60]), None);
//! ```

#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod gtpu;
pub mod icmpv4;
pub mod icmpv6;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;
pub mod udp;
pub mod vlan;

pub use arp::ArpPacket;
pub use checksum::PseudoHeader;
pub use ethernet::{EtherType, EthernetFrame, EthernetRepr};
pub use gtpu::{GtpuPacket, GtpuRepr};
pub use icmpv4::Icmpv4Packet;
pub use icmpv6::Icmpv6Packet;
pub use ip::IpProtocol;
pub use ipv4::{Ipv4Packet, Ipv4Repr};
pub use ipv6::{Ipv6Packet, Ipv6Repr};
pub use tcp::TcpPacket;
pub use udp::{UdpPacket, UdpRepr};
pub use vlan::VlanTag;

/// Why bytes are not a well-formed header of the protocol asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer ends before the header, or before the length that the header declares.
    Truncated,
    /// A length or offset field contradicts the format (an IPv4 IHL below 5, a total length
    /// shorter than the header, a zero-length GTP-U extension header...).
    Malformed,
    /// The version field is not this protocol's (IPv4 4, IPv6 6, GTP-U 1 with protocol type 1).
    Version,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Error::Truncated => "truncated packet",
            Error::Malformed => "malformed header",
            Error::Version => "unsupported version",
        })
    }
}

impl core::error::Error for Error {}

pub type Result<T> = core::result::Result<T, Error>;

/// Big-endian field access shared by the views.
#[inline(always)]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline(always)]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline(always)]
pub(crate) fn set_be16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline(always)]
pub(crate) fn set_be32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// Declares an enum over a wire number, with an `Unknown` variant keeping any other value.
macro_rules! wire_enum {
    ($(#[$meta:meta])* pub enum $name:ident($repr:ty) { $($(#[$vmeta:meta])* $variant:ident = $value:expr,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A value without a name here, kept as it is.
            Unknown($repr),
        }

        impl From<$repr> for $name {
            #[inline]
            fn from(value: $repr) -> Self {
                match value {
                    $($value => $name::$variant,)*
                    other => $name::Unknown(other),
                }
            }
        }

        impl From<$name> for $repr {
            #[inline]
            fn from(value: $name) -> Self {
                match value {
                    $($name::$variant => $value,)*
                    $name::Unknown(other) => other,
                }
            }
        }
    };
}
pub(crate) use wire_enum;

#[cfg(test)]
mod tests {
    use core::net::Ipv4Addr;
    use std::vec::Vec;

    use crate::gtpu::{MessageType, PduSessionRepr, PduType};
    use crate::*;

    /// Downlink encapsulation as a UPF writes it: Ethernet, IPv4, UDP and GTP-U with a PDU
    /// Session Container in front of an inner packet; then every layer parsed back.
    #[test]
    fn reprs_compose_an_encapsulated_frame_that_parses_back() {
        let inner = [
            0x45u8, 0, 0, 24, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
        ];
        let gtp = GtpuRepr {
            message_type: MessageType::GPdu,
            teid: 0x0102_0304,
            seq_number: None,
            npdu_number: None,
            pdu_session: Some(PduSessionRepr {
                pdu_type: PduType::Downlink,
                qfi: 9,
                rqi: false,
                ppi: None,
            }),
        };
        let gtp_len = gtp.header_len() + inner.len();
        let udp_len = udp::HEADER_LEN + gtp_len;
        let (src, dst) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 99));
        let ip = Ipv4Repr {
            src_addr: src,
            dst_addr: dst,
            protocol: IpProtocol::Udp,
            payload_len: udp_len as u16,
            ttl: 64,
            dscp: 0,
            ecn: 0,
        };
        let mut f: Vec<u8> = std::vec![0; ethernet::HEADER_LEN + Ipv4Repr::HEADER_LEN + udp_len];
        let (l2, rest) = f.split_at_mut(ethernet::HEADER_LEN);
        EthernetRepr {
            src_addr: [2, 0, 0, 0, 0, 1],
            dst_addr: [2, 0, 0, 0, 0, 2],
            ethertype: EtherType::Ipv4,
        }
        .emit(&mut EthernetFrame::new_unchecked(l2));
        let (l3, l4) = rest.split_at_mut(Ipv4Repr::HEADER_LEN);
        ip.emit(&mut Ipv4Packet::new_unchecked(l3));
        let mut u = UdpPacket::new_unchecked(&mut l4[..]);
        UdpRepr {
            src_port: gtpu::PORT,
            dst_port: gtpu::PORT,
        }
        .emit(&mut u, gtp_len as u16);
        let g = u.payload_mut();
        gtp.emit(
            &mut GtpuPacket::new_unchecked(&mut g[..]),
            inner.len() as u16,
        );
        let header_len = gtp.header_len();
        g[header_len..].copy_from_slice(&inner);
        u.fill_checksum(&PseudoHeader::v4(src, dst));

        let eth = EthernetFrame::new_checked(&f[..]).unwrap();
        let ip = Ipv4Packet::new_checked(eth.into_payload()).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(usize::from(ip.total_len()), f.len() - ethernet::HEADER_LEN);
        let pseudo = ip.pseudo_header();
        let u = UdpPacket::new_checked(ip.into_payload()).unwrap();
        assert!(u.verify_checksum(&pseudo));
        let g = GtpuPacket::new_checked(u.into_payload()).unwrap();
        assert_eq!(g.teid(), 0x0102_0304);
        assert_eq!(
            g.pdu_session().map(|s| (s.pdu_type(), s.qfi())),
            Some((PduType::Downlink, 9))
        );
        assert_eq!(g.payload(), &inner);
    }
}
