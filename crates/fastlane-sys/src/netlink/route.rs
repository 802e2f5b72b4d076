//! Route messages: asking the kernel which route it would take to an address (`RTM_GETROUTE`
//! for one destination, as `ip route get`), finding the default routes (a dump), and recognising
//! route-change notifications.

use std::net::IpAddr;

use super::{
    attributes, family_of, finish, ip_address, message, messages, octets, push_attribute, u32_at,
    HEADER_LEN, NLMSG_DONE, NLMSG_ERROR,
};

/// `struct rtmsg`'s size.
const RTMSG_LEN: usize = 12;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PREFSRC: u16 = 7;
const RTA_TABLE: u16 = 15;

/// Where the kernel sends a packet for a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteTo {
    pub destination: IpAddr,
    /// Outgoing interface index.
    pub index: u32,
    /// The gateway, for a route through one; `None` when the destination is on the link.
    pub gateway: Option<IpAddr>,
    /// The source address the kernel would pick.
    pub source: Option<IpAddr>,
}

impl RouteTo {
    /// The address whose link-layer address a frame to the destination is sent to.
    pub fn next_hop(&self) -> IpAddr {
        self.gateway.unwrap_or(self.destination)
    }
}

/// The answer to a route lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Route(RouteTo),
    /// No route (`ENETUNREACH`…), or another refusal, by errno.
    Refused(i32),
}

/// An `RTM_GETROUTE` request for the route to `destination`.
pub fn lookup_request(seq: u32, destination: IpAddr) -> Vec<u8> {
    let mut header = [0u8; RTMSG_LEN];
    header[0] = family_of(destination);
    header[1] = if destination.is_ipv4() { 32 } else { 128 };
    let mut request = message(libc::RTM_GETROUTE, libc::NLM_F_REQUEST, seq, &header);
    push_attribute(&mut request, RTA_DST, &octets(destination));
    finish(request)
}

/// The answer to lookup `seq` for `destination` in one datagram; `Some(None)` when the datagram
/// holds none, `None` when it does not parse.
pub fn parse_lookup(seq: u32, destination: IpAddr, datagram: &[u8]) -> Option<Option<Lookup>> {
    for message in messages(datagram) {
        let message = message.ok()?;
        if message.seq != seq {
            continue;
        }
        match message.kind {
            NLMSG_ERROR => {
                let code = u32_at(message.bytes, HEADER_LEN)? as i32;
                return Some(Some(Lookup::Refused(-code)));
            }
            libc::RTM_NEWROUTE => {
                let header = message.bytes.get(HEADER_LEN..HEADER_LEN + RTMSG_LEN)?;
                let family = header[0];
                let mut route = RouteTo {
                    destination,
                    index: 0,
                    gateway: None,
                    source: None,
                };
                for attribute in attributes(&message.bytes[HEADER_LEN + RTMSG_LEN..]) {
                    let (kind, data) = attribute.ok()?;
                    match kind {
                        RTA_OIF => route.index = u32_at(data, 0)?,
                        RTA_GATEWAY => route.gateway = ip_address(family, data),
                        RTA_PREFSRC => route.source = ip_address(family, data),
                        _ => {}
                    }
                }
                return Some(Some(Lookup::Route(route)));
            }
            _ => {}
        }
    }
    Some(None)
}

/// An `RTM_GETROUTE` dump request: every route of both families.
pub fn dump_request(seq: u32) -> Vec<u8> {
    let flags = libc::NLM_F_REQUEST | libc::NLM_F_DUMP;
    finish(message(libc::RTM_GETROUTE, flags, seq, &[0u8; RTMSG_LEN]))
}

/// What one datagram of a route dump held: the main table's default routes (unicast, prefix
/// length 0) as routes to the family's unspecified address, and whether the dump ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultRoutes {
    pub routes: Vec<RouteTo>,
    pub done: bool,
    /// The kernel refused the dump (errno).
    pub refused: Option<i32>,
}

