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
//! later connection presenting it gets nothing, also after the plugin restarts.

pub mod client;
pub mod protocol;
pub mod server;

pub use client::{request_handoff, Handed, HandedPort, HandedThread, HandoffError};
pub use protocol::{HandedBackend, PortRequest, QueueRef, Request, PROTOCOL_VERSION};
pub use server::{
    Allocation, Device, HandoffServer, Limits, ServerError, ServerOptions, SessionInfo,
};
