//! ICMP for IPv6 (RFC 4443), neighbour discovery's message types named (RFC 4861).

use crate::checksum::{self, PseudoHeader};
use crate::ip::IpProtocol;
use crate::{be16, set_be16, Error, Result};

/// Type, code, checksum and the four bytes that follow.
pub const HEADER_LEN: usize = 8;

crate::wire_enum! {
    pub enum Message(u8) {
        DstUnreachable = 1,
        PacketTooBig = 2,
        TimeExceeded = 3,
        ParamProblem = 4,
        EchoRequest = 128,
        EchoReply = 129,
        RouterSolicit = 133,
        RouterAdvert = 134,
        NeighborSolicit = 135,
        NeighborAdvert = 136,
        Redirect = 137,
    }
}

impl Message {
    /// Error messages are types 0–127 (RFC 4443 §2.1).
    #[inline]
    pub fn is_error(self) -> bool {
        u8::from(self) < 128
    }
}

/// A view over an ICMPv6 message: the whole upper-layer payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv6Packet { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Icmpv6Packet { buffer })
    }

    #[inline]
    pub fn msg_type(&self) -> Message {
        Message::from(self.buffer.as_ref()[0])
    }

    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[1]
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    /// Echo identifier (bytes 4–5).
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }

    /// Echo sequence number (bytes 6–7).
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        be16(self.buffer.as_ref(), 6)
    }

    /// The four type-specific bytes after the checksum (MTU, pointer, flags...).
    #[inline]
    pub fn rest_of_header(&self) -> &[u8] {
        &self.buffer.as_ref()[4..HEADER_LEN]
    }

    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    #[inline]
    pub fn verify_checksum(&self, pseudo: &PseudoHeader) -> bool {
        let bytes = self.buffer.as_ref();
        let header = pseudo.sum(IpProtocol::Icmpv6, bytes.len() as u32);
        checksum::add(header, checksum::sum(bytes)) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    #[inline]
    pub fn set_msg_type(&mut self, message: Message) {
        self.buffer.as_mut()[0] = message.into();
    }

    #[inline]
    pub fn set_msg_code(&mut self, code: u8) {
        self.buffer.as_mut()[1] = code;
    }

    #[inline]
    pub fn set_checksum(&mut self, checksum: u16) {
        set_be16(self.buffer.as_mut(), 2, checksum);
    }

    #[inline]
    pub fn set_echo_ident(&mut self, ident: u16) {
        set_be16(self.buffer.as_mut(), 4, ident);
    }

    #[inline]
    pub fn set_echo_seq_no(&mut self, seq: u16) {
        set_be16(self.buffer.as_mut(), 6, seq);
    }

    /// Computes the checksum over the pseudo-header and the whole message.
    #[inline]
    pub fn fill_checksum(&mut self, pseudo: &PseudoHeader) {
        self.set_checksum(0);
        let bytes = self.buffer.as_ref();
        let header = pseudo.sum(IpProtocol::Icmpv6, bytes.len() as u32);
        let c = checksum::finish(checksum::add(header, checksum::sum(bytes)));
        self.set_checksum(c);
    }

    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv6Addr;

    #[test]
    fn an_echo_request_checksums_to_its_known_value() {
        let (s, d): (Ipv6Addr, Ipv6Addr) = ("fe80::1".parse().unwrap(), "fe80::2".parse().unwrap());
        let pseudo = PseudoHeader::v6(&s, &d);
        let mut b = [128, 0, 0, 0, 0x12, 0x34, 0, 1, b'a', b'b', b'c', b'd'];
        let mut p = Icmpv6Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum(&pseudo);
        // Computed independently (Python, ones' complement sum with the IPv6 pseudo-header).
        assert_eq!(p.checksum(), KNOWN);
        assert!(p.verify_checksum(&pseudo));
        assert!(!p.verify_checksum(&PseudoHeader::v6(&d, &"fe80::3".parse().unwrap())));
        assert_eq!(p.msg_type(), Message::EchoRequest);
        assert!(!p.msg_type().is_error() && Message::PacketTooBig.is_error());
        assert_eq!(p.data(), b"abcd");
        assert_eq!(
            Icmpv6Packet::new_checked(&b[..7]).unwrap_err(),
            Error::Truncated
        );
    }

    const KNOWN: u16 = 0xabb8;
}