/// The default routes in one datagram answering dump `seq`; `None` when it does not parse.
pub fn parse_default_routes(seq: u32, datagram: &[u8]) -> Option<DefaultRoutes> {
    let mut part = DefaultRoutes {
        routes: Vec::new(),
        done: false,
        refused: None,
    };
    for message in messages(datagram) {
        let message = message.ok()?;
        if message.seq != seq {
            continue;
        }
        match message.kind {
            NLMSG_DONE => part.done = true,
            NLMSG_ERROR => {
                let code = u32_at(message.bytes, HEADER_LEN)? as i32;
                if code != 0 {
                    part.refused = Some(-code);
                }
            }
            libc::RTM_NEWROUTE => {
                let header = message.bytes.get(HEADER_LEN..HEADER_LEN + RTMSG_LEN)?;
                let (family, dst_len, table, kind) = (header[0], header[1], header[4], header[7]);
                let destination = match family as i32 {
                    libc::AF_INET => IpAddr::from([0u8; 4]),
                    libc::AF_INET6 => IpAddr::from([0u8; 16]),
                    _ => continue,
                };
                let mut route = RouteTo {
                    destination,
                    index: 0,
                    gateway: None,
                    source: None,
                };
                let mut table_id = u32::from(table);
                for attribute in attributes(&message.bytes[HEADER_LEN + RTMSG_LEN..]) {
                    let (kind, data) = attribute.ok()?;
                    match kind {
                        RTA_OIF => route.index = u32_at(data, 0)?,
                        RTA_GATEWAY => route.gateway = ip_address(family, data),
                        RTA_PREFSRC => route.source = ip_address(family, data),
                        RTA_TABLE => table_id = u32_at(data, 0)?,
                        _ => {}
                    }
                }
                let main = table_id == u32::from(libc::RT_TABLE_MAIN);
                if dst_len == 0 && main && kind == libc::RTN_UNICAST && route.index != 0 {
                    part.routes.push(route);
                }
            }
            _ => {}
        }
    }
    Some(part)
}

/// An `RTM_NEWROUTE` request that sets the main table's default route of `gateway`'s family to go
/// through `gateway` on interface `index` (replacing one that is there), and asks for an
/// acknowledgement: as `ip route replace default via GATEWAY dev DEV`.
pub fn replace_default_request(seq: u32, gateway: IpAddr, index: u32) -> Vec<u8> {
    let mut header = [0u8; RTMSG_LEN];
    header[0] = family_of(gateway);
    header[4] = libc::RT_TABLE_MAIN;
    header[5] = libc::RTPROT_BOOT;
    header[6] = libc::RT_SCOPE_UNIVERSE;
    header[7] = libc::RTN_UNICAST;
    let flags = libc::NLM_F_REQUEST | libc::NLM_F_ACK | libc::NLM_F_CREATE | libc::NLM_F_REPLACE;
    let mut request = message(libc::RTM_NEWROUTE, flags, seq, &header);
    push_attribute(&mut request, RTA_GATEWAY, &octets(gateway));
    push_attribute(&mut request, RTA_OIF, &index.to_ne_bytes());
    finish(request)
}

