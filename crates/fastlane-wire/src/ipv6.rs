//! IPv6 fixed headers (RFC 8200) and a walk over their extension headers.

use core::net::Ipv6Addr;

use crate::checksum::PseudoHeader;
use crate::ip::IpProtocol;
use crate::{be16, be32, set_be16, set_be32, Error, Result};

/// The length of the fixed header.
pub const HEADER_LEN: usize = 40;
/// Where the source and destination addresses are, together (a flow key).
pub const ADDRS: core::ops::Range<usize> = 8..40;

/// A view over an IPv6 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    /// Checks, in this order: 40 bytes present (else `Truncated`), version 6 (`Version`), the
    /// payload length within the buffer (`Truncated`). The buffer may run past the payload.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let len = buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let p = Ipv6Packet { buffer };
        if p.version() != 6 {
            return Err(Error::Version);
        }
        if HEADER_LEN + p.payload_len() as usize > len {
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

    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (be16(self.buffer.as_ref(), 0) >> 4) as u8
    }

    #[inline]
    pub fn flow_label(&self) -> u32 {
        be32(self.buffer.as_ref(), 0) & 0x000f_ffff
    }

    #[inline]
    pub fn payload_len(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }

    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(self.next_header_raw())
    }

    /// The next header as a number, for table lookups.
    #[inline]
    pub fn next_header_raw(&self) -> u8 {
        self.buffer.as_ref()[6]
    }

    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[7]
    }

    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.addr_bytes(8))
    }

    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.addr_bytes(24))
    }

    #[inline]
    fn addr_bytes(&self, at: usize) -> [u8; 16] {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[at..at + 16]);
        a
    }

    /// Source and destination address bytes, as one slice (a flow key).
    #[inline]
    pub fn addrs_bytes(&self) -> &[u8] {
        &self.buffer.as_ref()[ADDRS]
    }

    /// The pseudo-header for this packet's upper layer.
    #[inline]
    pub fn pseudo_header(&self) -> PseudoHeader {
        PseudoHeader::v6(&self.src_addr(), &self.dst_addr())
    }

    /// The bytes after the fixed header, up to the payload length (extension headers included).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..HEADER_LEN + self.payload_len() as usize]
    }

    /// The extension headers of a checked packet, in order.
    #[inline]
    pub fn extension_headers(&self) -> ExtensionHeaders<'_> {
        ExtensionHeaders {
            rest: self.payload(),
            offset: HEADER_LEN,
            next: self.next_header(),
            failed: false,
        }
    }

    /// The upper-layer protocol and its offset from the start of the packet, past every
    /// extension header. A chain that ends in ESP or "no next header" gives that protocol.
    pub fn upper_layer(&self) -> Result<(IpProtocol, usize)> {
        let mut walk = self.extension_headers();
        for header in &mut walk {
            header?;
        }
        Ok((walk.next, walk.offset))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Sets version 6, the traffic class and the flow label.
    #[inline]
    pub fn set_version_class_flow(&mut self, traffic_class: u8, flow_label: u32) {
        let word = (6u32 << 28) | (u32::from(traffic_class) << 20) | (flow_label & 0x000f_ffff);
        set_be32(self.buffer.as_mut(), 0, word);
    }

    #[inline]
    pub fn set_payload_len(&mut self, len: u16) {
        set_be16(self.buffer.as_mut(), 4, len);
    }

    #[inline]
    pub fn set_next_header(&mut self, next: IpProtocol) {
        self.buffer.as_mut()[6] = next.into();
    }

    #[inline]
    pub fn set_hop_limit(&mut self, hop_limit: u8) {
        self.buffer.as_mut()[7] = hop_limit;
    }

    #[inline]
    pub fn set_src_addr(&mut self, addr: &Ipv6Addr) {
        self.buffer.as_mut()[8..24].copy_from_slice(&addr.octets());
    }

    #[inline]
    pub fn set_dst_addr(&mut self, addr: &Ipv6Addr) {
        self.buffer.as_mut()[24..40].copy_from_slice(&addr.octets());
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = HEADER_LEN + self.payload_len() as usize;
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

impl<'a> Ipv6Packet<&'a [u8]> {
    /// [`payload`](Ipv6Packet::payload), borrowed from the buffer rather than from the view.
    #[inline]
    pub fn into_payload(self) -> &'a [u8] {
        &self.buffer[HEADER_LEN..HEADER_LEN + self.payload_len() as usize]
    }
}

/// One extension header of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionHeader<'a> {
    /// What this header is (the previous header's next header field).
    pub kind: IpProtocol,
    /// Its offset from the start of the IPv6 packet.
    pub offset: usize,
    /// The whole header, its next header and length bytes included.
    pub bytes: &'a [u8],
}

/// Iterates the extension headers; yields `Err` once (and then ends) on a header that does not
/// fit the payload. Stops before ESP, whose length is not in its header.
#[derive(Debug, Clone)]
pub struct ExtensionHeaders<'a> {
    rest: &'a [u8],
    offset: usize,
    next: IpProtocol,
    failed: bool,
}

