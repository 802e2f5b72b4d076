//! ICMP for IPv4 (RFC 792).

use crate::checksum;
use crate::{be16, set_be16, Error, Result};

/// Type, code, checksum and the four bytes of "rest of header".
pub const HEADER_LEN: usize = 8;

crate::wire_enum! {
    pub enum Message(u8) {
        EchoReply = 0,
        DstUnreachable = 3,
        Redirect = 5,
        EchoRequest = 8,
        TimeExceeded = 11,
        ParamProblem = 12,
    }
}

/// A view over an ICMPv4 message: the whole IPv4 payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv4Packet { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Icmpv4Packet { buffer })
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

    /// Echo request/reply identifier (bytes 4–5).
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }

    /// Echo request/reply sequence number (bytes 6–7).
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        be16(self.buffer.as_ref(), 6)
    }

    /// The four type-specific bytes after the checksum.
    #[inline]
    pub fn rest_of_header(&self) -> &[u8] {
        &self.buffer.as_ref()[4..HEADER_LEN]
    }

    /// The bytes after the header (echo data, or the offending packet's header for errors).
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::verify(self.buffer.as_ref())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
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

    /// Computes the checksum over the whole message.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
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

    #[test]
    fn an_echo_request_checksums_to_its_known_value() {
        // Type 8, id 0x1234, seq 1, data "abcd"; the known value is computed independently.
        let mut b = [8, 0, 0, 0, 0x12, 0x34, 0, 1, b'a', b'b', b'c', b'd'];
        let mut p = Icmpv4Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum();
        assert_eq!(p.checksum(), 0x2104);
        assert!(p.verify_checksum());
        assert_eq!(p.msg_type(), Message::EchoRequest);
        assert_eq!((p.echo_ident(), p.echo_seq_no()), (0x1234, 1));
        assert_eq!(p.data(), b"abcd");
        p.set_msg_type(Message::EchoReply);
        assert!(!p.verify_checksum());
        assert_eq!(
            Icmpv4Packet::new_checked(&b[..7]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(Message::from(42), Message::Unknown(42));
    }
}
