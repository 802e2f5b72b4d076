//! The messages of the handoff socket (SOCK_SEQPACKET, so each message arrives whole with its
//! descriptors). The client sends one [`Request`]; the server answers with one [`Reply`], whose
//! descriptors (SCM_RIGHTS) follow the order [`Grant::descriptor_count`] describes, and then keeps
//! the connection open: its end is the session, and closing it ends the session.
//!
//! Every message is JSON and carries `version`; a message of another version, larger than
//! [`MAX_MESSAGE_BYTES`], with unknown fields or descriptors where none belong is refused, never
//! half-read.

use fastlane_core::config::{AfPacketConfig, AfXdpConfig, FilterConfig, TapConfig};
use fastlane_core::PortId;
use serde::{Deserialize, Serialize};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// The largest message either side sends or accepts.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// The packet I/O the pod asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandedBackend {
    AfXdp,
    AfPacket,
}

/// One queue of one port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueRef {
    pub port: PortId,
    pub queue: u16,
}

/// One port the pod wants: an interface of its network namespace that the allocation holds
/// queues of, the queues (in the config's order), the filter of its split and, if it wants one,
/// its punt TAP (name, MAC and MTU as the port's `tap` section says; no addresses: they stay on
/// the interface).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortRequest {
    pub interface: String,
    pub queues: Vec<u16>,
    pub filter: FilterConfig,
    pub punt_tap: Option<TapConfig>,
}

/// What a pod asks for: its token, the backend and its options, the ports, and the queues
/// grouped by the data-plane thread that serves them (on af_xdp one UMEM per thread).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub version: u32,
    pub token: String,
    pub backend: HandedBackend,
    pub ports: Vec<PortRequest>,
    pub threads: Vec<Vec<QueueRef>>,
    pub af_xdp: AfXdpConfig,
    pub af_packet: AfPacketConfig,
    pub batch_size: u16,
}

/// The UMEM and ring layout of an AF_XDP thread (`fastlane_afxdp::XskLayout` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XskLayoutWire {
    pub umem_frames: u32,
    pub frame_size: u32,
    pub frame_headroom: u32,
    pub rx_ring: u32,
    pub tx_ring: u32,
    pub fill_ring: u32,
    pub completion_ring: u32,
    pub need_wakeup: bool,
    pub busy_poll: bool,
}

impl From<fastlane_afxdp::XskLayout> for XskLayoutWire {
    fn from(l: fastlane_afxdp::XskLayout) -> Self {
        XskLayoutWire {
            umem_frames: l.umem_frames,
            frame_size: l.frame_size,
            frame_headroom: l.frame_headroom,
            rx_ring: l.rings.rx,
            tx_ring: l.rings.tx,
            fill_ring: l.rings.fill,
            completion_ring: l.rings.completion,
            need_wakeup: l.need_wakeup,
            busy_poll: l.busy_poll,
        }
    }
}

impl From<XskLayoutWire> for fastlane_afxdp::XskLayout {
    fn from(l: XskLayoutWire) -> Self {
        fastlane_afxdp::XskLayout {
            umem_frames: l.umem_frames,
            frame_size: l.frame_size,
            frame_headroom: l.frame_headroom,
            rings: fastlane_afxdp::RingSizes {
                rx: l.rx_ring,
                tx: l.tx_ring,
                fill: l.fill_ring,
                completion: l.completion_ring,
            },
            need_wakeup: l.need_wakeup,
            busy_poll: l.busy_poll,
        }
    }
}

/// What one thread of the request gets. Descriptors: af_xdp, the UMEM memfd and then one socket
/// per queue (bound, rings sized, in the XSKMAP); af_packet, one socket per queue (ring requested,
/// bound, filtered, in its port's fanout group).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "backend", rename_all = "snake_case", deny_unknown_fields)]
pub enum ThreadGrant {
    AfXdp { layout: XskLayoutWire },
    AfPacket { split_in_kernel: bool },
}

/// How the plugin attached a port's XDP program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum XdpAttach {
    Native,
    Generic,
}

/// A port's punt TAP: descriptors, one queue per queue of the port, in the port's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TapGrant {
    pub name: String,
    pub mtu: u32,
}

/// What one port gets. The programs' bpf_links are handed over so that they stay attached while
/// the pod lives, whatever becomes of the plugin, and go when it dies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortGrant {
    /// af_xdp: how the XDP program is attached. Descriptors: its counters map, its link.
    pub xdp: Option<XdpAttach>,
    /// af_packet: a tc program keeps the fast-path frames from the kernel. Descriptor: its link.
    pub tc_link: bool,
    /// The punt TAP, if the port asked for one.
    pub tap: Option<TapGrant>,
}

/// Everything handed over. Descriptors, in order: each thread's (see [`ThreadGrant`]), then each
/// port's (see [`PortGrant`]: counters map and link, tc link, TAP queues).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    pub threads: Vec<ThreadGrant>,
    pub ports: Vec<PortGrant>,
}

