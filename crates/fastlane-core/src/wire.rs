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

/// A hash of a frame's flow: addresses, protocol and ports for IPv4/IPv6 UDP and TCP, addresses
/// and protocol for other IP, the MAC addresses otherwise. Frames of one flow always hash alike,
/// so spreading by it keeps each flow's packets in order. Never reads past the frame.
pub fn flow_hash(frame: &[u8]) -> u32 {
    const ETH: usize = 14;
    let ether_type = frame
        .get(12..14)
        .map_or(0, |t| u16::from_be_bytes([t[0], t[1]]));
    // (protocol byte, addresses, L4 protocol and offset)
    let (proto, addresses, l4) = match ether_type {
        0x0800 if frame.len() >= ETH + 20 => {
            let ihl = (frame[ETH] & 0x0f) as usize * 4;
            let fragment = u16::from_be_bytes([frame[ETH + 6], frame[ETH + 7]]) & 0x3fff != 0;
            // Fragments carry no ports: hash them by addresses so they stay with each other.
            let l4 = (!fragment && ihl >= 20).then_some((frame[ETH + 9], ETH + ihl));
            (&frame[ETH + 9..ETH + 10], &frame[ETH + 12..ETH + 20], l4)
        }
        0x86dd if frame.len() >= ETH + 40 => (
            &frame[ETH + 6..ETH + 7],
            &frame[ETH + 8..ETH + 40],
            Some((frame[ETH + 6], ETH + 40)),
        ),
        _ => (&frame[..0], frame.get(..12).unwrap_or(frame), None),
    };
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut mix = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    };
    mix(proto);
    mix(addresses);
    if let Some((6 | 17, at)) = l4 {
        if let Some(ports) = frame.get(at..at + 4) {
            mix(ports);
        }
    }
    (h ^ (h >> 32)) as u32
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
    fn a_flow_hashes_alike_and_flows_spread() {
        let a = testing::ipv4_udp(9000, 10);
        let mut a_longer = testing::ipv4_udp(9000, 300);
        assert_eq!(
            flow_hash(&a),
            flow_hash(&a_longer),
            "payload does not matter"
        );
        a_longer[14 + 20] = 0x99; // another source port
        assert_ne!(flow_hash(&a), flow_hash(&a_longer));
        let spread: std::collections::HashSet<u32> = (0..64u16)
            .map(|p| flow_hash(&testing::ipv4_udp(1000 + p, 10)) % 4)
            .collect();
        assert_eq!(spread.len(), 4, "64 flows reach all of 4 workers");
        assert_ne!(
            flow_hash(&testing::ipv6_udp(9000, 10)),
            flow_hash(&testing::ipv6_udp(9001, 10))
        );
        for frame in [a, testing::ipv6_udp(9000, 10)] {
            for cut in 0..frame.len() {
                let _ = flow_hash(&frame[..cut]);
            }
        }
    }

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
