//! The handoff between Fastlane's Kubernetes device plugin and an unprivileged pod: per
//! allocation the plugin serves a Unix socket ([`server::HandoffServer`]); the pod's Fastlane
//! connects ([`client::request_handoff`]), and receives over SCM_RIGHTS every descriptor its data
//! plane needs, made by the plugin inside the pod's network namespace: AF_XDP sockets bound,
//! with their UMEM in a memfd and in the XSKMAP of an XDP program loaded with the pod's filter;
//! or AF_PACKET sockets with the split's programs; and punt TAP devices owned by the pod's uid.
//! The messages are [`protocol`]'s.
//!
//! Who may connect: a client whose uid (SO_PEERCRED) the allocation allows (any uid when the
//! plugin is configured with none), presenting the allocation's one-time token. The first
//! successful handoff uses the token up; it is recorded with the uid and pid it went to, and any
//! later connection presenting it gets nothing, also after the plugin restarts. So a container
//! starts its data plane once per allocation (a restarted container needs a new pod). The
//! plugin must see the pod's processes (`hostPID`): it finds the pod's network namespace through
//! the peer's pid.
//!
//! What the pod holds: the sockets, the UMEM memfd, the TAP queues, the XDP program's counters
//! map, and a copy of each program's bpf_link, so that its data path does not depend on the
//! plugin staying up. When the pod's connection closes, the plugin detaches the programs; when
//! the pod dies, everything goes with its descriptors, plugin or no plugin. When the allocation
//! ends under a running pod, the plugin detaches the programs and deletes the TAP devices.
//!
//! Across a restart of the plugin: a running pod keeps its data path and its programs (the
//! stopping plugin releases its hold without detaching), its token stays used, and allocations
//! whose pods have not connected yet are served again. What is lost is the session: the
//! restarted plugin no longer knows what the running pod holds, so if that allocation ends
//! before the pod does, the pod's programs stay attached until it dies.

pub mod client;
pub mod protocol;
pub mod server;

pub use client::{request_handoff, Handed, HandedPort, HandedThread, HandoffError};
pub use protocol::{HandedBackend, PortRequest, QueueRef, Request, PROTOCOL_VERSION};
pub use server::{
    Allocation, Device, HandoffServer, Limits, ServerError, ServerOptions, SessionInfo,
};
