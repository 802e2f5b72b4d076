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
use miniserde::json::{self, Number, Object, Value};

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;

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

fn be16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(data.get(at..at + 2)?.try_into().ok()?))
}

/// Finds the transport header of an Ethernet frame; `None` for anything but the first fragment of
/// a UDP or TCP packet.
fn flow(frame: &[u8]) -> Option<Flow> {
    let mut l3 = 14;
    let mut ether_type = be16(frame, 12)?;
    if ether_type == ETHERTYPE_VLAN {
        ether_type = be16(frame, 16)?;
        l3 += 4;
    }
    let (protocol, source, l4) = match ether_type {
        ETHERTYPE_IPV4 => {
            let header = frame.get(l3..l3 + 20)?;
            let header_len = usize::from(header[0] & 0x0f) * 4;
            let fragment_offset = u16::from_be_bytes([header[6], header[7]]) & 0x1fff;
            if header[0] >> 4 != 4 || header_len < 20 || fragment_offset != 0 {
                return None;
            }
            let source = u32::from_be_bytes([header[12], header[13], header[14], header[15]]);
            (header[9], Some(source), l3 + header_len)
        }
        // Extension headers are not followed: such packets are left alone.
        ETHERTYPE_IPV6 => (*frame.get(l3 + 6)?, None, l3 + 40),
        _ => return None,
    };
    if protocol != IPPROTO_UDP && protocol != IPPROTO_TCP {
        return None;
    }
    Some(Flow {
        ipv4_source: source,
        dst_port: be16(frame, l4 + 2)?,
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
