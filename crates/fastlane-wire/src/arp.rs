//! ARP packets (RFC 826), read-only: the fast path hands ARP to the kernel, but may look.

use crate::{be16, Error, Result};

/// Hardware type, protocol type, their lengths and the operation.
pub const FIXED_LEN: usize = 8;

crate::wire_enum! {
    pub enum Operation(u16) {
        Request = 1,
        Reply = 2,
    }
}

/// A view over an ARP packet of any hardware and protocol address lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }

    /// Checks that the buffer holds the fixed part and the four addresses its lengths declare.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        if b.len() < FIXED_LEN {
            return Err(Error::Truncated);
        }
        let p = ArpPacket { buffer };
        if p.buffer.as_ref().len() < p.packet_len() {
            return Err(Error::Truncated);
        }
        Ok(p)
    }

    /// The packet's length: the fixed part and two address pairs.
    #[inline]
    pub fn packet_len(&self) -> usize {
        FIXED_LEN + 2 * (self.hardware_len() as usize + self.protocol_len() as usize)
    }

    #[inline]
    pub fn hardware_type(&self) -> u16 {
        be16(self.buffer.as_ref(), 0)
    }

    #[inline]
    pub fn protocol_type(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    #[inline]
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[4]
    }

    #[inline]
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[5]
    }

    #[inline]
    pub fn operation(&self) -> Operation {
        Operation::from(be16(self.buffer.as_ref(), 6))
    }

    fn field(&self, index: usize) -> &[u8] {
        let (h, p) = (self.hardware_len() as usize, self.protocol_len() as usize);
        let starts = [
            FIXED_LEN,
            FIXED_LEN + h,
            FIXED_LEN + h + p,
            FIXED_LEN + 2 * h + p,
        ];
        let lens = [h, p, h, p];
        &self.buffer.as_ref()[starts[index]..starts[index] + lens[index]]
    }

    #[inline]
    pub fn sender_hardware_addr(&self) -> &[u8] {
        self.field(0)
    }

    #[inline]
    pub fn sender_protocol_addr(&self) -> &[u8] {
        self.field(1)
    }

    #[inline]
    pub fn target_hardware_addr(&self) -> &[u8] {
        self.field(2)
    }

    #[inline]
    pub fn target_protocol_addr(&self) -> &[u8] {
        self.field(3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ethernet_ipv4_request_reads_back() {
        let p = [
            0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2,
        ];
        let a = ArpPacket::new_checked(&p[..]).unwrap();
        assert_eq!((a.hardware_type(), a.protocol_type()), (1, 0x0800));
        assert_eq!(a.operation(), Operation::Request);
        assert_eq!(a.sender_hardware_addr(), &[2, 0, 0, 0, 0, 1]);
        assert_eq!(a.sender_protocol_addr(), &[10, 0, 0, 1]);
        assert_eq!(a.target_hardware_addr(), &[0; 6]);
        assert_eq!(a.target_protocol_addr(), &[10, 0, 0, 2]);
        assert_eq!(a.packet_len(), 28);
        assert_eq!(
            ArpPacket::new_checked(&p[..27]).unwrap_err(),
            Error::Truncated
        );
        let mut odd = p;
        odd[7] = 9;
        assert_eq!(
            ArpPacket::new_checked(&odd[..]).unwrap().operation(),
            Operation::Unknown(9)
        );
    }
}