impl Grant {
    /// How many descriptors come with this grant for `request`.
    pub fn descriptor_count(&self, request: &Request) -> usize {
        let threads: usize = self
            .threads
            .iter()
            .zip(&request.threads)
            .map(|(grant, queues)| match grant {
                ThreadGrant::AfXdp { .. } => 1 + queues.len(),
                ThreadGrant::AfPacket { .. } => queues.len(),
            })
            .sum();
        let ports: usize = self
            .ports
            .iter()
            .zip(&request.ports)
            .map(|(grant, port)| {
                2 * usize::from(grant.xdp.is_some())
                    + usize::from(grant.tc_link)
                    + grant.tap.as_ref().map_or(0, |_| port.queues.len())
            })
            .sum();
        threads + ports
    }
}

/// The server's one answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case", deny_unknown_fields)]
pub enum Reply {
    /// Nothing was handed over; `error` says which device and why, for the client to report
    /// verbatim.
    Refused {
        version: u32,
        error: String,
    },
    Granted {
        version: u32,
        grant: Grant,
    },
}

/// Encodes a message, refusing one larger than [`MAX_MESSAGE_BYTES`].
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, String> {
    let bytes = serde_json::to_vec(message).map_err(|e| format!("encoding: {e}"))?;
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(format!(
            "the message is {} bytes; at most {MAX_MESSAGE_BYTES} are allowed",
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// The `version` of a message, read before anything else so that a message of another version
/// is refused for that reason rather than for its fields.
fn version_of(bytes: &[u8]) -> Result<u32, String> {
    #[derive(Deserialize)]
    struct Versioned {
        version: u32,
    }
    serde_json::from_slice::<Versioned>(bytes)
        .map(|v| v.version)
        .map_err(|e| {
            format!("malformed message (a JSON object with a numeric \"version\" is expected): {e}")
        })
}

/// Decodes a message of [`PROTOCOL_VERSION`].
pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, String> {
    let version = version_of(bytes)?;
    if version != PROTOCOL_VERSION {
        return Err(format!(
            "protocol version {version} is not spoken here (this side speaks version \
             {PROTOCOL_VERSION})"
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| format!("malformed message: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Request {
        Request {
            version: PROTOCOL_VERSION,
            token: "t".into(),
            backend: HandedBackend::AfXdp,
            ports: vec![PortRequest {
                interface: "eth0".into(),
                queues: vec![0, 1],
                filter: FilterConfig::default(),
                punt_tap: Some(TapConfig::default()),
            }],
            threads: vec![
                vec![QueueRef { port: 0, queue: 0 }],
                vec![QueueRef { port: 0, queue: 1 }],
            ],
            af_xdp: AfXdpConfig::default(),
            af_packet: AfPacketConfig::default(),
            batch_size: 64,
        }
    }

    #[test]
    fn a_request_round_trips_and_its_grant_counts_its_descriptors() {
        let text = encode(&request()).unwrap();
        let back: Request = decode(&text).unwrap();
        assert_eq!(back.threads, request().threads);
        assert_eq!(back.ports[0].queues, [0, 1]);
        let layout = XskLayoutWire::from(fastlane_afxdp::XskLayout::of(&AfXdpConfig::default()));
        let grant = Grant {
            threads: vec![ThreadGrant::AfXdp { layout }; 2],
            ports: vec![PortGrant {
                xdp: Some(XdpAttach::Native),
                tc_link: false,
                tap: Some(TapGrant {
                    name: "fl-eth0".into(),
                    mtu: 1500,
                }),
            }],
        };
        // Two memfds and two sockets, the counters map and the link, two TAP queues.
        assert_eq!(grant.descriptor_count(&back), 8);
        let reply = Reply::Granted {
            version: PROTOCOL_VERSION,
            grant: grant.clone(),
        };
        assert_eq!(decode::<Reply>(&encode(&reply).unwrap()).unwrap(), reply);
    }

    #[test]
    fn another_version_unknown_fields_and_garbage_are_refused_with_the_reason() {
        let mut value = serde_json::to_value(request()).unwrap();
        value["version"] = 2.into();
        let error = decode::<Request>(value.to_string().as_bytes()).unwrap_err();
        assert!(
            error.contains("protocol version 2 is not spoken here"),
            "{error}"
        );
        value["version"] = 1.into();
        value["colour"] = "red".into();
        let error = decode::<Request>(value.to_string().as_bytes()).unwrap_err();
        assert!(error.contains("unknown field `colour`"), "{error}");
        let error = decode::<Request>(b"\xff\x00garbage").unwrap_err();
        assert!(error.starts_with("malformed message"), "{error}");
        let mut big = request();
        big.token = "x".repeat(MAX_MESSAGE_BYTES);
        assert!(encode(&big).unwrap_err().contains("at most 65536"));
    }
}
