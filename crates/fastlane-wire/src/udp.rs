//! UDP headers (RFC 768).

use crate::checksum::{self, PseudoHeader};
use crate::ip::IpProtocol;
use crate::{be16, set_be16, Error, Result};

pub const HEADER_LEN: usize = 8;

/// A view over a UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// A view whose buffer the caller has checked to hold at least [`HEADER_LEN`] bytes. Before
    /// `payload()` the length field must also be checked: use [`new_checked`](Self::new_checked).
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    /// Checks that the header is present (`Truncated`), that the length field covers it
    /// (`Malformed`) and that the datagram fits the buffer (`Truncated`).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let len = buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let p = UdpPacket { buffer };
        let declared = p.len() as usize;
        if declared < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if declared > len {
            return Err(Error::Truncated);
        }
        Ok(p)
    }

    #[inline]
    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), 0)
    }

    #[inline]
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    /// The length field: header and payload.
    #[inline]
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 6)
    }

    /// The bytes after the header, up to the length field.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.len() as usize]
    }

    /// Whether the checksum is right. Zero means "no checksum": right over IPv4, wrong over IPv6
    /// (RFC 8200 §8.1).
    #[inline]
    pub fn verify_checksum(&self, pseudo: &PseudoHeader) -> bool {
        if self.checksum() == 0 {
            return !pseudo.is_ipv6();
        }
        let bytes = &self.buffer.as_ref()[..self.len() as usize];
        let header = pseudo.sum(IpProtocol::Udp, u32::from(self.len()));
        checksum::add(header, checksum::sum(bytes)) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    #[inline]
    pub fn set_src_port(&mut self, port: u16) {
        set_be16(self.buffer.as_mut(), 0, port);
    }

    #[inline]
    pub fn set_dst_port(&mut self, port: u16) {
        set_be16(self.buffer.as_mut(), 2, port);
    }

    #[inline]
    pub fn set_len(&mut self, len: u16) {
        set_be16(self.buffer.as_mut(), 4, len);
    }

    #[inline]
    pub fn set_checksum(&mut self, checksum: u16) {
        set_be16(self.buffer.as_mut(), 6, checksum);
    }

    /// Computes the checksum over the pseudo-header, header and payload (to the length field);
    /// a computed zero is written as 0xffff, since zero means "no checksum".
    #[inline]
    pub fn fill_checksum(&mut self, pseudo: &PseudoHeader) {
        self.set_checksum(0);
        let len = self.len();
        let sum = checksum::add(
            pseudo.sum(IpProtocol::Udp, u32::from(len)),
            checksum::sum(&self.buffer.as_ref()[..len as usize]),
        );
        self.set_checksum(match checksum::finish(sum) {
            0 => 0xffff,
            c => c,
        });
    }

    /// Adjusts the checksum for `old` bytes of the covered data (payload or pseudo-header) that
    /// became `new`, at an even offset (RFC 1624); leaves "no checksum" alone.
    #[inline]
    pub fn update_checksum(&mut self, old: &[u8], new: &[u8]) {
        let c = self.checksum();
        if c == 0 {
            return;
        }
        self.set_checksum(match checksum::update_bytes(c, old, new) {
            0 => 0xffff,
            c => c,
        });
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = self.len() as usize;
        &mut self.buffer.as_mut()[HEADER_LEN..len]
    }
}

impl<'a> UdpPacket<&'a [u8]> {
    /// [`payload`](UdpPacket::payload), borrowed from the buffer rather than from the view.
    #[inline]
    pub fn into_payload(self) -> &'a [u8] {
        &self.buffer[HEADER_LEN..self.len() as usize]
    }
}

/// A UDP header, parsed or to be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRepr {
    pub src_port: u16,
    pub dst_port: u16,
}

impl UdpRepr {
    pub const HEADER_LEN: usize = HEADER_LEN;

    #[inline]
    pub fn parse<T: AsRef<[u8]>>(packet: &UdpPacket<T>) -> Self {
        UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
        }
    }

    /// Writes the header for `payload_len` bytes of payload, with a zero checksum: write the
    /// payload, then [`UdpPacket::fill_checksum`] (required over IPv6).
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut UdpPacket<T>, payload_len: u16) {
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(payload_len.saturating_add(HEADER_LEN as u16));
        packet.set_checksum(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    #[test]
    fn a_datagram_checksums_to_its_known_value_and_updates_incrementally() {
        // 10.1.2.3:40000 -> 192.168.200.9:9999, 4 payload bytes 00 01 02 03. Known value
        // computed independently (Python's ones' complement sum of the pseudo-header and bytes).
        let pseudo = PseudoHeader::v4(Ipv4Addr::new(10, 1, 2, 3), Ipv4Addr::new(192, 168, 200, 9));
        let mut b = [0u8; 12];
        let mut u = UdpPacket::new_unchecked(&mut b[..]);
        UdpRepr {
            src_port: 40000,
            dst_port: 9999,
        }
        .emit(&mut u, 4);
        u.payload_mut().copy_from_slice(&[0, 1, 2, 3]);
        u.fill_checksum(&pseudo);
        assert_eq!(u.checksum(), KNOWN);
        assert!(u.verify_checksum(&pseudo));
        u.payload_mut()[2] = 0x77;
        assert!(!u.verify_checksum(&pseudo));
        u.update_checksum(&[0x02, 0x03], &[0x77, 0x03]);
        assert!(u.verify_checksum(&pseudo));
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port(), p.len()), (40000, 9999, 12));
        assert_eq!(p.payload(), &[0, 1, 0x77, 3]);
    }

    const KNOWN: u16 = 0xa5cc;

    #[test]
    fn a_zero_checksum_is_none_over_ipv4_and_wrong_over_ipv6() {
        let b = [0, 1, 0, 2, 0, 8, 0, 0];
        let u = UdpPacket::new_checked(&b[..]).unwrap();
        assert!(u.verify_checksum(&PseudoHeader::v4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST)));
        let lo = core::net::Ipv6Addr::LOCALHOST;
        assert!(!u.verify_checksum(&PseudoHeader::v6(&lo, &lo)));
    }

    #[test]
    fn lengths_are_checked() {
        let mut b = [0u8; 10];
        assert_eq!(
            UdpPacket::new_checked(&b[..7]).unwrap_err(),
            Error::Truncated
        );
        b[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(
            UdpPacket::new_checked(&b[..]).unwrap_err(),
            Error::Malformed
        );
        b[4..6].copy_from_slice(&11u16.to_be_bytes());
        assert_eq!(
            UdpPacket::new_checked(&b[..]).unwrap_err(),
            Error::Truncated
        );
        b[4..6].copy_from_slice(&9u16.to_be_bytes());
        assert_eq!(UdpPacket::new_checked(&b[..]).unwrap().payload(), &[0]);
    }
}