/// True when the datagram carries a route added or removed (a notification).
pub fn has_route_change(datagram: &[u8]) -> bool {
    messages(datagram)
        .map_while(Result::ok)
        .any(|m| m.kind == libc::RTM_NEWROUTE || m.kind == libc::RTM_DELROUTE)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::netlink::u16_at;

    #[test]
    fn a_lookup_answer_gives_interface_gateway_and_source() {
        let destination = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
        let request = lookup_request(4, destination);
        assert_eq!(u16_at(&request, 4), Some(libc::RTM_GETROUTE));
        assert_eq!(&request[16..18], &[libc::AF_INET as u8, 32]);
        assert_eq!(&request[32..36], &[198, 51, 100, 7]);

        let mut header = [0u8; RTMSG_LEN];
        header[0] = libc::AF_INET as u8;
        let mut answer = message(libc::RTM_NEWROUTE, 0, 4, &header);
        push_attribute(&mut answer, RTA_DST, &[198, 51, 100, 7]);
        push_attribute(&mut answer, RTA_OIF, &6u32.to_ne_bytes());
        push_attribute(&mut answer, RTA_GATEWAY, &[10, 60, 0, 1]);
        push_attribute(&mut answer, RTA_PREFSRC, &[10, 60, 0, 2]);
        let answer = finish(answer);
        let route = RouteTo {
            destination,
            index: 6,
            gateway: Some(IpAddr::V4(Ipv4Addr::new(10, 60, 0, 1))),
            source: Some(IpAddr::V4(Ipv4Addr::new(10, 60, 0, 2))),
        };
        assert_eq!(
            parse_lookup(4, destination, &answer),
            Some(Some(Lookup::Route(route)))
        );
        assert_eq!(route.next_hop(), IpAddr::V4(Ipv4Addr::new(10, 60, 0, 1)));
        assert_eq!(parse_lookup(5, destination, &answer), Some(None));
        assert_eq!(
            parse_lookup(4, destination, &answer[..answer.len() - 2]),
            None
        );
        assert!(has_route_change(&answer));
    }

    #[test]
    fn a_dump_yields_the_main_tables_default_routes_only() {
        let route = |dst_len: u8, table: u8, gateway: [u8; 4]| {
            let mut header = [0u8; RTMSG_LEN];
            header[0] = libc::AF_INET as u8;
            header[1] = dst_len;
            header[4] = table;
            header[7] = libc::RTN_UNICAST;
            let mut bytes = message(libc::RTM_NEWROUTE, libc::NLM_F_MULTI, 3, &header);
            push_attribute(&mut bytes, RTA_OIF, &2u32.to_ne_bytes());
            push_attribute(&mut bytes, RTA_GATEWAY, &gateway);
            finish(bytes)
        };
        let mut datagram = route(0, libc::RT_TABLE_MAIN, [10, 60, 0, 1]);
        datagram.extend(route(24, libc::RT_TABLE_MAIN, [10, 60, 0, 9]));
        datagram.extend(route(0, 100, [10, 60, 0, 7]));
        datagram.extend(finish(message(NLMSG_DONE, 0, 3, &[0; 4])));
        let part = parse_default_routes(3, &datagram).unwrap();
        assert!(part.done);
        assert_eq!(
            part.routes,
            vec![RouteTo {
                destination: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                index: 2,
                gateway: Some(IpAddr::V4(Ipv4Addr::new(10, 60, 0, 1))),
                source: None,
            }]
        );
        assert_eq!(parse_default_routes(3, &datagram[..30]), None);
        let request = dump_request(3);
        assert_eq!(u16_at(&request, 4), Some(libc::RTM_GETROUTE));
        assert_eq!(
            u16_at(&request, 6).map(i32::from),
            Some(libc::NLM_F_REQUEST | libc::NLM_F_DUMP)
        );
    }

    #[test]
    fn replacing_the_default_route_names_gateway_and_interface() {
        let request = replace_default_request(8, IpAddr::V4(Ipv4Addr::new(10, 60, 0, 1)), 5);
        assert_eq!(request.len(), HEADER_LEN + RTMSG_LEN + 8 + 8);
        assert_eq!(u16_at(&request, 4), Some(libc::RTM_NEWROUTE));
        assert_eq!(
            u16_at(&request, 6).map(i32::from),
            Some(libc::NLM_F_REQUEST | libc::NLM_F_ACK | libc::NLM_F_CREATE | libc::NLM_F_REPLACE)
        );
        assert_eq!(
            &request[16..28],
            &[
                libc::AF_INET as u8,
                0,
                0,
                0,
                libc::RT_TABLE_MAIN,
                libc::RTPROT_BOOT,
                libc::RT_SCOPE_UNIVERSE,
                libc::RTN_UNICAST,
                0,
                0,
                0,
                0
            ]
        );
        assert_eq!(u16_at(&request, 30), Some(RTA_GATEWAY));
        assert_eq!(&request[32..36], &[10, 60, 0, 1]);
        assert_eq!(u16_at(&request, 38), Some(RTA_OIF));
        assert_eq!(u32_at(&request, 40), Some(5));
    }

    #[test]
    fn no_route_is_a_refusal() {
        let mut body = (-libc::ENETUNREACH).to_ne_bytes().to_vec();
        body.extend_from_slice(&[0; 16]);
        let answer = finish(message(NLMSG_ERROR, 0, 2, &body));
        let destination = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1));
        assert_eq!(
            parse_lookup(2, destination, &answer),
            Some(Some(Lookup::Refused(libc::ENETUNREACH)))
        );
        assert!(!has_route_change(&answer));
    }
}
