//! The rtnetlink exchanges about interface addresses: adding (`RTM_NEWADDR`) and removing
//! (`RTM_DELADDR`) one, with the kernel's acknowledgement, and listing them (an `RTM_GETADDR`
//! dump); and removing a device (`RTM_DELLINK`), over fastlane-sys's netlink framing.

use std::net::IpAddr;

use fastlane_sys::netlink::{
    attributes, family_of, finish, ip_address, messages, octets, push_attribute, u32_at,
    HEADER_LEN, NLMSG_DONE, NLMSG_ERROR,
};

/// A netlink header followed by a `struct ifaddrmsg`.
fn address_message(kind: u16, flags: i32, seq: u32, ifaddrmsg: [u8; 8]) -> Vec<u8> {
    fastlane_sys::netlink::message(kind, flags, seq, &ifaddrmsg)
}

/// `struct ifaddrmsg` for `address/prefix` on interface `index`.
fn ifaddrmsg(index: u32, address: IpAddr, prefix: u8) -> [u8; 8] {
    let mut header = [0u8; 8];
    header[0] = family_of(address);
    header[1] = prefix;
    header[3] = libc::RT_SCOPE_UNIVERSE;
    header[4..].copy_from_slice(&index.to_ne_bytes());
    header
}

/// An `RTM_NEWADDR` request that adds `address/prefix` to interface `index` (failing if it is
/// already there) and asks for an acknowledgement. IPv4 addresses get the subnet's broadcast
/// address, as `ip address add … brd +` would give them.
pub fn new_address_request(seq: u32, index: u32, address: IpAddr, prefix: u8) -> Vec<u8> {
    let flags = libc::NLM_F_REQUEST | libc::NLM_F_ACK | libc::NLM_F_CREATE | libc::NLM_F_EXCL;
    let mut message = address_message(
        libc::RTM_NEWADDR,
        flags,
        seq,
        ifaddrmsg(index, address, prefix),
    );
    match address {
        IpAddr::V4(v4) => {
            push_attribute(&mut message, libc::IFA_LOCAL, &v4.octets());
            push_attribute(&mut message, libc::IFA_ADDRESS, &v4.octets());
            if prefix < 31 {
                let host_bits = u32::MAX >> prefix;
                let broadcast = u32::from(v4) | host_bits;
                push_attribute(&mut message, libc::IFA_BROADCAST, &broadcast.to_be_bytes());
            }
        }
        IpAddr::V6(v6) => {
            push_attribute(&mut message, libc::IFA_LOCAL, &v6.octets());
            push_attribute(&mut message, libc::IFA_ADDRESS, &v6.octets());
        }
    }
    finish(message)
}

/// An `RTM_DELADDR` request that removes `address/prefix` from interface `index` and asks for
/// an acknowledgement.
pub fn delete_address_request(seq: u32, index: u32, address: IpAddr, prefix: u8) -> Vec<u8> {
    let flags = libc::NLM_F_REQUEST | libc::NLM_F_ACK;
    let mut message = address_message(
        libc::RTM_DELADDR,
        flags,
        seq,
        ifaddrmsg(index, address, prefix),
    );
    push_attribute(&mut message, libc::IFA_LOCAL, &octets(address));
    finish(message)
}

/// An `RTM_DELLINK` request that removes interface `index` and asks for an acknowledgement.
pub fn delete_link_request(seq: u32, index: u32) -> Vec<u8> {
    let flags = libc::NLM_F_REQUEST | libc::NLM_F_ACK;
    // `struct ifinfomsg`: family, padding, type, index, flags, change.
    let mut ifinfomsg = [0u8; 16];
    ifinfomsg[4..8].copy_from_slice(&index.to_ne_bytes());
    finish(fastlane_sys::netlink::message(
        libc::RTM_DELLINK,
        flags,
        seq,
        &ifinfomsg,
    ))
}

/// An `RTM_GETADDR` dump request: every address of every interface, both families.
pub fn address_dump_request(seq: u32) -> Vec<u8> {
    let flags = libc::NLM_F_REQUEST | libc::NLM_F_DUMP;
    finish(address_message(libc::RTM_GETADDR, flags, seq, [0; 8]))
}

/// One address of an interface, from an `RTM_GETADDR` dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterfaceAddress {
    pub index: u32,
    pub address: IpAddr,
    pub prefix: u8,
    /// `RT_SCOPE_*`: universe (global), site, link or host.
    pub scope: u8,
}

/// What one datagram of an address dump held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DumpPart {
    /// Addresses, and whether the dump ended (`NLMSG_DONE`).
    Addresses {
        addresses: Vec<InterfaceAddress>,
        done: bool,
    },
    /// The kernel refused the dump.
    Refused {
        errno: i32,
    },
    Malformed,
}

/// The addresses in one datagram answering dump `seq`.
pub fn parse_address_dump(seq: u32, datagram: &[u8]) -> DumpPart {
    let mut addresses = Vec::new();
    for message in messages(datagram) {
        let Ok(message) = message else {
            return DumpPart::Malformed;
        };
        if message.seq != seq {
            continue;
        }
        match message.kind {
            NLMSG_DONE => {
                return DumpPart::Addresses {
                    addresses,
                    done: true,
                }
            }
            NLMSG_ERROR => match u32_at(message.bytes, HEADER_LEN).map(|c| c as i32) {
                Some(0) => {}
                Some(code) => return DumpPart::Refused { errno: -code },
                None => return DumpPart::Malformed,
            },
            libc::RTM_NEWADDR => match parse_address(message.bytes) {
                Some(Some(address)) => addresses.push(address),
                Some(None) => {}
                None => return DumpPart::Malformed,
            },
            _ => {}
        }
    }
    DumpPart::Addresses {
        addresses,
        done: false,
    }
}

