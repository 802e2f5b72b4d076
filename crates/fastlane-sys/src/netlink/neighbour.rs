//! Neighbour-table messages (`RTM_NEWNEIGH`, `RTM_DELNEIGH`, `RTM_GETNEIGH`): dumping the table,
//! reading its changes, and asking the kernel to resolve an address.

use std::net::IpAddr;

use super::{
    attributes, family_of, finish, ip_address, message, messages, octets, push_attribute, u16_at,
    u32_at, HEADER_LEN, NLMSG_DONE, NLMSG_ERROR,
};

/// `struct ndmsg`'s size.
const NDMSG_LEN: usize = 12;
const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;
/// `ndm_flags`: "use" the entry, which starts resolution when it has no address yet.
const NTF_USE: u8 = 0x01;

/// `NUD_*` states in which an entry's link-layer address may be used to send.
const NUD_VALID: u16 = libc::NUD_REACHABLE
    | libc::NUD_STALE
    | libc::NUD_DELAY
    | libc::NUD_PROBE
    | libc::NUD_PERMANENT
    | libc::NUD_NOARP;

/// One entry of a neighbour table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Neighbour {
    /// Interface index.
    pub index: u32,
    pub address: IpAddr,
    /// The link-layer address, when the entry has an Ethernet one.
    pub mac: Option<[u8; 6]>,
    /// `NUD_*` bits.
    pub state: u16,
}

impl Neighbour {
    /// The MAC to send to, when the entry has one in a state the kernel itself would send with
    /// (not incomplete, failed or without address).
    pub fn usable_mac(&self) -> Option<[u8; 6]> {
        self.mac.filter(|_| self.state & NUD_VALID != 0)
    }
}

/// A neighbour message: an entry added or changed, or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighbourChange {
    pub removed: bool,
    pub neighbour: Neighbour,
}

/// What one datagram on a neighbour socket held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighbourPart {
    /// Entries (from a dump answering the request, or notifications), in order.
    pub changes: Vec<NeighbourChange>,
    /// The dump with this sequence number ended.
    pub done: bool,
    /// The kernel refused the request with this sequence number (errno).
    pub refused: Option<i32>,
}

/// `struct ndmsg` for `address` on interface `index` (0: any).
fn ndmsg(family: u8, index: u32, state: u16, flags: u8) -> [u8; NDMSG_LEN] {
    let mut header = [0u8; NDMSG_LEN];
    header[0] = family;
    header[4..8].copy_from_slice(&index.to_ne_bytes());
    header[8..10].copy_from_slice(&state.to_ne_bytes());
    header[10] = flags;
    header
}

/// An `RTM_GETNEIGH` dump request: every entry of both families.
pub fn dump_request(seq: u32) -> Vec<u8> {
    let flags = libc::NLM_F_REQUEST | libc::NLM_F_DUMP;
    finish(message(
        libc::RTM_GETNEIGH,
        flags,
        seq,
        &ndmsg(libc::AF_UNSPEC as u8, 0, 0, 0),
    ))
}

/// An `RTM_NEWNEIGH` request with `NTF_USE` for `address` on interface `index`, as `ip neigh
/// replace ADDR dev DEV use nud none`: creates the entry when missing and makes the kernel
/// resolve it (ARP or neighbour solicitation) without changing an entry it already has.
pub fn resolve_request(seq: u32, index: u32, address: IpAddr) -> Vec<u8> {
    let flags = libc::NLM_F_REQUEST | libc::NLM_F_ACK | libc::NLM_F_CREATE | libc::NLM_F_REPLACE;
    let mut request = message(
        libc::RTM_NEWNEIGH,
        flags,
        seq,
        &ndmsg(family_of(address), index, libc::NUD_NONE, NTF_USE),
    );
    push_attribute(&mut request, NDA_DST, &octets(address));
    finish(request)
}

/// The neighbour entries and the end or refusal of request `seq` in one datagram; `None` when
/// it does not parse.
pub fn parse(seq: u32, datagram: &[u8]) -> Option<NeighbourPart> {
    let mut part = NeighbourPart {
        changes: Vec::new(),
        done: false,
        refused: None,
    };
    for message in messages(datagram) {
        let message = message.ok()?;
        match message.kind {
            NLMSG_DONE if message.seq == seq => part.done = true,
            NLMSG_ERROR if message.seq == seq => {
                let code = u32_at(message.bytes, HEADER_LEN)? as i32;
                if code != 0 {
                    part.refused = Some(-code);
                }
            }
            libc::RTM_NEWNEIGH | libc::RTM_DELNEIGH => {
                if let Some(neighbour) = parse_neighbour(message.bytes)? {
                    part.changes.push(NeighbourChange {
                        removed: message.kind == libc::RTM_DELNEIGH,
                        neighbour,
                    });
                }
            }
            _ => {}
        }
    }
    Some(part)
}

