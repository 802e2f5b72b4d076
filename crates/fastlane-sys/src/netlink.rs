//! rtnetlink: sockets (one request to the kernel and its answers, or a subscription to its
//! notifications), and the message framing every rtnetlink codec of the workspace shares —
//! headers, attributes, acknowledgements — laid out by hand in native byte order, as netlink
//! wants. The neighbour and route messages are in [`neighbour`] and [`route`]; the address
//! messages a TAP needs are in fastlane-tap.

pub mod neighbour;
pub mod route;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType};

use crate::error::{SysError, SysResult};
use crate::sockopt::set_int;

/// A NETLINK_ROUTE socket in the calling thread's namespace that asks for extended
/// acknowledgements (the kernel's error text) without the echoed request, and gives up waiting
/// for an answer after `timeout`.
pub fn route_socket(timeout: Duration) -> SysResult<OwnedFd> {
    let socket = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        rustix::net::SocketFlags::CLOEXEC,
        // NETLINK_ROUTE is protocol 0.
        None,
    )
    .map_err(SysError::from_rustix("socket(AF_NETLINK, NETLINK_ROUTE)"))?;
    set_int(
        socket.as_fd(),
        libc::SOL_NETLINK,
        "setsockopt(NETLINK_EXT_ACK)",
        libc::NETLINK_EXT_ACK,
        1,
    )?;
    set_int(
        socket.as_fd(),
        libc::SOL_NETLINK,
        "setsockopt(NETLINK_CAP_ACK)",
        libc::NETLINK_CAP_ACK,
        1,
    )?;
    rustix::net::sockopt::set_socket_timeout(
        &socket,
        rustix::net::sockopt::Timeout::Recv,
        Some(timeout),
    )
    .map_err(SysError::from_rustix("setsockopt(SO_RCVTIMEO)"))?;
    Ok(socket)
}

/// A NETLINK_ROUTE socket subscribed to the multicast `groups` (`RTMGRP_*` bits, e.g.
/// [`RTMGRP_NEIGH`]) of the calling thread's namespace, giving up waiting after `timeout` (so a
/// reader can look at a stop flag). It also sends requests, like [`route_socket`]; a dump's
/// answers arrive between notifications.
pub fn subscribed_socket(groups: u32, timeout: Duration) -> SysResult<OwnedFd> {
    let socket = route_socket(timeout)?;
    let address = rustix::net::netlink::SocketAddrNetlink::new(0, groups);
    rustix::net::bind(&socket, &address).map_err(SysError::from_rustix("bind(NETLINK_ROUTE)"))?;
    Ok(socket)
}

/// `RTMGRP_NEIGH`: neighbour table changes.
pub const RTMGRP_NEIGH: u32 = 0x4;
/// `RTMGRP_IPV4_ROUTE`: IPv4 route changes.
pub const RTMGRP_IPV4_ROUTE: u32 = 0x40;
/// `RTMGRP_IPV6_ROUTE`: IPv6 route changes.
pub const RTMGRP_IPV6_ROUTE: u32 = 0x400;

/// Sends one netlink request to the kernel (port 0).
pub fn send_to_kernel(socket: BorrowedFd<'_>, message: &[u8]) -> SysResult<()> {
    const CALL: &str = "sendto(NETLINK_ROUTE)";
    let kernel = rustix::net::netlink::SocketAddrNetlink::new(0, 0);
    let sent = rustix::net::sendto(socket, message, SendFlags::empty(), &kernel)
        .map_err(SysError::from_rustix(CALL))?;
    if sent != message.len() {
        return Err(SysError::new(CALL, libc::EMSGSIZE).with_context("request sent in part"));
    }
    Ok(())
}

/// Receives one netlink datagram into `buffer` (waiting at most the socket's timeout) and returns
/// its length.
pub fn receive(socket: BorrowedFd<'_>, buffer: &mut [u8]) -> SysResult<usize> {
    loop {
        match rustix::net::recv(socket, &mut *buffer, RecvFlags::empty()) {
            Ok((received, _)) => return Ok(received),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(SysError::new("recv(NETLINK_ROUTE)", e.raw_os_error())),
        }
    }
}

