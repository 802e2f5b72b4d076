//! IPv4 headers (RFC 791), options included.

use core::net::Ipv4Addr;

use crate::checksum::{self, PseudoHeader};
use crate::ip::IpProtocol;
use crate::{be16, set_be16, Error, Result};

/// The length of a header without options.
pub const MIN_HEADER_LEN: usize = 20;
/// Where the source and destination addresses are, together (a flow key).
pub const ADDRS: core::ops::Range<usize> = 12..20;

/// A view over an IPv4 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Checks, in this order: 20 bytes present (else `Truncated`); version 4 and IHL ≥ 5 (else
    /// `Version` / `Malformed`); the header with its options present (`Truncated`); a total
    /// length that covers the header (`Malformed`) and fits the buffer (`Truncated`). The buffer
    /// may run past the total length (Ethernet padding): `payload()` stops at the total length.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let len = buffer.as_ref().len();
        if len < MIN_HEADER_LEN {
            return Err(Error::Truncated);
        }
        let p = Ipv4Packet { buffer };
        if p.version() != 4 {
            return Err(Error::Version);
        }
        let header_len = p.header_len();
        if header_len < MIN_HEADER_LEN {
            return Err(Error::Malformed);
        }
        if header_len > len {
            return Err(Error::Truncated);
        }
        let total = p.total_len() as usize;
        if total < header_len {
            return Err(Error::Malformed);
        }
        if total > len {
            return Err(Error::Truncated);
        }
        Ok(p)
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    /// The header length in bytes (IHL × 4), options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[0] & 0x0f) * 4
    }

    #[inline]
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[1] >> 2
    }

    #[inline]
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[1] & 0x03
    }

    #[inline]
    pub fn total_len(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    #[inline]
    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }

    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.buffer.as_ref()[6] & 0x40 != 0
    }

    #[inline]
    pub fn more_frags(&self) -> bool {
        self.buffer.as_ref()[6] & 0x20 != 0
    }

    /// The fragment offset in bytes.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (be16(self.buffer.as_ref(), 6) & 0x1fff) << 3
    }

    /// A fragment (more fragments, or an offset): its transport header may be elsewhere.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        be16(self.buffer.as_ref(), 6) & 0x3fff != 0
    }

    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[8]
    }

    #[inline]
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol::from(self.protocol_raw())
    }

    /// The protocol as a number, for table lookups.
    #[inline]
    pub fn protocol_raw(&self) -> u8 {
        self.buffer.as_ref()[9]
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 10)
    }

    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.addr_bytes(12))
    }

    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.addr_bytes(16))
    }

    #[inline]
    fn addr_bytes(&self, at: usize) -> [u8; 4] {
        let b = self.buffer.as_ref();
        [b[at], b[at + 1], b[at + 2], b[at + 3]]
    }

    /// Source and destination address bytes, as one slice (a flow key).
    #[inline]
    pub fn addrs_bytes(&self) -> &[u8] {
        &self.buffer.as_ref()[ADDRS]
    }

    /// The options: the header past its first 20 bytes.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[MIN_HEADER_LEN..self.header_len()]
    }

    /// Whether the header checksum is correct.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::verify(&self.buffer.as_ref()[..self.header_len()])
    }

    /// The pseudo-header for this packet's upper layer.
    #[inline]
    pub fn pseudo_header(&self) -> PseudoHeader {
        PseudoHeader::v4(self.src_addr(), self.dst_addr())
    }

    /// The bytes from the end of the header to the total length.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..self.total_len() as usize]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets version 4 and the header length (a multiple of 4, 20 to 60).
    #[inline]
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        self.buffer.as_mut()[0] = 0x40 | ((header_len / 4) as u8 & 0x0f);
    }

    #[inline]
    pub fn set_dscp_ecn(&mut self, dscp: u8, ecn: u8) {
        self.buffer.as_mut()[1] = (dscp << 2) | (ecn & 0x03);
    }

    #[inline]
    pub fn set_total_len(&mut self, len: u16) {
        set_be16(self.buffer.as_mut(), 2, len);
    }

    #[inline]
    pub fn set_ident(&mut self, ident: u16) {
        set_be16(self.buffer.as_mut(), 4, ident);
    }

    /// Sets the flags and fragment offset field: don't fragment, no fragment.
    #[inline]
    pub fn set_dont_frag_unfragmented(&mut self) {
        set_be16(self.buffer.as_mut(), 6, 0x4000);
    }

    #[inline]
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[8] = ttl;
    }

    #[inline]
    pub fn set_protocol(&mut self, protocol: IpProtocol) {
        self.buffer.as_mut()[9] = protocol.into();
    }

    #[inline]
    pub fn set_checksum(&mut self, checksum: u16) {
        set_be16(self.buffer.as_mut(), 10, checksum);
    }

    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[12..16].copy_from_slice(&addr.octets());
    }

    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[16..20].copy_from_slice(&addr.octets());
    }

    /// Computes and writes the header checksum.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::checksum(&self.buffer.as_ref()[..self.header_len()]);
        self.set_checksum(sum);
    }

    /// Decrements the TTL and updates the checksum incrementally (RFC 1624). Returns the new TTL.
    #[inline]
    pub fn decrement_ttl(&mut self) -> u8 {
        let b = self.buffer.as_mut();
        let old = be16(b, 8);
        b[8] = b[8].wrapping_sub(1);
        let new = be16(b, 8);
        let c = checksum::update16(be16(b, 10), old, new);
        set_be16(b, 10, c);
        b[8]
    }

    /// The bytes from the end of the header to the total length.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.header_len(), self.total_len() as usize);
        &mut self.buffer.as_mut()[start..end]
    }
}

