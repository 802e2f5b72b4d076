//! The one rtnetlink exchange the TAP needs: an `RTM_NEWADDR` request and the kernel's
//! acknowledgement. Messages are laid out by hand in native byte order, as netlink wants.

use std::net::IpAddr;

const HEADER_LEN: usize = 16;
const ATTRIBUTE_HEADER_LEN: usize = 4;
/// `struct nlmsgerr`: the error code followed by the request's header.
const ERROR_LEN: usize = 4 + HEADER_LEN;

const NLMSG_ERROR: u16 = libc::NLMSG_ERROR as u16;
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

/// An `RTM_NEWADDR` request that adds `address/prefix` to interface `index` (failing if it is
/// already there) and asks for an acknowledgement. IPv4 addresses get the subnet's broadcast
/// address, as `ip address add … brd +` would give them.
pub fn new_address_request(seq: u32, index: u32, address: IpAddr, prefix: u8) -> Vec<u8> {
    let flags = libc::NLM_F_REQUEST | libc::NLM_F_ACK | libc::NLM_F_CREATE | libc::NLM_F_EXCL;
    let mut message = Vec::with_capacity(64);
    message.extend_from_slice(&[0; 4]); // length, filled in at the end
    message.extend_from_slice(&libc::RTM_NEWADDR.to_ne_bytes());
    message.extend_from_slice(&(flags as u16).to_ne_bytes());
    message.extend_from_slice(&seq.to_ne_bytes());
    message.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
    let family = match address {
        IpAddr::V4(_) => libc::AF_INET,
        IpAddr::V6(_) => libc::AF_INET6,
    };
    message.push(family as u8);
    message.push(prefix);
    message.push(0); // flags
    message.push(libc::RT_SCOPE_UNIVERSE);
    message.extend_from_slice(&index.to_ne_bytes());
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
    let len = message.len() as u32;
    message[..4].copy_from_slice(&len.to_ne_bytes());
    message
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
