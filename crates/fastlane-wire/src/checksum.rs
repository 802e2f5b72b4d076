//! The Internet checksum (RFC 1071): full computation over bytes and pseudo-headers, and the
//! incremental update of RFC 1624 for a header whose fields change.
//!
//! Sums here are ones' complement sums folded to 16 bits (not yet complemented); a checksum field
//! holds the complement of the sum. A correct header sums, checksum field included, to `0xffff`.

use core::net::{Ipv4Addr, Ipv6Addr};

use crate::ip::IpProtocol;

/// Folds a wide sum to 16 bits with end-around carry.
#[inline]
pub const fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The unfolded sum of `bytes` as big-endian 16-bit words (an odd last byte padded with zero).
#[inline]
pub fn sum_wide(bytes: &[u8]) -> u64 {
    let mut acc: u64 = 0;
    // 32-bit words into a 64-bit accumulator: no overflow below 2^34 bytes, and the big-endian
    // 16-bit word sum folds to the same value as the 32-bit word sum.
    let mut words = bytes.chunks_exact(4);
    for w in &mut words {
        acc += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    let rest = words.remainder();
    let mut tail = [0u8; 4];
    tail[..rest.len()].copy_from_slice(rest);
    acc + u64::from(u32::from_be_bytes(tail))
}

/// The folded ones' complement sum of `bytes`.
#[inline]
pub fn sum(bytes: &[u8]) -> u16 {
    fold(sum_wide(bytes))
}

/// Ones' complement addition of folded sums.
#[inline]
pub const fn add(a: u16, b: u16) -> u16 {
    fold(a as u64 + b as u64)
}

/// The checksum field value for data whose folded sum (with the field zero) is `sum`.
#[inline]
pub const fn finish(sum: u16) -> u16 {
    !sum
}

/// The checksum of `bytes` (with the checksum field zero, or left out).
#[inline]
pub fn checksum(bytes: &[u8]) -> u16 {
    finish(sum(bytes))
}

/// Whether `bytes`, checksum field included, carry a correct checksum.
#[inline]
pub fn verify(bytes: &[u8]) -> bool {
    sum(bytes) == 0xffff
}

/// RFC 1624 eqn. 3: the checksum after a 16-bit word of the covered data changed from `old` to
/// `new`: `HC' = ~(~HC + ~m + m')`. Equal to recomputing, except that data which becomes all zero
/// gets 0x0000 where recomputing gives 0xffff (the two zeros of ones' complement).
#[inline]
pub const fn update16(checksum: u16, old: u16, new: u16) -> u16 {
    !fold(!checksum as u64 + !old as u64 + new as u64)
}

/// [`update16`] for a 32-bit field (an address, a sequence number).
#[inline]
pub const fn update32(checksum: u16, old: u32, new: u32) -> u16 {
    let c = update16(checksum, (old >> 16) as u16, (new >> 16) as u16);
    update16(c, old as u16, new as u16)
}

/// [`update16`] for a run of bytes that starts at an even offset of the covered data and changes
/// from `old` to `new` (same length; an odd last byte is the high byte of its word).
#[inline]
pub fn update_bytes(checksum: u16, old: &[u8], new: &[u8]) -> u16 {
    debug_assert_eq!(old.len(), new.len());
    // ~(~HC + ~old + new) with the old words' complement summed as (0xffff * words - old).
    let acc = u64::from(!checksum) + sum_wide(new) + complement_wide(old);
    !fold(acc)
}

/// A value congruent (mod 0xffff) to the ones' complement sum of the complements of the 16-bit
/// words of `bytes`: `words * 0xffff - sum`, never negative since a folded sum is at most 0xffff.
#[inline]
fn complement_wide(bytes: &[u8]) -> u64 {
    let words = bytes.len().div_ceil(2) as u64;
    words * 0xffff - u64::from(sum(bytes))
}

/// The addresses of a TCP/UDP/ICMPv6 pseudo-header (RFC 768, RFC 8200 §8.1); the view adds the
/// protocol and its own length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PseudoHeader {
    /// The unfolded sum of the two addresses.
    addresses: u64,
    ipv6: bool,
}

impl PseudoHeader {
    #[inline]
    pub fn v4(src: Ipv4Addr, dst: Ipv4Addr) -> Self {
        PseudoHeader {
            addresses: u64::from(src.to_bits()) + u64::from(dst.to_bits()),
            ipv6: false,
        }
    }

