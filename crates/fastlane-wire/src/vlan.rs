//! 802.1Q / 802.1ad VLAN tags: the four bytes after a tag's TPID (which is the EtherType field
//! before them). QinQ is two tags in a row; [`network_layer`] walks both.

use crate::ethernet::{self, EtherType, EthernetFrame};
use crate::{be16, set_be16, Error, Result};

/// Tag control information and the EtherType that follows.
pub const TAG_LEN: usize = 4;

/// A view over a VLAN tag and what follows it: `[TCI][EtherType][payload...]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VlanTag<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VlanTag<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        VlanTag { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < TAG_LEN {
            return Err(Error::Truncated);
        }
        Ok(VlanTag { buffer })
    }

    /// Priority code point (3 bits).
    #[inline]
    pub fn pcp(&self) -> u8 {
        self.buffer.as_ref()[0] >> 5
    }

    /// Drop eligible indicator.
    #[inline]
    pub fn dei(&self) -> bool {
        self.buffer.as_ref()[0] & 0x10 != 0
    }

    /// VLAN identifier (12 bits).
    #[inline]
    pub fn vid(&self) -> u16 {
        be16(self.buffer.as_ref(), 0) & 0x0fff
    }

    /// The EtherType of what follows the tag (another tag, in QinQ).
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(be16(self.buffer.as_ref(), 2))
    }

    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[TAG_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VlanTag<T> {
    #[inline]
    pub fn set_pcp(&mut self, pcp: u8) {
        let b = self.buffer.as_mut();
        b[0] = (b[0] & 0x1f) | (pcp << 5);
    }

    #[inline]
    pub fn set_dei(&mut self, dei: bool) {
        let b = self.buffer.as_mut();
        b[0] = (b[0] & !0x10) | (u8::from(dei) << 4);
    }

    #[inline]
    pub fn set_vid(&mut self, vid: u16) {
        let b = self.buffer.as_mut();
        let tci = (be16(b, 0) & 0xf000) | (vid & 0x0fff);
        set_be16(b, 0, tci);
    }

    #[inline]
    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        set_be16(self.buffer.as_mut(), 2, ethertype.into());
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[TAG_LEN..]
    }
}

impl<'a> VlanTag<&'a [u8]> {
    /// [`payload`](VlanTag::payload), borrowed from the buffer rather than from the view.
    #[inline]
    pub fn into_payload(self) -> &'a [u8] {
        &self.buffer[TAG_LEN..]
    }
}

/// Where a frame's network layer starts, past up to two VLAN tags (QinQ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkLayer {
    /// The EtherType of the network-layer packet (after the tags).
    pub ethertype: EtherType,
    /// Its offset in the frame.
    pub offset: usize,
    /// The VLAN identifiers, outer first; `None` where there is no tag.
    pub vids: [Option<u16>; 2],
}

/// Walks a frame's Ethernet header and up to two VLAN tags. A third tag is left as the
/// network-layer EtherType (`Vlan`/`QinQ`) for the caller to refuse.
#[inline]
pub fn network_layer(frame: &[u8]) -> Result<NetworkLayer> {
    let eth = EthernetFrame::new_checked(frame)?;
    let mut layer = NetworkLayer {
        ethertype: eth.ethertype(),
        offset: ethernet::HEADER_LEN,
        vids: [None; 2],
    };
    for vid in &mut layer.vids {
        if !layer.ethertype.is_vlan() {
            break;
        }
        let tag = VlanTag::new_checked(&frame[layer.offset..])?;
        *vid = Some(tag.vid());
        layer.ethertype = tag.ethertype();
        layer.offset += TAG_LEN;
    }
    Ok(layer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_fields_read_and_write() {
        let mut b = [0xa0, 0x07, 0x08, 0x00, 0x45];
        let t = VlanTag::new_checked(&b[..]).unwrap();
        assert_eq!((t.pcp(), t.dei(), t.vid()), (5, false, 7));
        assert_eq!(t.ethertype(), EtherType::Ipv4);
        assert_eq!(t.payload(), &[0x45]);
        let mut t = VlanTag::new_unchecked(&mut b[..]);
        t.set_vid(0xfff);
        t.set_dei(true);
        t.set_pcp(1);
        t.set_ethertype(EtherType::Ipv6);
        assert_eq!(b, [0x3f, 0xff, 0x86, 0xdd, 0x45]);
        assert_eq!(VlanTag::new_checked(&b[..3]).unwrap_err(), Error::Truncated);
    }

    #[test]
    fn qinq_walks_two_tags_and_stops_at_a_third() {
        let mut f = [0u8; 14 + 4 + 4 + 4 + 2];
        f[12..14].copy_from_slice(&[0x88, 0xa8]);
        f[14..18].copy_from_slice(&[0x00, 0x64, 0x81, 0x00]);
        f[18..22].copy_from_slice(&[0x00, 0x0a, 0x86, 0xdd]);
        let l = network_layer(&f).unwrap();
        assert_eq!(l.ethertype, EtherType::Ipv6);
        assert_eq!(l.offset, 22);
        assert_eq!(l.vids, [Some(100), Some(10)]);
        f[20..22].copy_from_slice(&[0x81, 0x00]);
        assert_eq!(network_layer(&f).unwrap().ethertype, EtherType::Vlan);
        assert_eq!(network_layer(&f[..20]).unwrap_err(), Error::Truncated);
        let plain = network_layer(&f[..14]);
        assert_eq!(plain.unwrap_err(), Error::Truncated, "the tag is missing");
    }
}
