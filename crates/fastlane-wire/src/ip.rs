//! What IPv4's protocol and IPv6's next header fields name.

crate::wire_enum! {
    /// An IP protocol number (IANA "Assigned Internet Protocol Numbers").
    pub enum IpProtocol(u8) {
        HopByHop = 0,
        Icmp = 1,
        Tcp = 6,
        Udp = 17,
        Ipv6Route = 43,
        Ipv6Frag = 44,
        Gre = 47,
        Esp = 50,
        Ah = 51,
        Icmpv6 = 58,
        Ipv6NoNxt = 59,
        Ipv6Opts = 60,
        Mobility = 135,
        Hip = 139,
        Shim6 = 140,
    }
}

impl IpProtocol {
    /// Whether this next header is an IPv6 extension header (RFC 7045 §2, ESP included) rather
    /// than an upper-layer protocol.
    #[inline]
    pub fn is_ipv6_extension(self) -> bool {
        matches!(
            self,
            IpProtocol::HopByHop
                | IpProtocol::Ipv6Route
                | IpProtocol::Ipv6Frag
                | IpProtocol::Esp
                | IpProtocol::Ah
                | IpProtocol::Ipv6Opts
                | IpProtocol::Mobility
                | IpProtocol::Hip
                | IpProtocol::Shim6
        )
    }
}