    #[inline]
    pub fn v6(src: &Ipv6Addr, dst: &Ipv6Addr) -> Self {
        PseudoHeader {
            addresses: sum_wide(&src.octets()) + sum_wide(&dst.octets()),
            ipv6: true,
        }
    }

    /// Whether the addresses are IPv6 (where a UDP checksum is mandatory).
    #[inline]
    pub fn is_ipv6(&self) -> bool {
        self.ipv6
    }

    /// The folded sum of the pseudo-header for `protocol` and an upper-layer length of `len`.
    #[inline]
    pub fn sum(&self, protocol: IpProtocol, len: u32) -> u16 {
        fold(self.addresses + u64::from(u8::from(protocol)) + u64::from(len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// 16-bit words summed the textbook way, for comparing against.
    fn reference_sum(bytes: &[u8]) -> u16 {
        let mut s: u32 = 0;
        for c in bytes.chunks(2) {
            s += u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]));
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    /// A deterministic xorshift generator: the property tests need no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    #[test]
    fn rfc1071_example_sums_to_its_published_value() {
        // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&data), 0xddf2);
        assert_eq!(checksum(&data), 0x220d);
    }

    #[test]
    fn an_ipv4_header_checksum_matches_its_known_value() {
        // 45 00 00 73 00 00 40 00 40 11 [b8 61] c0 a8 00 01 c0 a8 00 c7.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&h), 0xb861);
        h[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert!(verify(&h));
        h[0] = 0x46;
        assert!(!verify(&h));
    }

    #[test]
    fn rfc1624_example_gives_positive_zero() {
        // RFC 1624 §4: HC = dd2f, m = 5555, m' = 3285 gives 0000 (eqn. 2 would give ffff).
        assert_eq!(update16(0xdd2f, 0x5555, 0x3285), 0x0000);
    }

    #[test]
    fn the_wide_sum_equals_the_textbook_sum_at_every_length() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for len in 0..200 {
            let data = rng.bytes(len);
            assert_eq!(sum(&data), reference_sum(&data), "{len} bytes");
        }
        assert_eq!(sum(&[0xff; 4096]), 0xffff);
    }

    #[test]
    fn incremental_updates_equal_recomputing() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for case in 0..20_000 {
            let len = 4 + (rng.next() % 60) as usize * 2;
            let mut data = rng.bytes(len);
            let before = checksum(&data);
            // Change a random even-aligned run of 2, 4 or more bytes.
            let at = (rng.next() as usize % (len / 2)) * 2;
            let run = (2 + (rng.next() as usize % 8) * 2).min(len - at);
            let old: Vec<u8> = data[at..at + run].to_vec();
            let new = rng.bytes(run);
            data[at..at + run].copy_from_slice(&new);
            let expected = checksum(&data);
            assert_eq!(update_bytes(before, &old, &new), expected, "case {case}");
            if run == 2 {
                let (o, n) = (
                    u16::from_be_bytes([old[0], old[1]]),
                    u16::from_be_bytes([new[0], new[1]]),
                );
                assert_eq!(update16(before, o, n), expected, "case {case}");
            }
            if run == 4 {
                let o = u32::from_be_bytes([old[0], old[1], old[2], old[3]]);
                let n = u32::from_be_bytes([new[0], new[1], new[2], new[3]]);
                assert_eq!(update32(before, o, n), expected, "case {case}");
            }
        }
    }

    #[test]
    fn incremental_update_to_all_zero_data_is_the_other_zero() {
        let data = [0x12, 0x34];
        let c = checksum(&data);
        assert_eq!(checksum(&[0, 0]), 0xffff);
        assert_eq!(update16(c, 0x1234, 0), 0x0000);
    }

    #[test]
    fn pseudo_headers_sum_like_their_bytes() {
        let (s, d) = (Ipv4Addr::new(10, 1, 2, 3), Ipv4Addr::new(192, 168, 200, 9));
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&s.octets());
        bytes.extend_from_slice(&d.octets());
        bytes.extend_from_slice(&[0, 17, 0x01, 0x02]);
        assert_eq!(
            PseudoHeader::v4(s, d).sum(IpProtocol::Udp, 0x0102),
            sum(&bytes)
        );
        let (s6, d6): (Ipv6Addr, Ipv6Addr) = (
            "fd00::1".parse().unwrap(),
            "2001:db8::ff:2".parse().unwrap(),
        );
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&s6.octets());
        bytes.extend_from_slice(&d6.octets());
        bytes.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 58]);
        assert_eq!(
            PseudoHeader::v6(&s6, &d6).sum(IpProtocol::Icmpv6, 0x10000),
            sum(&bytes)
        );
    }
}
