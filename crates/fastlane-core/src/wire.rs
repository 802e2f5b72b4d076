//! Small helpers over Ethernet frames, for the built-in processors and for tests.

/// Swaps the destination and source MAC addresses of an Ethernet frame in place. Returns false
/// (and changes nothing) when the frame is shorter than two addresses.
#[inline(always)]
pub fn swap_macs(frame: &mut [u8]) -> bool {
    let Some(addrs) = frame.get_mut(..12) else {
        return false;
    };
    let (dst, src) = addrs.split_at_mut(6);
    dst.swap_with_slice(src);
    true
}

/// Frame builders for tests, shared by the crates of this workspace.
pub mod testing {
    use crate::classify::{ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETH_HLEN, IPPROTO_UDP};

    pub const DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
    pub const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];

    fn ethernet(ether_type: u16) -> Vec<u8> {
        let mut f = Vec::with_capacity(128);
        f.extend_from_slice(&DST_MAC);
        f.extend_from_slice(&SRC_MAC);
        f.extend_from_slice(&ether_type.to_be_bytes());
        f
    }

    /// An IPv4/UDP frame from 10.0.0.1:1234 to 10.0.0.2:`dst_port` with `payload` bytes.
    pub fn ipv4_udp(dst_port: u16, payload: usize) -> Vec<u8> {
        let mut f = ethernet(ETHERTYPE_IPV4);
        let total = (20 + 8 + payload) as u16;
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0x40, 0, 64, IPPROTO_UDP, 0, 0]);
        f.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        let sum = ipv4_checksum(&f[ETH_HLEN..ETH_HLEN + 20]);
        f[ETH_HLEN + 10..ETH_HLEN + 12].copy_from_slice(&sum.to_be_bytes());
        udp(&mut f, dst_port, payload);
        f
    }

    /// An IPv6/UDP frame from fd00::1 to fd00::2 port `dst_port` with `payload` bytes.
    pub fn ipv6_udp(dst_port: u16, payload: usize) -> Vec<u8> {
        let mut f = ethernet(ETHERTYPE_IPV6);
        f.extend_from_slice(&[0x60, 0, 0, 0]);
        f.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
        f.extend_from_slice(&[IPPROTO_UDP, 64]);
        for last in [1u8, 2] {
            f.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last]);
        }
        udp(&mut f, dst_port, payload);
        f
    }

    fn udp(f: &mut Vec<u8>, dst_port: u16, payload: usize) {
        f.extend_from_slice(&1234u16.to_be_bytes());
        f.extend_from_slice(&dst_port.to_be_bytes());
        f.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0]); // no checksum (allowed for IPv4 UDP; tests only)
        f.extend((0..payload).map(|i| i as u8));
    }

    pub fn ipv4_checksum(header: &[u8]) -> u16 {
        let mut sum: u32 = header
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32)
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_macs_swaps_and_refuses_short_frames() {
        let mut f = testing::ipv4_udp(9, 4);
        assert!(swap_macs(&mut f));
        assert_eq!(&f[..6], &testing::SRC_MAC);
        assert_eq!(&f[6..12], &testing::DST_MAC);
        let mut short = [1u8; 11];
        assert!(!swap_macs(&mut short));
        assert_eq!(short, [1u8; 11]);
    }
}
