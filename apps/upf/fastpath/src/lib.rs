//! The 5G UPF's user plane (GTP-U, TS 29.281) as a Fastlane plugin, over the rules the control
//! plane writes into shared memory (`upf-rules`).
//!
//! - Uplink, N3 → N6: a G-PDU's session by TEID, its PDR by precedence among those whose QFI and
//!   SDF filters match the inner packet; outer header removal; the FAR (forward, drop, buffer,
//!   notify); QERs (gate, MBR); URRs counted; Ethernet to the N6 next hop.
//! - Downlink, N6 → N3: the session by UE IPv4 address or IPv6 /64, the PDR likewise; outer
//!   header creation GTP-U/UDP/IPv4 or IPv6 with a PDU Session Container; Ethernet to the gNB's
//!   next hop; bounded buffering while the FAR says BUFF, released in order once it forwards.
//! - The GTP-U node: Echo Request answered, Error Indication for an unknown TEID (rate-limited),
//!   received Error Indications reported, End Markers sent on a path switch, malformed messages
//!   dropped by reason.
//!
//! A next hop the slow path has not resolved yet hands the packet to the kernel, which routes it
//! and resolves the neighbour. Nothing here allocates per packet or panics on any input.

pub mod buffer;
pub mod config;
pub mod encap;
pub mod flow;
pub mod meter;
pub mod n3;
pub mod node;

mod upf;

pub use upf::{Upf, COUNTERS, DROP_REASONS};

fastlane_plugin::export!(Upf);
