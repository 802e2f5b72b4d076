//! An access-control list as a Fastlane plugin: drops UDP and TCP packets whose destination port,
//! or whose IPv4 source address's prefix, its config lists, and counts what it allowed and denied.
//! A denied packet is dropped for one of the plugin's own reasons, `denied_port` or
//! `denied_source`, which the data plane counts by name. Other packets (ARP, ICMP, fragments past
//! the first) keep whatever verdict they had, so the ACL goes before the stage that forwards:
//!
//! ```json
//! "pipeline": [
//!   { "type": "plugin", "path": "./libacl_plugin.so",
//!     "config": { "deny_dst_ports": [22, 23], "deny_src_prefixes": ["192.0.2.0/24"] } },
//!   "macswap"
//! ]
//! ```

use fastlane_plugin::{Batch, Plugin, PluginReason};
use fastlane_wire::{ipv4, ipv6, tcp, udp};
use fastlane_wire::{
    EtherType, EthernetFrame, IpProtocol, Ipv4Packet, Ipv6Packet, TcpPacket, UdpPacket, VlanTag,
};
use miniserde::json::{self, Number, Object, Value};

/// Counter indices, in the order of `Acl::COUNTERS`.
const ALLOWED: usize = 0;
const DENIED: usize = 1;

/// Drop reasons, in the order of `Acl::DROP_REASONS`.
const DENIED_PORT: PluginReason = PluginReason(0);
const DENIED_SOURCE: PluginReason = PluginReason(1);

/// An IPv4 prefix as a value and a mask.
#[derive(Debug, Clone, Copy)]
struct Prefix {
    network: u32,
    mask: u32,
}

impl Prefix {
    fn parse(text: &str) -> Result<Prefix, String> {
        let (addr, len) = text.split_once('/').unwrap_or((text, "32"));
        let addr: std::net::Ipv4Addr = addr
            .parse()
            .map_err(|e| format!("deny_src_prefixes: {text:?}: {e}"))?;
        let len: u32 = match len.parse() {
            Ok(len) if len <= 32 => len,
            _ => return Err(format!("deny_src_prefixes: {text:?}: bad prefix length")),
        };
        let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
        Ok(Prefix {
            network: u32::from(addr) & mask,
            mask,
        })
    }

    fn contains(self, addr: u32) -> bool {
        addr & self.mask == self.network
    }
}

/// One thread's ACL.
struct Acl {
    /// Indexed by port: 65536 flags, a lookup per packet without hashing.
    denied_ports: Box<[bool]>,
    denied_sources: Vec<Prefix>,
}

/// The parts of a UDP or TCP packet the ACL looks at.
struct Flow {
    ipv4_source: Option<u32>,
    dst_port: u16,
}

/// Finds the transport header of an Ethernet frame; `None` for anything but the first fragment of
/// a UDP or TCP packet. Only the header lengths are checked, as the classifier does: a packet
/// whose other length fields lie is still denied by its ports.
fn flow(frame: &[u8]) -> Option<Flow> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let (ether_type, l3) = match eth.ethertype() {
        EtherType::Vlan => {
            let tag = VlanTag::new_checked(eth.into_payload()).ok()?;
            (tag.ethertype(), tag.into_payload())
        }
        other => (other, eth.into_payload()),
    };
    let (protocol, source, l4) = match ether_type {
        EtherType::Ipv4 if l3.len() >= ipv4::MIN_HEADER_LEN => {
            let ip = Ipv4Packet::new_unchecked(l3);
            let header_len = ip.header_len();
            if ip.version() != 4 || header_len < ipv4::MIN_HEADER_LEN || ip.frag_offset() != 0 {
                return None;
            }
            let source = u32::from(ip.src_addr());
            (ip.protocol(), Some(source), l3.get(header_len..)?)
        }
        // Extension headers are not followed: such packets are left alone.
        EtherType::Ipv6 if l3.len() >= ipv6::HEADER_LEN => {
            let ip = Ipv6Packet::new_unchecked(l3);
            (ip.next_header(), None, &l3[ipv6::HEADER_LEN..])
        }
        _ => return None,
    };
    let dst_port = match protocol {
        IpProtocol::Udp if l4.len() >= udp::HEADER_LEN => UdpPacket::new_unchecked(l4).dst_port(),
        IpProtocol::Tcp if l4.len() >= tcp::MIN_HEADER_LEN => {
            TcpPacket::new_unchecked(l4).dst_port()
        }
        _ => return None,
    };
    Some(Flow {
        ipv4_source: source,
        dst_port,
    })
}

impl Acl {
    /// Why the ACL denies `flow`, if it does; a denied port is named before a denied source.
    fn denies(&self, flow: &Flow) -> Option<PluginReason> {
        if self.denied_ports[usize::from(flow.dst_port)] {
            return Some(DENIED_PORT);
        }
        flow.ipv4_source
            .is_some_and(|src| self.denied_sources.iter().any(|p| p.contains(src)))
            .then_some(DENIED_SOURCE)
    }
}

impl Plugin for Acl {
    const COUNTERS: &'static [&'static str] = &["allowed", "denied"];
    const DROP_REASONS: &'static [&'static str] = &["denied_port", "denied_source"];

    /// `{ "deny_dst_ports": [u16...], "deny_src_prefixes": ["a.b.c.d/len"...] }`, both optional.
    fn new(config: &str) -> Result<Self, String> {
        let config = match json::from_str(config) {
            Ok(Value::Null) => Object::new(),
            Ok(Value::Object(map)) => map,
            _ => return Err(format!("the config must be an object, not {config}")),
        };
        let config = &config;
        if let Some(key) = config
            .keys()
            .find(|k| *k != "deny_dst_ports" && *k != "deny_src_prefixes")
        {
            return Err(format!("unknown key {key:?}"));
        }
        let mut denied_ports = vec![false; 1 << 16].into_boxed_slice();
        for port in list(config, "deny_dst_ports")? {
            let port = match port {
                Value::Number(Number::U64(n)) => u16::try_from(*n).ok(),
                _ => None,
            }
            .ok_or_else(|| {
                format!(
                    "deny_dst_ports: {} is not a port number",
                    json::to_string(port)
                )
            })?;
            denied_ports[usize::from(port)] = true;
        }
        let denied_sources = list(config, "deny_src_prefixes")?
            .iter()
            .map(|p| match p {
                Value::String(text) => Prefix::parse(text),
                _ => Err(format!(
                    "deny_src_prefixes: {} is not a string",
                    json::to_string(p)
                )),
            })
            .collect::<Result<_, _>>()?;
        Ok(Acl {
            denied_ports,
            denied_sources,
        })
    }

    fn process(&mut self, batch: &mut Batch<'_>) {
        let (mut allowed, mut denied) = (0, 0);
        for mut packet in batch.iter_mut() {
            let Some(flow) = flow(packet.data()) else {
                continue;
            };
            if let Some(reason) = self.denies(&flow) {
                packet.drop_for(reason);
                denied += 1;
            } else {
                allowed += 1;
            }
        }
        batch.counters().add(ALLOWED, allowed);
        batch.counters().add(DENIED, denied);
    }
}

fn list<'a>(config: &'a Object, key: &str) -> Result<&'a [Value], String> {
    match config.get(key) {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(format!(
            "{key} must be an array, not {}",
            json::to_string(other)
        )),
    }
}

fastlane_plugin::export!(Acl);
