//! The rtnetlink exchanges about interface addresses: adding (`RTM_NEWADDR`) and removing
//! (`RTM_DELADDR`) one, with the kernel's acknowledgement, and listing them (an `RTM_GETADDR`
//! dump); and removing a device (`RTM_DELLINK`). Messages are laid out by hand in native byte
//! order, as netlink wants.

use std::net::IpAddr;

const HEADER_LEN: usize = 16;
const ATTRIBUTE_HEADER_LEN: usize = 4;
/// `struct nlmsgerr`: the error code followed by the request's header.
const ERROR_LEN: usize = 4 + HEADER_LEN;

const NLMSG_ERROR: u16 = libc::NLMSG_ERROR as u16;
const NLMSG_DONE: u16 = libc::NLMSG_DONE as u16;
/// The acknowledgement carries only the request's header, not its payload.
const NLM_F_CAPPED: u16 = 0x100;
/// The acknowledgement carries extended-ack attributes after the echoed request.
const NLM_F_ACK_TLVS: u16 = 0x200;
/// `NLMSGERR_ATTR_MSG`: the kernel's error text.
const NLMSGERR_ATTR_MSG: u16 = 1;
/// Attribute type bits without the nested and byte-order flags.
const NLA_TYPE_MASK: u16 = 0x3fff;

fn align(len: usize) -> usize {
    (len + 3) & !3
}

fn push_attribute(message: &mut Vec<u8>, kind: u16, data: &[u8]) {
    let len = ATTRIBUTE_HEADER_LEN + data.len();
    message.extend_from_slice(&(len as u16).to_ne_bytes());
    message.extend_from_slice(&kind.to_ne_bytes());
    message.extend_from_slice(data);
    message.resize(align(message.len()), 0);
}

/// A netlink header, its length filled in by [`finish`].
fn header(kind: u16, flags: i32, seq: u32) -> Vec<u8> {
    let mut message = Vec::with_capacity(64);
    message.extend_from_slice(&[0; 4]); // length, filled in at the end
    message.extend_from_slice(&kind.to_ne_bytes());
    message.extend_from_slice(&(flags as u16).to_ne_bytes());
    message.extend_from_slice(&seq.to_ne_bytes());
    message.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
    message
}

/// A netlink header followed by a `struct ifaddrmsg`.
fn address_message(kind: u16, flags: i32, seq: u32, ifaddrmsg: [u8; 8]) -> Vec<u8> {
    let mut message = header(kind, flags, seq);
    message.extend_from_slice(&ifaddrmsg);
    message
}

fn finish(mut message: Vec<u8>) -> Vec<u8> {
    let len = message.len() as u32;
    message[..4].copy_from_slice(&len.to_ne_bytes());
    message
}