impl<'a> Iterator for ExtensionHeaders<'a> {
    type Item = Result<ExtensionHeader<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        let kind = self.next;
        if self.failed || !kind.is_ipv6_extension() || kind == IpProtocol::Esp {
            return None;
        }
        let len = match (kind, self.rest) {
            // The fragment header has a fixed length; its second byte is reserved.
            (IpProtocol::Ipv6Frag, [_, ..]) => 8,
            // AH counts 4-byte units, less 2 (RFC 4302).
            (IpProtocol::Ah, [_, units, ..]) => (usize::from(*units) + 2) * 4,
            (_, [_, units, ..]) => (usize::from(*units) + 1) * 8,
            _ => usize::MAX,
        };
        if len > self.rest.len() {
            self.failed = true;
            return Some(Err(Error::Truncated));
        }
        let (bytes, rest) = self.rest.split_at(len);
        let header = ExtensionHeader {
            kind,
            offset: self.offset,
            bytes,
        };
        self.next = IpProtocol::from(bytes[0]);
        self.offset += len;
        self.rest = rest;
        Some(Ok(header))
    }
}

/// An IPv6 fixed header, parsed or to be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Repr {
    pub src_addr: Ipv6Addr,
    pub dst_addr: Ipv6Addr,
    pub next_header: IpProtocol,
    pub payload_len: u16,
    pub hop_limit: u8,
    pub traffic_class: u8,
    pub flow_label: u32,
}

impl Ipv6Repr {
    pub const HEADER_LEN: usize = HEADER_LEN;

    #[inline]
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv6Packet<T>) -> Self {
        Ipv6Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: packet.payload_len(),
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
        }
    }

    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Ipv6Packet<T>) {
        packet.set_version_class_flow(self.traffic_class, self.flow_label);
        packet.set_payload_len(self.payload_len);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(&self.src_addr);
        packet.set_dst_addr(&self.dst_addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn packet(next: u8, payload: &[u8]) -> Vec<u8> {
        let repr = Ipv6Repr {
            src_addr: "fd00::1".parse().unwrap(),
            dst_addr: "fd00::2".parse().unwrap(),
            next_header: IpProtocol::from(next),
            payload_len: payload.len() as u16,
            hop_limit: 64,
            traffic_class: 0xb8,
            flow_label: 0x12345,
        };
        let mut b = std::vec![0u8; HEADER_LEN];
        repr.emit(&mut Ipv6Packet::new_unchecked(&mut b[..]));
        b.extend_from_slice(payload);
        b
    }

    #[test]
    fn fields_read_back_what_a_repr_wrote() {
        let b = packet(17, &[1, 2, 3, 4, 5, 6, 7, 8]);
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            (p.version(), p.traffic_class(), p.flow_label()),
            (6, 0xb8, 0x12345)
        );
        assert_eq!((p.payload_len(), p.hop_limit()), (8, 64));
        assert_eq!(p.next_header(), IpProtocol::Udp);
        assert_eq!(p.src_addr(), "fd00::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.upper_layer(), Ok((IpProtocol::Udp, 40)));
        assert_eq!(p.extension_headers().count(), 0);
        assert_eq!(Ipv6Repr::parse(&p).flow_label, 0x12345);
    }

    #[test]
    fn extension_headers_are_walked_to_the_upper_layer() {
        // Hop-by-hop (8 bytes) -> fragment (8) -> destination options (16) -> TCP.
        let mut payload = std::vec![44, 0, 0, 0, 0, 0, 0, 0];
        payload.extend_from_slice(&[60, 0, 0, 1, 0, 0, 0, 7]);
        payload.extend_from_slice(&[6, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        payload.extend_from_slice(&[0; 20]);
        let b = packet(0, &payload);
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        let kinds: Vec<_> = p.extension_headers().map(|h| h.unwrap().kind).collect();
        assert_eq!(
            kinds,
            [
                IpProtocol::HopByHop,
                IpProtocol::Ipv6Frag,
                IpProtocol::Ipv6Opts
            ]
        );
        assert_eq!(p.upper_layer(), Ok((IpProtocol::Tcp, 40 + 32)));
        // A destination-options header claiming more than the payload holds.
        let b = packet(60, &[6, 9, 0, 0, 0, 0, 0, 0]);
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.upper_layer(), Err(Error::Truncated));
        let mut walk = p.extension_headers();
        assert_eq!(walk.next(), Some(Err(Error::Truncated)));
        assert_eq!(walk.next(), None);
        // ESP ends the walk.
        let b = packet(50, &[0; 8]);
        assert_eq!(
            Ipv6Packet::new_checked(&b[..]).unwrap().upper_layer(),
            Ok((IpProtocol::Esp, 40))
        );
    }

    #[test]
    fn short_and_wrong_version_packets_are_refused() {
        let b = packet(17, &[0; 8]);
        assert_eq!(
            Ipv6Packet::new_checked(&b[..39]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            Ipv6Packet::new_checked(&b[..47]).unwrap_err(),
            Error::Truncated
        );
        let mut v = b.clone();
        v[0] = 0x40;
        assert_eq!(Ipv6Packet::new_checked(&v[..]).unwrap_err(), Error::Version);
    }
}