/// One neighbour message; `Some(None)` for an entry that is not IPv4 or IPv6 (bridge FDB).
fn parse_neighbour(message: &[u8]) -> Option<Option<Neighbour>> {
    let header = message.get(HEADER_LEN..HEADER_LEN + NDMSG_LEN)?;
    let family = header[0];
    let index = u32_at(header, 4)?;
    let state = u16_at(header, 8)?;
    let mut address = None;
    let mut mac = None;
    for attribute in attributes(&message[HEADER_LEN + NDMSG_LEN..]) {
        let (kind, data) = attribute.ok()?;
        match kind {
            NDA_DST => address = ip_address(family, data),
            NDA_LLADDR => mac = <[u8; 6]>::try_from(data).ok(),
            _ => {}
        }
    }
    if family as i32 != libc::AF_INET && family as i32 != libc::AF_INET6 {
        return Some(None);
    }
    Some(address.map(|address| Neighbour {
        index,
        address,
        mac,
        state,
    }))
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn entry(kind: u16, seq: u32, neighbour: Neighbour) -> Vec<u8> {
        let header = ndmsg(
            family_of(neighbour.address),
            neighbour.index,
            neighbour.state,
            0,
        );
        let mut bytes = message(kind, 0, seq, &header);
        push_attribute(&mut bytes, NDA_DST, &octets(neighbour.address));
        if let Some(mac) = neighbour.mac {
            push_attribute(&mut bytes, NDA_LLADDR, &mac);
        }
        finish(bytes)
    }

    #[test]
    fn a_dump_and_notifications_parse_to_their_entries() {
        let reachable = Neighbour {
            index: 3,
            address: IpAddr::V4(Ipv4Addr::new(10, 60, 0, 1)),
            mac: Some([2, 0, 0, 0, 0, 1]),
            state: libc::NUD_REACHABLE,
        };
        let incomplete = Neighbour {
            index: 4,
            address: IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 9)),
            mac: None,
            state: libc::NUD_INCOMPLETE,
        };
        let mut datagram = entry(libc::RTM_NEWNEIGH, 7, reachable);
        datagram.extend(entry(libc::RTM_DELNEIGH, 0, incomplete));
        datagram.extend(finish(message(NLMSG_DONE, 0, 7, &[0; 4])));
        let part = parse(7, &datagram).unwrap();
        assert!(part.done);
        assert_eq!(part.refused, None);
        assert_eq!(
            part.changes,
            vec![
                NeighbourChange {
                    removed: false,
                    neighbour: reachable
                },
                NeighbourChange {
                    removed: true,
                    neighbour: incomplete
                },
            ]
        );
        assert_eq!(
            part.changes[0].neighbour.usable_mac(),
            Some([2, 0, 0, 0, 0, 1])
        );
        assert_eq!(part.changes[1].neighbour.usable_mac(), None);
        // Another dump's end is not this one's.
        assert!(!parse(8, &datagram).unwrap().done);
        // Cut anywhere inside a message: refused as a whole.
        for cut in [5, 20, datagram.len() - 3] {
            assert_eq!(parse(7, &datagram[..cut]), None, "cut {cut}");
        }
    }

    #[test]
    fn a_failed_entry_keeps_its_old_mac_but_is_not_usable() {
        let failed = Neighbour {
            index: 3,
            address: IpAddr::V4(Ipv4Addr::new(10, 60, 0, 1)),
            mac: Some([2, 0, 0, 0, 0, 1]),
            state: libc::NUD_FAILED,
        };
        assert_eq!(failed.usable_mac(), None);
        let stale = Neighbour {
            state: libc::NUD_STALE,
            ..failed
        };
        assert_eq!(stale.usable_mac(), failed.mac);
    }

    #[test]
    fn resolve_request_is_replace_with_use() {
        let request = resolve_request(9, 5, IpAddr::V4(Ipv4Addr::new(10, 60, 0, 1)));
        assert_eq!(request.len(), HEADER_LEN + NDMSG_LEN + 8);
        assert_eq!(u16_at(&request, 4), Some(libc::RTM_NEWNEIGH));
        let flags = u16_at(&request, 6).unwrap() as i32;
        assert_eq!(
            flags,
            libc::NLM_F_REQUEST | libc::NLM_F_ACK | libc::NLM_F_CREATE | libc::NLM_F_REPLACE
        );
        assert_eq!(request[16], libc::AF_INET as u8);
        assert_eq!(u32_at(&request, 20), Some(5));
        assert_eq!(u16_at(&request, 24), Some(libc::NUD_NONE));
        assert_eq!(request[26], NTF_USE);
        assert_eq!(u16_at(&request, 30), Some(NDA_DST));
        assert_eq!(&request[32..36], &[10, 60, 0, 1]);
    }
}