/// `struct nlmsghdr`'s size.
pub const HEADER_LEN: usize = 16;
/// `struct nlattr`'s size.
pub const ATTRIBUTE_HEADER_LEN: usize = 4;
/// `struct nlmsgerr`: the error code followed by the request's header.
const ERROR_LEN: usize = 4 + HEADER_LEN;

pub const NLMSG_ERROR: u16 = libc::NLMSG_ERROR as u16;
pub const NLMSG_DONE: u16 = libc::NLMSG_DONE as u16;
/// The acknowledgement carries only the request's header, not its payload.
pub const NLM_F_CAPPED: u16 = 0x100;
/// The acknowledgement carries extended-ack attributes after the echoed request.
pub const NLM_F_ACK_TLVS: u16 = 0x200;
/// `NLMSGERR_ATTR_MSG`: the kernel's error text.
pub const NLMSGERR_ATTR_MSG: u16 = 1;
/// Attribute type bits without the nested and byte-order flags.
const NLA_TYPE_MASK: u16 = 0x3fff;

/// Netlink's 4-byte alignment.
pub fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// Appends attribute `kind` holding `data`, padded to alignment.
pub fn push_attribute(message: &mut Vec<u8>, kind: u16, data: &[u8]) {
    let len = ATTRIBUTE_HEADER_LEN + data.len();
    message.extend_from_slice(&(len as u16).to_ne_bytes());
    message.extend_from_slice(&kind.to_ne_bytes());
    message.extend_from_slice(data);
    message.resize(align(message.len()), 0);
}

/// A netlink header (its length filled in by [`finish`]) followed by the message's fixed part
/// (`struct ifaddrmsg`, `ndmsg`, `rtmsg`…).
pub fn message(kind: u16, flags: i32, seq: u32, fixed: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(64);
    message.extend_from_slice(&[0; 4]); // length, filled in at the end
    message.extend_from_slice(&kind.to_ne_bytes());
    message.extend_from_slice(&(flags as u16).to_ne_bytes());
    message.extend_from_slice(&seq.to_ne_bytes());
    message.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
    message.extend_from_slice(fixed);
    message
}

/// Writes the message's length into its header.
pub fn finish(mut message: Vec<u8>) -> Vec<u8> {
    let len = message.len() as u32;
    message[..4].copy_from_slice(&len.to_ne_bytes());
    message
}

pub fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

pub fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// One message of a datagram: its header's fields and the whole message (header included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub bytes: &'a [u8],
}

/// The messages of one datagram, in order; `Err(())` (once, then the end) where a header or a
/// length does not fit the datagram.
pub fn messages(datagram: &[u8]) -> impl Iterator<Item = Result<Message<'_>, ()>> {
    let mut at = 0;
    let mut broken = false;
    std::iter::from_fn(move || {
        if broken || at >= datagram.len() {
            return None;
        }
        let parsed = (|| {
            let len = u32_at(datagram, at)? as usize;
            let bytes = datagram
                .get(at..at.checked_add(len)?)
                .filter(|_| len >= HEADER_LEN)?;
            Some(Message {
                kind: u16_at(bytes, 4)?,
                flags: u16_at(bytes, 6)?,
                seq: u32_at(bytes, 8)?,
                bytes,
            })
        })();
        match parsed {
            Some(message) => {
                at += align(message.bytes.len());
                Some(Ok(message))
            }
            None => {
                broken = true;
                Some(Err(()))
            }
        }
    })
}