/// One `RTM_NEWADDR` message of a dump; `Some(None)` for a family other than IPv4 and IPv6.
fn parse_address(message: &[u8]) -> Option<Option<InterfaceAddress>> {
    let header = message.get(HEADER_LEN..HEADER_LEN + 8)?;
    let (family, prefix, scope) = (header[0], header[1], header[3]);
    let index = u32_at(header, 4)?;
    let mut local = None;
    let mut address = None;
    for attribute in attributes(&message[HEADER_LEN + 8..]) {
        let (kind, data) = attribute.ok()?;
        match kind {
            libc::IFA_LOCAL => local = ip_address(family, data),
            libc::IFA_ADDRESS => address = ip_address(family, data),
            _ => {}
        }
    }
    if family as i32 != libc::AF_INET && family as i32 != libc::AF_INET6 {
        return Some(None);
    }
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS the peer's on a point-to-point link
    // (IPv6 addresses carry only IFA_ADDRESS).
    let address = local.or(address)?;
    Some(Some(InterfaceAddress {
        index,
        address,
        prefix,
        scope,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fastlane_sys::netlink::u16_at;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn ipv4_request_carries_local_address_and_broadcast() {
        let request = new_address_request(7, 3, IpAddr::V4(Ipv4Addr::new(10, 80, 0, 2)), 24);
        assert_eq!(request.len(), 16 + 8 + 3 * 8);
        assert_eq!(u32_at(&request, 0), Some(request.len() as u32));
        assert_eq!(u16_at(&request, 4), Some(libc::RTM_NEWADDR));
        assert_eq!(u32_at(&request, 8), Some(7));
        assert_eq!(&request[16..20], &[libc::AF_INET as u8, 24, 0, 0]);
        assert_eq!(u32_at(&request, 20), Some(3));
        assert_eq!(u16_at(&request, 26), Some(libc::IFA_LOCAL));
        assert_eq!(&request[28..32], &[10, 80, 0, 2]);
        assert_eq!(u16_at(&request, 42), Some(libc::IFA_BROADCAST));
        assert_eq!(&request[44..48], &[10, 80, 0, 255]);
    }

    #[test]
    fn ipv6_request_has_no_broadcast() {
        let address = Ipv6Addr::new(0xfd80, 0, 0, 0, 0, 0, 0, 2);
        let request = new_address_request(1, 3, IpAddr::V6(address), 64);
        assert_eq!(request.len(), 16 + 8 + 2 * 20);
        assert_eq!(request[16], libc::AF_INET6 as u8);
        assert_eq!(request[28..44], address.octets());
    }

    #[test]
    fn delete_request_names_the_address() {
        let request = delete_address_request(9, 4, IpAddr::V4(Ipv4Addr::new(10, 80, 0, 2)), 24);
        assert_eq!(request.len(), 16 + 8 + 8);
        assert_eq!(u16_at(&request, 4), Some(libc::RTM_DELADDR));
        assert_eq!(&request[16..20], &[libc::AF_INET as u8, 24, 0, 0]);
        assert_eq!(u32_at(&request, 20), Some(4));
        assert_eq!(u16_at(&request, 26), Some(libc::IFA_LOCAL));
        assert_eq!(&request[28..32], &[10, 80, 0, 2]);
    }

    /// An `RTM_NEWADDR` message as a dump carries it.
    fn dumped(seq: u32, index: u32, address: IpAddr, prefix: u8, scope: u8) -> Vec<u8> {
        let mut header = ifaddrmsg(index, address, prefix);
        header[3] = scope;
        let mut message = address_message(libc::RTM_NEWADDR, libc::NLM_F_MULTI, seq, header);
        let octets = match address {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        push_attribute(&mut message, libc::IFA_ADDRESS, &octets);
        if address.is_ipv4() {
            push_attribute(&mut message, libc::IFA_LOCAL, &octets);
        }
        push_attribute(&mut message, libc::IFA_LABEL, b"eth0\0");
        finish(message)
    }

    #[test]
    fn an_address_dump_parses_to_its_addresses_and_its_end() {
        let v4 = IpAddr::V4(Ipv4Addr::new(10, 80, 0, 2));
        let v6 = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1));
        let mut datagram = dumped(3, 2, v4, 24, libc::RT_SCOPE_UNIVERSE);
        datagram.extend(dumped(3, 2, v6, 64, libc::RT_SCOPE_LINK));
        datagram.extend(dumped(99, 2, v4, 24, 0)); // another request's: ignored
        let part = parse_address_dump(3, &datagram);
        let expected = vec![
            InterfaceAddress {
                index: 2,
                address: v4,
                prefix: 24,
                scope: libc::RT_SCOPE_UNIVERSE,
            },
            InterfaceAddress {
                index: 2,
                address: v6,
                prefix: 64,
                scope: libc::RT_SCOPE_LINK,
            },
        ];
        assert_eq!(
            part,
            DumpPart::Addresses {
                addresses: expected,
                done: false
            }
        );
        let done = finish(address_message(NLMSG_DONE, libc::NLM_F_MULTI, 3, [0; 8]));
        assert_eq!(
            parse_address_dump(3, &done),
            DumpPart::Addresses {
                addresses: vec![],
                done: true
            }
        );
        let whole = dumped(3, 2, v4, 24, 0);
        assert_eq!(
            parse_address_dump(3, &whole[..whole.len() - 3]),
            DumpPart::Malformed
        );
    }
}