impl<'a> Ipv4Packet<&'a [u8]> {
    /// [`payload`](Ipv4Packet::payload), borrowed from the buffer rather than from the view.
    #[inline]
    pub fn into_payload(self) -> &'a [u8] {
        &self.buffer[self.header_len()..self.total_len() as usize]
    }
}

/// An IPv4 header without options, parsed or to be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub src_addr: Ipv4Addr,
    pub dst_addr: Ipv4Addr,
    pub protocol: IpProtocol,
    /// The length of the payload (the total length less the header).
    pub payload_len: u16,
    pub ttl: u8,
    pub dscp: u8,
    pub ecn: u8,
}

impl Ipv4Repr {
    pub const HEADER_LEN: usize = MIN_HEADER_LEN;

    /// The header of a checked packet (its options are not kept).
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>) -> Self {
        Ipv4Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: packet.payload().len() as u16,
            ttl: packet.ttl(),
            dscp: packet.dscp(),
            ecn: packet.ecn(),
        }
    }

    /// Writes a 20-byte header with don't-fragment, identification 0 and its checksum.
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Ipv4Packet<T>) {
        packet.set_version_and_header_len(MIN_HEADER_LEN);
        packet.set_dscp_ecn(self.dscp, self.ecn);
        packet.set_total_len(self.payload_len.saturating_add(MIN_HEADER_LEN as u16));
        packet.set_ident(0);
        packet.set_dont_frag_unfragmented();
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 45 00 00 73 00 00 40 00 40 11 b8 61 c0 a8 00 01 c0 a8 00 c7 and 3 payload bytes + padding.
    const PACKET: [u8; 25] = [
        0x45, 0x00, 0x00, 0x17, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7, 1, 2, 3, 0, 0,
    ];

    #[test]
    fn fields_read_and_a_repr_emits_the_same_header() {
        let mut b = PACKET;
        Ipv4Packet::new_unchecked(&mut b[..]).fill_checksum();
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!((p.version(), p.header_len(), p.total_len()), (4, 20, 23));
        assert_eq!(p.protocol(), IpProtocol::Udp);
        assert!(p.dont_frag() && !p.more_frags() && !p.is_fragment());
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(192, 168, 0, 199));
        assert_eq!(p.payload(), &[1, 2, 3], "padding is not payload");
        assert!(p.options().is_empty());
        let repr = Ipv4Repr::parse(&p);
        let mut out = [0u8; 25];
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut out[..]));
        out[20..].copy_from_slice(&b[20..]);
        assert_eq!(out, b);
    }

    #[test]
    fn options_count_in_the_header_length() {
        let mut b = [0u8; 28];
        b[..20].copy_from_slice(&PACKET[..20]);
        b[0] = 0x46;
        b[2..4].copy_from_slice(&28u16.to_be_bytes());
        b[20..24].copy_from_slice(&[0x94, 0x04, 0, 0]); // router alert
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.options(), &[0x94, 0x04, 0, 0]);
        assert_eq!(p.payload().len(), 4);
    }

    #[test]
    fn bad_lengths_are_refused_in_order() {
        let ok = PACKET;
        assert_eq!(
            Ipv4Packet::new_checked(&ok[..19]).unwrap_err(),
            Error::Truncated
        );
        let mut v = ok;
        v[0] = 0x65;
        assert_eq!(Ipv4Packet::new_checked(&v[..]).unwrap_err(), Error::Version);
        v[0] = 0x44;
        assert_eq!(
            Ipv4Packet::new_checked(&v[..]).unwrap_err(),
            Error::Malformed
        );
        v[0] = 0x4f;
        assert_eq!(
            Ipv4Packet::new_checked(&v[..]).unwrap_err(),
            Error::Truncated
        );
        let mut t = ok;
        t[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&t[..]).unwrap_err(),
            Error::Malformed
        );
        t[2..4].copy_from_slice(&26u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&t[..]).unwrap_err(),
            Error::Truncated
        );
        let mut f = ok;
        f[7] = 1;
        assert!(Ipv4Packet::new_checked(&f[..]).unwrap().is_fragment());
        assert_eq!(Ipv4Packet::new_checked(&f[..]).unwrap().frag_offset(), 8);
    }

    #[test]
    fn decrementing_the_ttl_keeps_the_checksum_right() {
        let mut b = PACKET;
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.fill_checksum();
        for ttl in (0..64).rev() {
            assert_eq!(p.decrement_ttl(), ttl);
            assert!(p.verify_checksum(), "ttl {ttl}");
        }
    }
}