/// The attributes in `bytes` (a message's tail after its fixed part) as (type without flags,
/// data); `Err(())` (once, then the end) where one does not fit.
pub fn attributes(bytes: &[u8]) -> impl Iterator<Item = Result<(u16, &[u8]), ()>> {
    let mut at = 0;
    let mut broken = false;
    std::iter::from_fn(move || {
        if broken || at + ATTRIBUTE_HEADER_LEN > bytes.len() {
            return None;
        }
        let parsed = (|| {
            let len = u16_at(bytes, at)? as usize;
            let kind = u16_at(bytes, at + 2)? & NLA_TYPE_MASK;
            let data = bytes.get(at + ATTRIBUTE_HEADER_LEN..at.checked_add(len)?)?;
            Some((len, kind, data))
        })();
        match parsed {
            Some((len, kind, data)) if len >= ATTRIBUTE_HEADER_LEN => {
                at += align(len);
                Some(Ok((kind, data)))
            }
            _ => {
                broken = true;
                Some(Err(()))
            }
        }
    })
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

/// The kernel's answer to request `seq` in one received datagram, or `None` when the datagram
/// holds no answer to it.
pub fn answer_to(seq: u32, datagram: &[u8]) -> Option<Answer> {
    for message in messages(datagram) {
        let Ok(message) = message else {
            return Some(Answer::Malformed);
        };
        if message.kind == NLMSG_ERROR && message.seq == seq {
            return Some(parse_error(message.bytes, message.flags));
        }
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
        let tail = message
            .get(HEADER_LEN + ERROR_LEN + align(echoed_payload)..)
            .unwrap_or_default();
        for (kind, data) in attributes(tail).map_while(Result::ok) {
            if kind == NLMSGERR_ATTR_MSG {
                let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
                text = Some(String::from_utf8_lossy(&data[..end]).into_owned());
            }
        }
    }
    Answer::Refused {
        errno: -code,
        message: text,
    }
}

/// Sends request `seq` on `socket` and waits for the kernel's acknowledgement; on refusal, the
/// errno and the kernel's text (the error names `call`, e.g. `"RTM_NEWNEIGH"`).
pub fn request_acknowledged(
    socket: BorrowedFd<'_>,
    call: &'static str,
    seq: u32,
    request: &[u8],
) -> SysResult<()> {
    send_to_kernel(socket, request)?;
    let mut datagram = [0u8; 4096];
    loop {
        let len = receive(socket, &mut datagram)?;
        match answer_to(seq, &datagram[..len]) {
            None => continue,
            Some(Answer::Accepted) => return Ok(()),
            Some(Answer::Refused { errno, message }) => {
                let error = SysError::new(call, errno);
                return Err(match message {
                    Some(text) => error.with_context(text),
                    None => error,
                });
            }
            Some(Answer::Malformed) => {
                return Err(SysError::new(call, libc::EBADMSG).with_context("malformed answer"))
            }
        }
    }
}

/// The IP address in an attribute of a message of `family` (`AF_INET`/`AF_INET6`).
pub fn ip_address(family: u8, data: &[u8]) -> Option<std::net::IpAddr> {
    match (family as i32, data.len()) {
        (libc::AF_INET, 4) => Some(std::net::IpAddr::from(<[u8; 4]>::try_from(data).ok()?)),
        (libc::AF_INET6, 16) => Some(std::net::IpAddr::from(<[u8; 16]>::try_from(data).ok()?)),
        _ => None,
    }
}

/// `AF_INET` or `AF_INET6` for an address.
pub fn family_of(address: std::net::IpAddr) -> u8 {
    match address {
        std::net::IpAddr::V4(_) => libc::AF_INET as u8,
        std::net::IpAddr::V6(_) => libc::AF_INET6 as u8,
    }
}

/// An address's bytes (4 or 16).
pub fn octets(address: std::net::IpAddr) -> Vec<u8> {
    match address {
        std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
        std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn attributes_stop_at_the_first_that_does_not_fit() {
        let mut bytes = Vec::new();
        push_attribute(&mut bytes, 1, &[1, 2, 3]);
        push_attribute(&mut bytes, 2, &[4; 4]);
        let parsed: Vec<_> = attributes(&bytes).collect();
        assert_eq!(parsed, vec![Ok((1, &[1, 2, 3][..])), Ok((2, &[4; 4][..]))]);
        bytes.extend_from_slice(&[200, 0, 3, 0, 9]);
        let parsed: Vec<_> = attributes(&bytes).collect();
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[2], Err(()));
    }
}
