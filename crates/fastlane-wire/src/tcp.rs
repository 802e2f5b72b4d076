//! TCP headers (RFC 9293).

use crate::checksum::{self, PseudoHeader};
use crate::ip::IpProtocol;
use crate::{be16, be32, set_be16, set_be32, Error, Result};

/// The length of a header without options.
pub const MIN_HEADER_LEN: usize = 20;

/// The flag bits of [`TcpPacket::flags`].
pub mod flags {
    pub const FIN: u16 = 0x001;
    pub const SYN: u16 = 0x002;
    pub const RST: u16 = 0x004;
    pub const PSH: u16 = 0x008;
    pub const ACK: u16 = 0x010;
    pub const URG: u16 = 0x020;
    pub const ECE: u16 = 0x040;
    pub const CWR: u16 = 0x080;
}

/// A view over a TCP segment. TCP has no length field: the segment is the rest of the buffer,
/// which the caller cuts to the IP payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Checks that 20 bytes are present (`Truncated`), that the data offset is at least 5
    /// (`Malformed`) and that the header with its options fits (`Truncated`).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let len = buffer.as_ref().len();
        if len < MIN_HEADER_LEN {
            return Err(Error::Truncated);
        }
        let p = TcpPacket { buffer };
        let header_len = p.header_len();
        if header_len < MIN_HEADER_LEN {
            return Err(Error::Malformed);
        }
        if header_len > len {
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

    #[inline]
    pub fn seq_number(&self) -> u32 {
        be32(self.buffer.as_ref(), 4)
    }

    #[inline]
    pub fn ack_number(&self) -> u32 {
        be32(self.buffer.as_ref(), 8)
    }

    /// The header length in bytes (data offset × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[12] >> 4) * 4
    }

    /// The flag bits ([`flags`]), the three reserved bits and the accurate-ECN bit included.
    #[inline]
    pub fn flags(&self) -> u16 {
        be16(self.buffer.as_ref(), 12) & 0x0fff
    }

    #[inline]
    pub fn window(&self) -> u16 {
        be16(self.buffer.as_ref(), 14)
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 16)
    }

    #[inline]
    pub fn urgent_pointer(&self) -> u16 {
        be16(self.buffer.as_ref(), 18)
    }

    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[MIN_HEADER_LEN..self.header_len()]
    }

    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    #[inline]
    pub fn verify_checksum(&self, pseudo: &PseudoHeader) -> bool {
        let bytes = self.buffer.as_ref();
        let header = pseudo.sum(IpProtocol::Tcp, bytes.len() as u32);
        checksum::add(header, checksum::sum(bytes)) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    #[inline]
    pub fn set_src_port(&mut self, port: u16) {
        set_be16(self.buffer.as_mut(), 0, port);
    }

    #[inline]
    pub fn set_dst_port(&mut self, port: u16) {
        set_be16(self.buffer.as_mut(), 2, port);
    }

    #[inline]
    pub fn set_seq_number(&mut self, seq: u32) {
        set_be32(self.buffer.as_mut(), 4, seq);
    }

    #[inline]
    pub fn set_ack_number(&mut self, ack: u32) {
        set_be32(self.buffer.as_mut(), 8, ack);
    }

    /// Sets the data offset (header length in bytes, a multiple of 4) and the flags.
    #[inline]
    pub fn set_header_len_and_flags(&mut self, header_len: usize, flags: u16) {
        let word = (((header_len / 4) as u16) << 12) | (flags & 0x0fff);
        set_be16(self.buffer.as_mut(), 12, word);
    }

    #[inline]
    pub fn set_window(&mut self, window: u16) {
        set_be16(self.buffer.as_mut(), 14, window);
    }

    #[inline]
    pub fn set_checksum(&mut self, checksum: u16) {
        set_be16(self.buffer.as_mut(), 16, checksum);
    }

    #[inline]
    pub fn set_urgent_pointer(&mut self, urgent: u16) {
        set_be16(self.buffer.as_mut(), 18, urgent);
    }

    /// Computes the checksum over the pseudo-header and the whole buffer.
    #[inline]
    pub fn fill_checksum(&mut self, pseudo: &PseudoHeader) {
        self.set_checksum(0);
        let bytes = self.buffer.as_ref();
        let header = pseudo.sum(IpProtocol::Tcp, bytes.len() as u32);
        let c = checksum::finish(checksum::add(header, checksum::sum(bytes)));
        self.set_checksum(c);
    }

    /// Adjusts the checksum for covered bytes (at an even offset) that changed (RFC 1624).
    #[inline]
    pub fn update_checksum(&mut self, old: &[u8], new: &[u8]) {
        let c = checksum::update_bytes(self.checksum(), old, new);
        self.set_checksum(c);
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }
}

impl<'a> TcpPacket<&'a [u8]> {
    /// [`payload`](TcpPacket::payload), borrowed from the buffer rather than from the view.
    #[inline]
    pub fn into_payload(self) -> &'a [u8] {
        &self.buffer[self.header_len()..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv6Addr;

    #[test]
    fn a_segment_reads_back_and_checksums_over_ipv6() {
        let mut b = [0u8; 28];
        b[20..24].copy_from_slice(&[2, 4, 5, 0xb4]); // MSS 1460
        let mut t = TcpPacket::new_unchecked(&mut b[..]);
        t.set_src_port(443);
        t.set_dst_port(50000);
        t.set_seq_number(0x0102_0304);
        t.set_ack_number(0xa0b0_c0d0);
        t.set_header_len_and_flags(24, flags::SYN | flags::ACK);
        t.set_window(65535);
        t.payload_mut().copy_from_slice(&[9, 8, 7, 6]);
        let (s, d): (Ipv6Addr, Ipv6Addr) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        );
        let pseudo = PseudoHeader::v6(&s, &d);
        t.fill_checksum(&pseudo);
        assert_eq!(t.checksum(), KNOWN);
        let t = TcpPacket::new_checked(&b[..]).unwrap();
        assert!(t.verify_checksum(&pseudo));
        assert_eq!((t.src_port(), t.dst_port()), (443, 50000));
        assert_eq!((t.seq_number(), t.ack_number()), (0x0102_0304, 0xa0b0_c0d0));
        assert_eq!(t.flags(), flags::SYN | flags::ACK);
        assert_eq!(t.options(), &[2, 4, 5, 0xb4]);
        assert_eq!(t.payload(), &[9, 8, 7, 6]);
        assert!(!TcpPacket::new_checked(&b[..27])
            .unwrap()
            .verify_checksum(&pseudo));
    }

    // Computed independently (Python, ones' complement sum of the IPv6 pseudo-header and bytes).
    const KNOWN: u16 = 0x01fd;

    #[test]
    fn bad_offsets_are_refused() {
        let mut b = [0u8; 24];
        assert_eq!(
            TcpPacket::new_checked(&b[..19]).unwrap_err(),
            Error::Truncated
        );
        b[12] = 0x40;
        assert_eq!(
            TcpPacket::new_checked(&b[..]).unwrap_err(),
            Error::Malformed
        );
        b[12] = 0x70;
        assert_eq!(
            TcpPacket::new_checked(&b[..]).unwrap_err(),
            Error::Truncated
        );
        b[12] = 0x60;
        assert!(TcpPacket::new_checked(&b[..]).unwrap().payload().is_empty());
    }
}
