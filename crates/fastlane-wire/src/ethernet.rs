//! Ethernet II frames (without the FCS).

use crate::{be16, set_be16, Error, Result};

/// The length of an Ethernet II header: two addresses and the EtherType.
pub const HEADER_LEN: usize = 14;

crate::wire_enum! {
    /// The EtherType of a frame, or of the payload of a VLAN tag.
    pub enum EtherType(u16) {
        Ipv4 = 0x0800,
        Arp = 0x0806,
        /// An 802.1Q VLAN tag (C-tag).
        Vlan = 0x8100,
        Ipv6 = 0x86dd,
        /// An 802.1ad service tag (S-tag, QinQ's outer tag).
        QinQ = 0x88a8,
    }
}

impl EtherType {
    /// Whether a VLAN tag follows (802.1Q or 802.1ad).
    #[inline]
    pub fn is_vlan(self) -> bool {
        matches!(self, EtherType::Vlan | EtherType::QinQ)
    }
}

/// A view over an Ethernet II frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// A view whose length the caller has checked to be at least [`HEADER_LEN`].
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }

    /// A view over `buffer`, or [`Error::Truncated`] if it is shorter than a header.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(EthernetFrame { buffer })
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn dst_addr(&self) -> [u8; 6] {
        let b = self.buffer.as_ref();
        [b[0], b[1], b[2], b[3], b[4], b[5]]
    }

    #[inline]
    pub fn src_addr(&self) -> [u8; 6] {
        let b = self.buffer.as_ref();
        [b[6], b[7], b[8], b[9], b[10], b[11]]
    }

    #[inline]
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(self.ethertype_raw())
    }

    /// The EtherType as a number, for table lookups.
    #[inline]
    pub fn ethertype_raw(&self) -> u16 {
        be16(self.buffer.as_ref(), 12)
    }

    /// The bytes after the header (a VLAN tag, or the network-layer packet).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    #[inline]
    pub fn set_dst_addr(&mut self, addr: [u8; 6]) {
        self.buffer.as_mut()[..6].copy_from_slice(&addr);
    }

    #[inline]
    pub fn set_src_addr(&mut self, addr: [u8; 6]) {
        self.buffer.as_mut()[6..12].copy_from_slice(&addr);
    }

    #[inline]
    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        set_be16(self.buffer.as_mut(), 12, ethertype.into());
    }

    /// Exchanges the source and destination addresses in place (a reflector's rewrite).
    #[inline(always)]
    pub fn swap_addrs(&mut self) {
        let (dst, rest) = self.buffer.as_mut().split_at_mut(6);
        dst.swap_with_slice(&mut rest[..6]);
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

impl<'a> EthernetFrame<&'a [u8]> {
    /// [`payload`](EthernetFrame::payload), borrowed from the buffer rather than from the view.
    #[inline]
    pub fn into_payload(self) -> &'a [u8] {
        &self.buffer[HEADER_LEN..]
    }
}

/// An Ethernet II header, parsed or to be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetRepr {
    pub src_addr: [u8; 6],
    pub dst_addr: [u8; 6],
    pub ethertype: EtherType,
}

impl EthernetRepr {
    pub const HEADER_LEN: usize = HEADER_LEN;

    #[inline]
    pub fn parse<T: AsRef<[u8]>>(frame: &EthernetFrame<T>) -> Self {
        EthernetRepr {
            src_addr: frame.src_addr(),
            dst_addr: frame.dst_addr(),
            ethertype: frame.ethertype(),
        }
    }

    /// Writes the header into the first [`HEADER_LEN`] bytes of `frame`.
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut EthernetFrame<T>) {
        frame.set_dst_addr(self.dst_addr);
        frame.set_src_addr(self.src_addr);
        frame.set_ethertype(self.ethertype);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: [u8; 16] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, 0xaa, 0xbb];

    #[test]
    fn fields_read_and_write_back() {
        let f = EthernetFrame::new_checked(&FRAME[..]).unwrap();
        assert_eq!(f.dst_addr(), [2, 0, 0, 0, 0, 2]);
        assert_eq!(f.src_addr(), [2, 0, 0, 0, 0, 1]);
        assert_eq!(f.ethertype(), EtherType::Ipv4);
        assert_eq!(f.payload(), &[0xaa, 0xbb]);
        let repr = EthernetRepr::parse(&f);
        let mut out = [0u8; 16];
        let mut g = EthernetFrame::new_unchecked(&mut out[..]);
        repr.emit(&mut g);
        g.payload_mut().copy_from_slice(&[0xaa, 0xbb]);
        assert_eq!(out, FRAME);
    }

    #[test]
    fn swap_exchanges_the_addresses_only() {
        let mut b = FRAME;
        EthernetFrame::new_unchecked(&mut b[..]).swap_addrs();
        assert_eq!(&b[..6], &FRAME[6..12]);
        assert_eq!(&b[6..12], &FRAME[..6]);
        assert_eq!(&b[12..], &FRAME[12..]);
    }

    #[test]
    fn short_frames_and_unknown_types() {
        assert_eq!(
            EthernetFrame::new_checked(&FRAME[..13]).unwrap_err(),
            Error::Truncated
        );
        let mut b = FRAME;
        b[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
        let f = EthernetFrame::new_checked(&b[..]).unwrap();
        assert_eq!(f.ethertype(), EtherType::Unknown(0x88b5));
        assert_eq!(u16::from(f.ethertype()), 0x88b5);
        assert!(EtherType::QinQ.is_vlan() && !EtherType::Ipv6.is_vlan());
    }
}