fn family_of(address: IpAddr) -> u8 {
    match address {
        IpAddr::V4(_) => libc::AF_INET as u8,
        IpAddr::V6(_) => libc::AF_INET6 as u8,
    }
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
    let octets = match address {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    push_attribute(&mut message, libc::IFA_LOCAL, &octets);
    finish(message)
}

/// An `RTM_DELLINK` request that removes interface `index` and asks for an acknowledgement.
pub fn delete_link_request(seq: u32, index: u32) -> Vec<u8> {
    let flags = libc::NLM_F_REQUEST | libc::NLM_F_ACK;
    // `struct ifinfomsg`: family, padding, type, index, flags, change.
    let mut ifinfomsg = [0u8; 16];
    ifinfomsg[4..8].copy_from_slice(&index.to_ne_bytes());
    let mut message = header(libc::RTM_DELLINK, flags, seq);
    message.extend_from_slice(&ifinfomsg);
    finish(message)
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
    let mut at = 0;
    while at < datagram.len() {
        let (Some(len), Some(kind), Some(message_seq)) = (
            u32_at(datagram, at),
            u16_at(datagram, at + 4),
            u32_at(datagram, at + 8),
        ) else {
            return DumpPart::Malformed;
        };
        let len = len as usize;
        let Some(message) = datagram.get(at..at + len).filter(|_| len >= HEADER_LEN) else {
            return DumpPart::Malformed;
        };
        at += align(len);
        if message_seq != seq {
            continue;
        }
        match kind {
            NLMSG_DONE => {
                return DumpPart::Addresses {
                    addresses,
                    done: true,
                }
            }
            NLMSG_ERROR => match u32_at(message, HEADER_LEN).map(|c| c as i32) {
                Some(0) => {}
                Some(code) => return DumpPart::Refused { errno: -code },
                None => return DumpPart::Malformed,
            },
            libc::RTM_NEWADDR => match parse_address(message) {
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
    let mut at = HEADER_LEN + 8;
    while at + ATTRIBUTE_HEADER_LEN <= message.len() {
        let len = u16_at(message, at)? as usize;
        let kind = u16_at(message, at + 2)? & NLA_TYPE_MASK;
        let data = message.get(at + ATTRIBUTE_HEADER_LEN..at + len)?;
        let ip = match (family as i32, data.len()) {
            (libc::AF_INET, 4) => Some(IpAddr::from(<[u8; 4]>::try_from(data).ok()?)),
            (libc::AF_INET6, 16) => Some(IpAddr::from(<[u8; 16]>::try_from(data).ok()?)),
            _ => None,
        };
        match kind {
            libc::IFA_LOCAL => local = ip,
            libc::IFA_ADDRESS => address = ip,
            _ => {}
        }
        if len < ATTRIBUTE_HEADER_LEN {
            return None;
        }
        at += align(len);
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

/// What the kernel answered to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Accepted,
    Refused {
        errno: i32,
        /// The kernel's extended-ack text, when it gave one.
        message: Option<String>,
    },
    /// The datagram does not parse as netlink messages.
    Malformed,
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// The kernel's answer to request `seq` in one received datagram, or `None` when the datagram
/// holds no answer to it.
pub fn answer_to(seq: u32, datagram: &[u8]) -> Option<Answer> {
    let mut at = 0;
    while at < datagram.len() {
        let (Some(len), Some(kind), Some(flags), Some(message_seq)) = (
            u32_at(datagram, at),
            u16_at(datagram, at + 4),
            u16_at(datagram, at + 6),
            u32_at(datagram, at + 8),
        ) else {
            return Some(Answer::Malformed);
        };
        let len = len as usize;
        let Some(message) = datagram.get(at..at + len).filter(|_| len >= HEADER_LEN) else {
            return Some(Answer::Malformed);
        };
        if kind == NLMSG_ERROR && message_seq == seq {
            return Some(parse_error(message, flags));
        }
        at += align(len);
    }
    None
}

/// Parses an `NLMSG_ERROR` message (an acknowledgement when its error code is 0).
fn parse_error(message: &[u8], flags: u16) -> Answer {
    let Some(code) = u32_at(message, HEADER_LEN).map(|c| c as i32) else {
        return Answer::Malformed;
    };
    if code == 0 {
        return Answer::Accepted;
    }
    let mut text = None;
    if flags & NLM_F_ACK_TLVS != 0 {
        let echoed_payload = if flags & NLM_F_CAPPED != 0 {
            0
        } else {
            match u32_at(message, HEADER_LEN + 4) {
                Some(len) => (len as usize).saturating_sub(HEADER_LEN),
                None => return Answer::Malformed,
            }
        };
        let mut at = HEADER_LEN + ERROR_LEN + align(echoed_payload);
        while let (Some(len), Some(kind)) = (u16_at(message, at), u16_at(message, at + 2)) {
            let len = len as usize;
            let Some(data) = message.get(at + ATTRIBUTE_HEADER_LEN..at + len) else {
                break;
            };
            if kind & NLA_TYPE_MASK == NLMSGERR_ATTR_MSG {
                let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
                text = Some(String::from_utf8_lossy(&data[..end]).into_owned());
            }
            if len < ATTRIBUTE_HEADER_LEN {
                break;
            }
            at += align(len);
        }
    }
    Answer::Refused {
        errno: -code,
        message: text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    fn error_message(seq: u32, code: i32, text: Option<&str>) -> Vec<u8> {
        let mut body = code.to_ne_bytes().to_vec();
        body.extend_from_slice(&40u32.to_ne_bytes()); // the echoed request's length
        body.extend_from_slice(&[0; 12]);
        let mut flags = NLM_F_CAPPED;
        if let Some(text) = text {
            flags |= NLM_F_ACK_TLVS;
            let mut data = text.as_bytes().to_vec();
            data.push(0);
            let mut attributes = Vec::new();
            push_attribute(&mut attributes, NLMSGERR_ATTR_MSG, &data);
            body.extend_from_slice(&attributes);
        }
        let mut message = ((HEADER_LEN + body.len()) as u32).to_ne_bytes().to_vec();
        message.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        message.extend_from_slice(&flags.to_ne_bytes());
        message.extend_from_slice(&seq.to_ne_bytes());
        message.extend_from_slice(&0u32.to_ne_bytes());
        message.extend_from_slice(&body);
        message
    }

    #[test]
    fn acknowledgement_and_refusal_with_text() {
        assert_eq!(
            answer_to(5, &error_message(5, 0, None)),
            Some(Answer::Accepted)
        );
        assert_eq!(
            answer_to(
                5,
                &error_message(5, -libc::EEXIST, Some("address already assigned"))
            ),
            Some(Answer::Refused {
                errno: libc::EEXIST,
                message: Some("address already assigned".into())
            })
        );
        assert_eq!(answer_to(6, &error_message(5, 0, None)), None);
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

    #[test]
    fn truncated_datagrams_are_malformed() {
        let whole = error_message(5, -libc::EINVAL, Some("bad"));
        for cut in [3, 10, 17, whole.len() - 1] {
            assert_eq!(
                answer_to(5, &whole[..cut]),
                Some(Answer::Malformed),
                "cut {cut}"
            );
        }
    }
}
